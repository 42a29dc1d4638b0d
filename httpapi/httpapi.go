package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/time/rate"

	"github.com/issuer-dev/issuer/alert"
	"github.com/issuer-dev/issuer/audit"
	"github.com/issuer-dev/issuer/wxpay"
)

const (
	// DefaultCallbackTimeout bounds a callback from its first byte to the
	// answer; WeChat Pay gives up after 5 s and counts that as a failure.
	DefaultCallbackTimeout = 4 * time.Second
	// DefaultReadyTimeout bounds Config.Ready, so a hung database makes
	// /readyz answer 503 instead of hanging the probe.
	DefaultReadyTimeout = 2 * time.Second
	// MaxCallbackBytes caps a callback body; a COUPON.USE notification is a
	// few KiB even with a long goods_detail.
	MaxCallbackBytes = 1 << 20
	// MaxPluginBytes caps a /plugin/sign body; ten coupons fit in 2 KiB.
	MaxPluginBytes = 64 << 10
	// DefaultPluginRate is how many coupons /plugin/sign signs a second
	// when Config.PluginRate is unset (plugin.max_per_second).
	DefaultPluginRate = 20

	// MinTokenLen is the shortest plugin or metrics token accepted: a
	// shorter one disables its endpoint (config check refuses it).
	MinTokenLen = 16
)

// Config is what the endpoints depend on. The zero value serves /healthz,
// an always-ready /readyz and nothing else useful; each endpoint answers
// with a clear message when what it needs is missing.
type Config struct {
	// Ready reports whether the daemon can do its work (database reachable,
	// configuration valid); nil means always ready. It is called with a
	// context bounded by ReadyTimeout. Its error is logged; the probe is
	// answered only "not ready" (the error names addresses and users).
	Ready        func(ctx context.Context) error
	ReadyTimeout time.Duration // default DefaultReadyTimeout

	// Gatherer is exposed on /metrics; nil answers 503.
	Gatherer prometheus.Gatherer
	// MetricsToken, when set, is the bearer token GET /metrics requires
	// (http.metrics_token_file); empty leaves /metrics open to whoever
	// reaches the listener.
	MetricsToken string

	// Verifier and APIv3Key authenticate and decrypt COUPON.USE callbacks.
	Verifier *wxpay.Verifier
	APIv3Key string
	// StoreCouponUse stores an authenticated callback, idempotently by
	// notification id: a repeat returns inserted false and no error. It must
	// return when ctx is done.
	StoreCouponUse  func(ctx context.Context, n *wxpay.Notification, use *wxpay.CouponUse) (inserted bool, err error)
	CallbackTimeout time.Duration // default DefaultCallbackTimeout

	// PluginToken is the bearer token POST /plugin/sign requires; empty
	// disables the endpoint (404).
	PluginToken string
	// APIv2Key signs plugin parameters. It is never returned or logged.
	APIv2Key string
	// PluginMerchant is send_coupon_merchant: the merchant that owns
	// APIv2Key, used when a request names none.
	PluginMerchant string
	// PluginStocks are the stocks POST /plugin/sign signs for
	// (plugin.stocks); a coupon of any other stock is refused with 403.
	// Empty: any stock.
	// Empty: none.
	PluginStocks []string
	// PluginRate bounds signing to this many coupons a second (a burst of
	// twice that, and at least one call's worth); 0: DefaultPluginRate.
	PluginRate float64
	// Audit records every signing, and every refusal of a stock, in the
	// audit log before the signature is answered: a signing that cannot be
	// recorded is not answered (503). Nil: the log only.
	Audit Auditor

	// Alerts raises what an operator must act on and a log line is not
	// enough for: callbacks that authenticate but do not decrypt (a wrong
	// APIv3 key), callbacks arriving while they are not configured. Nil:
	// the log only.
	Alerts Alerter
	// CallbacksElsewhere drops POST /callbacks/wxpay from New's handler:
	// NewCallbacks serves it on a listener of its own (http.callback_addr),
	// so that only that path faces the internet.
	CallbacksElsewhere bool

	Logger  *slog.Logger     // default: discard
	Now     func() time.Time // default time.Now; the clock callbacks' timestamps are checked against
	Metrics *Metrics         // default: unregistered collectors
}

