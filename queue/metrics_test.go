package queue_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/queue"
)

func TestProgressAndUnsettled(t *testing.T) {
	t.Parallel()
	b := setup(t, 10)
	ctx := context.Background()
	db := b.store.DB()
	// Rows 1-3 issued, 4 in flight, 5 pending after an unknown answer, 6
	// in review unknown, 7 in review after throttling (settled enough: not
	// in doubt), 8 failed, 9-10 pending. Every coupon is worth 10 yuan but
	// row 10, whose value is unknown.
	exec := func(q string, args ...any) {
		t.Helper()
		_, err := db.ExecContext(ctx, q, args...)
		require.NoError(t, err)
	}
	exec(`UPDATE recipients SET coupon_value = 1000 WHERE batch_id = $1 AND source_line < 11`, b.batch)
	exec(`UPDATE recipients SET coupon_value = NULL WHERE batch_id = $1 AND openid = 'o00009'`, b.batch)
	exec(`UPDATE recipients SET status = 'issued', coupon_id = 'c' || id, outcome = 'issued' WHERE batch_id = $1 AND openid IN ('o00000','o00001','o00002')`, b.batch)
	exec(`UPDATE recipients SET status = 'in_flight', lease_owner = 'w', lease_expires_at = now() + interval '1 minute' WHERE batch_id = $1 AND openid = 'o00003'`, b.batch)
	exec(`UPDATE recipients SET outcome = 'unknown', doubt_since = now(), last_attempt_at = now() - interval '2 hours' WHERE batch_id = $1 AND openid = 'o00004'`, b.batch)
	exec(`UPDATE recipients SET status = 'review', outcome = 'unclassified', doubt_since = now(), last_attempt_at = now() - interval '3 hours' WHERE batch_id = $1 AND openid = 'o00005'`, b.batch)
	exec(`UPDATE recipients SET status = 'review', outcome = 'throttled', last_attempt_at = now() - interval '5 hours' WHERE batch_id = $1 AND openid = 'o00006'`, b.batch)
	exec(`UPDATE recipients SET status = 'failed', outcome = 'invalid_user' WHERE batch_id = $1 AND openid = 'o00007'`, b.batch)

	// A pending batch is not live: no progress series for it.
	live, err := b.store.LiveProgress(ctx)
	require.NoError(t, err)
	require.Empty(t, live)

	exec(`UPDATE batches SET status = 'halted', halt_reason = 'budget_exhausted' WHERE id = $1`, b.batch)
	live, err = b.store.LiveProgress(ctx)
	require.NoError(t, err)
	require.Len(t, live, 1)
	want := &queue.Progress{
		BatchID: b.batch, StockID: "S1", Status: queue.BatchHalted,
		Counts:  map[string]int64{queue.StatusIssued: 3, queue.StatusInFlight: 1, queue.StatusPending: 3, queue.StatusReview: 2, queue.StatusFailed: 1},
		InDoubt: 2, IssuedFen: 3000, PendingCoupons: 2, PendingFen: 1000, InDoubtFen: 2000, // a row in flight has not answered: not in doubt
	}
	require.Equal(t, want, live[0])
	require.Equal(t, int64(10), live[0].Total())

	one, err := b.store.BatchProgress(ctx, b.batch)
	require.NoError(t, err)
	require.Equal(t, want, one)
	// With the stock's face value known, row 10 (pending) is worth it too.
	exec(`UPDATE batches SET face_value_fen = 500 WHERE id = $1`, b.batch)
	one, err = b.store.BatchProgress(ctx, b.batch)
	require.NoError(t, err)
	require.Equal(t, int64(1500), one.PendingFen)
	exec(`UPDATE batches SET face_value_fen = NULL WHERE id = $1`, b.batch)
	_, err = b.store.BatchProgress(ctx, b.batch+1000)
	require.ErrorIs(t, err, queue.ErrNotFound)

	// Outcomes come from the counters, which stay equal to a recount
	// through updates and deletes.
	outcomes, err := b.store.BatchOutcomes(ctx, b.batch)
	require.NoError(t, err)
	require.Equal(t, map[string]int{"": 3, "issued": 3, "unknown": 1, "unclassified": 1, "throttled": 1, "invalid_user": 1}, outcomes)
	var drift int
	recount := `SELECT count(*) FROM batch_outcome_counts c
		FULL JOIN (SELECT batch_id, status, coalesce(outcome, '') AS outcome, count(*) AS n, coalesce(sum(coupon_value), 0) AS fen,
				count(*) FILTER (WHERE coupon_value IS NULL) AS unvalued
			FROM recipients GROUP BY 1, 2, 3) r USING (batch_id, status, outcome)
		WHERE coalesce(c.n, 0) <> coalesce(r.n, 0) OR coalesce(c.fen, 0) <> coalesce(r.fen, 0) OR coalesce(c.unvalued, 0) <> coalesce(r.unvalued, 0)`
	require.NoError(t, db.GetContext(ctx, &drift, recount))
	require.Zero(t, drift)
	exec(`DELETE FROM recipients WHERE batch_id = $1 AND openid IN ('o00000', 'o00008')`, b.batch)
	require.NoError(t, db.GetContext(ctx, &drift, recount))
	require.Zero(t, drift)

	u, err := b.store.Unsettled(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(2), u.InDoubt)
	require.Equal(t, int64(2), u.Review)
	// The oldest in doubt is the review row of 3 hours ago; the oldest in
	// review the throttled one of 5 hours ago.
	require.WithinDuration(t, time.Now().Add(-3*time.Hour), u.OldestInDoubt, time.Hour)
	require.WithinDuration(t, time.Now().Add(-5*time.Hour), u.OldestReview, time.Hour)
}
