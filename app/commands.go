package app

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/issuer-dev/issuer"
	"github.com/issuer-dev/issuer/alert"
	"github.com/issuer-dev/issuer/audit"
	"github.com/issuer-dev/issuer/internal/config"
	"github.com/issuer-dev/issuer/jobs"
	"github.com/issuer-dev/issuer/ops"
	"github.com/issuer-dev/issuer/queue"
	"github.com/issuer-dev/issuer/ratelimit"
	"github.com/issuer-dev/issuer/wxpay"
)

// The wiring of the one-shot commands (everything but `issuer run`): the
// command line parses and prints, and gets its service, its issue pass
// and its digest sending from here.

// Env is what a one-shot command's wiring needs besides the config.
type Env struct {
	Logger  *slog.Logger
	Version string // in the User-Agent of WeChat Pay calls
}

// wxClient builds the WeChat Pay client from the merchant's key files,
// with at most maxConns connections.
func (e Env) wxClient(cfg *config.Config, maxConns int) (*wxpay.Client, error) {
	opts, err := WXOptions(cfg, maxConns, e.Logger, e.Version)
	if err != nil {
		return nil, err
	}
	return NewWXClient(opts)
}

// wxFactory makes WeChat Pay clients from the config on demand.
func (e Env) wxFactory(cfg *config.Config) func() (ops.WXClient, error) {
	return func() (ops.WXClient, error) { return e.wxClient(cfg, OpsWXConns) }
}

// WithService opens the database (its schema checked) and runs fn with the
// operations every front end shares. The WeChat Pay client is made only
// if an operation needs one.
func (e Env) WithService(ctx context.Context, cfg *config.Config, fn func(*ops.Service) error) error {
	db, err := OpenDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	return fn(ops.New(db, cfg, e.wxFactory(cfg), audit.NewStore(db, nil), e.Logger))
}

// auditDBTimeout bounds the look for the audit log of a command that does
// not need the database.
const auditDBTimeout = 3 * time.Second

// WithWXService is WithService for the operations that talk to WeChat Pay
// only (stocks, coupons, the notification address): they work without a
// database, so stocks can be managed from any machine holding the merchant
// keys. Their acts go to the audit log when the database is reachable and
// to the log in any case.
func (e Env) WithWXService(ctx context.Context, cfg *config.Config, fn func(*ops.Service) error) error {
	var auditor ops.Auditor
	dctx, cancel := context.WithTimeout(ctx, auditDBTimeout)
	db, err := OpenDB(dctx, cfg)
	cancel()
	if err != nil {
		e.Logger.Debug("no database: acts are only logged", "err", err)
	} else {
		defer db.Close()
		auditor = audit.NewStore(db, nil)
	}
	// ops.New is not given db: these operations must not need it.
	return fn(ops.New(nil, cfg, e.wxFactory(cfg), auditor, e.Logger))
}

// Migrate is `issuer migrate`: it applies the schema's migrations that the
// database lacks, and returns them.
func Migrate(ctx context.Context, cfg *config.Config) ([]issuer.Migration, error) {
	db, err := Connect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return issuer.Migrate(ctx, db)
}

// OfflineService is the operations without a database or WeChat Pay, on
// cfg when one is loaded (nil otherwise): plugin signing.
func (e Env) OfflineService(cfg *config.Config) *ops.Service {
	return ops.New(nil, cfg, nil, nil, e.Logger)
}

// PassOptions are `issuer issue`'s.
type PassOptions struct {
	jobs.IssueOptions
	Progress func(jobs.Progress) // nil: none
}

// PassResult is what a pass did, for printing.
type PassResult struct {
	Summary *jobs.Summary // nil when the pass did not run
	Limiter ratelimit.Stats
	// Steps say what to do about each batch the pass halted (ops.NextStep,
	// or the halt's own text), when it ended without error.
	Steps []string
}

// NotClaimableError is the answer to a pass asked for one batch that cannot
// be claimed now: Why says why (ops.NextStep); a completed batch is not a
// failure.
type NotClaimableError struct {
	Why       string
	Completed bool
}

func (e *NotClaimableError) Error() string { return e.Why }

// IssuePass is `issuer issue`: one pass of the issue job with its own
// client, pool, limiter and rate keeper, until nothing is claimable now.
func (e Env) IssuePass(ctx context.Context, cfg *config.Config, o PassOptions) (*PassResult, error) {
	client, err := e.wxClient(cfg, cfg.Issue.Concurrency)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	db, err := OpenDB(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(IssueDBConns)
	store := queue.NewStore(db)
	if err := claimable(ctx, store, o.Batch); err != nil {
		return nil, err
	}
	keeper := NewKeeper(cfg, db, e.Logger)
	limiter := NewLimiter(ctx, cfg, keeper)
	keepCtx, stopKeeping := context.WithCancel(ctx)
	kept := make(chan struct{})
	go func() { keeper.Run(keepCtx, limiter); close(kept) }()
	job := NewIssueJob(cfg, store, client, limiter, LeaseOwner(), e.Logger)
	job.Progress = o.Progress
	sum, err := job.Run(ctx, o.IssueOptions)
	stopKeeping()
	<-kept
	res := &PassResult{Summary: sum, Limiter: limiter.Stats()}
	if err == nil && sum != nil {
		res.Steps = haltSteps(ctx, store, sum.Halted)
	}
	return res, err
}

// claimable refuses a pass over one batch (id ≠ 0) that is not claimable:
// it would make an empty pass that looks like success.
func claimable(ctx context.Context, store *queue.Store, id int64) error {
	if id == 0 {
		return nil
	}
	b, err := store.Batch(ctx, id)
	if err != nil {
		return err
	}
	if why := ops.NextStep(b); why != "" {
		return &NotClaimableError{Why: why, Completed: b.Status == queue.BatchCompleted}
	}
	return nil
}

// haltSteps says what to do about each halted batch: a halted batch is not
// sent again until someone acts.
func haltSteps(ctx context.Context, store *queue.Store, halted []jobs.Halt) []string {
	var steps []string
	for _, h := range halted {
		step := h.Text
		if h.BatchID != 0 {
			if b, err := store.Batch(ctx, h.BatchID); err == nil && b.Status == queue.BatchHalted {
				step = ops.NextStep(b)
			}
		}
		steps = append(steps, step)
	}
	return steps
}

// Notifier is a command's alert notifier (`report digest --send`): the
// configured channels, its messages from cli@<host>. Start it, and stop it
// to wait for what it is sending.
func (e Env) Notifier(cfg *config.Config) (*alert.Notifier, error) {
	ac, err := AlertConfig(cfg)
	if err != nil {
		return nil, err
	}
	ac.Logger, ac.Source = e.Logger, "cli"
	if host, herr := os.Hostname(); herr == nil {
		ac.Source = "cli@" + host
	}
	return alert.New(ac), nil
}
