package jobs_test

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/intake"
	"github.com/issuer-dev/issuer/internal/dbtest"
	"github.com/issuer-dev/issuer/internal/money"
	"github.com/issuer-dev/issuer/internal/simtest"
	"github.com/issuer-dev/issuer/jobs"
	"github.com/issuer-dev/issuer/queue"
	"github.com/issuer-dev/issuer/ratelimit"
	"github.com/issuer-dev/issuer/wxpay"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/reconcile")

const testDate = "2025-03-01"

// loadFile records and loads a testdata flow file as if just downloaded.
func loadFile(t *testing.T, db *sqlx.DB, name, date string) (*jobs.FlowFile, bool, error) {
	t.Helper()
	path := filepath.Join("testdata", "reconcile", name)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	sum := sha1.Sum(b)
	kind := wxpay.FlowUse
	if strings.HasPrefix(name, "refund") {
		kind = wxpay.FlowRefund
	}
	f := &jobs.FlowFile{StockID: "9856000", Kind: kind, Date: date, SHA1: hex.EncodeToString(sum[:]), Path: path,
		Bytes: int64(len(b)), DownloadedAt: time.Date(2025, 3, 1, 10, 30, 0, 0, time.UTC)}
	changed, err := jobs.LoadFlowFile(context.Background(), db, f)
	return f, changed, err
}

// dumpFlows renders what reconciliation stored, for goldens and for
// comparing runs.
func dumpFlows(t *testing.T, db *sqlx.DB) string {
	t.Helper()
	var sb strings.Builder
	var files []struct {
		Stock, Kind, Date, SHA1, Status, Error string
		Rows, NewRows                          int
	}
	require.NoError(t, db.Select(&files, `SELECT stock_id AS stock, kind, to_char(file_date, 'YYYY-MM-DD') AS date, sha1,
		status, coalesce(error, '') AS error, rows, new_rows AS newrows FROM flow_files ORDER BY id`))
	for _, f := range files {
		fmt.Fprintf(&sb, "file %s %s-flow day=%s rows=%d new=%d status=%s sha1=%.12s", f.Stock, f.Kind, f.Date, f.Rows, f.NewRows, f.Status, f.SHA1)
		if f.Error != "" {
			fmt.Fprintf(&sb, " error=%q", f.Error)
		}
		sb.WriteString("\n")
	}
	for _, tbl := range []struct{ name, at string }{{"flow_uses", "used_at"}, {"flow_refunds", "refunded_at"}} {
		rows, err := db.Queryx(`SELECT stock_id, coupon_id, transaction_id, to_char(` + tbl.at + ` AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI:SS'),
			coupon_type, amount, order_amount, trade_type, consume_mchid, device_no, bank_serial_no, goods_info, line,
			to_char(first_date, 'YYYY-MM-DD') FROM ` + tbl.name + ` ORDER BY stock_id, coupon_id, transaction_id, ` + tbl.at)
		require.NoError(t, err)
		for rows.Next() {
			var stock, coupon, txn, at, ctype, trade, mchid, dev, bank, goods, first string
			var amount, order int64
			var line int
			require.NoError(t, rows.Scan(&stock, &coupon, &txn, &at, &ctype, &amount, &order, &trade, &mchid, &dev, &bank, &goods, &line, &first))
			fmt.Fprintf(&sb, "%s %s coupon=%s txn=%s at=%s type=%s amount=%s order=%s trade=%s mchid=%q device=%q bank=%q goods=%q line=%d first=%s\n",
				strings.TrimPrefix(tbl.name, "flow_"), stock, coupon, txn, at, ctype, money.Yuan(amount), money.Yuan(order),
				trade, mchid, dev, bank, goods, line, first)
		}
		require.NoError(t, rows.Err())
	}
	return sb.String()
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "reconcile", name)
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./jobs/ -run FlowGolden -update")
	require.Equal(t, string(want), got)
}

func TestReconcileFlowGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file     string
		rejected string // part of the error when the file is rejected
	}{
		{file: "use_normal.csv"},
		{file: "use_empty_mchid.csv"},
		{file: "use_quoted_comma.csv"},
		{file: "use_repeated_line.csv"},
		{file: "refund_normal.csv"},
		{file: "refund_empty.csv"},
		{file: "use_footer_mismatch.csv", rejected: "总条数 says 3 rows, file has 2"},
		{file: "use_truncated.csv", rejected: "truncated"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			db := dbtest.New(t).DB
			f, changed, err := loadFile(t, db, tc.file, testDate)
			require.True(t, changed)
			if tc.rejected != "" {
				var bad *jobs.FlowFileError
				require.ErrorAs(t, err, &bad)
				require.ErrorContains(t, err, tc.rejected)
				require.Equal(t, jobs.FileRejected, f.Status)
				require.Zero(t, f.Rows)
			} else {
				require.NoError(t, err)
				require.Equal(t, jobs.FileLoaded, f.Status)
			}
			checkGolden(t, strings.TrimSuffix(tc.file, ".csv")+".golden", dumpFlows(t, db))
		})
	}
}

func TestReconcileLoadIdempotent(t *testing.T) {
	t.Parallel()

	t.Run("SameFileSameDay", func(t *testing.T) {
		t.Parallel()
		db := dbtest.New(t).DB
		_, changed, err := loadFile(t, db, "use_normal.csv", testDate)
		require.NoError(t, err)
		require.True(t, changed)
		before := dumpFlows(t, db)
		f, changed, err := loadFile(t, db, "use_normal.csv", testDate)
		require.NoError(t, err)
		require.False(t, changed)
		require.Equal(t, 3, f.Rows)
		require.Equal(t, 3, f.NewRows, "the first load's figures")
		require.Equal(t, before, dumpFlows(t, db))

		// A rejected file stays rejected, recorded once.
		_, _, err = loadFile(t, db, "use_footer_mismatch.csv", testDate)
		require.Error(t, err)
		before = dumpFlows(t, db)
		_, changed, err = loadFile(t, db, "use_footer_mismatch.csv", testDate)
		require.ErrorContains(t, err, "总条数")
		require.False(t, changed)
		require.Equal(t, before, dumpFlows(t, db))
	})

	t.Run("CumulativeDays", func(t *testing.T) {
		t.Parallel()
		db := dbtest.New(t).DB
		f, _, err := loadFile(t, db, "use_empty_mchid.csv", "2025-03-01")
		require.NoError(t, err)
		require.Equal(t, 2, f.NewRows)
		// The next day's file repeats one coupon and adds three.
		f, _, err = loadFile(t, db, "use_normal.csv", "2025-03-02")
		require.NoError(t, err)
		require.Equal(t, 3, f.Rows)
		require.Equal(t, 2, f.NewRows, "98674556 came the day before")
		// The same content again the day after: recorded, nothing new.
		f, changed, err := loadFile(t, db, "use_normal.csv", "2025-03-03")
		require.NoError(t, err)
		require.True(t, changed)
		require.Equal(t, 0, f.NewRows)
		// A day fetched late (backfill) moves first_date back.
		_, _, err = loadFile(t, db, "use_quoted_comma.csv", "2025-03-05")
		require.NoError(t, err)
		_, _, err = loadFile(t, db, "use_quoted_comma.csv", "2025-02-28")
		require.NoError(t, err)
		checkGolden(t, "cumulative.golden", dumpFlows(t, db))
	})
}

// reconcileBundle is a database, a simulator issuing 代金券 and the
// recipients issuer issued them to.
type reconcileBundle struct {
	db     *sqlx.DB
	sim    *simtest.Sim
	client *wxpay.Client
	dir    string
	store  *queue.Store
}

func reconcileSetup(t *testing.T, client func(*simtest.Sim) *wxpay.Client, stocks ...string) *reconcileBundle {
	t.Helper()
	var specs []wxsim.StockSpec
	for _, s := range stocks {
		specs = append(specs, wxsim.StockSpec{ID: s, Kind: wxsim.KindFavor, Budget: 1000, CouponValue: 500, CouponMinimum: 5000})
	}
	// EarlyFlows: these tests are about what follows the download, not
	// about when WeChat Pay publishes the files.
	sim := simtest.Start(t, wxsim.Options{Stocks: specs, Seed: 11, EarlyFlows: true})
	b := &reconcileBundle{db: dbtest.New(t).DB, sim: sim, dir: t.TempDir()}
	if client != nil {
		b.client = client(sim)
	} else {
		b.client = sim.Client(t, 4)
	}
	b.store = queue.NewStore(b.db)
	return b
}

