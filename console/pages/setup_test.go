package pages_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/audit"
	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/console"
	"github.com/issuer-dev/issuer/console/pages"
	"github.com/issuer-dev/issuer/httpapi"
	"github.com/issuer-dev/issuer/internal/config"
	"github.com/issuer-dev/issuer/internal/dbtest"
	"github.com/issuer-dev/issuer/internal/simtest"
	"github.com/issuer-dev/issuer/internal/testutil"
	"github.com/issuer-dev/issuer/jobs"
	"github.com/issuer-dev/issuer/ops"
	"github.com/issuer-dev/issuer/queue"
	"github.com/issuer-dev/issuer/ratelimit"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

const password = "correct horse battery"

// simStock is the simulator's stock for the stock pages: created, not yet
// started.
const simStock = "9856000"

type testBundle struct {
	schema  *dbtest.Schema
	auth    *auth.Store
	audit   *audit.Store
	svc     *ops.Service
	pages   *pages.Pages
	con     *console.Server
	srv     *httptest.Server
	sim     *simtest.Sim
	tempDir string
	cli     auth.Actor
}

type options struct {
	sim       bool
	maxUpload int64
	pages     pages.Options
	// approvalMin is approval.min_coupons (0: off).
	approvalMin int
}

func withSim(o *options) { o.sim = true }
func withApproval(minCoupons int) func(*options) {
	return func(o *options) { o.approvalMin = minCoupons }
}
func withMaxUpload(n int64) func(*options) { return func(o *options) { o.maxUpload = n } }

// withUploadQuotas sets the pages' quotas of uploads waiting.
func withUploadQuotas(perUser, all int, bytes int64) func(*options) {
	return func(o *options) {
		o.pages.PendingPerUser, o.pages.PendingMax, o.pages.PendingBytes = perUser, all, bytes
	}
}

// setup serves the console with the pages on a private schema, with the
// accounts ada (admin), otto (operator) and ann (analyst), and with the
// WeChat Pay simulator when asked.
func setup(t *testing.T, opts ...func(*options)) *testBundle {
	t.Helper()
	o := options{maxUpload: 1 << 20}
	for _, f := range opts {
		f(&o)
	}
	s := dbtest.New(t)
	log := audit.NewStore(s.DB, nil)
	store, err := auth.NewStore(s.DB, log, auth.Options{Hash: auth.HashParams{Memory: 256, Time: 1, Threads: 1}})
	require.NoError(t, err)
	con, err := console.New(console.Config{Auth: store, Audit: log, MaxUploadBytes: o.maxUpload})
	require.NoError(t, err)

	cfg := config.Defaults()
	loc, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	cfg.Location = loc
	cfg.WXPay.MchID, cfg.WXPay.AppID = "1900000109", "wx0000000000000001"
	cfg.Approval.MinCoupons = o.approvalMin
	b := &testBundle{schema: s, auth: store, audit: log, con: con, cli: auth.Actor{Name: "cli:root", Role: auth.RoleAdmin, Source: "cli:root"}}
	var wx func() (ops.WXClient, error)
	if o.sim {
		b.sim = simtest.Start(t, wxsim.Options{Stocks: []wxsim.StockSpec{{ID: "S1", Kind: wxsim.KindFavor, Budget: 100000},
			{ID: simStock, Kind: wxsim.KindFavor, Budget: 10, Status: wxsim.StatusUnactivated, CouponValue: 500}}})
		cfg.WXPay.MchID, cfg.WXPay.AppID = b.sim.Keys.MchID, b.sim.Keys.AppID
		wx = func() (ops.WXClient, error) { return b.sim.Client(t, 4), nil }
	}
	cfg.Reconcile.Dir = t.TempDir()
	b.svc = ops.New(s.DB, &cfg, wx, log, nil)
	b.tempDir = t.TempDir()
	po := o.pages
	po.TempDir = b.tempDir
	b.pages, err = pages.Register(con, b.svc, po)
	require.NoError(t, err)
	t.Cleanup(b.pages.Close)
	b.srv = httptest.NewServer(console.WithMachine(httpapi.New(httpapi.Config{}), con))
	t.Cleanup(b.srv.Close)
	for name, role := range map[string]auth.Role{"ada": auth.RoleAdmin, "otto": auth.RoleOperator, "ann": auth.RoleAnalyst} {
		_, err := store.AddUser(context.Background(), b.cli, name, role, password)
		require.NoError(t, err)
	}
	return b
}

func (b *testBundle) site() testutil.Site { return testutil.Site{URL: b.srv.URL} }

func (b *testBundle) login(t *testing.T, name string) *http.Client {
	t.Helper()
	return b.site().Login(t, name, password)
}

func (b *testBundle) token(t *testing.T, name string) string {
	t.Helper()
	_, secret, err := b.auth.CreateToken(context.Background(), b.cli, name, 0)
	require.NoError(t, err)
	return secret
}

type answer = testutil.Answer

func (b *testBundle) get(t *testing.T, c *http.Client, path string, header http.Header) answer {
	t.Helper()
	return b.site().Get(t, c, path, header)
}

func (b *testBundle) post(t *testing.T, c *http.Client, path string, form url.Values, header http.Header) answer {
	t.Helper()
	return b.site().Post(t, c, path, form, header)
}

func (b *testBundle) postJSON(t *testing.T, c *http.Client, path string, body any, header http.Header) answer {
	t.Helper()
	return b.site().PostJSON(t, c, path, body, header)
}

