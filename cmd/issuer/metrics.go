package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

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

func newDaemonMetrics(reg *prometheus.Registry, store *queue.Store, limiter ratelimit.Strategy) *daemonMetrics {
	m := &daemonMetrics{
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "issuer_send_answers_total", Help: "Coupon send answers by outcome (throttled included).",
		}, []string{"outcome"}),
		issued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "issuer_coupons_issued_total", Help: "Coupons confirmed issued (issued or already issued).",
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
