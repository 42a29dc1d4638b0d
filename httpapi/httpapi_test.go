package httpapi_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/internal/testutil"

	"github.com/issuer-dev/issuer/httpapi"
	"github.com/issuer-dev/issuer/wxpay"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

// testNow is the daemon's clock in these tests; callbacks are signed at it.
var testNow = time.Date(2025, 6, 18, 10, 30, 0, 0, time.UTC)

const (
	testToken    = "plugin-token-0123456789abcdef"
	testMerchant = "1900012345"
)

type testBundle struct {
	keys  *wxsim.Keys
	store *memStore
	reg   *prometheus.Registry
	srv   *httptest.Server
	logs  *testutil.Buffer
}

// setup serves httpapi.New over real HTTP with a complete Config (an
// in-memory callback store, a fresh registry) that edit may change.
func setup(t *testing.T, keys *wxsim.Keys, edit func(*httpapi.Config)) *testBundle {
	t.Helper()
	b := &testBundle{keys: keys, store: newMemStore(), reg: prometheus.NewRegistry(), logs: &testutil.Buffer{}}
	m, err := httpapi.NewMetrics(b.reg)
	require.NoError(t, err)
	cfg := httpapi.Config{
		Gatherer:       b.reg,
		Verifier:       keys.Verifier(),
		APIv3Key:       keys.APIv3Key,
		StoreCouponUse: b.store.Store,
		PluginToken:    testToken,
		APIv2Key:       keys.APIv2Key,
		PluginMerchant: testMerchant,
		PluginStocks:   []string{"9856000", "9856001", "1234567"},
		Logger:         slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:            func() time.Time { return testNow },
		Metrics:        m,
	}
	if edit != nil {
		edit(&cfg)
	}
	b.srv = httptest.NewServer(httpapi.New(cfg))
	t.Cleanup(b.srv.Close)
	return b
}

// newKeys makes a platform key pair and APIv3/APIv2 keys; tests share one
// set because RSA key generation is slow.
func newKeys(t *testing.T) *wxsim.Keys {
	t.Helper()
	k, err := wxsim.NewKeys()
	require.NoError(t, err)
	return k
}

// do sends a request and returns the status, the body and the headers.
func (b *testBundle) do(t *testing.T, method, path string, h http.Header, body []byte) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, b.srv.URL+path, bytes.NewReader(body))
	require.NoError(t, err)
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := b.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(got), resp.Header
}

// scrape reads /metrics over HTTP and parses it with the Prometheus text
// parser.
func (b *testBundle) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	status, body, h := b.do(t, http.MethodGet, "/metrics", nil, nil)
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, h.Get("Content-Type"), "text/plain")
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(body))
	require.NoError(t, err)
	return families
}

// counter returns the value of the counter name whose labels include
// labels; it fails when there is no such series.
func counter(t *testing.T, families map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	f, ok := families[name]
	require.True(t, ok, "no metric family %s", name)
	require.Equal(t, dto.MetricType_COUNTER, f.GetType())
	for _, m := range f.GetMetric() {
		match := 0
		for _, lp := range m.GetLabel() {
			if v, ok := labels[lp.GetName()]; ok && v == lp.GetValue() {
				match++
			}
		}
		if match == len(labels) {
			return m.GetCounter().GetValue()
		}
	}
	require.Failf(t, "no series", "%s%v", name, labels)
	return 0
}

// memStore is the callback store of these tests: idempotent by
// notification id, like the Postgres one.
type memStore struct {
	mu    sync.Mutex
	uses  map[string]*wxpay.CouponUse
	calls int
	fail  error
}

func newMemStore() *memStore { return &memStore{uses: map[string]*wxpay.CouponUse{}} }

func (s *memStore) Store(_ context.Context, n *wxpay.Notification, use *wxpay.CouponUse) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fail != nil {
		return false, s.fail
	}
	if _, ok := s.uses[n.ID]; ok {
		return false, nil
	}
	s.uses[n.ID] = use
	return true, nil
}

