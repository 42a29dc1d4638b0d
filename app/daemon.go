package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/issuer-dev/issuer/alert"
	"github.com/issuer-dev/issuer/app/housekeeping"
	"github.com/issuer-dev/issuer/audit"
	"github.com/issuer-dev/issuer/console"
	"github.com/issuer-dev/issuer/console/pages"
	"github.com/issuer-dev/issuer/daemon"
	"github.com/issuer-dev/issuer/httpapi"
	"github.com/issuer-dev/issuer/internal/config"
	"github.com/issuer-dev/issuer/internal/startstop"
	"github.com/issuer-dev/issuer/jobs"
	"github.com/issuer-dev/issuer/ops"
	"github.com/issuer-dev/issuer/queue"
	"github.com/issuer-dev/issuer/ratelimit"
	"github.com/issuer-dev/issuer/wxpay"
)

// Jobs of the daemon. Reconcile, housekeeping and the digest run on one
// instance per activation; issue runs on every instance, which share rows
// by SKIP LOCKED and the merchant's rate budget by heartbeats.
const (
	JobIssue        = "issue"
	JobReconcile    = "reconcile"
	JobHousekeeping = "housekeeping"
	JobDigest       = "digest"
)

// Options are what the daemon needs beyond its configuration.
type Options struct {
	Logger  *slog.Logger
	Stdout  io.Writer // where the listening addresses are announced
	Version string
}

// Daemon is `issuer run`: what it opened, and the parts it starts.
type Daemon struct {
	cfg    *config.Config
	log    *slog.Logger
	stdout io.Writer

	db       *sqlx.DB
	client   *wxpay.Client
	store    *queue.Store
	ops      *ops.Service // configures the scheduled jobs as the operations do
	limiter  ratelimit.Strategy
	keeper   *ratelimit.Keeper
	instance string
	metrics  *daemonMetrics
	notifier *alert.Notifier
	runs     *daemon.Runs
	insts    *daemon.Instances
	sched    *daemon.Scheduler

	listener, cbListener net.Listener
	server, cbServer     *http.Server // cbServer: http.callback_addr only
	pages                *pages.Pages // uploads waiting for create or drop
}

// NewDaemon opens what the daemon needs (key files, database, listeners)
// from a configuration that passed config.CheckRun; what it opened is
// closed again if a later step fails.
func NewDaemon(ctx context.Context, cfg *config.Config, o Options) (_ *Daemon, err error) {
	var opened []func()
	defer func() {
		if err != nil {
			for i := len(opened) - 1; i >= 0; i-- {
				opened[i]()
			}
		}
	}()
	log := o.Logger
	ac, err := AlertConfig(cfg)
	if err != nil {
		return nil, err
	}
	ac.Logger = log
	// One load of the key files: the client sends with them, and the
	// callback endpoint verifies with the same verifier.
	keys, err := WXOptions(cfg, cfg.Issue.Concurrency, log, o.Version)
	if err != nil {
		return nil, err
	}
	if certs := keys.Verifier.CertStore(); certs != nil {
		opened = append(opened, certs.Close)
	}
	client, err := NewWXClient(keys)
	if err != nil {
		return nil, err
	}
	opened = append(opened, client.Close)
	secrets, err := readSecrets(cfg, log)
	if err != nil {
		return nil, err
	}
	db, err := OpenDB(ctx, cfg)
	if err != nil {
		return nil, err
	}
	opened = append(opened, func() { db.Close() })
	db.SetMaxOpenConns(DaemonDBConns)

	d := &Daemon{cfg: cfg, log: log, stdout: o.Stdout, db: db, client: client, store: queue.NewStore(db),
		keeper: NewKeeper(cfg, db, log), instance: LeaseOwner()}
	d.limiter = NewLimiter(ctx, cfg, d.keeper)
	d.ops = ops.New(db, cfg, nil, nil, log)
	reg := prometheus.NewRegistry()
	ac.Source = d.instance
	ac.History = alert.NewHistoryStore(db)
	d.notifier = alert.New(ac)
	var httpMetrics *httpapi.Metrics
	d.metrics, httpMetrics, err = RegisterMetrics(reg, d.store, d.limiter, d.notifier,
		func(ctx context.Context, job string) (time.Time, bool, error) { return d.runs.LastSuccess(ctx, job) })
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	d.insts = &daemon.Instances{DB: db, ID: d.instance, MchID: cfg.WXPay.MchID, Hostname: host, PID: os.Getpid(),
		Version: o.Version, Logger: log}
	d.runs = &daemon.Runs{DB: db, Instance: d.instance, Logger: log, Singletons: SingletonJobs(), OnFinish: d.metrics.jobFinished}

	con, pg, err := newConsole(cfg, db, lend(client), log)
	if err != nil {
		return nil, err
	}
	d.pages = pg
	hc := d.httpConfig(keys.Verifier, secrets, reg, httpMetrics)
	if opened, err = d.listen(hc, con, opened); err != nil {
		return nil, err
	}
	d.newScheduler()
	return d, nil
}

