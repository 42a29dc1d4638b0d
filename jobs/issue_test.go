package jobs_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/intake"
	"github.com/issuer-dev/issuer/internal/dbtest"
	"github.com/issuer-dev/issuer/internal/simtest"
	"github.com/issuer-dev/issuer/jobs"
	"github.com/issuer-dev/issuer/queue"
	"github.com/issuer-dev/issuer/ratelimit"
	"github.com/issuer-dev/issuer/wxpay"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

type testBundle struct {
	db     *sqlx.DB
	store  *queue.Store
	sim    *simtest.Sim
	client *wxpay.Client
	alerts chan jobs.Alert
}

func setup(t *testing.T, opts wxsim.Options) *testBundle {
	t.Helper()
	db := dbtest.New(t).DB
	sim := simtest.Start(t, opts)
	return &testBundle{db: db, store: queue.NewStore(db), sim: sim, client: sim.Client(t, 32), alerts: make(chan jobs.Alert, 100)}
}

func (b *testBundle) job(concurrency int) *jobs.Issue {
	return &jobs.Issue{
		Store: b.store, Sender: b.client, Limiter: ratelimit.NewFixed(2000, nil),
		Concurrency: concurrency, Lease: 30 * time.Second, Owner: "test-owner",
		Policy:  jobs.Policy{MaxAttempts: 20, BackoffBase: 5 * time.Millisecond, BackoffCap: 50 * time.Millisecond},
		OnAlert: func(a jobs.Alert) { b.alerts <- a },
	}
}

// importList imports openids for stock and returns the batch id.
func (b *testBundle) importList(t *testing.T, stock, kind string, openids []string) int64 {
	t.Helper()
	body := "openid\n" + strings.Join(openids, "\n") + "\n"
	rep, err := intake.Import(context.Background(), b.db, strings.NewReader(body), intake.Options{
		StockID: stock, Kind: kind, MchID: b.sim.Keys.MchID, AppID: b.sim.Keys.AppID, Source: "test.csv",
		// These tests send the same users of a stock in two batches on
		// purpose; the import guards have tests of their own.
		Guards: intake.Guards{AllowDuplicate: true, AllowRepeats: true},
	})
	require.NoError(t, err)
	return rep.BatchID
}

func openids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%05d", prefix, i)
	}
	return out
}

func (b *testBundle) statuses(t *testing.T, batch int64) map[string]int {
	t.Helper()
	bt, err := b.store.Batch(context.Background(), batch)
	require.NoError(t, err)
	return bt.Counts
}

// runUntilDone runs passes until no row is pending or in flight.
func (b *testBundle) runUntilDone(t *testing.T, j *jobs.Issue, batch int64) {
	t.Helper()
	for pass := 0; pass < 20; pass++ {
		_, err := j.Run(context.Background(), jobs.IssueOptions{Batch: batch})
		require.NoError(t, err)
		n, err := b.store.Remaining(context.Background(), batch)
		require.NoError(t, err)
		if n == 0 {
			return
		}
	}
	t.Fatalf("batch %d not done after 20 passes", batch)
}

func TestIssueExactlyOnceUnderFaults(t *testing.T) {
	t.Parallel()

	for _, kind := range []wxsim.Kind{wxsim.KindFavor, wxsim.KindProduct} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			b := setup(t, wxsim.Options{
				Stocks: []wxsim.StockSpec{{ID: "S1", Kind: kind, Budget: 100000}},
				Faults: wxsim.Faults{Before500: 0.05, After500: 0.05, HangAfter: 0.03, ResetAfter: 0.05,
					HangMax: wxsim.Duration(300 * time.Millisecond)},
				Seed: 42,
			})
			// a client that gives up on hangs quickly
			o := b.sim.Keys.ClientOptions(b.sim.URL)
			o.MaxConns, o.Timeout = 16, 150*time.Millisecond
			client, err := wxpay.New(o)
			require.NoError(t, err)
			t.Cleanup(client.Close)
			b.client = client
			batch := b.importList(t, "S1", string(kind), openids("o", 600))

			b.runUntilDone(t, b.job(16), batch)

			rows := b.sim.CheckExactlyOnce(t, b.db, "S1")
			require.Len(t, rows, 600)
			require.Len(t, b.sim.Ledger("S1"), 600, "every recipient issued exactly once")
			bt, err := b.store.Batch(context.Background(), batch)
			require.NoError(t, err)
			require.Equal(t, queue.BatchCompleted, bt.Status)
			stats := b.sim.Server.Stats()
			require.NotZero(t, stats.Replayed, "faults after issuing were retried with the same out_request_no")
		})
	}
}

