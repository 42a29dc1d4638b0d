package jobs

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/issuer-dev/issuer/audit"
	"github.com/issuer-dev/issuer/queue"
	"github.com/issuer-dev/issuer/wxpay"
)

// Sender is the part of the WeChat Pay client the issue job uses.
type Sender interface {
	SendFavor(ctx context.Context, req wxpay.FavorSendRequest) (wxpay.SendResult, error)
	SendProduct(ctx context.Context, req wxpay.ProductSendRequest) (wxpay.SendResult, error)
}

// Limiter paces sends and learns from throttling answers.
type Limiter interface {
	Wait(ctx context.Context) error
	Observe(throttled bool)
}

// Issue drains the queue through WeChat Pay: it claims due recipients of
// runnable batches, sends each with its stored out_request_no from a pool
// of workers behind the limiter, classifies every answer and records the
// outcomes in batched transactions.
//
// Exactly once rests on three things: the out_request_no was committed at
// import, a row is claimed by one worker at a time (lease + SKIP LOCKED),
// and an answer that does not say what happened (timeout, reset, 5xx) puts
// the row back with the same out_request_no instead of failing it.
type Issue struct {
	Store       *queue.Store
	Sender      Sender
	Limiter     Limiter
	Concurrency int
	Lease       time.Duration
	Policy      Policy
	Owner       string // lease owner id; unique per process
	Logger      *slog.Logger
	// ShutdownTimeout bounds how long recording may keep retrying once
	// the run is over (for example while the database is unreachable).
	ShutdownTimeout time.Duration
	// Horizon: a pass waits for pending rows due within this long (retries
	// after backoff) instead of ending; rows due later wait for the next
	// pass. Default 30s.
	Horizon time.Duration
	// OnAlert, when set, is told about halts and rows sent to review.
	OnAlert func(Alert)
	// Progress, when set, receives counters about once a second.
	Progress func(Progress)
	// OnAnswer, when set, is told every classified answer (metrics).
	OnAnswer func(wxpay.Outcome)
	// Stocks, when set, is asked about each 代金券 stock before the pass
	// claims for it: a stock that is not running or has ended halts its
	// batches instead of spending attempts (see stockGuard).
	Stocks StockChecker
	// Now is the clock start times and send windows are judged by
	// (default: the database's); tests inject one.
	Now func() time.Time

	// Audit, when set, keeps every halt the pass decides (an answer, a
	// spend cap, a stock that cannot issue) in the audit log, as the acts
	// of people are.
	Audit Auditor
}

// Auditor keeps the audit log (audit.Store).
type Auditor interface {
	Record(ctx context.Context, e audit.Entry) error
}

// Alert is something an operator must look at.
type Alert struct {
	Kind    string // alert.KindBatchHalted, KindMerchantHalted or KindReview
	BatchID int64
	MchID   string
	Message string
}

// IssueOptions scope one pass.
type IssueOptions struct {
	Batch       int64         // only this batch; 0 = all runnable
	MaxDuration time.Duration // stop claiming after this long; 0 = no limit
}

// Progress is a snapshot of a running pass.
type Progress struct {
	Elapsed   time.Duration
	Sent      int64 // answered sends
	Issued    int64
	Throttled int64
	Remaining int64 // pending or in flight when the pass started, minus terminal since
	InFlight  int64
}

// Halt is a halt the pass made: one batch, or every batch of a merchant.
type Halt struct {
	BatchID int64  // 0 for a merchant's every batch
	Text    string // "batch 3: budget_exhausted: NOT_ENOUGH 批次预算不足"
}

// Summary is the result of one pass.
type Summary struct {
	Duration   time.Duration
	Claimed    int64
	Sent       int64
	Outcomes   map[wxpay.Outcome]int64
	Halted     []Halt
	Completed  []int64
	Stale      int64 // results that found their lease taken over
	Unrecorded int64 // results that could not be recorded (rows stay leased and will be re-sent)
	// LoopErrors counts database errors of the claim loop's bookkeeping
	// (rescuing expired leases, asking when rows are next due) that were
	// logged and retried.
	LoopErrors int64
}

// ErrMerchantHalted is returned when a configuration error stopped the pass.
var ErrMerchantHalted = errors.New("merchant halted by a configuration error")

// Run performs one pass: it returns when nothing is claimable now or soon
// (see Horizon), when MaxDuration is spent or ctx is cancelled — in every
// case only after in-flight sends have finished and been recorded.
func (j *Issue) Run(ctx context.Context, opts IssueOptions) (*Summary, error) {
	if j.Concurrency <= 0 || j.Lease <= 0 || j.Owner == "" {
		return nil, errors.New("issue: concurrency, lease and owner are required")
	}
	p := newPass(ctx, j, opts)
	defer p.stopClaiming()
	if err := p.prepare(); err != nil {
		return nil, err
	}
	return p.run()
}
