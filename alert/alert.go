package alert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

// Severities, lowest first; Notify fills in SeverityError when an alert has
// none, Send fills in SeverityInfo.
const (
	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityError    = "error"
	SeverityCritical = "critical"
)

// severityRank orders severities for Channel.MinSeverity.
func severityRank(s string) (int, bool) {
	switch s {
	case SeverityInfo:
		return 0, true
	case SeverityWarning:
		return 1, true
	case SeverityError:
		return 2, true
	case SeverityCritical:
		return 3, true
	}
	return 0, false
}

// Defaults for the zero fields of Config and Channel.
const (
	DefaultTimeout      = 5 * time.Second
	DefaultRetries      = 3
	DefaultBackoff      = time.Second
	DefaultQueueSize    = 256
	DefaultDedupeWindow = time.Minute
	DefaultDrainTimeout = 5 * time.Second
	// DefaultRateLimit is the messages a chat robot takes per
	// DefaultRateWindow: WeCom and DingTalk document 20 a minute (DingTalk
	// then mutes the robot for 10 minutes), Feishu 100 a minute and 5 a
	// second. The plain webhook has no limit.
	DefaultRateLimit  = 20
	DefaultRateWindow = time.Minute
)

// maxBackoff caps the delay between attempts.
const maxBackoff = 30 * time.Second

// Alert is something an operator must look at. The plain webhook receives
// it as its JSON; the chat robots receive it rendered in Chinese.
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
	// Stakes is what the alert means in money, when the raiser knows.
	Stakes *Stakes `json:"stakes,omitempty"`
}

// Stakes are a batch's coupons and their face value in fen (分) at the time
// of an alert.
type Stakes struct {
	IssuedCoupons  int64 `json:"issued_coupons"`
	IssuedFen      int64 `json:"issued_fen"`
	PendingCoupons int64 `json:"pending_coupons"` // not yet issued and still to be tried
	PendingFen     int64 `json:"pending_fen"`
	InDoubtCoupons int64 `json:"in_doubt_coupons"` // a send's answer did not say whether they were issued, unsettled since
	InDoubtFen     int64 `json:"in_doubt_fen"`
}

// Message is free Chinese markdown for the channels, such as a daily
// digest. Robots receive Title in bold followed by Markdown; the plain
// webhook receives {"kind":"message","severity","title","message","time","source"}.
type Message struct {
	Title    string
	Markdown string
	Severity string    // default SeverityInfo
	Time     time.Time // default now
}

// Config configures a Notifier. Zero fields take the defaults above.
type Config struct {
	// WebhookURL is the plain JSON webhook of alerts.webhook_url; it is one
	// more channel of type webhook named "webhook". Empty: none.
	WebhookURL string
	// Channels are where alerts and messages go besides the log.
	Channels     []Channel
	Timeout      time.Duration  // per attempt
	Retries      int            // attempts after the first; negative: none
	Backoff      time.Duration  // delay before the first retry, doubled each time, jittered
	QueueSize    int            // items waiting per channel
	DedupeWindow time.Duration  // negative: send every alert
	DrainTimeout time.Duration  // how long Run keeps delivering once its context is done
	Source       string         // names this instance in alerts, e.g. the host name
	Location     *time.Location // times in robot messages; default UTC
	Logger       *slog.Logger   // default: discard
	HTTPClient   *http.Client   // default: a client with no overall timeout (Timeout bounds each attempt)
	Now          func() time.Time
	// History keeps every alert raised, written by Run's own goroutine;
	// nil: none kept.
	History History
}

// Channel types.
const (
	TypeWebhook  = "webhook"  // JSON of the Alert, one POST per alert
	TypeWeCom    = "wecom"    // 企业微信群机器人, markdown
	TypeDingTalk = "dingtalk" // 钉钉自定义机器人, markdown, optionally signed
	TypeFeishu   = "feishu"   // 飞书自定义机器人, card or text, optionally signed
)

