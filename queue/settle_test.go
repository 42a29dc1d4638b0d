package queue_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/queue"
)

// claimAndRecord claims every row of the batch and records the results
// that fn returns for them (in claim order).
func claimAndRecord(t *testing.T, b *testBundle, fn func(i int, row queue.Claimed) queue.Result) {
	t.Helper()
	ctx := context.Background()
	rows, err := b.store.Claim(ctx, queue.ClaimOptions{Owner: "w", Limit: 1000, Lease: time.Minute, Batch: b.batch})
	require.NoError(t, err)
	var res []queue.Result
	for i, r := range rows {
		res = append(res, fn(i, r))
	}
	_, stale, err := b.store.Record(ctx, "w", res)
	require.NoError(t, err)
	require.Zero(t, stale)
}

func TestCancelSealsPendingRows(t *testing.T) {
	t.Parallel()
	b := setup(t, 6)
	ctx := context.Background()
	// Row 0 issued, 1 in doubt (500), 2 throttled (not issued), 3 failed,
	// 4 and 5 never sent.
	rows, err := b.store.Claim(ctx, queue.ClaimOptions{Owner: "w", Limit: 4, Lease: time.Minute, Batch: b.batch})
	require.NoError(t, err)
	require.Len(t, rows, 4)
	_, _, err = b.store.Record(ctx, "w", []queue.Result{
		{ID: rows[0].ID, Status: queue.StatusIssued, Answered: true, Outcome: "issued", CouponID: "C0"},
		{ID: rows[1].ID, Status: queue.StatusPending, Answered: true, Outcome: "unknown", WxCode: "SYSTEM_ERROR"},
		{ID: rows[2].ID, Status: queue.StatusPending, Answered: true, Outcome: "throttled", Uncount: true},
		{ID: rows[3].ID, Status: queue.StatusFailed, Answered: true, Outcome: "invalid_user"},
	})
	require.NoError(t, err)

	bt, err := b.store.Batch(ctx, b.batch)
	require.NoError(t, err)
	require.Equal(t, 1, bt.InDoubt)
	require.Equal(t, 1, bt.PendingInDoubt, "pending, retried with the same out_request_no")

	sealed, err := b.store.Cancel(ctx, b.batch)
	require.NoError(t, err)
	require.Equal(t, queue.Sealed{Cancelled: 3, InDoubt: 1}, sealed)

	bt, err = b.store.Batch(ctx, b.batch)
	require.NoError(t, err)
	require.Equal(t, queue.BatchCancelled, bt.Status)
	require.Equal(t, map[string]int{"pending": 0, "in_flight": 0, "issued": 1, "failed": 1, "review": 1, "cancelled": 3}, bt.Counts)
	require.Equal(t, 1, bt.InDoubt, "a row in doubt stays in doubt until it is settled")
	require.Zero(t, bt.PendingInDoubt, "in review now")

	// Nothing of a cancelled batch is claimable.
	got, err := b.store.Claim(ctx, queue.ClaimOptions{Owner: "w2", Limit: 10, Lease: time.Minute})
	require.NoError(t, err)
	require.Empty(t, got)

	// Cancelling again is harmless and seals what a send left pending.
	_, err = b.store.Cancel(ctx, b.batch)
	require.NoError(t, err)
}

func TestCancelWhileInFlightThenSeal(t *testing.T) {
	t.Parallel()
	b := setup(t, 3)
	ctx := context.Background()
	rows, err := b.store.Claim(ctx, queue.ClaimOptions{Owner: "w", Limit: 3, Lease: time.Minute, Batch: b.batch})
	require.NoError(t, err)
	_, err = b.store.Cancel(ctx, b.batch)
	require.NoError(t, err)
	n, err := b.store.InFlight(ctx, b.batch)
	require.NoError(t, err)
	require.Equal(t, 3, n, "sends in flight finish")
	// The in-flight sends answer: one issued, one in doubt, one released unsent.
	_, _, err = b.store.Record(ctx, "w", []queue.Result{
		{ID: rows[0].ID, Status: queue.StatusIssued, Answered: true, Outcome: "issued", CouponID: "C0"},
		{ID: rows[1].ID, Status: queue.StatusPending, Answered: true, Outcome: "unknown"},
		{ID: rows[2].ID, Status: queue.StatusPending, Uncount: true},
	})
	require.NoError(t, err)
	sealed, err := b.store.SealCancelled(ctx, 0)
	require.NoError(t, err)
	require.Equal(t, queue.Sealed{Cancelled: 1, InDoubt: 1}, sealed)
}

