package app

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/issuer-dev/issuer/alert"
	"github.com/issuer-dev/issuer/httpapi"
	"github.com/issuer-dev/issuer/queue"
	"github.com/issuer-dev/issuer/ratelimit"
	"github.com/issuer-dev/issuer/wxpay"
)

// daemonMetrics are the daemon's own series; the HTTP handler and the alert
// notifier register theirs on the same registry.
type daemonMetrics struct {
	answers     *prometheus.CounterVec
	issued      prometheus.Counter
	jobDuration *prometheus.HistogramVec
	lastSuccess *prometheus.GaugeVec
	instances   prometheus.Gauge
}

func newDaemonMetrics(reg prometheus.Registerer, store *queue.Store, limiter ratelimit.Strategy, lastSuccess func(ctx context.Context, job string) (time.Time, bool, error)) *daemonMetrics {
	m := &daemonMetrics{
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "issuer_send_answers_total", Help: "Coupon send answers by outcome (throttled included).",
		}, []string{"outcome"}),
		issued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "issuer_coupons_issued_total", Help: "Coupons confirmed issued (issued or already issued) by this daemon since it started; passes of the issue command run outside it are not counted: issuer_queue_recipients{status=\"issued\"} counts every issued coupon.",
		}),
		jobDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "issuer_job_run_duration_seconds", Help: "Duration of scheduled job runs.",
			Buckets: prometheus.ExponentialBuckets(0.1, 3, 10),
		}, []string{"job", "result"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "issuer_job_last_success_timestamp_seconds", Help: "When each job last finished successfully (unix time).",
		}, []string{"job"}),
		instances: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "issuer_instances_live", Help: "Live issuer instances of this merchant sharing its rate budget.",
		}),
	}
	for _, o := range wxpay.Outcomes() {
		m.answers.WithLabelValues(string(o))
	}
	stat := func(f func(ratelimit.Stats) float64) func() float64 {
		return func() float64 { return f(limiter.Stats()) }
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.answers, m.issued, m.jobDuration, m.lastSuccess, m.instances,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "issuer_limiter_rate", Help: "Requests/s the rate limiter allows now."},
			stat(func(s ratelimit.Stats) float64 { return s.Rate })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "issuer_limiter_ceiling", Help: "The limiter's cap: this instance's share of the merchant's max."},
			stat(func(s ratelimit.Stats) float64 { return s.Ceiling })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "issuer_limiter_estimated_limit", Help: "The limiter's estimate of WeChat Pay's hidden limit (0 before a throttle)."},
			stat(func(s ratelimit.Stats) float64 { return s.Estimate })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "issuer_limiter_throttled_total", Help: "Answers that were throttled (429)."},
			stat(func(s ratelimit.Stats) float64 { return float64(s.Throttled) })),
		&queueCollector{store: store, desc: prometheus.NewDesc("issuer_queue_recipients",
			"Recipients by status, over all batches.", []string{"status"}, nil)},
		newBatchCollector(store, lastSuccess),
	)
	return m
}

func (m *daemonMetrics) answer(o wxpay.Outcome) {
	m.answers.WithLabelValues(string(o)).Inc()
	if o.Success() {
		m.issued.Inc()
	}
}

func (m *daemonMetrics) jobFinished(name, result string, took time.Duration) {
	m.jobDuration.WithLabelValues(name, result).Observe(took.Seconds())
	if result == "success" {
		m.lastSuccess.WithLabelValues(name).SetToCurrentTime()
	}
}

// queueCollector reads the queue depth at scrape time.
type queueCollector struct {
	store *queue.Store
	desc  *prometheus.Desc
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	counts, err := c.store.StatusCounts(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for _, st := range queue.RecipientStatuses {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[st]), st)
	}
}

// batchCollector reads the live batches' progress, the rows in doubt and
// the jobs' last recorded successes at scrape time. Several Prometheus
// servers may scrape every instance, so one reading serves every scrape
// within minRefresh.
type batchCollector struct {
	store       *queue.Store
	lastSuccess func(ctx context.Context, job string) (time.Time, bool, error)
	now         func() time.Time
	minRefresh  time.Duration

	recipients, inDoubt, spend, halted, progress   *prometheus.Desc
	unsettled, unsettledOldest, jobLastSuccessRuns *prometheus.Desc

	mu      sync.Mutex
	at      time.Time
	cached  []prometheus.Metric
	lastErr error
}

