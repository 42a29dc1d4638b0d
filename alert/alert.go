package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Kinds of alerts the issuer raises.
const (
	KindBatchHalted      = "batch_halted"      // budget exhausted, stock not running
	KindMerchantHalted   = "merchant_halted"   // signature or permission errors stop a merchant's issuing
	KindConfigError      = "config_error"      // the configuration or the keys are wrong
	KindReview           = "review"            // recipients whose outcome is unknown after every attempt
	KindReconcileAnomaly = "reconcile_anomaly" // use/refund flows disagree with what was issued
)

// Severities; Notify fills in SeverityError when an alert has none.
const (
	SeverityCritical = "critical"
	SeverityError    = "error"
	SeverityWarning  = "warning"
)

// Defaults for the zero fields of Config.
const (
	DefaultTimeout      = 5 * time.Second
	DefaultRetries      = 3
	DefaultBackoff      = time.Second
	DefaultQueueSize    = 256
	DefaultDedupeWindow = time.Minute
	DefaultDrainTimeout = 5 * time.Second
)

// maxBackoff caps the delay between attempts.
const maxBackoff = 30 * time.Second

// Alert is something an operator must look at. It is sent to the webhook as
// its JSON.
type Alert struct {
	Kind     string    `json:"kind"`     // one of the Kind constants
	Severity string    `json:"severity"` // one of the Severity constants
	BatchID  int64     `json:"batch_id,omitempty"`
	StockID  string    `json:"stock_id,omitempty"`
	MchID    string    `json:"mchid,omitempty"`
	Message  string    `json:"message"`
	Time     time.Time `json:"time"`             // when it happened; Notify fills in the present
	Source   string    `json:"source,omitempty"` // the instance that raised it; Notify fills in Config.Source
	// Suppressed counts the identical alerts not sent since the previous
	// one that was; Notify sets it.
	Suppressed int `json:"suppressed,omitempty"`
}

// Config configures a Notifier. Zero fields take the defaults above.
type Config struct {
	WebhookURL   string        // http(s) URL to POST alerts to; empty: log only
	Timeout      time.Duration // per attempt
	Retries      int           // attempts after the first; negative: none
	Backoff      time.Duration // delay before the first retry, doubled each time, jittered
	QueueSize    int           // alerts waiting for the webhook
	DedupeWindow time.Duration // negative: send every alert
	DrainTimeout time.Duration // how long Run keeps delivering once its context is done
	Source       string        // names this instance in alerts, e.g. the host name
	Logger       *slog.Logger  // default: discard
	HTTPClient   *http.Client  // default: a client with no overall timeout (Timeout bounds each attempt)
	Now          func() time.Time
}

// Validate reports whether WebhookURL is usable, so that `config check`
// and start-up can refuse a typo instead of losing alerts.
func (c Config) Validate() error {
	if c.WebhookURL == "" {
		return nil
	}
	u, err := url.Parse(c.WebhookURL)
	if err != nil {
		return errors.New("alerts.webhook_url is not a URL") // url's error would quote a token
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("alerts.webhook_url: want an http or https URL with a host, got scheme %q", u.Scheme)
	}
	return nil
}

// Stats are a Notifier's counts since New.
type Stats struct {
	Raised     uint64 // Notify calls
	Suppressed uint64 // not sent: identical to one sent within the dedupe window
	Dropped    uint64 // not sent: queue full, or still queued when Run's drain ended
	Delivered  uint64 // the webhook answered 2xx
	Failed     uint64 // every attempt failed, or the answer was final and not 2xx
}

// Notifier logs alerts and delivers them to a webhook. Notify is safe for
// concurrent use; Run is called once.
type Notifier struct {
	cfg    Config
	log    *slog.Logger
	hc     *http.Client
	now    func() time.Time
	queue  chan Alert // nil when there is no webhook
	target string     // scheme://host of the webhook, for logs

	mu        sync.Mutex
	seen      map[dedupeKey]*seenEntry
	lastPrune time.Time
	byKind    map[string]uint64

	raised, suppressed, dropped, delivered, failed atomic.Uint64

	descRaised, descWebhook, descQueue *prometheus.Desc
}

type dedupeKey struct {
	kind, severity, stock, mchid, message string
	batch                                 int64
}

type seenEntry struct {
	sent       time.Time // when the last identical alert was queued
	suppressed int       // identical alerts suppressed since
}