func TestIssueOutcomesPerRow(t *testing.T) {
	t.Parallel()
	b := setup(t, wxsim.Options{Stocks: []wxsim.StockSpec{{ID: "S1", Kind: wxsim.KindFavor, Budget: 1000}}})
	ids := []string{"ok_1", "ok_2", "abnormal_1", "badapp_1", "nouser_1", "limited_1", "param_1", "daylimit_1", "weird_1", "syserr_1"}
	batch := b.importList(t, "S1", "favor", ids)
	j := b.job(4)
	j.Policy.MaxAttempts = 3
	j.Horizon = time.Second
	for range 4 {
		_, err := j.Run(context.Background(), jobs.IssueOptions{Batch: batch})
		require.NoError(t, err)
	}
	var got []struct {
		OpenID  string  `db:"openid"`
		Status  string  `db:"status"`
		Outcome *string `db:"outcome"`
		Code    *string `db:"wx_code"`
	}
	require.NoError(t, b.db.Select(&got, `SELECT openid, status, outcome, wx_code FROM recipients ORDER BY source_line`))
	want := map[string][2]string{
		"ok_1": {"issued", "issued"}, "ok_2": {"issued", "issued"},
		"abnormal_1": {"failed", "user_abnormal"}, "badapp_1": {"failed", "invalid_user"},
		"nouser_1": {"failed", "invalid_user"}, "limited_1": {"failed", "user_limited"},
		"param_1": {"failed", "invalid_request"}, "daylimit_1": {"pending", "user_daily_limit"},
		"weird_1": {"review", "unclassified"}, "syserr_1": {"review", "unknown"},
	}
	for _, r := range got {
		require.Equal(t, want[r.OpenID][0], r.Status, r.OpenID)
		require.Equal(t, want[r.OpenID][1], *r.Outcome, r.OpenID)
	}
	var next time.Time
	require.NoError(t, b.db.Get(&next, `SELECT next_attempt_at FROM recipients WHERE openid = 'daylimit_1'`))
	require.True(t, next.After(time.Now().Add(time.Minute)), "daily limit waits for midnight")
	alert := <-b.alerts
	require.Equal(t, "review", alert.Kind)
}

func TestIssueHalts(t *testing.T) {
	t.Parallel()

	t.Run("BudgetExhaustedThenResume", func(t *testing.T) {
		t.Parallel()
		b := setup(t, wxsim.Options{Stocks: []wxsim.StockSpec{{ID: "S1", Kind: wxsim.KindFavor, Budget: 30}}})
		batch := b.importList(t, "S1", "favor", openids("o", 50))
		_, err := b.job(1).Run(context.Background(), jobs.IssueOptions{})
		require.NoError(t, err)
		bt, err := b.store.Batch(context.Background(), batch)
		require.NoError(t, err)
		require.Equal(t, queue.BatchHalted, bt.Status)
		require.Contains(t, *bt.HaltReason, "budget_exhausted: NOT_ENOUGH")
		require.Equal(t, 30, bt.Counts[queue.StatusIssued])
		require.Equal(t, 20, bt.Counts[queue.StatusPending], "the rest stay pending")
		require.Equal(t, "batch_halted", (<-b.alerts).Kind)

		// Nothing is claimed from a halted batch.
		sum, err := b.job(4).Run(context.Background(), jobs.IssueOptions{})
		require.NoError(t, err)
		require.Zero(t, sum.Claimed)

		// The merchant adds budget; the operator resumes.
		require.NoError(t, b.sim.Server.AddStock(wxsim.StockSpec{ID: "S1", Kind: wxsim.KindFavor, Budget: 100}))
		_, err = b.store.SetBatchStatus(context.Background(), batch, "resume")
		require.NoError(t, err)
		b.runUntilDone(t, b.job(4), batch)
		b.sim.CheckExactlyOnce(t, b.db, "S1")
		require.Len(t, b.sim.Ledger("S1"), 50)
	})

	t.Run("StockPaused", func(t *testing.T) {
		t.Parallel()
		b := setup(t, wxsim.Options{Stocks: []wxsim.StockSpec{{ID: "S1", Kind: wxsim.KindFavor, Budget: 100}}})
		batch := b.importList(t, "S1", "favor", openids("o", 20))
		require.NoError(t, b.sim.Server.SetStockStatus("S1", wxsim.StatusPaused))
		_, err := b.job(2).Run(context.Background(), jobs.IssueOptions{})
		require.NoError(t, err)
		bt, err := b.store.Batch(context.Background(), batch)
		require.NoError(t, err)
		require.Equal(t, queue.BatchHalted, bt.Status)
		require.Contains(t, *bt.HaltReason, "stock_unavailable")
		require.Equal(t, 20, bt.Counts[queue.StatusPending])

		require.NoError(t, b.sim.Server.SetStockStatus("S1", wxsim.StatusRunning))
		_, err = b.store.SetBatchStatus(context.Background(), batch, "resume")
		require.NoError(t, err)
		b.runUntilDone(t, b.job(2), batch)
		require.Len(t, b.sim.Ledger("S1"), 20)
	})

	t.Run("SignErrorHaltsMerchant", func(t *testing.T) {
		t.Parallel()
		b := setup(t, wxsim.Options{Stocks: []wxsim.StockSpec{{ID: "S1", Kind: wxsim.KindFavor, Budget: 100}, {ID: "S2", Kind: wxsim.KindFavor, Budget: 100}}})
		b1 := b.importList(t, "S1", "favor", openids("o", 10))
		b2 := b.importList(t, "S2", "favor", openids("p", 10))
		// The merchant's key is not the one WeChat Pay knows.
		other, err := wxsim.NewKeys()
		require.NoError(t, err)
		bad := *b.sim.Keys.Signer()
		bad.Key = other.MerchantKey
		client, err := wxpay.New(wxpay.Options{BaseURL: b.sim.URL, MchID: b.sim.Keys.MchID, AppID: b.sim.Keys.AppID,
			Signer: &bad, Verifier: b.sim.Keys.Verifier()})
		require.NoError(t, err)
		b.client = client
		_, err = b.job(2).Run(context.Background(), jobs.IssueOptions{})
		require.ErrorIs(t, err, jobs.ErrMerchantHalted)
		require.ErrorContains(t, err, "SIGN_ERROR")
		for _, id := range []int64{b1, b2} {
			bt, err := b.store.Batch(context.Background(), id)
			require.NoError(t, err)
			require.Equal(t, queue.BatchHalted, bt.Status)
			require.Equal(t, 10, bt.Counts[queue.StatusPending], "no row failed for a configuration error")
		}
		require.Empty(t, b.sim.Ledger("S1"))
		require.Equal(t, "merchant_halted", (<-b.alerts).Kind)

		// Fixed key, resume both.
		b.client = b.sim.Client(t, 4)
		for _, id := range []int64{b1, b2} {
			_, err := b.store.SetBatchStatus(context.Background(), id, "resume")
			require.NoError(t, err)
		}
		b.runUntilDone(t, b.job(2), 0)
		require.Len(t, b.sim.Ledger("S1"), 10)
		require.Len(t, b.sim.Ledger("S2"), 10)
	})
}