// issue imports n recipients for stock and issues them through the
// simulator with the issue job.
func (b *reconcileBundle) issue(t *testing.T, stock string, n int) int64 {
	t.Helper()
	ctx := context.Background()
	var list strings.Builder
	list.WriteString("openid\n")
	for i := range n {
		fmt.Fprintf(&list, "o%s_%05d\n", stock, i)
	}
	rep, err := intake.Import(ctx, b.db, strings.NewReader(list.String()), intake.Options{
		StockID: stock, Kind: "favor", MchID: b.sim.Keys.MchID, AppID: b.sim.Keys.AppID, Source: stock + ".csv",
	})
	require.NoError(t, err)
	j := &jobs.Issue{Store: b.store, Sender: b.sim.Client(t, 8), Limiter: ratelimit.NewFixed(2000, nil), Concurrency: 8,
		Lease: 30 * time.Second, Owner: "reconcile-test", Policy: jobs.Policy{MaxAttempts: 5}}
	for range 10 {
		_, err := j.Run(ctx, jobs.IssueOptions{Batch: rep.BatchID})
		require.NoError(t, err)
		if left, err := b.store.Remaining(ctx, rep.BatchID); err == nil && left == 0 {
			return rep.BatchID
		}
	}
	t.Fatalf("batch %d not issued", rep.BatchID)
	return 0
}

func (b *reconcileBundle) job() *jobs.Reconcile {
	return &jobs.Reconcile{DB: b.db, Source: b.client, Dir: b.dir, Pacer: jobs.NewPacer(1000, time.Minute)}
}

func outcomes(sum *jobs.ReconcileSummary) map[string]jobs.FlowOutcome {
	m := map[string]jobs.FlowOutcome{}
	for _, r := range sum.Results {
		m[r.StockID+"/"+string(r.Kind)] = r.Outcome
	}
	return m
}

func TestReconcileAgainstSimulator(t *testing.T) {
	t.Parallel()
	b := reconcileSetup(t, nil, "S1", "S2")
	b.issue(t, "S1", 120)
	b.issue(t, "S2", 10)
	used, err := b.sim.Server.Redeem("S1", 0.3)
	require.NoError(t, err)
	require.Equal(t, 36, used)
	refunded, err := b.sim.Server.Refund("S1", 0.2)
	require.NoError(t, err)
	require.NotZero(t, refunded)

	ctx := context.Background()
	sum, err := b.job().Run(ctx, jobs.ReconcileOptions{StockID: "S1", Date: testDate})
	require.NoError(t, err)
	require.Equal(t, map[string]jobs.FlowOutcome{"S1/use": jobs.FlowLoaded, "S1/refund": jobs.FlowLoaded}, outcomes(sum))

	// The tables hold exactly the simulator's redemptions and refunds.
	ledger := b.sim.Ledger("S1")
	var wantUses, wantRefunds []string
	for _, c := range ledger {
		if c.Use != nil {
			wantUses = append(wantUses, c.CouponID+" "+c.Use.TransactionID+" "+money.Yuan(c.CouponAmount)+" "+money.Yuan(c.Use.OrderAmount))
		}
		if c.RefundedAt != nil {
			wantRefunds = append(wantRefunds, c.CouponID)
		}
	}
	var gotUses, gotRefunds []string
	require.NoError(t, b.db.Select(&gotUses, `SELECT coupon_id || ' ' || transaction_id || ' ' || to_char(amount / 100.0, 'FM999990.00') || ' ' ||
		to_char(order_amount / 100.0, 'FM999990.00') FROM flow_uses WHERE stock_id = 'S1'`))
	require.NoError(t, b.db.Select(&gotRefunds, `SELECT coupon_id FROM flow_refunds WHERE stock_id = 'S1'`))
	require.ElementsMatch(t, wantUses, gotUses)
	require.ElementsMatch(t, wantRefunds, gotRefunds)

	// The raw files are kept, named by their SHA1, and recorded.
	for _, r := range sum.Results {
		b, err := os.ReadFile(r.File.Path)
		require.NoError(t, err)
		s := sha1.Sum(b)
		require.Equal(t, hex.EncodeToString(s[:]), r.File.SHA1)
		require.Contains(t, r.File.Path, r.File.SHA1)
	}

	// Twice: nothing changes.
	before := dumpFlows(t, b.db)
	sum, err = b.job().Run(ctx, jobs.ReconcileOptions{StockID: "S1", Date: testDate})
	require.NoError(t, err)
	require.Equal(t, map[string]jobs.FlowOutcome{"S1/use": jobs.FlowUnchanged, "S1/refund": jobs.FlowUnchanged}, outcomes(sum))
	require.Equal(t, before, dumpFlows(t, b.db))

	// Nothing redeemed: 404 账单文件不存在 is "not yet", not an error.
	sum, err = b.job().Run(ctx, jobs.ReconcileOptions{StockID: "S2", Date: testDate})
	require.NoError(t, err)
	require.Equal(t, map[string]jobs.FlowOutcome{"S2/use": jobs.FlowNotYet, "S2/refund": jobs.FlowNotYet}, outcomes(sum))
	require.Contains(t, sum.Results[0].Reason, "账单文件不存在")
}