func (s *memStore) setFail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = err
}

func (s *memStore) snapshot() (calls int, uses map[string]*wxpay.CouponUse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	uses = make(map[string]*wxpay.CouponUse, len(s.uses))
	for k, v := range s.uses {
		uses[k] = v
	}
	return s.calls, uses
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	b := setup(t, newKeys(t), nil)

	status, body, _ := b.do(t, http.MethodGet, "/healthz", nil, nil)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "ok\n", body)

	status, _, _ = b.do(t, http.MethodHead, "/healthz", nil, nil)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, b.logs.String(), "level=DEBUG msg=\"http request\" method=GET path=/healthz status=200")
}

func TestReadyz(t *testing.T) {
	t.Parallel()
	keys := newKeys(t)
	cases := []struct {
		name     string
		ready    func(ctx context.Context) error
		status   int
		contains string
	}{
		{name: "no check", ready: nil, status: http.StatusOK, contains: "ready"},
		{name: "ready", ready: func(context.Context) error { return nil }, status: http.StatusOK, contains: "ready"},
		{
			// The reason is logged, never told to whoever asks.
			name: "database down",
			ready: func(context.Context) error {
				return errors.New("database: dial tcp 127.0.0.1:5432: connection refused")
			},
			status:   http.StatusServiceUnavailable,
			contains: "not ready\n",
		},
		{
			name: "bounded",
			ready: func(ctx context.Context) error {
				if _, ok := ctx.Deadline(); !ok {
					return errors.New("no deadline")
				}
				return nil
			},
			status: http.StatusOK, contains: "ready",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, keys, func(c *httpapi.Config) { c.Ready = tc.ready })
			status, body, _ := b.do(t, http.MethodGet, "/readyz", nil, nil)
			require.Equal(t, tc.status, status)
			require.Contains(t, body, tc.contains)
			if status != http.StatusOK {
				require.Equal(t, "not ready\n", body)
				require.Contains(t, b.logs.String(), "dial tcp 127.0.0.1:5432: connection refused", "the reason is in the log")
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t, newKeys(t), nil)

	before := b.scrape(t)
	require.Zero(t, counter(t, before, "issuer_callbacks_total", map[string]string{"result": "stored"}))
	require.Zero(t, counter(t, before, "issuer_plugin_signs_total", map[string]string{"result": "signed"}))

	n := newNotification(t, b.keys, "EV-metrics-1")
	status, _, _ := b.do(t, http.MethodPost, "/callbacks/wxpay", n.signed(t, b.keys, testNow), n.body)
	require.Equal(t, http.StatusOK, status)
	status, _, _ = b.do(t, http.MethodPost, "/callbacks/wxpay", n.signed(t, b.keys, testNow), n.body)
	require.Equal(t, http.StatusOK, status)
	status, _, _ = b.do(t, http.MethodPost, "/plugin/sign", bearer(testToken), []byte(`{"coupons":[{"stock_id":"9856000","out_request_no":"A1"}]}`))
	require.Equal(t, http.StatusOK, status)

	after := b.scrape(t)
	require.Equal(t, 2.0, counter(t, after, "issuer_callbacks_received_total", nil))
	require.Equal(t, 1.0, counter(t, after, "issuer_callbacks_total", map[string]string{"result": "stored"}))
	require.Equal(t, 1.0, counter(t, after, "issuer_callbacks_total", map[string]string{"result": "duplicate"}))
	require.Equal(t, 1.0, counter(t, after, "issuer_plugin_signs_total", map[string]string{"result": "signed"}))
	require.Equal(t, 2.0, counter(t, after, "issuer_http_requests_total", map[string]string{"handler": "callbacks_wxpay", "code": "200"}))
	require.Equal(t, 1.0, counter(t, after, "issuer_http_requests_total", map[string]string{"handler": "metrics", "code": "200"}))
	require.Contains(t, after, "issuer_http_request_duration_seconds")
}

func TestNewMetricsTwiceOnOneRegistry(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	_, err := httpapi.NewMetrics(reg)
	require.NoError(t, err)
	_, err = httpapi.NewMetrics(reg)
	require.ErrorContains(t, err, "register http metrics")
}

func TestRouting(t *testing.T) {
	t.Parallel()
	keys := newKeys(t)
	cases := []struct {
		name         string
		edit         func(*httpapi.Config)
		method, path string
		status       int
		allow        string
		contains     string
	}{
		{name: "unknown path", method: http.MethodGet, path: "/nope", status: http.StatusNotFound},
		{name: "GET callback", method: http.MethodGet, path: "/callbacks/wxpay", status: http.StatusMethodNotAllowed, allow: "POST"},
		{name: "GET plugin sign", method: http.MethodGet, path: "/plugin/sign", status: http.StatusMethodNotAllowed, allow: "POST"},
		{name: "POST healthz", method: http.MethodPost, path: "/healthz", status: http.StatusMethodNotAllowed, allow: "GET, HEAD"},
		{name: "DELETE metrics", method: http.MethodDelete, path: "/metrics", status: http.StatusMethodNotAllowed, allow: "GET, HEAD"},
		{
			name: "metrics without gatherer", edit: func(c *httpapi.Config) { c.Gatherer = nil },
			method: http.MethodGet, path: "/metrics", status: http.StatusServiceUnavailable, contains: "metrics are not configured",
		},
		{
			name: "panicking check", edit: func(c *httpapi.Config) { c.Ready = func(context.Context) error { panic("boom") } },
			method: http.MethodGet, path: "/readyz", status: http.StatusInternalServerError, contains: "internal error",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, keys, tc.edit)
			status, body, h := b.do(t, tc.method, tc.path, nil, nil)
			require.Equal(t, tc.status, status, body)
			require.Equal(t, tc.allow, h.Get("Allow"))
			require.Contains(t, body, tc.contains)
			// The server survives whatever happened.
			status, _, _ = b.do(t, http.MethodGet, "/healthz", nil, nil)
			require.Equal(t, http.StatusOK, status)
		})
	}
}