// Cancelling a pass lets in-flight sends finish and record; unsent claimed
// rows go back to pending with their attempt uncounted.
func TestIssueCancelRecordsInFlight(t *testing.T) {
	t.Parallel()
	b := setup(t, wxsim.Options{Stocks: []wxsim.StockSpec{{ID: "S1", Kind: wxsim.KindFavor, Budget: 10000}},
		Faults: wxsim.Faults{Latency: wxsim.Duration(20 * time.Millisecond)}})
	batch := b.importList(t, "S1", "favor", openids("o", 2000))
	ctx, cancel := context.WithCancel(context.Background())
	j := b.job(8)
	j.Progress = func(p jobs.Progress) {
		if p.Issued > 50 {
			cancel()
		}
	}
	_, err := j.Run(ctx, jobs.IssueOptions{})
	require.ErrorIs(t, err, context.Canceled)
	c := b.statuses(t, batch)
	require.Zero(t, c[queue.StatusInFlight], "nothing left in flight by a clean stop")
	require.NotZero(t, c[queue.StatusPending])
	b.sim.CheckExactlyOnce(t, b.db, "S1")
	var uncounted int
	require.NoError(t, b.db.Get(&uncounted, `SELECT count(*) FROM recipients WHERE status = 'pending' AND attempts > 0`))
	require.Zero(t, uncounted, "released rows do not count an attempt")

	b.runUntilDone(t, b.job(8), batch)
	require.Len(t, b.sim.Ledger("S1"), 2000)
	b.sim.CheckExactlyOnce(t, b.db, "S1")
}

// The same user in two batches of one stock is never sent twice at once,
// and both rows are issued in the end (the stock allows two per user).
func TestIssueSameUserTwoBatches(t *testing.T) {
	t.Parallel()
	b := setup(t, wxsim.Options{Stocks: []wxsim.StockSpec{{ID: "S1", Kind: wxsim.KindFavor, Budget: 1000, PerUser: 2}},
		Faults: wxsim.Faults{Latency: wxsim.Duration(5 * time.Millisecond)}})
	ids := openids("o", 50)
	b1 := b.importList(t, "S1", "favor", ids)
	b2 := b.importList(t, "S1", "favor", ids)
	b.runUntilDone(t, b.job(16), 0)
	for _, id := range []int64{b1, b2} {
		require.Equal(t, 50, b.statuses(t, id)[queue.StatusIssued])
	}
	require.Len(t, b.sim.Ledger("S1"), 100)
}
