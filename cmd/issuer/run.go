package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/issuer-dev/issuer/alert"
	"github.com/issuer-dev/issuer/audit"
	"github.com/issuer-dev/issuer/console"
	"github.com/issuer-dev/issuer/console/pages"
	"github.com/issuer-dev/issuer/daemon"
	"github.com/issuer-dev/issuer/httpapi"
	"github.com/issuer-dev/issuer/internal/config"
	"github.com/issuer-dev/issuer/jobs"
	"github.com/issuer-dev/issuer/ops"
	"github.com/issuer-dev/issuer/queue"
	"github.com/issuer-dev/issuer/ratelimit"
	"github.com/issuer-dev/issuer/wxpay"
)

// Jobs of the daemon. Reconcile and housekeeping run on one instance per
// activation; issue runs on every instance, which share rows by SKIP LOCKED
// and the merchant's rate budget by heartbeats.
const (
	jobIssue        = "issue"
	jobReconcile    = "reconcile"
	jobHousekeeping = "housekeeping"
)

func cmdRun() *command {
	c := &command{
		name:  "run",
		short: "the unattended daemon: scheduled jobs, HTTP endpoints, graceful shutdown on SIGTERM",
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		if _, err := parseFlags(e, newFlags(e, c), args); err != nil {
			return err
		}
		// The same checks as `config check`, so the two never disagree.
		cfg, err := e.loadConfigWith(config.LoadOptions{Run: true})
		if err != nil {
			return err
		}
		d, err := newDaemon(ctx, e, cfg)
		if err != nil {
			return err
		}
		return d.run(ctx)
	}
	return c
}

// runner is the daemon's wiring: what `issuer run` opened and starts.
type runner struct {
	e      *env
	cfg    *config.Config
	db     *sqlx.DB
	client *wxpay.Client
	store  *queue.Store
	// ops configures the jobs the schedule runs as the operations do.
	ops      *ops.Service
	limiter  ratelimit.Strategy
	keeper   *ratelimit.Keeper
	instance string
	metrics  *daemonMetrics
	notifier *alert.Notifier
	runs     *daemon.Runs
	listener net.Listener
	server   *http.Server
	pages    *pages.Pages // uploads waiting for create or drop
	// cbListener and cbServer serve POST /callbacks/wxpay alone when
	// http.callback_addr is set; nil otherwise.
	cbListener net.Listener
	cbServer   *http.Server
	instances  *daemon.Instances
	sched      *daemon.Scheduler
}

