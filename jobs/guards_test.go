package jobs_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/audit"
	"github.com/issuer-dev/issuer/intake"
	"github.com/issuer-dev/issuer/jobs"
	"github.com/issuer-dev/issuer/queue"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

// importGuarded imports openids as one batch with the given guards.
func (b *testBundle) importGuarded(t *testing.T, stock string, ids []string, g intake.Guards) int64 {
	t.Helper()
	rep, err := intake.Import(context.Background(), b.db, strings.NewReader("openid\n"+strings.Join(ids, "\n")+"\n"), intake.Options{
		StockID: stock, Kind: "favor", MchID: b.sim.Keys.MchID, AppID: b.sim.Keys.AppID, Source: stock + ".csv", Guards: g,
	})
	require.NoError(t, err)
	return rep.BatchID
}

// Two instances, 64 workers, 10% "issued, then 500": a cap of 3,000
// coupons' face value issues exactly 3,000 and halts spend_cap.
func TestSpendCapExactAcrossInstances(t *testing.T) {
	t.Parallel()
	b := setup(t, wxsim.Options{
		Stocks: []wxsim.StockSpec{{ID: "S1", Kind: wxsim.KindFavor, Budget: 100000, CouponValue: 500}},
		Faults: wxsim.Faults{After500: 0.10},
		Seed:   11,
	})
	ctx := context.Background()
	batch := b.importGuarded(t, "S1", openids("o", 10000), intake.Guards{FaceValueFen: 500, MaxAmountFen: 3000 * 500})

	var wg sync.WaitGroup
	for i := range 2 {
		j := b.job(32)
		j.Owner = fmt.Sprint("instance-", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pass := 0; pass < 5; pass++ {
				_, err := j.Run(ctx, jobs.IssueOptions{Batch: batch})
				require.NoError(t, err)
			}
		}()
	}
	wg.Wait()

	require.Equal(t, 3000, len(b.sim.Ledger("S1")), "exactly the cap, never one more")
	bt, err := b.store.Batch(ctx, batch)
	require.NoError(t, err)
	require.Equal(t, queue.BatchHalted, bt.Status)
	require.True(t, strings.HasPrefix(*bt.HaltReason, "spend_cap"), *bt.HaltReason)
	require.Equal(t, 3000, bt.Counts[queue.StatusIssued])
	require.Equal(t, int64(3000*500), bt.ReservedFen)
	require.Zero(t, bt.InDoubt)
	b.sim.CheckExactlyOnce(t, b.db, "S1")
}

