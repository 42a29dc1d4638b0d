package alert_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/internal/testutil"

	"github.com/issuer-dev/issuer/alert"
)

// hookPath carries a token, as chat-robot webhooks do; it must never be
// logged.
const hookPath = "/hook/SECRET-TOKEN-5f1c"

type testBundle struct {
	url      string
	received chan []byte // bodies the webhook accepted, in order
	attempts atomic.Int64
	logs     *testutil.Buffer
	clock    *testutil.Clock
}

// setup starts a webhook that answers with answer(attempt) (1-based) and
// records the bodies of the 2xx answers.
func setup(t *testing.T, answer func(attempt int64, w http.ResponseWriter, r *http.Request) int) *testBundle {
	t.Helper()
	b := &testBundle{received: make(chan []byte, 100), logs: &testutil.Buffer{}, clock: testutil.NewClock(time.Date(2025, 6, 18, 10, 30, 0, 0, time.UTC))}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil || r.URL.Path != hookPath || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusTeapot)
			return
		}
		status := answer(b.attempts.Add(1), w, r)
		if status >= 200 && status < 300 {
			b.received <- body
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(http.StatusText(status)))
	}))
	t.Cleanup(srv.Close)
	b.url = srv.URL + hookPath
	return b
}

func ok(int64, http.ResponseWriter, *http.Request) int { return http.StatusOK }

// config is a fast configuration for tests: millisecond backoff, a drain
// long enough never to cut a test short.
func (b *testBundle) config() alert.Config {
	return alert.Config{
		WebhookURL:   b.url,
		Backoff:      time.Millisecond,
		Timeout:      time.Minute,
		DrainTimeout: time.Minute,
		Source:       "issuer-1",
		Logger:       slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:          b.clock.Now,
	}
}

// flush delivers what n has queued: Run with a context already done
// drains the queue and returns.
func flush(n *alert.Notifier) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n.Run(ctx)
}

func (b *testBundle) bodies(t *testing.T) []alert.Alert {
	t.Helper()
	var out []alert.Alert
	for {
		select {
		case raw := <-b.received:
			var a alert.Alert
			require.NoError(t, json.Unmarshal(raw, &a))
			out = append(out, a)
		default:
			return out
		}
	}
}

func TestWebhookReceivesJSON(t *testing.T) {
	t.Parallel()
	b := setup(t, ok)
	n := alert.New(b.config())

	stop := n.Start(t.Context())
	n.Notify(alert.Alert{Kind: alert.KindBatchHalted, Severity: alert.SeverityCritical, BatchID: 42,
		StockID: "9856000", MchID: "1900012345", Message: "批次预算不足"})
	raw := <-b.received
	stop()

	require.JSONEq(t, `{"kind":"batch_halted","severity":"critical","batch_id":42,"stock_id":"9856000","mchid":"1900012345",
		"message":"批次预算不足","time":"2025-06-18T10:30:00Z","source":"issuer-1"}`, string(raw))
	require.Equal(t, alert.Stats{Raised: 1, Delivered: 1}, n.Stats())
	require.Contains(t, b.logs.String(), `level=ERROR msg=alert kind=batch_halted severity=critical batch=42 stock=9856000 mchid=1900012345 message=批次预算不足 webhook=queued`)
	require.NotContains(t, b.logs.String(), "SECRET-TOKEN")
}