func newDaemon(ctx context.Context, e *env, cfg *config.Config) (_ *runner, err error) {
	// What is opened is closed again, in reverse, if a later step fails.
	var opened []func()
	defer func() {
		if err != nil {
			for i := len(opened) - 1; i >= 0; i-- {
				opened[i]()
			}
		}
	}()
	// cfg has passed config.CheckRun: schedules, webhook, key files.
	ac, err := alertConfig(cfg)
	if err != nil {
		return nil, err
	}
	ac.Logger = e.logger
	// One load of the key files: the client sends with them, and the
	// callback endpoint verifies with the same verifier.
	keys, err := e.wxOptions(cfg, cfg.Issue.Concurrency)
	if err != nil {
		return nil, err
	}
	if certs := keys.Verifier.CertStore(); certs != nil {
		opened = append(opened, certs.Close)
	}
	client, err := newWXClient(keys)
	if err != nil {
		return nil, err
	}
	opened = append(opened, client.Close)
	secrets := map[string]string{}
	for key, path := range map[string]string{
		"wxpay.apiv3_key_file": cfg.WXPay.APIv3KeyFile, "wxpay.apiv2_key_file": cfg.WXPay.APIv2KeyFile,
		"plugin.token_file": cfg.Plugin.TokenFile, "http.metrics_token_file": cfg.HTTP.MetricsTokenFile,
	} {
		if path == "" {
			if key != "http.metrics_token_file" {
				e.logger.Warn("not configured: the endpoint that needs it answers unavailable", "key", key)
			}
			continue
		}
		if secrets[key], err = config.ReadSecretFile(path); err != nil {
			return nil, fmt.Errorf("config: %s: %w", key, err)
		}
	}

	db, err := e.openDB(ctx, cfg)
	if err != nil {
		return nil, err
	}
	opened = append(opened, func() { db.Close() })
	db.SetMaxOpenConns(daemonDBConns)
	d := &runner{e: e, cfg: cfg, db: db, client: client, store: queue.NewStore(db), keeper: newKeeper(e, cfg, db), instance: leaseOwner()}
	d.limiter = newLimiter(ctx, cfg, d.keeper)
	d.ops = ops.New(db, cfg, nil, nil, e.logger)
	reg := prometheus.NewRegistry()
	ac.Source = d.instance
	d.notifier = alert.New(ac)
	var httpMetrics *httpapi.Metrics
	d.metrics, httpMetrics, err = registerMetrics(reg, d.store, d.limiter, d.notifier,
		func(ctx context.Context, job string) (time.Time, bool, error) { return d.runs.LastSuccess(ctx, job) })
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	d.instances = &daemon.Instances{DB: db, ID: d.instance, MchID: cfg.WXPay.MchID, Hostname: host, PID: os.Getpid(),
		Version: buildVersion(), Logger: e.logger}
	d.runs = &daemon.Runs{DB: db, Instance: d.instance, Logger: e.logger,
		Singletons: singletonJobs(), OnFinish: d.metrics.jobFinished}

	con, pg, err := newConsole(e, cfg, db, lend(client))
	if err != nil {
		return nil, err
	}
	hc := httpapi.Config{
		Ready:    func(ctx context.Context) error { return db.PingContext(ctx) },
		Gatherer: reg, MetricsToken: secrets["http.metrics_token_file"],
		Verifier: keys.Verifier, APIv3Key: secrets["wxpay.apiv3_key_file"],
		StoreCouponUse: jobs.NewFlowStore(db).StoreCouponUse,
		PluginToken:    secrets["plugin.token_file"], APIv2Key: secrets["wxpay.apiv2_key_file"], PluginMerchant: cfg.WXPay.MchID,
		PluginStocks: cfg.Plugin.StockList(), PluginRate: cfg.Plugin.MaxPerSecond, Audit: audit.NewStore(db, nil),
		Logger: e.logger, Metrics: httpMetrics, Alerts: d.notifier,
		CallbacksElsewhere: cfg.HTTP.CallbackAddr != "",
	}
	// The machine endpoints keep their own rules; everything else is the
	// console and the API, behind the login.
	d.server = newHTTPServer(console.WithMachine(httpapi.New(hc), con))
	d.pages = pg
	if d.listener, err = net.Listen("tcp", cfg.HTTP.Addr); err != nil {
		return nil, fmt.Errorf("http.addr: %w", err)
	}
	opened = append(opened, func() { d.listener.Close() })
	if cfg.HTTP.CallbackAddr != "" {
		d.cbServer = newHTTPServer(httpapi.NewCallbacks(hc))
		if d.cbListener, err = net.Listen("tcp", cfg.HTTP.CallbackAddr); err != nil {
			return nil, fmt.Errorf("http.callback_addr: %w", err)
		}
		opened = append(opened, func() { d.cbListener.Close() })
	}

	d.sched = daemon.NewScheduler(cfg.Location, nil, e.logger)
	d.sched.LastSuccess = d.runs.LastSuccess
	d.sched.OnRun = func(ctx context.Context, name string, at time.Time, catchUp bool, fn daemon.RunFunc) {
		_ = d.runs.Execute(ctx, name, at, catchUp, fn) // logged and recorded there
	}
	return d, nil
}