// The scenario of a busy campaign near its limit: two instances × 64
// workers, 15% of sends answered "issued, then 500", and the hidden limit
// collapsing from 300/s to 10/s and back while the batch runs against its
// spend cap; then it is cancelled and settled. A row that a 500 left in
// doubt and a 429 then answered must stay in doubt, keep its reservation
// and be settled by query: the server never issues more than the cap, and
// every coupon it issued ends on a row issued with that coupon.
func TestSpendCapUnderThrottlingThenCancel(t *testing.T) {
	t.Parallel()
	const capCoupons = 600
	b := setup(t, wxsim.Options{
		Stocks: []wxsim.StockSpec{{ID: "S1", Kind: wxsim.KindFavor, Budget: 100000, CouponValue: 100}},
		Faults: wxsim.Faults{After500: 0.15},
		Limit:  300,
		Seed:   19,
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	batch := b.importGuarded(t, "S1", openids("o", 2000), intake.Guards{FaceValueFen: 100, MaxAmountFen: capCoupons * 100})

	// The limit collapses and recovers until the passes end.
	collapses := make(chan struct{})
	go func() {
		defer close(collapses)
		for i := 0; ctx.Err() == nil; i++ {
			require.NoError(t, b.sim.Server.SetLimit(map[bool]float64{true: 10, false: 300}[i%2 == 0]))
			select {
			case <-ctx.Done():
			case <-time.After(150 * time.Millisecond):
			}
		}
	}()
	var wg sync.WaitGroup
	for i := range 2 {
		j := b.job(64)
		j.Owner = fmt.Sprint("instance-", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pass := 0; pass < 4; pass++ {
				_, err := j.Run(ctx, jobs.IssueOptions{Batch: batch, MaxDuration: time.Second})
				require.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	cancel()
	<-collapses
	require.NoError(t, b.sim.Server.SetLimit(0))

	bg := context.Background()
	_, err := b.store.Cancel(bg, batch)
	require.NoError(t, err)
	set := b.settle()
	set.Grace = 0
	for range 3 {
		_, err := set.Run(bg, batch)
		require.NoError(t, err)
	}
	ledger := b.sim.Ledger("S1")
	require.LessOrEqual(t, len(ledger), capCoupons, "the server never issues more than the spend cap")
	var throttledOnce int
	require.NoError(t, b.db.Get(&throttledOnce, `SELECT count(*) FROM recipients WHERE batch_id = $1 AND status = 'cancelled' AND attempts > 0`, batch))
	require.Zero(t, throttledOnce, "a row sent with no definite answer is never cancelled")
	b.sim.CheckExactlyOnce(t, b.db, "S1")
	bt, err := b.store.Batch(bg, batch)
	require.NoError(t, err)
	require.Zero(t, bt.Counts[queue.StatusReview], "every row in doubt is settled by query")
	require.Equal(t, len(ledger), bt.Counts[queue.StatusIssued])
	require.LessOrEqual(t, bt.ReservedFen, int64(capCoupons*100))
}

// An awaiting_approval batch is issued by no pass, whoever runs it, until
// an operator other than its uploader approves it.
func TestApprovalGuard(t *testing.T) {
	t.Parallel()
	b := setup(t, wxsim.Options{Stocks: []wxsim.StockSpec{{ID: "S1", Kind: wxsim.KindFavor, Budget: 1000}}})
	ctx := context.Background()
	batch := b.importGuarded(t, "S1", openids("o", 50), intake.Guards{UploadedBy: "ann", ApprovalMinCoupons: 50})
	bt, err := b.store.Batch(ctx, batch)
	require.NoError(t, err)
	require.Equal(t, queue.BatchAwaitingApproval, bt.Status)

	for _, opts := range []jobs.IssueOptions{{Batch: batch}, {}} { // issue --batch ID, and the daemon's pass
		for _, owner := range []string{"instance-1", "instance-2"} {
			j := b.job(8)
			j.Owner = owner
			sum, err := j.Run(ctx, opts)
			require.NoError(t, err)
			require.Zero(t, sum.Claimed)
		}
	}
	require.Empty(t, b.sim.Ledger("S1"))

	_, err = b.store.Approve(ctx, batch, "ann")
	require.ErrorIs(t, err, queue.ErrSelfApproval, "the uploader cannot approve")
	bt, err = b.store.Approve(ctx, batch, "otto")
	require.NoError(t, err)
	require.Equal(t, queue.BatchPending, bt.Status)
	require.Equal(t, "otto", *bt.ApprovedBy)

	b.runUntilDone(t, b.job(8), batch)
	require.Len(t, b.sim.Ledger("S1"), 50)
}

// Send windows and start times, judged at an injected clock, across
// midnight.
func TestWindowsAndStartTimes(t *testing.T) {
	t.Parallel()
	b := setup(t, wxsim.Options{Stocks: []wxsim.StockSpec{{ID: "S1", Kind: wxsim.KindFavor, Budget: 1000}}})
	ctx := context.Background()
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	w, err := queue.ParseWindow("22:00-06:00", shanghai)
	require.NoError(t, err)
	day := time.Now().In(shanghai)
	at := func(h, m int) time.Time { return time.Date(day.Year(), day.Month(), day.Day(), h, m, 0, 0, shanghai) }

	night := b.importGuarded(t, "S1", openids("n", 3), intake.Guards{Window: &w})
	later := b.importGuarded(t, "S1", openids("l", 3), intake.Guards{StartAt: at(12, 0).Add(24 * time.Hour)})

	run := func(now time.Time, batch int64) int64 {
		t.Helper()
		j := b.job(4)
		j.Now = func() time.Time { return now }
		sum, err := j.Run(ctx, jobs.IssueOptions{Batch: batch})
		require.NoError(t, err)
		return sum.Claimed
	}
	require.Zero(t, run(at(21, 59), night), "before the window opens")
	require.Zero(t, run(at(6, 0), night), "the window closes at 06:00")
	require.Zero(t, run(at(12, 0), night), "a window that excludes now issues nothing")
	require.Zero(t, run(at(12, 0), later), "before its start time")
	require.Equal(t, int64(3), run(at(0, 30), night), "inside a window across midnight")
	require.Equal(t, int64(3), run(at(12, 1).Add(24*time.Hour), later), "after its start time")
}

// The Go rule that says when a batch next sends agrees with the claim's
// SQL rule, minute by minute around the clock, for windows in both
// directions.
func TestWindowRuleAgreesWithClaim(t *testing.T) {
	t.Parallel()
	b := setup(t, wxsim.Options{})
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	for _, spec := range []string{"22:00-06:00", "09:30-21:00", "00:00-00:00", "23:59-00:01"} {
		w, err := queue.ParseWindow(spec, shanghai)
		require.NoError(t, err)
		start := time.Date(2026, 3, 1, 0, 0, 0, 0, shanghai)
		for m := 0; m < 24*60; m += 7 {
			at := start.Add(time.Duration(m) * time.Minute)
			var open bool
			require.NoError(t, b.db.Get(&open, `SELECT batch_open('pending', NULL, $1, $2, $3, $4)`, w.Start, w.End, "Asia/Shanghai", at))
			require.Equal(t, w.Contains(at), open, "%s at %s", spec, at.Format("15:04"))
		}
	}
}

// A higher priority batch is claimed first; batches of equal priority
// share the rate, so a small one is not stuck behind a big one.
func TestPriorityAndFairness(t *testing.T) {
	t.Parallel()
	b := setup(t, wxsim.Options{Stocks: []wxsim.StockSpec{{ID: "S1", Kind: wxsim.KindFavor, Budget: 100000}}})
	big := b.importGuarded(t, "S1", openids("big", 2000), intake.Guards{})
	small := b.importGuarded(t, "S1", openids("small", 200), intake.Guards{})
	urgent := b.importGuarded(t, "S1", openids("urgent", 200), intake.Guards{Priority: 5})
	b.runUntilDone(t, b.job(16), 0)

	// Judged by when each row was first claimed, which is the order the
	// rule decides. issued_at is when the completer recorded the answer:
	// rows answered within one of its flushes share it, so it cannot order
	// the tail of one batch against the head of the next.
	claimed := func(batch int64) []time.Time {
		var ts []time.Time
		require.NoError(t, b.db.Select(&ts, `SELECT first_attempt_at FROM recipients WHERE batch_id = $1 AND status = 'issued' ORDER BY first_attempt_at`, batch))
		return ts
	}
	// before counts the times in ts strictly before at: rows taken by the
	// same claim as at share its time and are not before it.
	before := func(ts []time.Time, at time.Time) int {
		return sort.Search(len(ts), func(i int) bool { return !ts[i].Before(at) })
	}
	bigAt, smallAt, urgentAt := claimed(big), claimed(small), claimed(urgent)
	require.Len(t, bigAt, 2000)
	require.Len(t, smallAt, 200)
	require.Len(t, urgentAt, 200)
	// The urgent batch was claimed before either of the others: the claim
	// that took its last rows is the first that may take theirs.
	urgentDone := urgentAt[len(urgentAt)-1]
	others := before(bigAt, urgentDone) + before(smallAt, urgentDone)
	t.Logf("others claimed before the urgent batch's last claim: %d", others)
	require.Zero(t, others, "the urgent batch is claimed first")
	// Equal priority: when the small batch's last row was claimed, the big
	// one had been given about as many (a fair share), not 2,000.
	smallDone := smallAt[len(smallAt)-1]
	bigBefore := before(bigAt, smallDone)
	t.Logf("big batch claimed when the small one's last row was: %d of 2000 (small: 200)", bigBefore)
	require.LessOrEqual(t, bigBefore, 300, "equal priorities share the rate")
}

// A paused stock halts its batches before any attempt is spent.
func TestStockGuardHaltsBeforeSending(t *testing.T) {
	t.Parallel()
	b := setup(t, wxsim.Options{Stocks: []wxsim.StockSpec{{ID: "S1", Kind: wxsim.KindFavor, Budget: 1000}}})
	ctx := context.Background()
	batch := b.importGuarded(t, "S1", openids("o", 20), intake.Guards{})
	require.NoError(t, b.sim.Server.SetStockStatus("S1", wxsim.StatusPaused))
	j := b.job(4)
	j.Stocks = b.client
	j.Audit = audit.NewStore(b.db, nil)
	sum, err := j.Run(ctx, jobs.IssueOptions{})
	require.NoError(t, err)
	require.Zero(t, sum.Sent)
	bt, err := b.store.Batch(ctx, batch)
	require.NoError(t, err)
	require.Equal(t, queue.BatchHalted, bt.Status)
	require.Contains(t, *bt.HaltReason, "stock_unavailable: stock S1 is paused")
	require.Contains(t, *bt.HaltReason, fmt.Sprintf("issuer batch resume %d", batch))
	require.Zero(t, b.sim.Server.Stats().Issued)
	// The guard's decision is in the audit log.
	entries, err := audit.NewStore(b.db, nil).List(ctx, audit.Filter{BatchID: batch})
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Equal(t, "halt", entries[0].Action)
	require.Equal(t, "system", entries[0].Role)
	require.Contains(t, string(entries[0].Detail), "is paused")
}
