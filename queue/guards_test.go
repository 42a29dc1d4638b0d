package queue_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/intake"
	"github.com/issuer-dev/issuer/internal/dbtest"
	"github.com/issuer-dev/issuer/queue"
)

// guardedBatch imports n openids whose coupons are worth 5 yuan each,
// with a spend cap of capFen (0 for none).
func guardedBatch(t *testing.T, n int, capFen int64) (*queue.Store, int64) {
	t.Helper()
	db := dbtest.New(t).DB
	var sb strings.Builder
	sb.WriteString("openid\n")
	for i := range n {
		fmt.Fprintf(&sb, "o%05d\n", i)
	}
	rep, err := intake.Import(context.Background(), db, strings.NewReader(sb.String()), intake.Options{
		StockID: "S1", Kind: "favor", MchID: "1900000109", AppID: "wx1", Source: "t.csv",
		Guards: intake.Guards{FaceValueFen: 500, MaxAmountFen: capFen}})
	require.NoError(t, err)
	return queue.NewStore(db), rep.BatchID
}

func fen(v int64) *int64 { return &v }

func claim(t *testing.T, store *queue.Store, n int) []queue.Claimed {
	t.Helper()
	rows, err := store.Claim(context.Background(), queue.ClaimOptions{Owner: "w", Limit: n, Lease: time.Minute})
	require.NoError(t, err)
	return rows
}

// A cap below what is reserved (issued, in flight or in doubt) is refused;
// a cap at it stops claiming; clearing it lets claiming go on.
func TestSetGuardsCap(t *testing.T) {
	t.Parallel()
	store, batch := guardedBatch(t, 20, 10000)
	ctx := context.Background()
	require.Len(t, claim(t, store, 6), 6)

	_, err := store.SetGuards(ctx, batch, queue.GuardChange{MaxAmountFen: fen(2999)})
	require.ErrorIs(t, err, queue.ErrCapBelowReserved)
	require.ErrorIs(t, err, queue.ErrState)
	require.ErrorContains(t, err, "29.99 yuan is below the 30.00 yuan")
	bt, err := store.Batch(ctx, batch)
	require.NoError(t, err)
	require.Equal(t, int64(10000), *bt.MaxAmountFen, "nothing changed")

	bt, err = store.SetGuards(ctx, batch, queue.GuardChange{MaxAmountFen: fen(3000)})
	require.NoError(t, err)
	require.Equal(t, int64(3000), *bt.MaxAmountFen)
	require.Empty(t, claim(t, store, 6), "the cap leaves no room")

	_, err = store.SetGuards(ctx, batch, queue.GuardChange{ClearMaxAmount: true})
	require.NoError(t, err)
	require.Len(t, claim(t, store, 6), 6)

	_, err = store.SetGuards(ctx, batch, queue.GuardChange{MaxAmountFen: fen(0)})
	require.Error(t, err)
	_, err = store.SetGuards(ctx, 999, queue.GuardChange{Priority: new(int)})
	require.ErrorIs(t, err, queue.ErrNotFound)
}

// A batch without a cap reserves nothing as it sends; its first cap counts
// what it has on its way, and is set only while nothing claims its rows.
func TestSetGuardsFirstCap(t *testing.T) {
	t.Parallel()
	store, batch := guardedBatch(t, 20, 0)
	ctx := context.Background()
	require.Len(t, claim(t, store, 6), 6)
	_, err := store.DB().Exec(`UPDATE recipients SET status = 'issued', outcome = 'issued', coupon_id = 'C' || id, lease_owner = NULL, lease_expires_at = NULL
		WHERE id IN (SELECT id FROM recipients WHERE status = 'in_flight' ORDER BY id LIMIT 2)`)
	require.NoError(t, err)
	_, err = store.DB().Exec(`UPDATE recipients SET status = 'failed', outcome = 'user_limited', lease_owner = NULL, lease_expires_at = NULL
		WHERE id IN (SELECT id FROM recipients WHERE status = 'in_flight' ORDER BY id LIMIT 1)`)
	require.NoError(t, err)
	bt, err := store.Batch(ctx, batch)
	require.NoError(t, err)
	require.Zero(t, bt.ReservedFen, "no cap, no reservation")

	_, err = store.SetGuards(ctx, batch, queue.GuardChange{MaxAmountFen: fen(5000)})
	require.ErrorIs(t, err, queue.ErrState)
	require.ErrorContains(t, err, "pause it first")

	_, err = store.SetBatchStatus(ctx, batch, "pause")
	require.NoError(t, err)
	_, err = store.SetGuards(ctx, batch, queue.GuardChange{MaxAmountFen: fen(2499)})
	require.ErrorIs(t, err, queue.ErrCapBelowReserved)
	require.ErrorContains(t, err, "below the 25.00 yuan", "2 issued and 3 in flight; the failed one does not count")
	bt, err = store.Batch(ctx, batch)
	require.NoError(t, err)
	require.Nil(t, bt.MaxAmountFen)
	require.Zero(t, bt.ReservedFen, "a refused cap reserves nothing")

	bt, err = store.SetGuards(ctx, batch, queue.GuardChange{MaxAmountFen: fen(3000)})
	require.NoError(t, err)
	require.Equal(t, int64(2500), bt.ReservedFen)
	var rowsReserved int64
	require.NoError(t, store.DB().Get(&rowsReserved, `SELECT sum(reserved_fen) FROM recipients WHERE batch_id = $1`, batch))
	require.Equal(t, bt.ReservedFen, rowsReserved, "rows and batch agree, so releases balance")

	_, err = store.SetBatchStatus(ctx, batch, "resume")
	require.NoError(t, err)
	require.Len(t, claim(t, store, 6), 1, "room for one more 5-yuan coupon")
	require.Empty(t, claim(t, store, 6))
}

