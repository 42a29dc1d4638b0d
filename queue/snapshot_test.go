package queue_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/queue"
)

// The batch view partitions the rows — issued, in flight, pending, in
// doubt, failed — and their face values add up to the batch's amount; its
// counts and outcomes come from the same snapshot.
func TestBatchViewPartsAddUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, batch := guardedBatch(t, 10, 0)
	rows := claim(t, store, 5)
	require.Len(t, rows, 5)
	_, _, err := store.Record(ctx, "w", []queue.Result{
		{ID: rows[0].ID, Status: queue.StatusIssued, Answered: true, Outcome: "issued", CouponID: "c1"},
		{ID: rows[1].ID, Status: queue.StatusPending, Answered: true, Outcome: "unknown"}, // in doubt
		{ID: rows[2].ID, Status: queue.StatusFailed, Answered: true, Outcome: "invalid_user", WxCode: "USER_ERR"},
	})
	require.NoError(t, err)
	v, err := store.BatchView(ctx, batch)
	require.NoError(t, err)
	got := map[string][2]int64{}
	var n, fenSum int64
	for _, p := range v.Parts {
		got[p.Key] = [2]int64{int64(p.Count), p.Fen}
		n += int64(p.Count)
		fenSum += p.Fen
	}
	require.Equal(t, map[string][2]int64{"issued": {1, 500}, "in_flight": {2, 1000}, "pending": {5, 2500},
		"in_doubt": {1, 500}, "review": {0, 0}, "failed": {1, 500}, "cancelled": {0, 0}}, got)
	require.EqualValues(t, 10, n)
	require.Equal(t, v.Batch.AmountFen, fenSum, "the money rows add up to the batch's amount")
	require.Equal(t, 1, v.Batch.InDoubt)
	require.Equal(t, 6, v.Batch.Counts[queue.StatusPending], "the statuses count the doubtful pending row too")
	require.Equal(t, map[string]int{"issued": 1, "unknown": 1, "invalid_user": 1}, v.Outcomes)

	// What the stock's open batches still have to send: all but the
	// issued and failed rows.
	q, err := store.StockQueuedFen(ctx, "S1")
	require.NoError(t, err)
	require.EqualValues(t, 4000, q)
}

// Before approval a batch is renamed and set to pause once approved; the
// approver's comment is kept; once decided, neither changes.
func TestEditBeforeApprovalQueue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, batch := guardedBatch(t, 2, 0)
	_, err := store.DB().Exec(`UPDATE batches SET status = 'awaiting_approval', uploaded_by = 'ann' WHERE id = $1`, batch)
	require.NoError(t, err)
	b, err := store.Rename(ctx, batch, "新名字")
	require.NoError(t, err)
	require.Equal(t, "新名字", b.Name)
	yes := true
	b, err = store.SetGuards(ctx, batch, queue.GuardChange{StartPaused: &yes})
	require.NoError(t, err)
	require.True(t, b.StartPaused)
	b, err = store.ApproveWithComment(ctx, batch, "olga", "ok")
	require.NoError(t, err)
	require.Equal(t, queue.BatchPaused, b.Status)
	require.Equal(t, "ok", *b.ApproveComment)
	_, err = store.Rename(ctx, batch, "later")
	require.ErrorIs(t, err, queue.ErrState)
	_, err = store.SetGuards(ctx, batch, queue.GuardChange{StartPaused: &yes})
	require.ErrorIs(t, err, queue.ErrState)
}