func TestReconcileSchedule(t *testing.T) {
	t.Parallel()
	b := reconcileSetup(t, nil, "S1")
	b.issue(t, "S1", 20)
	_, err := b.sim.Server.Redeem("S1", 0.5)
	require.NoError(t, err)
	ctx := context.Background()

	// A running stock's files are not due: no flow call is made.
	calls := &countingSource{FlowSource: b.client}
	j := b.job()
	j.Source = calls
	sum, err := j.Run(ctx, jobs.ReconcileOptions{})
	require.NoError(t, err)
	require.Equal(t, map[string]jobs.FlowOutcome{"S1/use": jobs.FlowNotDue, "S1/refund": jobs.FlowNotDue}, outcomes(sum))
	require.Contains(t, sum.Results[0].Reason, "running until")
	require.Zero(t, calls.flows.Load())

	// Stopped now: due from 10:00 tomorrow (Beijing), not before.
	require.NoError(t, b.sim.Server.SetStockStatus("S1", wxsim.StatusExpired))
	stopped := time.Now()
	due := jobs.FlowsDue(stopped)
	j.Now = func() time.Time { return due.Add(-time.Minute) }
	sum, err = j.Run(ctx, jobs.ReconcileOptions{})
	require.NoError(t, err)
	require.Equal(t, jobs.FlowNotDue, sum.Results[0].Outcome)
	require.Contains(t, sum.Results[0].Reason, "published from")
	require.Zero(t, calls.flows.Load())

	j.Now = func() time.Time { return due.Add(time.Hour) }
	sum, err = j.Run(ctx, jobs.ReconcileOptions{})
	require.NoError(t, err)
	require.Equal(t, map[string]jobs.FlowOutcome{"S1/use": jobs.FlowLoaded, "S1/refund": jobs.FlowNotYet}, outcomes(sum))
	require.Equal(t, sum.Date, due.Format(jobs.DateLayout), "recorded under the day it ran")

	// The final use-flow is in; the refund-flow is fetched again.
	sum, err = j.Run(ctx, jobs.ReconcileOptions{})
	require.NoError(t, err)
	require.Equal(t, map[string]jobs.FlowOutcome{"S1/use": jobs.FlowNotDue, "S1/refund": jobs.FlowNotYet}, outcomes(sum))

	// After the refund window nothing is fetched.
	j.Now = func() time.Time { return due.Add(31 * 24 * time.Hour) }
	n := calls.flows.Load()
	sum, err = j.Run(ctx, jobs.ReconcileOptions{})
	require.NoError(t, err)
	require.Equal(t, map[string]jobs.FlowOutcome{"S1/use": jobs.FlowNotDue, "S1/refund": jobs.FlowNotDue}, outcomes(sum))
	require.Equal(t, n, calls.flows.Load())
}

type countingSource struct {
	jobs.FlowSource
	flows atomic.Int64
}

func (c *countingSource) UseFlow(ctx context.Context, id string) (*wxpay.FlowDownload, error) {
	c.flows.Add(1)
	return c.FlowSource.UseFlow(ctx, id)
}