func TestRetries(t *testing.T) {
	t.Parallel()
	statuses := func(s ...int) func(int64, http.ResponseWriter, *http.Request) int {
		return func(attempt int64, _ http.ResponseWriter, _ *http.Request) int {
			return s[min(int(attempt), len(s))-1]
		}
	}
	cases := []struct {
		name      string
		answer    func(int64, http.ResponseWriter, *http.Request) int
		retries   int
		closed    bool // the webhook is not listening
		attempts  int64
		delivered uint64
		failed    uint64
		log       string
	}{
		{name: "fails, retried, given up", answer: statuses(500), retries: 2, attempts: 3, failed: 1, log: "webhook answered 500"},
		{name: "default retries", answer: statuses(502), attempts: 1 + alert.DefaultRetries, failed: 1},
		{name: "recovers", answer: statuses(503, 503, 200), retries: 3, attempts: 3, delivered: 1},
		{name: "throttled then accepted", answer: statuses(429, 200), attempts: 2, delivered: 1},
		{name: "refused for good", answer: statuses(400), retries: 3, attempts: 1, failed: 1, log: "webhook answered 400: Bad Request"},
		{name: "no retries", answer: statuses(500), retries: -1, attempts: 1, failed: 1},
		{name: "not listening", answer: statuses(200), closed: true, retries: 1, failed: 1, log: "connect: connection refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, tc.answer)
			cfg := b.config()
			cfg.Retries = tc.retries
			if tc.closed {
				srv := httptest.NewServer(http.NotFoundHandler())
				srv.Close()
				cfg.WebhookURL = srv.URL + hookPath
			}
			n := alert.New(cfg)
			n.Notify(alert.Alert{Kind: alert.KindConfigError, Message: "wxpay.private_key_file: no such file"})
			flush(n)

			require.Equal(t, tc.attempts, b.attempts.Load())
			s := n.Stats()
			require.Equal(t, tc.delivered, s.Delivered)
			require.Equal(t, tc.failed, s.Failed)
			logs := b.logs.String()
			if tc.failed > 0 {
				require.Contains(t, logs, `level=ERROR msg="alert not sent to the webhook; giving up" channel=webhook kind=config_error`)
			}
			require.Contains(t, logs, tc.log)
			require.NotContains(t, logs, "SECRET-TOKEN")
		})
	}
}

func TestNotifyNeverBlocks(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{}, 10)
	release := make(chan struct{})
	b := setup(t, func(_ int64, _ http.ResponseWriter, r *http.Request) int {
		entered <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return http.StatusOK
	})
	cfg := b.config()
	cfg.QueueSize = 2
	n := alert.New(cfg)

	stop := n.Start(t.Context())
	n.Notify(alert.Alert{Kind: alert.KindReview, BatchID: 1, Message: "m0"})
	<-entered // Run is stuck on the hanging webhook
	for i := 1; i <= 4; i++ {
		// Returns at once although nothing is being delivered: two fit
		// in the queue, two are dropped.
		n.Notify(alert.Alert{Kind: alert.KindReview, BatchID: 1, Message: "m" + string(rune('0'+i))})
	}
	require.Equal(t, alert.Stats{Raised: 5, Dropped: 2}, n.Stats())
	require.Equal(t, 2, strings.Count(b.logs.String(), "webhook=\"dropped: 2 alerts already queued\""))

	reg := prometheus.NewRegistry()
	require.NoError(t, reg.Register(n))
	require.Equal(t, 2.0, gathered(t, reg, "issuer_alert_webhook_total", "result", "dropped"))
	require.Equal(t, 5.0, gathered(t, reg, "issuer_alerts_total", "kind", alert.KindReview))
	require.Equal(t, 0.0, gathered(t, reg, "issuer_alerts_total", "kind", alert.KindBatchHalted))
	require.Equal(t, 2.0, gathered(t, reg, "issuer_alert_queue_length", "", ""))

	close(release)
	stop()
	require.Equal(t, alert.Stats{Raised: 5, Dropped: 2, Delivered: 3}, n.Stats())
	var msgs []string
	for _, a := range b.bodies(t) {
		msgs = append(msgs, a.Message)
	}
	require.Equal(t, []string{"m0", "m1", "m2"}, msgs)
}

func TestRunDrainIsBounded(t *testing.T) {
	t.Parallel()
	b := setup(t, func(_ int64, _ http.ResponseWriter, r *http.Request) int {
		<-r.Context().Done() // hangs until the client gives up
		return http.StatusOK
	})
	cfg := b.config()
	cfg.DrainTimeout = 10 * time.Millisecond
	n := alert.New(cfg)
	n.Notify(alert.Alert{Kind: alert.KindMerchantHalted, Message: "first"})
	n.Notify(alert.Alert{Kind: alert.KindMerchantHalted, Message: "second"})

	flush(n) // returns although the webhook never answers

	// Which of the two was cut short and which never tried depends on when
	// the drain timeout fires; neither was delivered, both are counted.
	s := n.Stats()
	require.Zero(t, s.Delivered)
	require.Equal(t, uint64(2), s.Failed+s.Dropped)
	require.Contains(t, b.logs.String(), "message=second")
}