// Channel is one destination.
type Channel struct {
	// Name names the channel in logs and metrics; default its type, with
	// "-2", "-3"… for a second and third of the same type.
	Name string
	Type string // one of the Type constants
	// URL is where to POST. Robot URLs carry the robot's key, so it is
	// never logged: logs and errors name its scheme and host only.
	URL string
	// Secret signs DingTalk and Feishu requests when the robot has 加签 /
	// 签名校验 on; never logged.
	Secret string
	// MinSeverity is the lowest severity sent; default SeverityInfo.
	MinSeverity string
	// Mention lists the people to notify: WeCom and DingTalk userids,
	// Feishu open_ids; "all" mentions everyone.
	Mention []string
	// Format is "card" (default) or "text" for Feishu.
	Format string
	// RateLimit is the most messages per RateWindow (DefaultRateLimit for
	// robots, 0 = none for the webhook). Alerts that come faster are
	// folded into one message, never dropped for it.
	RateLimit  int
	RateWindow time.Duration
}

func (c Channel) label(i int) string {
	if c.Name != "" {
		return c.Name
	}
	return fmt.Sprintf("%s[%d]", c.Type, i)
}

// Validate reports whether the webhook URL and the channels are usable, so
// that `config check` and start-up can refuse a typo instead of losing
// alerts. Its errors never quote a URL or a secret.
func (c Config) Validate() error {
	var errs []error
	if c.WebhookURL != "" {
		if err := validateURL(c.WebhookURL); err != nil {
			errs = append(errs, fmt.Errorf("alerts.webhook_url%w", err))
		}
	}
	for i, ch := range c.Channels {
		key := fmt.Sprintf("alerts.channels[%d]", i)
		switch ch.Type {
		case TypeWebhook, TypeWeCom, TypeDingTalk, TypeFeishu:
		default:
			errs = append(errs, fmt.Errorf("%s: type must be webhook, wecom, dingtalk or feishu, got %q", key, ch.Type))
			continue
		}
		if ch.URL == "" {
			errs = append(errs, fmt.Errorf("%s (%s): no URL", key, ch.Type))
		} else if err := validateURL(ch.URL); err != nil {
			errs = append(errs, fmt.Errorf("%s (%s) URL%w", key, ch.Type, err))
		}
		if ch.MinSeverity != "" {
			if _, ok := severityRank(ch.MinSeverity); !ok {
				errs = append(errs, fmt.Errorf("%s: min_severity must be info, warning, error or critical, got %q", key, ch.MinSeverity))
			}
		}
		if ch.Secret != "" && ch.Type != TypeDingTalk && ch.Type != TypeFeishu {
			errs = append(errs, fmt.Errorf("%s: a %s channel is not signed; only dingtalk and feishu take a secret", key, ch.Type))
		}
		if ch.Format != "" && (ch.Type != TypeFeishu || (ch.Format != "card" && ch.Format != "text")) {
			errs = append(errs, fmt.Errorf("%s: format is card or text, and only for feishu", key))
		}
		if ch.RateLimit < 0 || ch.RateWindow < 0 {
			errs = append(errs, fmt.Errorf("%s: rate limit and window must not be negative", key))
		}
	}
	return errors.Join(errs...)
}

// validateURL's error starts with ": " so callers can prefix the key.
func validateURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New(" is not a URL") // url's error would quote a token
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf(": want an http or https URL with a host, got scheme %q", u.Scheme)
	}
	return nil
}

// Stats are a Notifier's counts since New. Raised and Suppressed count
// alerts; the others count alerts and messages per channel, so an alert
// sent to two channels is delivered twice.
type Stats struct {
	Raised     uint64 // Notify calls
	Suppressed uint64 // not sent: identical to one sent within the dedupe window
	Dropped    uint64 // not sent: queue full, or still queued when Run's drain ended
	Delivered  uint64 // the channel accepted it (2xx, and errcode 0 for robots)
	Failed     uint64 // every attempt failed, or the answer was final and not a success
}

// ErrNoChannels is Send's answer when no channel takes the message.
var ErrNoChannels = errors.New("no alert channel takes this message")

// Notifier logs alerts and delivers them to its channels. Notify and Send
// are safe for concurrent use; Run is called once.
type Notifier struct {
	cfg      Config
	log      *slog.Logger
	hc       *http.Client
	now      func() time.Time
	loc      *time.Location
	channels []*channel
	history  chan keptAlert // to Config.History; nil without one

	mu        sync.Mutex
	seen      map[dedupeKey]*seenEntry
	lastPrune time.Time
	byKind    map[string]uint64

	raised, suppressed atomic.Uint64

	descRaised, descWebhook, descQueue, descChannel, descMessages *prometheus.Desc
}