// httpConfig is the configuration of the machine endpoints.
func (d *Daemon) httpConfig(verifier *wxpay.Verifier, secrets map[string]string, reg *prometheus.Registry, httpMetrics *httpapi.Metrics) httpapi.Config {
	cfg, db, log := d.cfg, d.db, d.log
	return httpapi.Config{
		Ready:    func(ctx context.Context) error { return db.PingContext(ctx) },
		Gatherer: reg, MetricsToken: secrets["http.metrics_token_file"],
		Verifier: verifier, APIv3Key: secrets["wxpay.apiv3_key_file"],
		StoreCouponUse: jobs.NewFlowStore(db).StoreCouponUse,
		PluginToken:    secrets["plugin.token_file"], APIv2Key: secrets["wxpay.apiv2_key_file"], PluginMerchant: cfg.WXPay.MchID,
		PluginStocks: cfg.Plugin.StockList(), PluginRate: cfg.Plugin.MaxPerSecond, Audit: audit.NewStore(db, nil),
		Logger: log, Metrics: httpMetrics, Alerts: d.notifier,
		CallbacksElsewhere: cfg.HTTP.CallbackAddr != "",
	}
}

// listen makes the HTTP servers and opens their listeners, adding what
// must be closed on a later failure to opened.
func (d *Daemon) listen(hc httpapi.Config, con *console.Server, opened []func()) ([]func(), error) {
	cfg := d.cfg
	var err error
	// The machine endpoints keep their own rules; everything else is the
	// console and the API, behind the login.
	d.server = newHTTPServer(console.WithMachine(httpapi.New(hc), con))
	if d.listener, err = net.Listen("tcp", cfg.HTTP.Addr); err != nil {
		return opened, fmt.Errorf("http.addr: %w", err)
	}
	opened = append(opened, func() { d.listener.Close() })
	if cfg.HTTP.CallbackAddr != "" {
		d.cbServer = newHTTPServer(httpapi.NewCallbacks(hc))
		if d.cbListener, err = net.Listen("tcp", cfg.HTTP.CallbackAddr); err != nil {
			return opened, fmt.Errorf("http.callback_addr: %w", err)
		}
		opened = append(opened, func() { d.cbListener.Close() })
	}
	return opened, nil
}

// newScheduler makes the scheduler, whose runs are recorded and elected
// by d.runs.
func (d *Daemon) newScheduler() {
	cfg, log := d.cfg, d.log
	d.sched = daemon.NewScheduler(cfg.Location, nil, log)
	d.sched.LastSuccess = d.runs.LastSuccess
	d.sched.OnRun = func(ctx context.Context, name string, at time.Time, catchUp bool, fn daemon.RunFunc) {
		_ = d.runs.Execute(ctx, name, at, catchUp, fn) // logged and recorded there
	}
}

// readSecrets reads the secret files the HTTP endpoints need; an unset one
// leaves its endpoint answering unavailable (the metrics token is optional).
func readSecrets(cfg *config.Config, log *slog.Logger) (map[string]string, error) {
	secrets := map[string]string{}
	for key, path := range map[string]string{
		"wxpay.apiv3_key_file": cfg.WXPay.APIv3KeyFile, "wxpay.apiv2_key_file": cfg.WXPay.APIv2KeyFile,
		"plugin.token_file": cfg.Plugin.TokenFile, "http.metrics_token_file": cfg.HTTP.MetricsTokenFile,
	} {
		if path == "" {
			if key != "http.metrics_token_file" {
				log.Warn("not configured: the endpoint that needs it answers unavailable", "key", key)
			}
			continue
		}
		s, err := config.ReadSecretFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %s: %w", key, err)
		}
		secrets[key] = s
	}
	return secrets, nil
}

// Run serves until ctx is cancelled (SIGTERM, SIGINT) or an HTTP server
// fails. Its parts start in order and stop in the reverse order: the
// scheduler first (no new runs or claims; in-flight calls finish and record
// within issue.shutdown_timeout), then the HTTP servers, the rate keeper
// and the heartbeat, and the notifier last, once nothing can raise an
// alert.
func (d *Daemon) Run(ctx context.Context) error {
	log := d.log
	defer d.db.Close()
	defer d.client.Close()
	if err := d.addJobs(ctx); err != nil {
		return err
	}
	serveErr := make(chan error, 2)
	g := &startstop.Group{Logger: log}
	parts := []struct {
		name string
		svc  startstop.Service
	}{
		{"platform certificates", d.certificates()},
		// The notifier outlives ctx: it drains only after everything that
		// may raise an alert has stopped.
		{"notifier", d.notifierPart()},
		{"callback address", startstop.Funcs{OnStart: func(ctx context.Context) error {
			syncCallbackURL(ctx, d.client, d.cfg.Callbacks.PublicURL, d.notifier.Notify, log)
			return nil
		}}},
		{"heartbeat", &startstop.Loop{Name: "heartbeat", Run: d.heartbeat}},
		{"rate keeper", &startstop.Loop{Name: "rate keeper", Run: func(ctx context.Context) { d.keeper.Run(ctx, d.limiter) }}},
		{"http", d.httpPart("http", d.server, d.listener, serveErr, d.pages.Close)},
		{"http (callbacks)", d.httpPart("http (callbacks)", d.cbServer, d.cbListener, serveErr, nil)},
		{"scheduler", &startstop.Loop{Name: "jobs", Run: d.sched.Run, Timeout: d.cfg.Issue.ShutdownTimeout}},
	}
	for _, p := range parts {
		if err := g.Start(ctx, p.name, p.svc); err != nil {
			return errors.Join(err, g.Stop())
		}
	}
	d.announce()

	var failed error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		failed = err
		log.Error("http server stopped", "err", err)
	}
	log.Info("shutting down: no new runs or claims; in-flight calls finish and record", "timeout", d.cfg.Issue.ShutdownTimeout)
	if err := g.Stop(); err != nil {
		failed = errors.Join(failed, fmt.Errorf("%w; rows still leased are re-sent with the same out_request_no once their lease expires", err))
	}
	if failed == nil {
		log.Info("stopped cleanly")
	}
	return failed
}