func newBatchCollector(store *queue.Store, lastSuccess func(ctx context.Context, job string) (time.Time, bool, error)) *batchCollector {
	batch := []string{"batch_id", "stock_id"}
	return &batchCollector{
		store: store, lastSuccess: lastSuccess, now: time.Now, minRefresh: 10 * time.Second,
		recipients: prometheus.NewDesc("issuer_batch_recipients",
			"Recipients of each running or halted batch, by status.", append(batch, "status"), nil),
		inDoubt: prometheus.NewDesc("issuer_batch_in_doubt",
			"Recipients of each running or halted batch that a send's answer left in doubt (it did not say whether the coupon was issued) and nothing has settled since.", batch, nil),
		spend: prometheus.NewDesc("issuer_batch_spend_yuan",
			"Face value of the coupons issued by each running or halted batch, in yuan (rows with a known coupon_value).", batch, nil),
		halted: prometheus.NewDesc("issuer_batch_halted",
			"1 for a halted batch, 0 for a running one.", batch, nil),
		progress: prometheus.NewDesc("issuer_batch_progress_ratio",
			"Share of each running or halted batch's recipients that are settled (issued or failed).", batch, nil),
		unsettled: prometheus.NewDesc("issuer_recipients_unsettled",
			"Recipients over all batches that a person must settle: state in_doubt (pending or in review after an answer that did not say what happened, unsettled since) or review.", []string{"state"}, nil),
		unsettledOldest: prometheus.NewDesc("issuer_recipients_unsettled_oldest_seconds",
			"Age of the oldest row in doubt or in review (since its last attempt); 0 when there is none.", []string{"state"}, nil),
		jobLastSuccessRuns: prometheus.NewDesc("issuer_job_runs_last_success_timestamp_seconds",
			"When each job last succeeded on any instance, from job_runs (unix time of the activation; 0 if never).", []string{"job"}, nil),
	}
}

func (c *batchCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.recipients, c.inDoubt, c.spend, c.halted, c.progress, c.unsettled, c.unsettledOldest, c.jobLastSuccessRuns} {
		ch <- d
	}
}

func (c *batchCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.now(); c.at.IsZero() || now.Sub(c.at) >= c.minRefresh {
		c.cached, c.lastErr = c.read(now)
		c.at = now
	}
	if c.lastErr != nil {
		ch <- prometheus.NewInvalidMetric(c.recipients, c.lastErr)
		return
	}
	for _, m := range c.cached {
		ch <- m
	}
}

func (c *batchCollector) read(now time.Time) ([]prometheus.Metric, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	live, err := c.store.LiveProgress(ctx)
	if err != nil {
		return nil, err
	}
	u, err := c.store.Unsettled(ctx)
	if err != nil {
		return nil, err
	}
	var out []prometheus.Metric
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		out = append(out, prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...))
	}
	for _, p := range live {
		id := strconv.FormatInt(p.BatchID, 10)
		for _, st := range queue.RecipientStatuses {
			gauge(c.recipients, float64(p.Counts[st]), id, p.StockID, st)
		}
		gauge(c.inDoubt, float64(p.InDoubt), id, p.StockID)
		gauge(c.spend, float64(p.IssuedFen)/100, id, p.StockID)
		halted := 0.0
		if p.Status == queue.BatchHalted {
			halted = 1
		}
		gauge(c.halted, halted, id, p.StockID)
		ratio := 0.0
		if total := p.Total(); total > 0 {
			ratio = float64(p.Counts[queue.StatusIssued]+p.Counts[queue.StatusFailed]) / float64(total)
		}
		gauge(c.progress, ratio, id, p.StockID)
	}
	age := func(t time.Time) float64 {
		if t.IsZero() {
			return 0
		}
		return max(now.Sub(t).Seconds(), 0)
	}
	gauge(c.unsettled, float64(u.InDoubt), "in_doubt")
	gauge(c.unsettled, float64(u.Review), "review")
	gauge(c.unsettledOldest, age(u.OldestInDoubt), "in_doubt")
	gauge(c.unsettledOldest, age(u.OldestReview), "review")
	if c.lastSuccess != nil {
		for _, job := range []string{JobIssue, JobReconcile, JobHousekeeping} {
			t, ok, err := c.lastSuccess(ctx, job)
			if err != nil {
				return nil, err
			}
			v := 0.0
			if ok {
				v = float64(t.Unix())
			}
			gauge(c.jobLastSuccessRuns, v, job)
		}
	}
	return out, nil
}

// RegisterMetrics registers every series the daemon serves on /metrics.
func RegisterMetrics(reg prometheus.Registerer, store *queue.Store, limiter ratelimit.Strategy, notifier *alert.Notifier,
	lastSuccess func(ctx context.Context, job string) (time.Time, bool, error)) (*daemonMetrics, *httpapi.Metrics, error) {
	m := newDaemonMetrics(reg, store, limiter, lastSuccess)
	if err := reg.Register(notifier); err != nil {
		return nil, nil, fmt.Errorf("register alert metrics: %w", err)
	}
	hm, err := httpapi.NewMetrics(reg)
	if err != nil {
		return nil, nil, err
	}
	return m, hm, nil
}
