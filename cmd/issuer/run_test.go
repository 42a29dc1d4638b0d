package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/internal/testutil"

	"github.com/issuer-dev/issuer/internal/simtest"
	"github.com/issuer-dev/issuer/wxpay"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

// daemonBundle is a database, a simulator and the environment for
// `issuer run`.
type daemonBundle struct {
	*testBundle
	sim *simtest.Sim
}

func setupDaemon(t *testing.T, opts wxsim.Options, rows int) *daemonBundle {
	t.Helper()
	b := setup(t)
	sim := simtest.Start(t, opts)
	for k, v := range sim.Env() {
		b.env[k] = v
	}
	for k, v := range map[string]string{
		"ISSUER_WXPAY_TIMEOUT":          "2s",
		"ISSUER_ISSUE_LEASE":            "10s",
		"ISSUER_ISSUE_CONCURRENCY":      "16",
		"ISSUER_ISSUE_RATE_INITIAL":     "100",
		"ISSUER_ISSUE_SHUTDOWN_TIMEOUT": "20s",
		"ISSUER_SCHEDULES_ISSUE":        "@every 1s",
		"ISSUER_SCHEDULES_RECONCILE":    "30 10 * * *",
		"ISSUER_SCHEDULES_HOUSEKEEPING": "@every 1h",
		"ISSUER_HTTP_ADDR":              "127.0.0.1:0",
		"ISSUER_RECONCILE_DIR":          t.TempDir(),
	} {
		b.env[k] = v
	}
	if rows > 0 {
		var list strings.Builder
		list.WriteString("openid\n")
		for i := range rows {
			fmt.Fprintf(&list, "oRun%06d\n", i)
		}
		r := b.issuer(t, list.String(), "import", "--stock", "9856000", "-")
		require.Equal(t, 0, r.code, r.stderr)
	}
	return &daemonBundle{testBundle: b, sim: sim}
}

// daemonProc is a running `issuer run` process.
type daemonProc struct {
	cmd    *exec.Cmd
	addr   string
	stderr *testutil.Buffer
	done   chan error
}

func (b *daemonBundle) start(t *testing.T, extra ...string) *daemonProc {
	t.Helper()
	bin := issuerBinary(t)
	cmd := exec.Command(bin, "run")
	cmd.Env = append(os.Environ(), "ISSUER_CONFIG=")
	for k, v := range b.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, extra...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	p := &daemonProc{cmd: cmd, stderr: &testutil.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening on http://"); ok {
				addr <- a
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { p.done <- cmd.Wait() }()
	select {
	case p.addr = <-addr:
	case err := <-p.done:
		t.Fatalf("issuer run exited: %v\n%s", err, p.stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("issuer run did not start\n%s", p.stderr)
	}
	return p
}

// stop sends SIGTERM and returns how long the exit took and its error.
func (p *daemonProc) stop(t *testing.T) (time.Duration, error) {
	t.Helper()
	start := time.Now()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-p.done:
		return time.Since(start), err
	case <-time.After(60 * time.Second):
		t.Fatalf("issuer run did not stop\n%s", p.stderr)
		return 0, nil
	}
}

func (b *daemonBundle) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, b.schema.DB.Get(&n, query, args...))
	return n
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		require.True(t, time.Now().Before(deadline), "timed out waiting for %s", what)
		time.Sleep(50 * time.Millisecond)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// SIGTERM in the middle of issuing: exit 0 within the timeout, nothing left
// in flight, and after a restart every recipient is issued exactly once.
func TestRunGracefulShutdown(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the daemon")
	}
	b := setupDaemon(t, wxsim.Options{
		Stocks: []wxsim.StockSpec{{ID: "9856000", Kind: wxsim.KindFavor, Budget: 100000}},
		Limit:  300, Faults: wxsim.Faults{Latency: wxsim.Duration(20 * time.Millisecond), After500: 0.01},
	}, 3000)
	p := b.start(t)

	code, body := get(t, "http://"+p.addr+"/healthz")
	require.Equal(t, 200, code, body)
	code, body = get(t, "http://"+p.addr+"/readyz")
	require.Equal(t, 200, code, body)
	// Beside them, the console and the API, behind the login.
	code, body = get(t, "http://"+p.addr+"/login")
	require.Equal(t, 200, code, body)
	code, body = get(t, "http://"+p.addr+"/api/v1/audit")
	require.Equal(t, 401, code, body)

	waitFor(t, "issuing to start", func() bool {
		return b.count(t, `SELECT count(*) FROM recipients WHERE status = 'issued'`) > 300
	})
	// /metrics parses as Prometheus text and counts what was issued.
	code, body = get(t, "http://"+p.addr+"/metrics")
	require.Equal(t, 200, code)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	require.NoError(t, err)
	for _, name := range []string{"issuer_send_answers_total", "issuer_coupons_issued_total", "issuer_limiter_rate",
		"issuer_queue_recipients", "issuer_job_run_duration_seconds", "issuer_instances_live"} {
		require.Contains(t, families, name)
	}
	require.Positive(t, families["issuer_coupons_issued_total"].GetMetric()[0].GetCounter().GetValue(), body)

	took, err := p.stop(t)
	require.NoError(t, err, "exit 0 on SIGTERM\n%s", p.stderr)
	require.Less(t, took, 20*time.Second, "within issue.shutdown_timeout")
	require.Contains(t, p.stderr.String(), "stopped cleanly")
	require.Zero(t, b.count(t, `SELECT count(*) FROM recipients WHERE status = 'in_flight'`), "a clean exit leaves nothing in flight")
	require.Less(t, b.count(t, `SELECT count(*) FROM recipients WHERE status = 'issued'`), 3000, "stopped mid-issue")
	require.Zero(t, b.count(t, `SELECT count(*) FROM instances`), "the instance left the rate budget")

	// Restart: the rest is issued, exactly once.
	p = b.start(t)
	waitFor(t, "all issued", func() bool {
		return b.count(t, `SELECT count(*) FROM recipients WHERE status = 'issued'`) == 3000
	})
	waitFor(t, "an issue pass to finish", func() bool {
		return b.count(t, `SELECT count(*) FROM job_runs WHERE job = 'issue' AND result = 'success'`) > 0
	})
	_, err = p.stop(t)
	require.NoError(t, err)
	rows := b.sim.CheckExactlyOnce(t, b.schema.DB, "9856000")
	require.Len(t, rows, 3000)
	require.Len(t, b.sim.Ledger("9856000"), 3000)
	require.Positive(t, b.count(t, `SELECT count(*) FROM job_runs WHERE job = 'issue' AND result = 'interrupted'`),
		"the pass cut short by the first SIGTERM is recorded as interrupted")
}

