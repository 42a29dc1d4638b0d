package httpapi

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Callback results, the values of issuer_callbacks_total's result label.
const (
	CallbackStored          = "stored"          // first delivery, stored
	CallbackDuplicate       = "duplicate"       // already stored, acknowledged again
	CallbackUnauthenticated = "unauthenticated" // bad or missing signature: 401
	CallbackBadRequest      = "bad_request"     // unreadable, other event, too large
	CallbackDecryptFailed   = "decrypt_failed"  // signed but not decryptable with the APIv3 key: 500 and a config_error alert
	CallbackStoreError      = "store_error"     // the store failed or timed out: 500, WeChat Pay retries
	CallbackUnavailable     = "unavailable"     // callbacks not configured: 503
)

// Plugin signing results, the values of issuer_plugin_signs_total's result
// label.
const (
	PluginSigned       = "signed"
	PluginUnauthorized = "unauthorized"
	PluginBadRequest   = "bad_request"
	PluginDisabled     = "disabled"     // no token, key or merchant configured; the audit log unavailable
	PluginForbidden    = "forbidden"    // a stock not in plugin.stocks
	PluginRateLimited  = "rate_limited" // over plugin.max_per_second
)

// Handler names, the values of the handler label.
const (
	handlerHealthz  = "healthz"
	handlerReadyz   = "readyz"
	handlerMetrics  = "metrics"
	handlerCallback = "callbacks_wxpay"
	handlerPlugin   = "plugin_sign"
	handlerOther    = "other"
)

// Metrics are the package's Prometheus collectors. Build them once per
// registry with NewMetrics and pass them in Config.Metrics.
type Metrics struct {
	requests  *prometheus.CounterVec   // handler, code
	durations *prometheus.HistogramVec // handler
	callbacks *prometheus.CounterVec   // result
	received  prometheus.Counter
	signs     *prometheus.CounterVec // result
}

// NewMetrics builds the collectors and registers them with reg (none when
// reg is nil):
//
//	issuer_http_requests_total{handler,code}
//	issuer_http_request_duration_seconds{handler}
//	issuer_callbacks_received_total
//	issuer_callbacks_total{result}
//	issuer_plugin_signs_total{result}
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "issuer_http_requests_total",
			Help: "HTTP requests answered by the daemon, by handler and status code.",
		}, []string{"handler", "code"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "issuer_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by handler.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 4, 5, 10},
		}, []string{"handler"}),
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "issuer_callbacks_received_total",
			Help: "WeChat Pay callbacks received on /callbacks/wxpay.",
		}),
		callbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "issuer_callbacks_total",
			Help: "WeChat Pay callbacks by result: stored, duplicate, unauthenticated, bad_request, decrypt_failed, store_error, unavailable.",
		}, []string{"result"}),
		signs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "issuer_plugin_signs_total",
			Help: "POST /plugin/sign requests by result: signed, unauthorized, bad_request, forbidden, rate_limited, disabled.",
		}, []string{"result"}),
	}
	for _, r := range []string{CallbackStored, CallbackDuplicate, CallbackUnauthenticated, CallbackBadRequest, CallbackDecryptFailed, CallbackStoreError, CallbackUnavailable} {
		m.callbacks.WithLabelValues(r)
	}
	for _, r := range []string{PluginSigned, PluginUnauthorized, PluginBadRequest, PluginDisabled} {
		m.signs.WithLabelValues(r)
	}
	for _, h := range []string{handlerHealthz, handlerReadyz, handlerMetrics, handlerCallback, handlerPlugin} {
		m.durations.WithLabelValues(h)
	}
	if reg == nil {
		return m, nil
	}
	cs := []prometheus.Collector{m.requests, m.durations, m.received, m.callbacks, m.signs}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("register http metrics: %w", err)
		}
	}
	return m, nil
}