// upload posts a multipart form with file as its file part.
func (b *testBundle) upload(t *testing.T, c *http.Client, path string, fields map[string]string, file string, header http.Header) answer {
	t.Helper()
	return b.site().Upload(t, c, path, fields, file, header)
}

var bearer = testutil.Bearer

func requireJSONError(t *testing.T, a answer, status int) {
	t.Helper()
	require.Equal(t, status, a.Status, a.Body)
	var e map[string]any
	a.JSON(t, &e)
	require.NotEmpty(t, e["error"], a.Body)
}

// csvOf is a recipient list of n openids, with extra lines appended.
func csvOf(prefix string, n int, extra ...string) string {
	var sb strings.Builder
	sb.WriteString("openid\n")
	for i := range n {
		fmt.Fprintf(&sb, "%s%05d\n", prefix, i)
	}
	for _, l := range extra {
		sb.WriteString(l + "\n")
	}
	return sb.String()
}

// importBatch imports n recipients of stock S1 as the CLI would.
func (b *testBundle) importBatch(t *testing.T, name string, n int) int64 {
	t.Helper()
	prefix := "o" + strings.Map(func(r rune) rune {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return r
		}
		return -1
	}, name)
	rep, err := b.svc.Import(context.Background(), b.cli, ops.ImportRequest{Reader: strings.NewReader(csvOf(prefix, n)),
		Source: name + ".csv", StockID: "S1", Name: name})
	require.NoError(t, err)
	return rep.BatchID
}

func (b *testBundle) batches(t *testing.T) []*queue.Batch {
	t.Helper()
	bs, err := b.svc.Queue.Batches(context.Background(), queue.BatchFilter{})
	require.NoError(t, err)
	return bs
}

func (b *testBundle) batch(t *testing.T, id int64) *queue.Batch {
	t.Helper()
	bt, err := b.svc.Queue.Batch(context.Background(), id)
	require.NoError(t, err)
	return bt
}

// issue runs issue passes against the simulator until nothing of the
// batch is left to send.
func (b *testBundle) issue(t *testing.T, batch int64) {
	t.Helper()
	j := &jobs.Issue{Store: b.svc.Queue, Sender: b.sim.Client(t, 8), Limiter: ratelimit.NewFixed(2000, nil),
		Concurrency: 8, Lease: 30 * time.Second, Owner: "test-owner",
		Policy: jobs.Policy{MaxAttempts: 20, BackoffBase: 5 * time.Millisecond, BackoffCap: 50 * time.Millisecond}}
	for range 20 {
		_, err := j.Run(context.Background(), jobs.IssueOptions{Batch: batch})
		require.NoError(t, err)
		n, err := b.svc.Queue.Remaining(context.Background(), batch)
		require.NoError(t, err)
		if n == 0 {
			return
		}
	}
	t.Fatalf("batch %d not done after 20 passes", batch)
}

func (b *testBundle) auditRows(t *testing.T, action string) []audit.Entry {
	t.Helper()
	entries, err := b.audit.List(context.Background(), audit.Filter{Action: action, Limit: 1000})
	require.NoError(t, err)
	return entries
}

// uploadFiles lists what the pages keep on disk.
func (b *testBundle) uploadFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	entries, err := os.ReadDir(b.tempDir)
	require.NoError(t, err)
	for _, e := range entries {
		sub, err := os.ReadDir(b.tempDir + "/" + e.Name())
		require.NoError(t, err)
		for _, f := range sub {
			out = append(out, e.Name()+"/"+f.Name())
		}
	}
	return out
}

// dryRun posts a file to the upload page and follows its redirect: to the
// dry run's page (ok) or back to the form, which says why not.
func (b *testBundle) dryRun(t *testing.T, c *http.Client, fields map[string]string, file string) (answer, bool) {
	t.Helper()
	a := b.upload(t, c, "/upload", fields, file, nil)
	if a.Status != http.StatusSeeOther {
		return a, false
	}
	loc := a.Header.Get("Location")
	return b.get(t, c, loc, nil), strings.HasPrefix(loc, "/upload/")
}

// follow requires a redirect-after-POST and gets the page it names.
func (b *testBundle) follow(t *testing.T, c *http.Client, a answer) answer {
	t.Helper()
	require.Equal(t, http.StatusSeeOther, a.Status, a.Body)
	return b.get(t, c, a.Header.Get("Location"), nil)
}

// issueUntilStuck runs issue passes against the simulator until the batch
// has nothing left or a pass changes nothing (a guard holds it).
func (b *testBundle) issueUntilStuck(t *testing.T, batch int64) {
	t.Helper()
	j := &jobs.Issue{Store: b.svc.Queue, Sender: b.sim.Client(t, 8), Limiter: ratelimit.NewFixed(2000, nil),
		Concurrency: 8, Lease: 30 * time.Second, Owner: "test-owner",
		Policy: jobs.Policy{MaxAttempts: 20, BackoffBase: 5 * time.Millisecond, BackoffCap: 50 * time.Millisecond}}
	last := -1
	for range 20 {
		_, err := j.Run(context.Background(), jobs.IssueOptions{Batch: batch})
		require.NoError(t, err)
		n, err := b.svc.Queue.Remaining(context.Background(), batch)
		require.NoError(t, err)
		if n == 0 || n == last {
			return
		}
		last = n
	}
}