// run serves until ctx is cancelled (SIGTERM, SIGINT), then stops
// scheduling and claiming, lets in-flight calls finish and record within
// issue.shutdown_timeout, stops the HTTP server and returns.
func (d *runner) run(ctx context.Context) error {
	log := d.e.logger
	defer d.db.Close()
	defer d.client.Close()
	if certs := d.client.Verifier().CertStore(); certs != nil {
		// Platform certificates: download now and every
		// wxpay.platform_cert_refresh; Close ends the loop.
		certs.Start(ctx)
		defer certs.Close()
	}

	// runCtx ends on a signal, or when the HTTP server fails.
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	for _, j := range []struct {
		name, spec string
		fn         daemon.RunFunc
	}{
		{jobIssue, d.cfg.Schedules.Issue, d.issue},
		{jobReconcile, d.cfg.Schedules.Reconcile, d.reconcile},
		{jobHousekeeping, d.cfg.Schedules.Housekeeping, d.housekeeping},
		{jobDigest, d.cfg.Schedules.Digest, digestJob(d.ops, d.notifier, log)},
	} {
		if err := d.sched.Add(runCtx, j.name, j.spec, j.fn); err != nil {
			return err
		}
	}
	// The notifier outlives ctx: it drains only after everything that may
	// raise an alert has stopped, below.
	stopNotifier := d.notifier.Start(context.WithoutCancel(ctx))
	syncCallbackURL(runCtx, d.client, d.cfg.Callbacks.PublicURL, d.notifier.Notify, log)
	heartbeatDone := make(chan struct{})
	go func() {
		d.instances.Run(runCtx, func(live int) {
			d.metrics.instances.Set(float64(live))
			d.keeper.SetInstances(live)
			if l, ok := d.limiter.(interface{ SetCeiling(float64) }); ok {
				l.SetCeiling(d.cfg.Issue.Rate.Max / float64(live))
			}
		})
		close(heartbeatDone)
	}()
	keeperDone := make(chan struct{})
	go func() { d.keeper.Run(runCtx, d.limiter); close(keeperDone) }()
	serveErr := make(chan error, 2)
	go func() { serveErr <- d.server.Serve(d.listener) }()
	if d.cbServer != nil {
		go func() { serveErr <- d.cbServer.Serve(d.cbListener) }()
	}
	schedDone := make(chan struct{})
	go func() { d.sched.Run(runCtx); close(schedDone) }()
	log.Info("issuer running", "instance", d.instance, "http", d.listener.Addr().String(),
		"issue", d.cfg.Schedules.Issue, "reconcile", d.cfg.Schedules.Reconcile, "housekeeping", d.cfg.Schedules.Housekeeping,
		"digest", d.cfg.Schedules.Digest, "timezone", d.cfg.Timezone)
	fmt.Fprintf(d.e.stdout, "listening on http://%s\n", d.listener.Addr())
	if d.cbListener != nil {
		log.Info("callbacks on their own listener", "http", d.cbListener.Addr().String())
		fmt.Fprintf(d.e.stdout, "callbacks listening on http://%s\n", d.cbListener.Addr())
	}

	var failed error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		failed = fmt.Errorf("http server: %w", err)
		log.Error("http server stopped", "err", err)
	}
	log.Info("shutting down: no new runs or claims; in-flight calls finish and record", "timeout", d.cfg.Issue.ShutdownTimeout)
	stopRun()
	select {
	case <-schedDone:
	case <-time.After(d.cfg.Issue.ShutdownTimeout):
		failed = errors.Join(failed, fmt.Errorf("jobs still running after issue.shutdown_timeout %s; their rows stay leased and are re-sent with the same out_request_no once the lease expires", d.cfg.Issue.ShutdownTimeout))
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.server.Shutdown(sctx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	d.pages.Close()
	if d.cbServer != nil {
		if err := d.cbServer.Shutdown(sctx); err != nil {
			log.Warn("http shutdown (callbacks)", "err", err)
		}
	}
	<-heartbeatDone
	<-keeperDone
	stopNotifier()
	if failed == nil {
		log.Info("stopped cleanly")
	}
	return failed
}

func (d *runner) issue(ctx context.Context, _ time.Time) (map[string]int64, error) {
	job := newIssueJob(d.e, d.cfg, d.store, d.client, d.limiter, d.instance)
	job.OnAnswer = d.metrics.answer
	job.OnAlert = func(a jobs.Alert) {
		al := alert.Alert{Kind: a.Kind, Severity: alertSeverity(a.Kind), BatchID: a.BatchID, MchID: a.MchID, Message: a.Message}
		if a.Kind == alert.KindBatchHalted && a.BatchID != 0 {
			d.withStakes(ctx, &al)
		}
		d.notifier.Notify(al)
	}
	sum, err := job.Run(ctx, jobs.IssueOptions{})
	counts := map[string]int64{}
	if sum != nil {
		counts["claimed"] = sum.Claimed
		counts["loop_errors"] = sum.LoopErrors
		for o, n := range sum.Outcomes {
			counts[string(o)] = n
		}
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return counts, fmt.Errorf("issue: %w; in-flight calls finished and were recorded", daemon.ErrInterrupted)
	}
	return counts, err
}

func alertSeverity(kind string) string {
	switch kind {
	case alert.KindMerchantHalted, alert.KindConfigError:
		return alert.SeverityCritical
	case alert.KindReview:
		return alert.SeverityWarning
	default:
		return alert.SeverityError
	}
}

func (d *runner) reconcile(ctx context.Context, _ time.Time) (map[string]int64, error) {
	job := ops.NewReconcile(d.ops, d.client)
	sum, err := job.Run(ctx, jobs.ReconcileOptions{})
	counts := map[string]int64{}
	if sum != nil {
		for _, r := range sum.Results {
			counts[string(r.Outcome)]++
			if r.Outcome == jobs.FlowFailed || r.Outcome == jobs.FlowRejected {
				d.notifier.Notify(alert.Alert{Kind: alert.KindReconcileAnomaly, Severity: alert.SeverityError, StockID: r.StockID,
					MchID: d.cfg.WXPay.MchID, Message: fmt.Sprintf("%s-flow %s: %v", r.Kind, r.Outcome, r.Err)})
			}
		}
	}
	return counts, err
}

// housekeeping rescues rows whose lease expired (their process died),
// settles rows in review by asking WeChat Pay, prunes old bookkeeping and
// reminds operators of rows still awaiting review.
func (d *runner) housekeeping(ctx context.Context, _ time.Time) (map[string]int64, error) {
	rescued, review, err := d.store.RescueExpired(ctx, d.cfg.Issue.MaxAttempts)
	if err != nil {
		return nil, err
	}
	pruned, err := d.instances.Prune(ctx, daemon.InstancesKept)
	if err != nil {
		return nil, err
	}
	oldRuns, err := d.runs.Prune(ctx, daemon.RunsKept)
	if err != nil {
		return nil, err
	}
	// A cancel cut short (a crash, Ctrl-C) may have left rows pending in a
	// cancelled batch; rows in review are asked about again.
	sealed, err := d.store.SealCancelled(ctx, 0)
	if err != nil {
		return nil, err
	}
	settled, err := ops.NewSettle(d.ops, d.client).Run(ctx, 0)
	if err != nil {
		return nil, err
	}
	counts, err := d.store.StatusCounts(ctx)
	if err != nil {
		return nil, err
	}
	if n := counts[queue.StatusReview]; n > 0 {
		d.notifier.Notify(alert.Alert{Kind: alert.KindReview, Severity: alert.SeverityWarning, MchID: d.cfg.WXPay.MchID,
			Message: fmt.Sprintf("%d recipients need review: they may or may not have been issued (batch export shows them)", n)})
	}
	return map[string]int64{"rescued": int64(rescued), "to_review": int64(review), "instances_pruned": pruned,
		"job_runs_pruned": oldRuns, "in_review": int64(counts[queue.StatusReview]),
		"sealed_cancelled": int64(sealed.Cancelled), "sealed_in_doubt": int64(sealed.InDoubt),
		"settle_checked": int64(settled.Checked), "settle_issued": int64(settled.Issued),
		"settle_not_issued": int64(settled.NotIssued), "settle_still_in_doubt": int64(settled.StillInDoubt)}, nil
}

// withStakes adds the batch's stock and money figures to a halt alert: a
// halt happens once per batch, so the short query is affordable, and a
// failure only leaves the figures out.
func (d *runner) withStakes(ctx context.Context, a *alert.Alert) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	p, err := d.store.BatchProgress(ctx, a.BatchID)
	if err != nil {
		d.e.logger.Warn("alert without money figures", "batch", a.BatchID, "err", err)
		return
	}
	a.StockID = p.StockID
	a.Stakes = &alert.Stakes{
		IssuedCoupons: p.Counts[queue.StatusIssued], IssuedFen: p.IssuedFen,
		PendingCoupons: p.PendingCoupons, PendingFen: p.PendingFen,
		InDoubtCoupons: p.InDoubt, InDoubtFen: p.InDoubtFen,
	}
}