type dedupeKey struct {
	kind, severity, stock, mchid, message string
	batch                                 int64
}

type seenEntry struct {
	sent       time.Time // when the last identical alert was queued
	suppressed int       // identical alerts suppressed since
}

// New builds a Notifier. A channel that fails Config.Validate is logged and
// left out; with none left the Notifier only logs.
func New(cfg Config) *Notifier {
	n := &Notifier{
		cfg:    cfg,
		log:    cfg.Logger,
		hc:     cfg.HTTPClient,
		now:    cfg.Now,
		loc:    cfg.Location,
		seen:   map[dedupeKey]*seenEntry{},
		byKind: map[string]uint64{},
		descRaised: prometheus.NewDesc("issuer_alerts_total",
			"Alerts raised, by kind.", []string{"kind"}, nil),
		descWebhook: prometheus.NewDesc("issuer_alert_webhook_total",
			"Alerts and messages by what became of them, over all channels: delivered, failed, dropped, suppressed.", []string{"result"}, nil),
		descQueue: prometheus.NewDesc("issuer_alert_queue_length",
			"Alerts and messages waiting for a channel, over all channels.", nil, nil),
		descChannel: prometheus.NewDesc("issuer_alert_channel_total",
			"Alerts and messages by channel and what became of them: delivered, failed, dropped.", []string{"channel", "result"}, nil),
		descMessages: prometheus.NewDesc("issuer_alert_channel_requests_total",
			"Requests made to each channel (folded robot messages count once), by whether they were accepted.", []string{"channel", "result"}, nil),
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if cfg.History != nil {
		n.history = make(chan keptAlert, historyQueue)
	}
	if n.hc == nil {
		n.hc = &http.Client{}
	}
	if n.now == nil {
		n.now = time.Now
	}
	if n.loc == nil {
		n.loc = time.UTC
	}
	n.cfg.withDefaults()
	for _, ch := range n.validChannels() {
		n.channels = append(n.channels, newChannel(n, ch))
	}
	return n
}

// withDefaults fills in the defaults of what c leaves unset.
func (c *Config) withDefaults() {
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
}

// validChannels are the webhook and the channels of the configuration
// that are valid, each named (a channel without a name is named by its
// type: robot, robot-2); the others are left out with a log line.
func (n *Notifier) validChannels() []Channel {
	c := &n.cfg
	var all []Channel
	if c.WebhookURL != "" {
		if err := (Config{WebhookURL: c.WebhookURL}).Validate(); err != nil {
			n.log.Error("alerts go to the log only", "err", err)
		} else {
			all = append(all, Channel{Name: "webhook", Type: TypeWebhook, URL: c.WebhookURL})
		}
	}
	for i, ch := range c.Channels {
		if err := (Config{Channels: []Channel{ch}}).Validate(); err != nil {
			n.log.Error("alert channel left out", "channel", ch.label(i), "err",
				strings.Replace(err.Error(), "alerts.channels[0]", fmt.Sprintf("alerts.channels[%d]", i), 1))
			continue
		}
		all = append(all, ch)
	}
	counts := map[string]int{}
	var named []Channel
	for _, ch := range all {
		if ch.Name == "" {
			counts[ch.Type]++
			ch.Name = ch.Type
			if counts[ch.Type] > 1 {
				ch.Name = fmt.Sprintf("%s-%d", ch.Type, counts[ch.Type])
			}
		}
		named = append(named, ch)
	}
	return named
}

// Notify logs a at ERROR and queues it for every channel whose minimum
// severity it meets. It never blocks: an alert that does not fit in a
// channel's queue is dropped for that channel, with a log line.
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
	delivery := n.enqueue(&a)
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
	attrs = append(attrs, "message", a.Message, "webhook", delivery)
	n.log.Error("alert", attrs...)
	n.keep(a, delivery)
}