// Alerter raises alerts; *alert.Notifier is one. Notify must not block.
type Alerter interface {
	Notify(alert.Alert)
}

// Auditor records acts in the audit log; *audit.Store is one.
type Auditor interface {
	Record(ctx context.Context, e audit.Entry) error
}

// handler serves the endpoints; it is immutable after New.
type handler struct {
	cfg         Config
	log         *slog.Logger
	now         func() time.Time
	m           *Metrics
	metrics     http.Handler
	tokenHash   [sha256.Size]byte
	metricsHash *[sha256.Size]byte // nil: /metrics is open
	stocks      map[string]bool    // the stocks the plugin signs for
	signs       *rate.Limiter
	routes      map[string]route // by mux pattern
}

// route is how the middleware labels and logs one mux pattern.
type route struct {
	name  string
	level slog.Level
}

// New builds the daemon's handler. The Config is copied; later changes to
// it have no effect.
func New(cfg Config) http.Handler { return build(cfg, false) }

// NewCallbacks builds a handler that serves POST /callbacks/wxpay alone,
// for a listener that faces the internet; every other path is 404. Pair it
// with Config.CallbacksElsewhere on New's handler.
func NewCallbacks(cfg Config) http.Handler { return build(cfg, true) }

func build(cfg Config, callbacksOnly bool) http.Handler {
	h := newHandler(cfg)
	h.setUpPlugin()
	h.setUpMetrics()
	if cfg.Verifier == nil || cfg.APIv3Key == "" || cfg.StoreCouponUse == nil {
		h.log.Warn("POST /callbacks/wxpay will answer 503: verifier, APIv3 key or store missing")
	}

	// Probes and scrapes come every few seconds: log them at debug. So is
	// a callback's request line: the handler logs the one line a callback
	// is worth at info (what was stored), and failures at error; a 5xx
	// still raises the request line to warn.
	endpoints := []struct {
		pattern string
		route   route
		serve   http.HandlerFunc
	}{
		{"GET /healthz", route{handlerHealthz, slog.LevelDebug}, h.healthz},
		{"GET /readyz", route{handlerReadyz, slog.LevelDebug}, h.readyz},
		{"GET /metrics", route{handlerMetrics, slog.LevelDebug}, h.serveMetrics},
		{"POST /callbacks/wxpay", route{handlerCallback, slog.LevelDebug}, h.callback},
		{"POST /plugin/sign", route{handlerPlugin, slog.LevelInfo}, h.pluginSign},
	}
	mux := http.NewServeMux()
	h.routes = make(map[string]route, len(endpoints))
	for _, e := range endpoints {
		if isCallback := e.route.name == handlerCallback; isCallback != callbacksOnly && (callbacksOnly || cfg.CallbacksElsewhere) {
			continue
		}
		mux.Handle(e.pattern, e.serve)
		h.routes[e.pattern] = e.route
	}
	return h.middleware(mux)
}

// newHandler is a handler of cfg with every default filled in.
func newHandler(cfg Config) *handler {
	h := &handler{cfg: cfg, log: cfg.Logger, now: cfg.Now, m: cfg.Metrics}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.m == nil {
		h.m, _ = NewMetrics(nil) // cannot fail without a registerer
	}
	if h.cfg.ReadyTimeout <= 0 {
		h.cfg.ReadyTimeout = DefaultReadyTimeout
	}
	if h.cfg.CallbackTimeout <= 0 {
		h.cfg.CallbackTimeout = DefaultCallbackTimeout
	}
	return h
}

