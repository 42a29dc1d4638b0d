package queue_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/intake"
	"github.com/issuer-dev/issuer/internal/dbtest"
	"github.com/issuer-dev/issuer/queue"
)

type testBundle struct {
	store *queue.Store
	batch int64
}

func setup(t *testing.T, n int) *testBundle {
	t.Helper()
	db := dbtest.New(t).DB
	var b strings.Builder
	b.WriteString("openid\n")
	for i := range n {
		fmt.Fprintf(&b, "o%05d\n", i)
	}
	rep, err := intake.Import(context.Background(), db, strings.NewReader(b.String()), intake.Options{
		StockID: "S1", Kind: "favor", MchID: "1900000109", AppID: "wx1", Source: "t.csv"})
	require.NoError(t, err)
	return &testBundle{store: queue.NewStore(db), batch: rep.BatchID}
}

func TestClaimNeverTwice(t *testing.T) {
	t.Parallel()
	b := setup(t, 500)
	ctx := context.Background()
	var mu sync.Mutex
	seen := map[int64]string{}
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := fmt.Sprint("w", w)
			for {
				rows, err := b.store.Claim(ctx, queue.ClaimOptions{Owner: owner, Limit: 7, Lease: time.Minute})
				if err != nil {
					t.Error(err)
					return
				}
				if len(rows) == 0 {
					return
				}
				mu.Lock()
				for _, r := range rows {
					if prev, dup := seen[r.ID]; dup {
						t.Errorf("row %d claimed by %s and %s", r.ID, prev, owner)
					}
					seen[r.ID] = owner
					require.Equal(t, 1, r.Attempts)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.Len(t, seen, 500)
	bt, err := b.store.Batch(ctx, b.batch)
	require.NoError(t, err)
	require.Equal(t, queue.BatchRunning, bt.Status)
	require.Equal(t, 500, bt.Counts[queue.StatusInFlight])
}

func TestRecordOnlyUnderLease(t *testing.T) {
	t.Parallel()
	b := setup(t, 3)
	ctx := context.Background()
	rows, err := b.store.Claim(ctx, queue.ClaimOptions{Owner: "a", Limit: 3, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, rows, 3)

	// Another owner cannot record them.
	_, stale, err := b.store.Record(ctx, "b", []queue.Result{{ID: rows[0].ID, Status: queue.StatusIssued, Answered: true, Outcome: "issued", CouponID: "C0"}})
	require.NoError(t, err)
	require.Equal(t, 1, stale)

	batches, stale, err := b.store.Record(ctx, "a", []queue.Result{
		{ID: rows[0].ID, Status: queue.StatusIssued, Answered: true, Outcome: "issued", CouponID: "C0"},
		{ID: rows[1].ID, Status: queue.StatusPending, Answered: true, Outcome: "throttled", WxCode: "FREQUENCY_LIMIT_EXCEED", Uncount: true},
		{ID: rows[2].ID, Status: queue.StatusFailed, Answered: true, Outcome: "user_limited", WxCode: "REQUEST_BLOCKED", WxMessage: "用户被限领拦截"},
	})
	require.NoError(t, err)
	require.Zero(t, stale)
	require.Equal(t, []int64{b.batch}, batches)

	var got []struct {
		Status   string  `db:"status"`
		Attempts int     `db:"attempts"`
		Coupon   *string `db:"coupon_id"`
		Code     *string `db:"wx_code"`
		Lease    *string `db:"lease_owner"`
	}
	require.NoError(t, b.store.DB().Select(&got, `SELECT status, attempts, coupon_id, wx_code, lease_owner FROM recipients ORDER BY id`))
	require.Equal(t, "issued", got[0].Status)
	require.Equal(t, "C0", *got[0].Coupon)
	require.Equal(t, "pending", got[1].Status)
	require.Equal(t, 0, got[1].Attempts, "throttled answers do not count")
	require.Equal(t, "failed", got[2].Status)
	for _, g := range got {
		require.Nil(t, g.Lease)
	}

	done, err := b.store.CompleteFinished(ctx, []int64{b.batch})
	require.NoError(t, err)
	require.Empty(t, done, "one row still pending")
}

func TestRescueExpired(t *testing.T) {
	t.Parallel()
	b := setup(t, 2)
	ctx := context.Background()
	rows, err := b.store.Claim(ctx, queue.ClaimOptions{Owner: "dead", Limit: 2, Lease: time.Millisecond})
	require.NoError(t, err)
	require.Len(t, rows, 2)
	_, err = b.store.DB().Exec(`UPDATE recipients SET attempts = 5 WHERE id = $1`, rows[1].ID)
	require.NoError(t, err)
	time.Sleep(5 * time.Millisecond)

	rescued, review, err := b.store.RescueExpired(ctx, 5)
	require.NoError(t, err)
	require.Equal(t, 1, rescued)
	require.Equal(t, 1, review, "out of attempts: may have been issued, a human decides")

	again, err := b.store.Claim(ctx, queue.ClaimOptions{Owner: "alive", Limit: 2, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, again, 1)
	require.Equal(t, rows[0].OutRequestNo, again[0].OutRequestNo, "the same out_request_no is re-sent")
	require.Equal(t, 2, again[0].Attempts)

	// The dead owner's late answer no longer applies.
	_, stale, err := b.store.Record(ctx, "dead", []queue.Result{{ID: rows[0].ID, Status: queue.StatusIssued, Answered: true, Outcome: "issued", CouponID: "X"}})
	require.NoError(t, err)
	require.Equal(t, 1, stale)
}

func TestClaimSkipsPausedAndFuture(t *testing.T) {
	t.Parallel()
	b := setup(t, 4)
	ctx := context.Background()
	_, err := b.store.SetBatchStatus(ctx, b.batch, "pause")
	require.NoError(t, err)
	rows, err := b.store.Claim(ctx, queue.ClaimOptions{Owner: "a", Limit: 10, Lease: time.Minute})
	require.NoError(t, err)
	require.Empty(t, rows)
	_, ok, err := b.store.NextDue(ctx, 0, time.Time{})
	require.NoError(t, err)
	require.False(t, ok)

	_, err = b.store.SetBatchStatus(ctx, b.batch, "resume")
	require.NoError(t, err)
	_, err = b.store.DB().Exec(`UPDATE recipients SET next_attempt_at = now() + interval '1 hour'`)
	require.NoError(t, err)
	rows, err = b.store.Claim(ctx, queue.ClaimOptions{Owner: "a", Limit: 10, Lease: time.Minute})
	require.NoError(t, err)
	require.Empty(t, rows)
	due, ok, err := b.store.NextDue(ctx, b.batch, time.Time{})
	require.NoError(t, err)
	require.True(t, ok)
	require.True(t, due.After(time.Now().Add(59*time.Minute)))
}

// A cancel under load never fails: claims and records lock a batch's rows
// and then its batch row, and a cancel that took the batch row first and
// then waited for rows deadlocked with them (seen by the fault campaign as
// "seal cancelled batch: deadlock detected").
func TestCancelUnderLoad(t *testing.T) {
	t.Parallel()
	for round := range 4 {
		db := dbtest.New(t).DB
		var b strings.Builder
		b.WriteString("openid\n")
		for i := range 3000 {
			fmt.Fprintf(&b, "o%05d\n", i)
		}
		rep, err := intake.Import(context.Background(), db, strings.NewReader(b.String()), intake.Options{
			StockID: "S1", Kind: "favor", MchID: "1900000109", AppID: "wx1", Source: "t.csv",
			Guards: intake.Guards{FaceValueFen: 100, MaxAmountFen: 3000 * 100}})
		require.NoError(t, err)
		store := queue.NewStore(db)
		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				owner := fmt.Sprint("w", w)
				for ctx.Err() == nil {
					rows, err := store.Claim(ctx, queue.ClaimOptions{Owner: owner, Limit: 16, Lease: time.Minute})
					if err != nil || len(rows) == 0 {
						continue
					}
					results := make([]queue.Result, len(rows))
					for i, r := range rows {
						// Throttled: back to pending, the reservation given back
						// to the batch row.
						results[i] = queue.Result{ID: r.ID, Status: queue.StatusPending, Answered: true, Outcome: "throttled", Uncount: true}
					}
					_, _, _ = store.Record(context.WithoutCancel(ctx), owner, results)
				}
			}()
		}
		time.Sleep(time.Duration(50+50*round) * time.Millisecond)
		_, err = store.Cancel(context.Background(), rep.BatchID)
		stop()
		wg.Wait()
		require.NoError(t, err, "round %d", round)
	}
}