// addJobs puts the daemon's jobs on the schedule.
func (d *Daemon) addJobs(ctx context.Context) error {
	hk := &housekeeping.Job{Tasks: []housekeeping.Task{
		&housekeeping.Rescue{Store: d.store, MaxAttempts: d.cfg.Issue.MaxAttempts},
		&housekeeping.Prune{Instances: d.insts, InstancesKept: daemon.InstancesKept, Runs: d.runs, RunsKept: daemon.RunsKept,
			Alerts: alert.NewHistoryStore(d.db), AlertsKept: alert.HistoryKept},
		&housekeeping.Seal{Store: d.store},
		&housekeeping.Settle{Settler: ops.NewSettle(d.ops, d.client)},
		&housekeeping.ReviewAlert{Store: d.store, Notify: d.notifier.Notify, MchID: d.cfg.WXPay.MchID},
	}}
	for _, j := range []struct {
		name, spec string
		fn         daemon.RunFunc
	}{
		{JobIssue, d.cfg.Schedules.Issue, d.issue},
		{JobReconcile, d.cfg.Schedules.Reconcile, d.reconcile},
		{JobHousekeeping, d.cfg.Schedules.Housekeeping, hk.Run},
		{JobDigest, d.cfg.Schedules.Digest, DigestJob(d.ops, d.notifier, d.log)},
	} {
		if err := d.sched.Add(ctx, j.name, j.spec, j.fn); err != nil {
			return err
		}
	}
	return nil
}

// certificates keeps the platform certificates fresh (download now and
// every wxpay.platform_cert_refresh) in certificate mode.
func (d *Daemon) certificates() startstop.Service {
	certs := d.client.Verifier().CertStore()
	if certs == nil {
		return startstop.Funcs{}
	}
	return startstop.Funcs{
		OnStart: func(ctx context.Context) error { certs.Start(ctx); return nil },
		OnStop:  func() error { certs.Close(); return nil },
	}
}

func (d *Daemon) notifierPart() startstop.Service {
	var stop func()
	return startstop.Funcs{
		OnStart: func(ctx context.Context) error { stop = d.notifier.Start(context.WithoutCancel(ctx)); return nil },
		OnStop:  func() error { stop(); return nil },
	}
}

// heartbeat keeps this instance's heartbeat and divides the merchant's rate
// budget by the live instances.
func (d *Daemon) heartbeat(ctx context.Context) {
	d.insts.Run(ctx, func(live int) {
		d.metrics.instances.Set(float64(live))
		d.keeper.SetInstances(live)
		if l, ok := d.limiter.(interface{ SetCeiling(float64) }); ok {
			l.SetCeiling(d.cfg.Issue.Rate.Max / float64(live))
		}
	})
}

// httpPart serves srv on l; a failure to serve goes to errs. A nil srv is
// a part that does nothing.
func (d *Daemon) httpPart(name string, srv *http.Server, l net.Listener, errs chan<- error, afterStop func()) startstop.Service {
	if srv == nil {
		return startstop.Funcs{}
	}
	return startstop.Funcs{
		OnStart: func(context.Context) error {
			go func() {
				if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
					errs <- fmt.Errorf("%s server: %w", name, err)
				}
			}()
			return nil
		},
		OnStop: func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := srv.Shutdown(ctx)
			if afterStop != nil {
				afterStop()
			}
			return err
		},
	}
}

func (d *Daemon) announce() {
	c := d.cfg
	d.log.Info("issuer running", "instance", d.instance, "http", d.listener.Addr().String(),
		"issue", c.Schedules.Issue, "reconcile", c.Schedules.Reconcile, "housekeeping", c.Schedules.Housekeeping,
		"digest", c.Schedules.Digest, "timezone", c.Timezone)
	fmt.Fprintf(d.stdout, "listening on http://%s\n", d.listener.Addr())
	if d.cbListener != nil {
		d.log.Info("callbacks on their own listener", "http", d.cbListener.Addr().String())
		fmt.Fprintf(d.stdout, "callbacks listening on http://%s\n", d.cbListener.Addr())
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