// setUpPlugin turns plugin signing on when its token is long enough, with
// its stocks and its rate.
func (h *handler) setUpPlugin() {
	cfg := h.cfg
	// A token file's trailing newline is not part of the token.
	h.cfg.PluginToken = strings.TrimSpace(h.cfg.PluginToken)
	switch {
	case h.cfg.PluginToken == "":
		h.log.Info("POST /plugin/sign is disabled: no plugin token")
	case len(h.cfg.PluginToken) < MinTokenLen:
		// config check refuses it; a short token is guessable.
		h.log.Error("POST /plugin/sign is disabled: the plugin token is shorter than 16 characters; use a long random one",
			"length", len(h.cfg.PluginToken))
		h.cfg.PluginToken = ""
	}
	if h.cfg.PluginToken != "" {
		h.tokenHash = sha256.Sum256([]byte(h.cfg.PluginToken))
		if len(cfg.PluginStocks) == 0 {
			h.log.Warn("POST /plugin/sign signs for any stock of the merchant: plugin.stocks lists none")
		}
	}
	if len(cfg.PluginStocks) > 0 {
		h.stocks = make(map[string]bool, len(cfg.PluginStocks))
		for _, s := range cfg.PluginStocks {
			h.stocks[strings.TrimSpace(s)] = true
		}
	}
	perSecond := cfg.PluginRate
	if perSecond <= 0 {
		perSecond = DefaultPluginRate
	}
	h.signs = rate.NewLimiter(rate.Limit(perSecond), max(int(2*perSecond), wxpay.MaxPluginCoupons))
}

// setUpMetrics protects /metrics with its token, when there is one, and
// serves the gatherer's metrics.
func (h *handler) setUpMetrics() {
	cfg := h.cfg
	if t := strings.TrimSpace(cfg.MetricsToken); t != "" {
		sum := sha256.Sum256([]byte(t))
		h.metricsHash = &sum
		if len(t) < MinTokenLen {
			h.log.Error("the metrics token is shorter than 16 characters; use a long random one", "length", len(t))
		}
	}
	if cfg.Gatherer != nil {
		h.metrics = promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{
			ErrorLog:      slog.NewLogLogger(h.log.Handler(), slog.LevelError),
			ErrorHandling: promhttp.ContinueOnError,
		})
	}
}

func (h *handler) healthz(w http.ResponseWriter, _ *http.Request) {
	writeText(w, http.StatusOK, "ok")
}

func (h *handler) readyz(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Ready == nil {
		writeText(w, http.StatusOK, "ready")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.ReadyTimeout)
	defer cancel()
	if err := h.cfg.Ready(ctx); err != nil {
		// The reason (a database address, a user name) is for the log,
		// not for whoever asks.
		h.log.Warn("not ready", "err", err)
		writeText(w, http.StatusServiceUnavailable, "not ready")
		return
	}
	writeText(w, http.StatusOK, "ready")
}

func (h *handler) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if h.metricsHash != nil && !bearerMatches(r, *h.metricsHash) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="issuer metrics"`)
		writeText(w, http.StatusUnauthorized, "a valid Authorization: Bearer token is required (http.metrics_token_file)")
		return
	}
	if h.metrics == nil {
		writeText(w, http.StatusServiceUnavailable, "metrics are not configured")
		return
	}
	h.metrics.ServeHTTP(w, r)
}

// middleware logs and counts every request and turns a handler's panic
// into a logged 500.
func (h *handler) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		defer func() {
			p := recover()
			if p == http.ErrAbortHandler {
				panic(p)
			}
			if p != nil {
				h.log.Error("http handler panicked", "method", r.Method, "path", r.URL.Path,
					"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if rec.status == 0 {
					writeText(rec, http.StatusInternalServerError, "internal error")
				}
			}
			// ServeMux records the matched pattern on r; 404 and 405
			// answers have none.
			rt, ok := h.routes[r.Pattern]
			if !ok {
				rt = route{handlerOther, slog.LevelInfo}
			}
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			elapsed := time.Since(start)
			h.m.requests.WithLabelValues(rt.name, strconv.Itoa(status)).Inc()
			h.m.durations.WithLabelValues(rt.name).Observe(elapsed.Seconds())
			level := rt.level
			// readyz logs its own reason for a 503.
			if status >= http.StatusInternalServerError && level < slog.LevelWarn && rt.name != handlerReadyz {
				level = slog.LevelWarn
			}
			h.log.Log(r.Context(), level, "http request", "method", r.Method, "path", r.URL.Path,
				"status", status, "bytes", rec.bytes, "duration", elapsed, "remote", r.RemoteAddr)
		}()
		next.ServeHTTP(rec, r)
	})
}

// recorder remembers the status and size of an answer. Unwrap lets
// http.ResponseController reach the connection underneath.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// reply is the {"code","message"} body of callback answers (WeChat Pay's
// convention) and of every JSON error.
type reply struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // only plain structs are written
		writeText(w, http.StatusInternalServerError, "encode answer: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeText(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg + "\n"))
}