func TestSettleVerdicts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	// inReview puts every row of a fresh batch in review (in doubt) and
	// returns them.
	inReview := func(t *testing.T, n int) (*testBundle, []queue.ReviewRow) {
		b := setup(t, n)
		claimAndRecord(t, b, func(_ int, r queue.Claimed) queue.Result {
			return queue.Result{ID: r.ID, Status: queue.StatusReview, Answered: true, Outcome: "unknown"}
		})
		rows, err := b.store.Review(ctx, queue.ReviewFilter{Batch: b.batch})
		require.NoError(t, err)
		require.Len(t, rows, n)
		return b, rows
	}

	t.Run("OneCandidateIsIssued", func(t *testing.T) {
		t.Parallel()
		b, rows := inReview(t, 1)
		v, note, ok, err := b.store.Settle(ctx, queue.Settlement{Row: rows[0], Candidates: []string{"C9"}})
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, queue.VerdictIssued, v)
		require.Contains(t, note, "C9")
		bt, err := b.store.Batch(ctx, b.batch)
		require.NoError(t, err)
		require.Equal(t, 1, bt.Counts[queue.StatusIssued])
		require.Zero(t, bt.InDoubt)
	})

	t.Run("NoneIsNotIssuedAndPendingAgain", func(t *testing.T) {
		t.Parallel()
		b, rows := inReview(t, 1)
		_, err := b.store.CompleteFinished(ctx, []int64{b.batch})
		require.NoError(t, err)
		v, _, ok, err := b.store.Settle(ctx, queue.Settlement{Row: rows[0]})
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, queue.VerdictNotIssued, v)
		bt, err := b.store.Batch(ctx, b.batch)
		require.NoError(t, err)
		require.Equal(t, 1, bt.Counts[queue.StatusPending])
		require.Equal(t, queue.BatchPending, bt.Status, "a completed batch runs again for a row to send")
		got, err := b.store.Claim(ctx, queue.ClaimOptions{Owner: "w2", Limit: 1, Lease: time.Minute})
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Equal(t, rows[0].OutRequestNo, got[0].OutRequestNo, "sent again with the same out_request_no")
	})

	t.Run("NoneInCancelledBatchIsCancelled", func(t *testing.T) {
		t.Parallel()
		b, rows := inReview(t, 1)
		_, err := b.store.Cancel(ctx, b.batch)
		require.NoError(t, err)
		rows[0].BatchStatus = queue.BatchCancelled
		v, _, _, err := b.store.Settle(ctx, queue.Settlement{Row: rows[0]})
		require.NoError(t, err)
		require.Equal(t, queue.VerdictNotIssued, v)
		bt, err := b.store.Batch(ctx, b.batch)
		require.NoError(t, err)
		require.Equal(t, 1, bt.Counts[queue.StatusCancelled])
	})

	t.Run("TwoCandidatesStayInReview", func(t *testing.T) {
		t.Parallel()
		b, rows := inReview(t, 1)
		v, note, ok, err := b.store.Settle(ctx, queue.Settlement{Row: rows[0], Candidates: []string{"C1", "C2"}})
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, queue.VerdictInDoubt, v)
		require.Contains(t, note, "merchant platform")
		got, err := b.store.Review(ctx, queue.ReviewFilter{Batch: b.batch})
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Equal(t, note, got[0].Note)
	})

	t.Run("CouponOwnedByAnotherRowIsNotACandidate", func(t *testing.T) {
		t.Parallel()
		b, rows := inReview(t, 2)
		v, _, _, err := b.store.Settle(ctx, queue.Settlement{Row: rows[0], Candidates: []string{"C1"}})
		require.NoError(t, err)
		require.Equal(t, queue.VerdictIssued, v)
		// The same coupon cannot be a second row's.
		v, note, _, err := b.store.Settle(ctx, queue.Settlement{Row: rows[1], Candidates: []string{"C1"}})
		require.NoError(t, err)
		require.Equal(t, queue.VerdictNotIssued, v)
		require.Contains(t, note, "belong to other rows")
	})

	t.Run("UndecidableStaysWithNote", func(t *testing.T) {
		t.Parallel()
		b, rows := inReview(t, 1)
		v, note, _, err := b.store.Settle(ctx, queue.Settlement{Row: rows[0], Undecidable: "look it up"})
		require.NoError(t, err)
		require.Equal(t, queue.VerdictInDoubt, v)
		require.Equal(t, "look it up", note)
	})
}

// The counters stay exact under concurrent claims, records, rescues,
// cancels and settlements across batches.
func TestCountersExactUnderConcurrency(t *testing.T) {
	t.Parallel()
	b := setup(t, 300)
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := fmt.Sprint("w", w)
			for i := 0; ; i++ {
				rows, err := b.store.Claim(ctx, queue.ClaimOptions{Owner: owner, Limit: 9, Lease: time.Minute})
				if err != nil {
					t.Error(err)
					return
				}
				if len(rows) == 0 {
					return
				}
				var res []queue.Result
				for j, r := range rows {
					switch (i + j) % 4 {
					case 0:
						res = append(res, queue.Result{ID: r.ID, Status: queue.StatusIssued, Answered: true, Outcome: "issued", CouponID: fmt.Sprint("C", r.ID)})
					case 1:
						res = append(res, queue.Result{ID: r.ID, Status: queue.StatusFailed, Answered: true, Outcome: "invalid_user"})
					case 2:
						res = append(res, queue.Result{ID: r.ID, Status: queue.StatusReview, Answered: true, Outcome: "unknown"})
					default:
						// in doubt, due again later: the loop ends before it
						res = append(res, queue.Result{ID: r.ID, Status: queue.StatusPending, Answered: true, Outcome: "unknown",
							NextAttemptAt: time.Now().Add(time.Hour)})
					}
				}
				if _, _, err := b.store.Record(ctx, owner, res); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	drift, err := b.store.CountDrift(ctx)
	require.NoError(t, err)
	require.Empty(t, drift)
	bt, err := b.store.Batch(ctx, b.batch)
	require.NoError(t, err)
	require.Equal(t, 300, bt.Counts[queue.StatusIssued]+bt.Counts[queue.StatusFailed]+bt.Counts[queue.StatusReview]+bt.Counts[queue.StatusPending])
	require.Equal(t, bt.Counts[queue.StatusReview]+bt.Counts[queue.StatusPending], bt.InDoubt)

	_, err = b.store.Cancel(ctx, b.batch)
	require.NoError(t, err)
	drift, err = b.store.CountDrift(ctx)
	require.NoError(t, err)
	require.Empty(t, drift)
	bt, err = b.store.Batch(ctx, b.batch)
	require.NoError(t, err)
	require.Zero(t, bt.Counts[queue.StatusPending])
}