// New builds a Notifier. An invalid WebhookURL (see Config.Validate) is
// logged and leaves the Notifier logging only.
func New(cfg Config) *Notifier {
	n := &Notifier{
		cfg:    cfg,
		log:    cfg.Logger,
		hc:     cfg.HTTPClient,
		now:    cfg.Now,
		seen:   map[dedupeKey]*seenEntry{},
		byKind: map[string]uint64{},
		descRaised: prometheus.NewDesc("issuer_alerts_total",
			"Alerts raised, by kind.", []string{"kind"}, nil),
		descWebhook: prometheus.NewDesc("issuer_alert_webhook_total",
			"Alerts by what became of them at the webhook: delivered, failed, dropped, suppressed.", []string{"result"}, nil),
		descQueue: prometheus.NewDesc("issuer_alert_queue_length",
			"Alerts waiting for the webhook.", nil, nil),
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if n.hc == nil {
		n.hc = &http.Client{}
	}
	if n.now == nil {
		n.now = time.Now
	}
	c := &n.cfg
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	switch {
	case c.Retries == 0:
		c.Retries = DefaultRetries
	case c.Retries < 0:
		c.Retries = 0
	}
	if c.Backoff <= 0 {
		c.Backoff = DefaultBackoff
	}
	if c.QueueSize <= 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.DedupeWindow == 0 {
		c.DedupeWindow = DefaultDedupeWindow
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.WebhookURL != "" {
		if err := c.Validate(); err != nil {
			n.log.Error("alerts go to the log only", "err", err)
			return n
		}
		u, _ := url.Parse(c.WebhookURL) // Validate parsed it
		n.target = u.Scheme + "://" + u.Host
		n.queue = make(chan Alert, c.QueueSize)
	}
	return n
}

// Notify logs a at ERROR and queues it for the webhook. It never blocks:
// an alert that does not fit in the queue is dropped, with a log line.
func (n *Notifier) Notify(a Alert) {
	if a.Time.IsZero() {
		a.Time = n.now()
	}
	if a.Severity == "" {
		a.Severity = SeverityError
	}
	if a.Source == "" {
		a.Source = n.cfg.Source
	}
	n.raised.Add(1)
	webhook := n.enqueue(&a)
	attrs := []any{"kind", a.Kind, "severity", a.Severity}
	if a.BatchID != 0 {
		attrs = append(attrs, "batch", a.BatchID)
	}
	if a.StockID != "" {
		attrs = append(attrs, "stock", a.StockID)
	}
	if a.MchID != "" {
		attrs = append(attrs, "mchid", a.MchID)
	}
	attrs = append(attrs, "message", a.Message, "webhook", webhook)
	n.log.Error("alert", attrs...)
}

// enqueue applies the dedupe window and queues a, saying what it did.
func (n *Notifier) enqueue(a *Alert) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.byKind[a.Kind]++
	if n.queue == nil {
		return "none"
	}
	now := n.now()
	n.prune(now)
	key := dedupeKey{kind: a.Kind, severity: a.Severity, stock: a.StockID, mchid: a.MchID, message: a.Message, batch: a.BatchID}
	e := n.seen[key]
	if e != nil && n.cfg.DedupeWindow > 0 && now.Sub(e.sent) < n.cfg.DedupeWindow {
		e.suppressed++
		n.suppressed.Add(1)
		return fmt.Sprintf("suppressed: identical alert sent less than %s ago", n.cfg.DedupeWindow)
	}
	if e != nil {
		a.Suppressed = e.suppressed
	}
	select {
	case n.queue <- *a:
		n.seen[key] = &seenEntry{sent: now}
		return "queued"
	default:
		// Leave the entry alone: the next identical alert is tried again.
		n.dropped.Add(1)
		return fmt.Sprintf("dropped: %d alerts already queued", cap(n.queue))
	}
}

// prune forgets alerts sent more than two windows ago, at most once per
// window. Two windows, so that a storm still going after one window reports
// how much it suppressed.
func (n *Notifier) prune(now time.Time) {
	w := n.cfg.DedupeWindow
	if w <= 0 || now.Sub(n.lastPrune) < w {
		return
	}
	n.lastPrune = now
	for k, e := range n.seen {
		if now.Sub(e.sent) >= 2*w {
			delete(n.seen, k)
		}
	}
}

// Run delivers queued alerts until ctx is done, then keeps delivering what
// is queued for at most Config.DrainTimeout, counts the rest as dropped,
// and returns. Without a webhook it just waits for ctx.
func (n *Notifier) Run(ctx context.Context) {
	if n.queue == nil {
		<-ctx.Done()
		return
	}
	// Deliveries outlive ctx by the drain timeout, so an alert raised while
	// shutting down still goes out.
	hard, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		t := time.NewTimer(n.cfg.DrainTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-hard.Done():
		}
	})
	defer stop()

	for {
		// Once ctx is done, the drain decides what is still worth sending.
		if ctx.Err() != nil {
			n.drain(hard)
			return
		}
		select {
		case a := <-n.queue:
			n.deliver(hard, a)
		case <-ctx.Done():
		}
	}
}

