package intake

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/internal/dbtest"
)

// With two bits of fingerprint nearly every openid looks like a repeat at
// first: the lines set aside must still be settled exactly, the first line
// of each openid winning and every line accounted for.
func TestDirectImportSettlesFingerprintCollisions(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t).DB
	var in strings.Builder
	in.WriteString("openid\n")
	var want []string
	for i := range 50 {
		fmt.Fprintf(&in, "oCol%03d\n", i)
		want = append(want, fmt.Sprintf("oCol%03d", i))
		if i%10 == 9 {
			fmt.Fprintf(&in, "oCol%03d\n", i-5) // a real duplicate
		}
	}
	seen := newFingerprints()
	seen.mask = 3
	opts := Options{StockID: "9856000", Kind: KindFavor, MchID: "1900000109", AppID: "wx1", Location: time.UTC, Source: "c.csv"}
	rep, err := importWith(context.Background(), db, strings.NewReader(in.String()), opts, seen)
	require.NoError(t, err)
	require.Equal(t, 55, rep.Lines)
	require.Equal(t, 50, rep.Accepted)
	require.Equal(t, 5, rep.Duplicates)

	var got []struct {
		OpenID string `db:"openid"`
		Line   int    `db:"source_line"`
		No     string `db:"out_request_no"`
	}
	require.NoError(t, db.Select(&got, `SELECT openid, source_line, out_request_no FROM recipients ORDER BY openid`))
	require.Len(t, got, 50)
	nos := map[string]bool{}
	for i, r := range got {
		require.Equal(t, want[i], r.OpenID)
		require.Equal(t, 2+i+i/10, r.Line, "the first line of %s wins", r.OpenID)
		require.Regexp(t, `^1900000109[0-9]{8}[0-9]{10}$`, r.No)
		nos[r.No] = true
	}
	require.Len(t, nos, 50, "out_request_no are unique")
	var lines, accepted, dups int
	require.NoError(t, db.QueryRow(`SELECT lines, accepted, duplicates FROM batches WHERE id = $1`, rep.BatchID).Scan(&lines, &accepted, &dups))
	require.Equal(t, []int{55, 50, 5}, []int{lines, accepted, dups})
}

// Reserved ranges never overlap values nextval hands out, also on a
// sequence never used before.
func TestReserverRanges(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t).DB
	ctx := context.Background()
	r := &reserver{db: db}
	id1, no1, err := r.reserve(ctx, 100)
	require.NoError(t, err)
	var id2, no2 int64
	require.NoError(t, db.QueryRow(`SELECT nextval('recipients_id_seq'), nextval('out_request_seq')`).Scan(&id2, &no2))
	require.Greater(t, id1, int64(0))
	require.Greater(t, no1, int64(0))
	require.Equal(t, id1+100, id2)
	require.Equal(t, no1+100, no2)
	id3, no3, err := r.reserve(ctx, 7)
	require.NoError(t, err)
	require.Equal(t, id2+1, id3)
	require.Equal(t, no2+1, no3)
	var inc int64
	require.NoError(t, db.Get(&inc, `SELECT increment_by FROM pg_sequences WHERE sequencename = 'out_request_seq' AND schemaname = current_schema()`))
	require.Equal(t, int64(1), inc, "the increment is put back")
}
