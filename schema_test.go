package issuer_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	issuer "github.com/issuer-dev/issuer"
	"github.com/issuer-dev/issuer/internal/dbtest"
	"github.com/issuer-dev/issuer/queue"
)

func TestMigrate(t *testing.T) {
	t.Parallel()

	t.Run("IdempotentAndVersioned", func(t *testing.T) {
		t.Parallel()
		s := dbtest.NewEmpty(t)
		ctx := context.Background()

		applied, err := issuer.Migrate(ctx, s.DB)
		require.NoError(t, err)
		require.Len(t, applied, issuer.SchemaVersion())

		applied, err = issuer.Migrate(ctx, s.DB)
		require.NoError(t, err)
		require.Empty(t, applied)

		var n int
		require.NoError(t, s.DB.Get(&n, `SELECT count(*) FROM schema_migrations`))
		require.Equal(t, issuer.SchemaVersion(), n)
	})

	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		s := dbtest.NewEmpty(t)
		errs := make(chan error, 4)
		for range 4 {
			go func() {
				_, err := issuer.Migrate(context.Background(), s.DB)
				errs <- err
			}()
		}
		for range 4 {
			require.NoError(t, <-errs)
		}
	})

	t.Run("ConstraintsForbidDuplicates", func(t *testing.T) {
		t.Parallel()
		s := dbtest.New(t)
		db := s.DB
		_, err := db.Exec(`INSERT INTO batches (id, name, stock_id, kind, mchid, appid, stock_creator_mchid)
			VALUES (1, 'b', 's', 'favor', '1900000109', 'wx1', '1900000109'), (2, 'b2', 's', 'favor', '1900000109', 'wx1', '1900000109')`)
		require.NoError(t, err)
		ins := `INSERT INTO recipients (batch_id, mchid, openid, out_request_no, source_line) VALUES ($1, '1900000109', $2, $3, 2)`
		_, err = db.Exec(ins, 1, "o1", "r1")
		require.NoError(t, err)
		_, err = db.Exec(ins, 1, "o1", "r2")
		require.ErrorContains(t, err, "recipients_batch_openid_key")
		_, err = db.Exec(ins, 2, "o2", "r1")
		require.ErrorContains(t, err, "recipients_out_request_no_key")
		_, err = db.Exec(ins, 2, "bad openid", "r3")
		require.ErrorContains(t, err, "violates check constraint")
	})
}

// releasedMigration is a line of testdata/released-migrations.txt.
type releasedMigration struct {
	version int
	name    string
	sum     string // SHA-256 of the SQL without the blank lines around it
}

func released(t *testing.T) []releasedMigration {
	t.Helper()
	text, err := os.ReadFile("testdata/released-migrations.txt")
	require.NoError(t, err)
	var out []releasedMigration
	for line := range strings.Lines(string(text)) {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var m releasedMigration
		_, err := fmt.Sscan(line, &m.version, &m.name, &m.sum)
		require.NoError(t, err, line)
		out = append(out, m)
	}
	return out
}

// A released migration is never edited, only followed by new ones: a
// database already past it would never see the edit.
func TestReleasedMigrationsUnchanged(t *testing.T) {
	t.Parallel()
	current, err := issuer.Migrations()
	require.NoError(t, err)
	old := released(t)
	require.GreaterOrEqual(t, len(current), len(old))
	for i, m := range old {
		sum := sha256.Sum256([]byte(strings.TrimSpace(current[i].SQL)))
		require.Equal(t, m.version, current[i].Version)
		require.Equal(t, m.name, current[i].Name)
		require.Equal(t, m.sum, hex.EncodeToString(sum[:]), "migration %d %s was released: change the schema in a new migration", m.version, m.name)
	}
}

// A database at any earlier version since the counters (6), with rows in
// it, upgrades to this one with its counts intact, and the counters stay
// exact after.
func TestUpgrade(t *testing.T) {
	t.Parallel()
	current, err := issuer.Migrations()
	require.NoError(t, err)
	for from := 6; from < len(current); from++ {
		t.Run(fmt.Sprintf("from %d", from), func(t *testing.T) {
			t.Parallel()
			s := dbtest.NewEmpty(t)
			ctx := context.Background()
			_, err := issuer.MigrateTo(ctx, s.DB, current[:from])
			require.NoError(t, err)

			_, err = s.DB.Exec(`INSERT INTO batches (id, name, stock_id, kind, mchid, appid, stock_creator_mchid)
				VALUES (1, 'b', 's', 'favor', '1900000109', 'wx1', '1900000109')`)
			require.NoError(t, err)
			_, err = s.DB.Exec(`INSERT INTO recipients (batch_id, mchid, openid, out_request_no, source_line, status, outcome, coupon_id)
				SELECT 1, '1900000109', 'o' || g, 'r' || g, g + 1, st, oc, CASE WHEN st = 'issued' THEN 'C' || g END
				FROM generate_series(1, 50) g,
					LATERAL (SELECT (ARRAY['pending', 'pending', 'review', 'issued', 'failed'])[g % 5 + 1] AS st,
						(ARRAY[NULL, 'unknown', 'unclassified', 'issued', 'invalid_user'])[g % 5 + 1] AS oc) x`)
			require.NoError(t, err)
			if from >= 10 {
				// Since migration 10 doubt is its own column, set by the answer.
				_, err = s.DB.Exec(`UPDATE recipients SET doubt_since = now() WHERE outcome IN ('unknown', 'unclassified')`)
				require.NoError(t, err)
			}
			counts := func() []string {
				var out []string
				require.NoError(t, s.DB.Select(&out, `SELECT format('%s/%s: %s (%s in doubt)', batch_id, status, n, in_doubt)
					FROM batch_counts WHERE n <> 0 ORDER BY batch_id, status`))
				return out
			}
			before := counts()
			require.Len(t, before, 4)

			applied, err := issuer.Migrate(ctx, s.DB)
			require.NoError(t, err)
			require.Len(t, applied, len(current)-from)
			require.Equal(t, before, counts())

			_, err = s.DB.Exec(`UPDATE recipients SET status = 'issued', outcome = 'issued', coupon_id = 'C' || openid
				WHERE status = 'pending' AND outcome = 'unknown'`)
			require.NoError(t, err)
			drift, err := queue.NewStore(s.DB).CountDrift(ctx)
			require.NoError(t, err)
			require.Empty(t, drift)
			require.Equal(t, []string{"1/failed: 10 (0 in doubt)", "1/issued: 20 (0 in doubt)", "1/pending: 10 (0 in doubt)",
				"1/review: 10 (10 in doubt)"}, counts())
		})
	}
}