// drain delivers what is queued until the queue is empty or ctx is done.
func (n *Notifier) drain(ctx context.Context) {
	for {
		select {
		case a := <-n.queue:
			if ctx.Err() != nil {
				n.dropped.Add(1)
				n.log.Error("alert not sent to the webhook: shutting down", "kind", a.Kind, "batch", a.BatchID, "message", a.Message)
				continue
			}
			n.deliver(ctx, a)
		default:
			return
		}
	}
}

// deliver POSTs a, retrying transient failures.
func (n *Notifier) deliver(ctx context.Context, a Alert) {
	body, err := json.Marshal(a)
	if err != nil { // an Alert always marshals; keep the count honest anyway
		n.failed.Add(1)
		n.log.Error("alert not sent to the webhook", "kind", a.Kind, "err", err)
		return
	}
	delay := n.cfg.Backoff
	for attempt := 1; ; attempt++ {
		err := n.post(ctx, body)
		if err == nil {
			n.delivered.Add(1)
			n.log.Debug("alert sent to the webhook", "kind", a.Kind, "batch", a.BatchID, "attempts", attempt)
			return
		}
		var final *finalError
		if errors.As(err, &final) || attempt > n.cfg.Retries || ctx.Err() != nil {
			n.failed.Add(1)
			n.log.Error("alert not sent to the webhook; giving up", "kind", a.Kind, "batch", a.BatchID,
				"message", a.Message, "webhook", n.target, "attempts", attempt, "err", err)
			return
		}
		n.log.Warn("alert webhook failed; retrying", "kind", a.Kind, "webhook", n.target, "attempt", attempt, "err", err)
		// Equal jitter: between half and all of the delay, so instances
		// retrying together spread out.
		wait := delay/2 + rand.N(delay/2+1)
		if !sleep(ctx, wait) {
			n.failed.Add(1)
			n.log.Error("alert not sent to the webhook; shutting down", "kind", a.Kind, "batch", a.BatchID,
				"message", a.Message, "attempts", attempt, "err", err)
			return
		}
		delay = min(2*delay, maxBackoff)
	}
}

// finalError is a failure that retrying will not change.
type finalError struct{ msg string }

func (e *finalError) Error() string { return e.msg }

// post makes one attempt. Errors name the webhook by scheme and host only.
func (n *Notifier) post(ctx context.Context, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.cfg.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return &finalError{"build request: invalid webhook URL"} // Validate accepted it; cannot happen
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "issuer-alert")
	resp, err := n.hc.Do(req)
	if err != nil {
		if ue, ok := errors.AsType[*url.Error](err); ok {
			return fmt.Errorf("%s %s: %w", ue.Op, n.target, ue.Err)
		}
		return err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return nil
	case s == http.StatusRequestTimeout || s == http.StatusTooEarly || s == http.StatusTooManyRequests || s >= 500:
		return fmt.Errorf("webhook answered %d: %s", s, strings.TrimSpace(string(snippet)))
	default:
		return &finalError{fmt.Sprintf("webhook answered %d: %s", s, strings.TrimSpace(string(snippet)))}
	}
}

// sleep waits d or until ctx is done, and reports whether it waited d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Stats returns the counts so far.
func (n *Notifier) Stats() Stats {
	return Stats{
		Raised:     n.raised.Load(),
		Suppressed: n.suppressed.Load(),
		Dropped:    n.dropped.Load(),
		Delivered:  n.delivered.Load(),
		Failed:     n.failed.Load(),
	}
}

// Describe implements prometheus.Collector.
func (n *Notifier) Describe(ch chan<- *prometheus.Desc) {
	ch <- n.descRaised
	ch <- n.descWebhook
	ch <- n.descQueue
}

// Collect implements prometheus.Collector.
func (n *Notifier) Collect(ch chan<- prometheus.Metric) {
	n.mu.Lock()
	kinds := make(map[string]uint64, len(n.byKind))
	for k, v := range n.byKind {
		kinds[k] = v
	}
	n.mu.Unlock()
	for _, k := range []string{KindBatchHalted, KindMerchantHalted, KindConfigError, KindReview, KindReconcileAnomaly} {
		if _, ok := kinds[k]; !ok {
			kinds[k] = 0 // known kinds exist from the start, for rate() and absent()
		}
	}
	for k, v := range kinds {
		ch <- prometheus.MustNewConstMetric(n.descRaised, prometheus.CounterValue, float64(v), k)
	}
	s := n.Stats()
	for result, v := range map[string]uint64{
		"delivered": s.Delivered, "failed": s.Failed, "dropped": s.Dropped, "suppressed": s.Suppressed,
	} {
		ch <- prometheus.MustNewConstMetric(n.descWebhook, prometheus.CounterValue, float64(v), result)
	}
	ch <- prometheus.MustNewConstMetric(n.descQueue, prometheus.GaugeValue, float64(len(n.queue)))
}