func TestZeroConfig(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(httpapi.New(httpapi.Config{}))
	t.Cleanup(srv.Close)
	cases := []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/healthz", http.StatusOK},
		{http.MethodGet, "/readyz", http.StatusOK},
		{http.MethodGet, "/metrics", http.StatusServiceUnavailable},
		{http.MethodPost, "/callbacks/wxpay", http.StatusServiceUnavailable},
		{http.MethodPost, "/plugin/sign", http.StatusNotFound},
	}
	for _, tc := range cases {
		req, err := http.NewRequestWithContext(t.Context(), tc.method, srv.URL+tc.path, strings.NewReader("{}"))
		require.NoError(t, err)
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, tc.status, resp.StatusCode, tc.path)
	}
}

// With http.metrics_token_file set, /metrics answers only its bearer.
func TestMetricsToken(t *testing.T) {
	t.Parallel()
	const token = "metrics-token-0123456789abcdef"
	b := setup(t, newKeys(t), func(c *httpapi.Config) { c.MetricsToken = token + "\n" })
	for _, h := range []http.Header{nil, {"Authorization": {"Bearer wrong-token-0123456789"}}, {"Authorization": {"Basic " + token}}} {
		status, body, hdr := b.do(t, http.MethodGet, "/metrics", h, nil)
		require.Equal(t, http.StatusUnauthorized, status, body)
		require.NotContains(t, body, "issuer_")
		require.Equal(t, `Bearer realm="issuer metrics"`, hdr.Get("WWW-Authenticate"))
	}
	status, body, _ := b.do(t, http.MethodGet, "/metrics", http.Header{"Authorization": {"Bearer " + token}}, nil)
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, "issuer_http_requests_total")
	require.NotContains(t, b.logs.String(), token)

	// Without a token, /metrics stays open (the listener is private).
	status, _, _ = setup(t, b.keys, nil).do(t, http.MethodGet, "/metrics", nil, nil)
	require.Equal(t, http.StatusOK, status)
}