// enqueue applies the dedupe window and queues a, saying what it did: one
// channel's fate alone, or "name: fate" per channel.
func (n *Notifier) enqueue(a *Alert) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.byKind[a.Kind]++
	if len(n.channels) == 0 {
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
	fates := make([]string, 0, len(n.channels))
	queued := false
	for _, c := range n.channels {
		fate := c.offer(item{alert: *a, severity: a.Severity})
		queued = queued || fate == "queued"
		fates = append(fates, c.Name+": "+fate)
	}
	if queued {
		n.seen[key] = &seenEntry{sent: now}
	} // else leave the entry alone: the next identical alert is tried again
	if len(fates) == 1 {
		_, fate, _ := strings.Cut(fates[0], ": ")
		return fate
	}
	return strings.Join(fates, "; ")
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

// Send queues m for every channel whose minimum severity it meets and
// waits until each has delivered it or given up, or ctx is done. Unlike
// alerts, messages are neither deduplicated nor folded. Send needs Run to
// be running. It returns ErrNoChannels when no channel takes m, and an
// error naming each channel that did not deliver it.
func (n *Notifier) Send(ctx context.Context, m Message) error {
	if m.Severity == "" {
		m.Severity = SeverityInfo
	}
	if m.Time.IsZero() {
		m.Time = n.now()
	}
	type wait struct {
		name string
		done chan error
	}
	var waits []wait
	var errs []error
	for _, c := range n.channels {
		done := make(chan error, 1)
		switch fate := c.offer(item{msg: &m, alert: Alert{Source: n.cfg.Source}, severity: m.Severity, done: done}); fate {
		case "queued":
			waits = append(waits, wait{c.Name, done})
		case fateBelow:
		default:
			errs = append(errs, fmt.Errorf("%s: %s", c.Name, fate))
		}
	}
	n.log.Info("message", "title", m.Title, "severity", m.Severity, "channels", len(waits))
	if len(waits) == 0 && len(errs) == 0 {
		return ErrNoChannels
	}
	for _, w := range waits {
		select {
		case err := <-w.done:
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", w.name, err))
			}
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("%s: %w", w.name, ctx.Err()))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("send message: %w", errors.Join(errs...))
	}
	return nil
}

// Run delivers queued alerts and messages until ctx is done, then keeps
// delivering what is queued for at most Config.DrainTimeout, counts the
// rest as dropped and returns. Each channel has its own goroutine, so a
// slow robot never holds up another. Without channels it just waits for
// ctx. With Config.History it also keeps each alert raised, on a
// goroutine of its own, draining the same way.
func (n *Notifier) Run(ctx context.Context) {
	var wg sync.WaitGroup
	if n.history != nil {
		wg.Go(func() { n.keepHistory(ctx) })
	}
	for _, c := range n.channels {
		wg.Go(func() { c.run(ctx) })
	}
	if len(n.channels) == 0 {
		<-ctx.Done()
	}
	wg.Wait()
}

// Start runs Run in a goroutine of its own until stop, which ends Run's
// context and waits for the drain and Run to return. Pass a context that
// outlives the caller's work (context.WithoutCancel), so that alerts
// raised while the rest shuts down are still delivered: stop decides when
// the drain begins.
func (n *Notifier) Start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// Stats returns the counts so far.
func (n *Notifier) Stats() Stats {
	s := Stats{Raised: n.raised.Load(), Suppressed: n.suppressed.Load()}
	for _, c := range n.channels {
		s.Dropped += c.dropped.Load()
		s.Delivered += c.delivered.Load()
		s.Failed += c.failed.Load()
	}
	return s
}

// Describe implements prometheus.Collector.
func (n *Notifier) Describe(ch chan<- *prometheus.Desc) {
	ch <- n.descRaised
	ch <- n.descWebhook
	ch <- n.descQueue
	ch <- n.descChannel
	ch <- n.descMessages
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
	queued := 0
	for _, c := range n.channels {
		queued += len(c.queue)
		for result, v := range map[string]uint64{
			"delivered": c.delivered.Load(), "failed": c.failed.Load(), "dropped": c.dropped.Load(),
		} {
			ch <- prometheus.MustNewConstMetric(n.descChannel, prometheus.CounterValue, float64(v), c.Name, result)
		}
		ch <- prometheus.MustNewConstMetric(n.descMessages, prometheus.CounterValue, float64(c.requestsOK.Load()), c.Name, "accepted")
		ch <- prometheus.MustNewConstMetric(n.descMessages, prometheus.CounterValue, float64(c.requestsFailed.Load()), c.Name, "failed")
	}
	ch <- prometheus.MustNewConstMetric(n.descQueue, prometheus.GaugeValue, float64(queued))
}