// Two instances against one database and one merchant limit: every
// recipient issued once, reconcile ran once for its activation, and the
// combined rate stayed under the limit.
func TestRunTwoInstances(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the daemon twice")
	}
	b := setupDaemon(t, wxsim.Options{
		Stocks: []wxsim.StockSpec{{ID: "9856000", Kind: wxsim.KindFavor, Budget: 100000}},
		Limit:  200, Faults: wxsim.Faults{Latency: wxsim.Duration(15 * time.Millisecond)},
	}, 5000)
	b.env["ISSUER_ISSUE_RATE_MAX"] = "200" // the merchant's limit, shared
	b.env["ISSUER_ISSUE_RATE_INITIAL"] = "50"
	p1 := b.start(t)
	p2 := b.start(t)
	waitFor(t, "all issued", func() bool {
		return b.count(t, `SELECT count(*) FROM recipients WHERE status = 'issued'`) == 5000
	})
	for _, p := range []*daemonProc{p1, p2} {
		_, err := p.stop(t)
		require.NoError(t, err, p.stderr.String())
	}
	rows := b.sim.CheckExactlyOnce(t, b.schema.DB, "9856000")
	require.Len(t, rows, 5000)
	require.Len(t, b.sim.Ledger("9856000"), 5000)

	// Both instances caught up the missed reconcile activation; one ran it.
	var perSlot []int
	require.NoError(t, b.schema.DB.Select(&perSlot, `SELECT count(*) FROM job_runs WHERE job = 'reconcile' GROUP BY scheduled_for`))
	require.Equal(t, []int{1}, perSlot, "reconcile ran once for its activation")
	var owners int
	require.NoError(t, b.schema.DB.Get(&owners, `SELECT count(DISTINCT instance) FROM job_runs WHERE job = 'issue'`))
	require.Equal(t, 2, owners, "both instances issued")

	st := b.sim.Server.Stats()
	share := float64(st.Throttled) / float64(st.Accepted+st.Throttled)
	t.Logf("two instances: %d accepted, %d throttled (%.2f%%)", st.Accepted, st.Throttled, 100*share)
	require.LessOrEqual(t, share, 0.02, "combined rate stays under the merchant limit")
}

// COUPON.USE callbacks: a valid one stored once though delivered 9 times;
// a forged one refused with 401 and not stored.
func TestRunCallbacks(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the daemon")
	}
	b := setupDaemon(t, wxsim.Options{Stocks: []wxsim.StockSpec{{ID: "9856000", Kind: wxsim.KindFavor, Budget: 10}}}, 0)
	p := b.start(t)
	url := "http://" + p.addr + "/callbacks/wxpay"
	keys := b.sim.Keys

	use := &wxpay.CouponUse{StockCreatorMchID: keys.MchID, StockID: "9856000", CouponID: "98674556", CouponName: "满100减10",
		Status: "USED", CouponType: "NORMAL", CreateTime: "2026-11-22T10:00:00+08:00"}
	body, err := wxpay.NewCouponUseNotification("EV-2026-0001", time.Now(), use, keys.APIv3Key)
	require.NoError(t, err)
	deliver := func(body []byte, key bool) int {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		signKey := keys.PlatformKey
		if !key {
			other, err := wxsim.NewKeys()
			require.NoError(t, err)
			signKey = other.PlatformKey
		}
		require.NoError(t, wxpay.SignResponse(req.Header, signKey, keys.PublicKeyID, body, time.Now(), wxpay.NewNonce()))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	for range 9 {
		require.Equal(t, 200, deliver(body, true))
	}
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM coupon_use_callbacks WHERE notification_id = 'EV-2026-0001'`))

	forged, err := wxpay.NewCouponUseNotification("EV-FORGED", time.Now(), use, keys.APIv3Key)
	require.NoError(t, err)
	require.Equal(t, 401, deliver(forged, false))
	require.Zero(t, b.count(t, `SELECT count(*) FROM coupon_use_callbacks WHERE notification_id = 'EV-FORGED'`))

	_, err = p.stop(t)
	require.NoError(t, err)
}