func (c *countingSource) RefundFlow(ctx context.Context, id string) (*wxpay.FlowDownload, error) {
	c.flows.Add(1)
	return c.FlowSource.RefundFlow(ctx, id)
}

// truncating cuts every file download in half, as a dropped connection
// that still ends cleanly would.
type truncating struct{ base http.RoundTripper }

func (tr truncating) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := tr.base.RoundTrip(r)
	if err != nil || !strings.HasPrefix(r.URL.Path, "/v3/billdownload/") || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(strings.NewReader(string(body[:len(body)/2])))
	resp.ContentLength = -1
	resp.Header.Del("Content-Length")
	return resp, nil
}

func TestReconcileTruncatedDownload(t *testing.T) {
	t.Parallel()
	b := reconcileSetup(t, func(sim *simtest.Sim) *wxpay.Client {
		o := sim.Keys.ClientOptions(sim.URL)
		o.HTTPClient = &http.Client{Transport: truncating{base: http.DefaultTransport}}
		c, err := wxpay.New(o)
		require.NoError(t, err)
		return c
	}, "S1")
	b.issue(t, "S1", 30)
	_, err := b.sim.Server.Redeem("S1", 0.5)
	require.NoError(t, err)

	sum, err := b.job().Run(context.Background(), jobs.ReconcileOptions{StockID: "S1", Date: testDate})
	require.ErrorIs(t, err, wxpay.ErrChecksum)
	require.ErrorContains(t, err, "stock S1 use-flow")
	require.Equal(t, jobs.FlowFailed, sum.Results[0].Outcome)
	require.Equal(t, 1, sum.Failures())

	// Nothing loaded, nothing recorded, no file left behind.
	require.Empty(t, dumpFlows(t, b.db))
	var left []string
	require.NoError(t, filepath.WalkDir(b.dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left = append(left, p)
		}
		return err
	}))
	require.Empty(t, left)
}

func TestStoreCouponUse(t *testing.T) {
	t.Parallel()
	b := reconcileSetup(t, nil, "S1")
	b.issue(t, "S1", 20)

	// The simulator posts COUPON.USE to a receiver that verifies, decrypts
	// and stores each, as the daemon does.
	var stored, repeats atomic.Int64
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		n, use, err := wxpay.ParseNotification(r.Header, body, b.sim.Keys.Verifier(), b.sim.Keys.APIv3Key, time.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		ins, err := jobs.StoreCouponUse(r.Context(), b.db, n, use)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		// Store it again, as a repeated delivery would.
		again, err := jobs.StoreCouponUse(r.Context(), b.db, n, use)
		if err != nil || again {
			http.Error(w, "repeat stored twice", http.StatusInternalServerError)
			return
		}
		if ins {
			stored.Add(1)
		} else {
			repeats.Add(1)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(recv.Close)
	b.sim.Server.SetCallbackURL(recv.URL)
	used, err := b.sim.Server.Redeem("S1", 0.5)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return stored.Load() == int64(used) }, 30*time.Second, 10*time.Millisecond)

	var got []struct {
		Coupon  string `db:"coupon_id"`
		Txn     string `db:"transaction_id"`
		Amount  int64  `db:"coupon_amount"`
		Consume bool   `db:"consumed"`
	}
	require.NoError(t, b.db.Select(&got, `SELECT coupon_id, transaction_id, coupon_amount, consume_time IS NOT NULL AS consumed
		FROM coupon_use_callbacks WHERE stock_id = 'S1' ORDER BY coupon_id`))
	var want []string
	for _, c := range b.sim.Ledger("S1") {
		if c.Use != nil {
			want = append(want, c.CouponID+"/"+c.Use.TransactionID)
		}
	}
	var have []string
	for _, g := range got {
		require.Equal(t, int64(500), g.Amount)
		require.True(t, g.Consume)
		have = append(have, g.Coupon+"/"+g.Txn)
	}
	slices.Sort(want)
	require.Equal(t, want, have)

	_, err = jobs.StoreCouponUse(context.Background(), b.db, &wxpay.Notification{}, &wxpay.CouponUse{})
	require.ErrorContains(t, err, "without id")
}