func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       time.Minute,
	}
}

// alertConfig turns alerts.* into the notifier's channels, reading robot
// URLs and signing secrets from their files.
func alertConfig(cfg *config.Config) (alert.Config, error) {
	ac := alert.Config{WebhookURL: cfg.Alerts.WebhookURL, Location: cfg.Location}
	for i, c := range cfg.Alerts.Channels {
		key := fmt.Sprintf("alerts.channels[%d]", i)
		ch := alert.Channel{Name: c.Name, Type: c.Type, URL: c.URL, MinSeverity: c.MinSeverity, Mention: c.Mention, Format: c.Format}
		var err error
		if c.URLFile != "" {
			if ch.URL, err = config.ReadSecretFile(c.URLFile); err != nil {
				return ac, fmt.Errorf("config: %s.url_file: %w", key, err)
			}
		}
		if c.SecretFile != "" {
			if ch.Secret, err = config.ReadSecretFile(c.SecretFile); err != nil {
				return ac, fmt.Errorf("config: %s.secret_file: %w", key, err)
			}
		}
		ac.Channels = append(ac.Channels, ch)
	}
	if err := ac.Validate(); err != nil {
		return ac, fmt.Errorf("config: %w", err)
	}
	return ac, nil
}

// registerMetrics registers every series the daemon serves on /metrics.
func registerMetrics(reg prometheus.Registerer, store *queue.Store, limiter ratelimit.Strategy, notifier *alert.Notifier,
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