func TestDedupe(t *testing.T) {
	t.Parallel()
	halted := alert.Alert{Kind: alert.KindBatchHalted, BatchID: 7, Message: "批次预算不足"}
	other := halted
	other.BatchID = 8

	type step struct {
		advance time.Duration
		alert   alert.Alert
	}
	storm := []step{
		{0, halted}, {0, halted}, {0, other}, {0, halted},
		{30 * time.Second, halted},
		{31 * time.Second, halted}, // a minute after the first: sent, with the count
		{0, halted},
		{0, other},
	}
	cases := []struct {
		name       string
		window     time.Duration
		sent       []int64 // batch ids received, in order
		suppressed []int   // their Suppressed fields
		stats      alert.Stats
	}{
		{
			name: "default window", sent: []int64{7, 8, 7, 8}, suppressed: []int{0, 0, 3, 0},
			stats: alert.Stats{Raised: 8, Suppressed: 4, Delivered: 4},
		},
		{
			name: "off", window: -1, sent: []int64{7, 7, 8, 7, 7, 7, 7, 8}, suppressed: []int{0, 0, 0, 0, 0, 0, 0, 0},
			stats: alert.Stats{Raised: 8, Delivered: 8},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, ok)
			cfg := b.config()
			cfg.DedupeWindow = tc.window
			n := alert.New(cfg)
			for _, s := range storm {
				b.clock.Advance(s.advance)
				n.Notify(s.alert)
			}
			flush(n)

			var sent []int64
			var suppressed []int
			for _, a := range b.bodies(t) {
				sent = append(sent, a.BatchID)
				suppressed = append(suppressed, a.Suppressed)
			}
			require.Equal(t, tc.sent, sent)
			require.Equal(t, tc.suppressed, suppressed)
			require.Equal(t, tc.stats, n.Stats())
			// Every alert is logged, sent or not.
			require.Equal(t, len(storm), strings.Count(b.logs.String(), "level=ERROR msg=alert "))
		})
	}
}

func TestWithoutWebhook(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, url string
		log       string
	}{
		{name: "none", url: ""},
		{name: "invalid", url: "ftp://hooks.example.com/SECRET-TOKEN", log: `level=ERROR msg="alerts go to the log only" err="alerts.webhook_url: want an http or https URL with a host, got scheme \"ftp\""`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			logs := &testutil.Buffer{}
			n := alert.New(alert.Config{WebhookURL: tc.url, Logger: slog.New(slog.NewTextHandler(logs, nil))})
			for range 3 {
				n.Notify(alert.Alert{Kind: alert.KindReconcileAnomaly, StockID: "9856000", Message: "12 coupons used that were never issued"})
			}
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			n.Run(ctx) // returns once ctx is done

			require.Equal(t, alert.Stats{Raised: 3}, n.Stats())
			require.Equal(t, 3, strings.Count(logs.String(), `level=ERROR msg=alert kind=reconcile_anomaly severity=error stock=9856000 message="12 coupons used that were never issued" webhook=none`))
			require.Contains(t, logs.String(), tc.log)
			require.NotContains(t, logs.String(), "SECRET-TOKEN")
		})
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		url string
		err string
	}{
		{url: ""},
		{url: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=SECRET"},
		{url: "http://127.0.0.1:9000/alerts"},
		{url: "ftp://example.com/x", err: `got scheme "ftp"`},
		{url: "hooks.example.com/SECRET", err: `got scheme ""`},
		{url: "https:///SECRET", err: "with a host"},
		{url: "http://[::1/SECRET", err: "not a URL"},
	}
	for _, tc := range cases {
		t.Run(tc.url, func(t *testing.T) {
			t.Parallel()
			err := alert.Config{WebhookURL: tc.url}.Validate()
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.err)
			require.NotContains(t, err.Error(), "SECRET")
		})
	}
}

// gathered returns the value of the series of name with label=value (or
// the only series when label is empty).
func gathered(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			match := label == ""
			for _, lp := range m.GetLabel() {
				match = match || (lp.GetName() == label && lp.GetValue() == value)
			}
			if !match {
				continue
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	require.Failf(t, "no series", "%s{%s=%q}", name, label, value)
	return 0
}