// A lower cap and a claim that reserves under the old one cannot both
// pass: the cap's UPDATE waits for the claim's row lock and is then judged
// against what the claim reserved.
func TestSetGuardsCapAgainstClaim(t *testing.T) {
	t.Parallel()
	store, batch := guardedBatch(t, 20, 10000)
	ctx := context.Background()

	// A claim's reservation, not yet committed.
	tx, err := store.DB().BeginTxx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback() //nolint:errcheck // after commit, a no-op
	_, err = tx.Exec(`UPDATE batches SET reserved_fen = reserved_fen + 1000 WHERE id = $1`, batch)
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() {
		_, err := store.SetGuards(ctx, batch, queue.GuardChange{MaxAmountFen: fen(500)})
		done <- err
	}()
	require.NoError(t, tx.Commit())
	err = <-done
	require.ErrorIs(t, err, queue.ErrCapBelowReserved)
	bt, err := store.Batch(ctx, batch)
	require.NoError(t, err)
	require.Equal(t, int64(10000), *bt.MaxAmountFen)
	require.Equal(t, int64(1000), bt.ReservedFen)
}

// Windows, start times and priority are set and cleared; a batch that can
// no longer send keeps its guards.
func TestSetGuardsOthers(t *testing.T) {
	t.Parallel()
	store, batch := guardedBatch(t, 3, 0)
	ctx := context.Background()
	loc, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	w, err := queue.ParseWindow("09:00-21:00", loc)
	require.NoError(t, err)
	start := time.Date(2030, 1, 2, 10, 0, 0, 0, loc)
	prio := 7
	change := queue.GuardChange{Window: &w, StartAt: &start, Priority: &prio}
	before, err := store.Batch(ctx, batch)
	require.NoError(t, err)
	require.False(t, queue.GuardChange{Window: &w, StartAt: &start}.Loosens(before), "a window and a start where there were none tighten")
	require.True(t, change.Loosens(before), "a higher priority sends sooner")
	bt, err := store.SetGuards(ctx, batch, change)
	require.NoError(t, err)
	require.Equal(t, "09:00-21:00", bt.Window)
	require.Equal(t, "Asia/Shanghai", *bt.WindowTZ)
	require.True(t, start.Equal(*bt.StartAt))
	require.Equal(t, 7, bt.Priority)
	require.True(t, bt.NextSendAt.Equal(start), "not before its start")

	clear := queue.GuardChange{ClearWindow: true, ClearStartAt: true}
	require.True(t, clear.Loosens(bt))
	bt, err = store.SetGuards(ctx, batch, clear)
	require.NoError(t, err)
	require.Empty(t, bt.Window)
	require.Nil(t, bt.WindowTZ)
	require.Nil(t, bt.StartAt)
	require.Equal(t, 7, bt.Priority, "left as it was")

	_, err = store.SetBatchStatus(ctx, batch, "cancel")
	require.NoError(t, err)
	_, err = store.SetGuards(ctx, batch, queue.GuardChange{Priority: &prio})
	require.ErrorIs(t, err, queue.ErrState)
}
