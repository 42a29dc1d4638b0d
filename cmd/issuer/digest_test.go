package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/alert"
	"github.com/issuer-dev/issuer/app"
	"github.com/issuer-dev/issuer/daemon"
	"github.com/issuer-dev/issuer/internal/config"
	"github.com/issuer-dev/issuer/internal/testutil"
	"github.com/issuer-dev/issuer/ops"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

// wecomRobot is a local 企业微信 group robot: it records the markdown of
// every message and answers as the robot does.
type wecomRobot struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []string
}

func newWecomRobot(t *testing.T) *wecomRobot {
	t.Helper()
	r := &wecomRobot{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var body struct {
			MsgType  string `json:"msgtype"`
			Markdown struct {
				Content string `json:"content"`
			} `json:"markdown"`
		}
		raw, _ := io.ReadAll(req.Body)
		if err := json.Unmarshal(raw, &body); err != nil || body.MsgType != "markdown" || req.URL.Query().Get("key") != "ROBOT-KEY" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.got = append(r.got, body.Markdown.Content)
		r.mu.Unlock()
		_, _ = io.WriteString(w, `{"errcode":0,"errmsg":"ok"}`)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *wecomRobot) url() string { return r.srv.URL + "/cgi-bin/webhook/send?key=ROBOT-KEY" }

func (r *wecomRobot) messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

// TestDigestJobOncePerActivation fires one activation of the digest on two
// instances at once: the channels get it once.
func TestDigestJobOncePerActivation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.True(t, app.SingletonJobs()[app.JobDigest], "the daemon registers the digest as a singleton")
	r := b.issuer(t, "openid\noA\noB\n", "import", "--stock", "9856000", "--name", "春节满减", "-")
	require.Equal(t, 0, r.code, r.stderr)
	_, err := b.schema.DB.Exec(`UPDATE recipients SET status = 'issued', outcome = 'issued', coupon_id = 'C-' || openid,
		coupon_value = 1000, attempts = 1, issued_at = '2026-11-21 10:00:00+08', last_attempt_at = '2026-11-21 10:00:00+08'`)
	require.NoError(t, err)

	robot := newWecomRobot(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := alert.New(alert.Config{Channels: []alert.Channel{{Type: alert.TypeWeCom, URL: robot.url()}}})
	stopNotifier := n.Start(ctx)
	defer stopNotifier()

	cfg := config.Defaults()
	loc, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	cfg.Location = loc
	svc := ops.New(b.schema.DB, &cfg, nil, nil, nil)
	job := app.DigestJob(svc, n, slog.New(slog.DiscardHandler))
	activation := time.Date(2026, 11, 22, 9, 0, 0, 0, loc)

	errs := make(chan error, 2)
	for _, instance := range []string{"a", "b"} {
		runs := &daemon.Runs{DB: b.schema.DB, Instance: instance, Singletons: app.SingletonJobs()}
		go func() { errs <- runs.Execute(ctx, app.JobDigest, activation, false, job) }()
	}
	var skipped, ran int
	for range 2 {
		if err := <-errs; err != nil {
			require.ErrorIs(t, err, daemon.ErrSkipped)
			skipped++
		} else {
			ran++
		}
	}
	require.Equal(t, 1, ran)
	require.Equal(t, 1, skipped)
	got := robot.messages()
	require.Len(t, got, 1, "one message per activation")
	require.Contains(t, got[0], "**发券日报 2026-11-21**", "the day before the activation")
	require.Contains(t, got[0], "批次 1 春节满减(9856000):已发 2 张 ¥20.00")

	var counts string
	require.NoError(t, b.schema.DB.Get(&counts, `SELECT counts::text FROM job_runs WHERE job = 'digest' AND result = 'success'`))
	require.Contains(t, counts, `"sent": 1`)
}

func TestReportDigestCommand(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := b.issuer(t, "openid\noA\noB\noC\n", "import", "--stock", "9856000", "--name", "会员日", "-")
	require.Equal(t, 0, r.code, r.stderr)
	_, err := b.schema.DB.Exec(`UPDATE batches SET status = 'halted', halt_reason = 'stock_unavailable: STOCK_STATUS_ERR 批次已暂停'`)
	require.NoError(t, err)
	_, err = b.schema.DB.Exec(`UPDATE recipients SET status = 'issued', outcome = 'issued', coupon_id = 'C-' || openid,
		coupon_value = 500, attempts = 1, issued_at = '2026-11-21 23:30:00+08', last_attempt_at = '2026-11-21 23:30:00+08'
		WHERE openid = 'oA'`)
	require.NoError(t, err)

	r = b.issuer(t, "", "report", "digest", "--date", "2026-11-21")
	require.Equal(t, 0, r.code, r.stderr)
	for _, want := range []string{"发券日报 2026-11-21", "会员日", "5.00", "未解除的中止:1 个批次",
		"issuer stock start|restart 9856000", "issuer batch resume 1"} {
		require.Contains(t, r.stdout, want)
	}
	r = b.issuer(t, "", "report", "digest", "--date", "2026-11-21", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var d struct {
		Day   string `json:"day"`
		Total struct {
			Issued    int   `json:"issued"`
			IssuedFen int64 `json:"issued_fen"`
		} `json:"total"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &d))
	require.Equal(t, "2026-11-21", d.Day)
	require.Equal(t, 1, d.Total.Issued)
	require.Equal(t, int64(500), d.Total.IssuedFen)

	r = b.issuer(t, "", "report", "digest", "--date", "21/11/2026")
	require.Equal(t, 2, r.code, r.stderr)
	r = b.issuer(t, "", "report", "digest", "--send")
	require.Equal(t, 1, r.code, "no channel configured")
	require.Contains(t, r.stderr, "no alert channel takes the digest")

	robot := newWecomRobot(t)
	cfgFile := b.write(t, "issuer.yaml", "alerts:\n  channels:\n    - {type: wecom, url: \""+robot.url()+"\"}\n")
	r = b.issuer(t, "", "--config", cfgFile, "report", "digest", "--date", "2026-11-21", "--send")
	require.Equal(t, 0, r.code, r.stderr)
	require.NotContains(t, r.stderr, "ROBOT-KEY", "the robot's key is never shown")
	got := robot.messages()
	require.Len(t, got, 1)
	require.True(t, strings.HasPrefix(got[0], "**发券日报 2026-11-21**\n"), got[0])
	require.Contains(t, got[0], "`issuer batch resume 1`")
}

// TestRunConsoleStocks: the daemon's console acts on stocks with the
// daemon's WeChat Pay client.
func TestRunConsoleStocks(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the daemon")
	}
	b := setupDaemon(t, wxsim.Options{Stocks: []wxsim.StockSpec{{ID: "9856000", Budget: 10, Status: wxsim.StatusUnactivated}}}, 0)
	r := b.issuer(t, "correct horse battery\n", "user", "add", "olga", "--role", "operator")
	require.Equal(t, 0, r.code, r.stderr)
	r = b.issuer(t, "", "user", "token", "olga")
	require.Equal(t, 0, r.code, r.stderr)
	token := strings.TrimSpace(r.stdout)
	p := b.start(t)
	site, bearer := testutil.Site{URL: "http://" + p.addr}, testutil.Bearer(token)
	a := site.Post(t, nil, "/api/v1/stocks/9856000/start", nil, bearer)
	require.Equal(t, http.StatusOK, a.Status, a.Body)
	a = site.Get(t, nil, "/api/v1/stocks/9856000", bearer)
	require.Equal(t, http.StatusOK, a.Status, a.Body)
	require.Contains(t, a.Body, `"status":"running"`)
	_, err := p.stop(t)
	require.NoError(t, err)
}
