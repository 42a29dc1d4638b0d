package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/issuer-dev/issuer/alert"
	"github.com/issuer-dev/issuer/audit"
	"github.com/issuer-dev/issuer/queue"
	"github.com/issuer-dev/issuer/wxpay"
)

// pass is one run of the issue job: the state its three roles share. The
// producer claims rows into work, executors send them and hand results to
// the completer, which records them. One role per type, as in River.
type pass struct {
	j       *Issue
	opts    IssueOptions
	log     *slog.Logger
	policy  Policy
	horizon time.Duration
	start   time.Time

	// ctx is the caller's; claimCtx ends the claiming (a stop, MaxDuration,
	// a merchant halt); sendCtx is never cancelled, so that a send already
	// started runs to its own timeout and its answer is recorded.
	ctx, claimCtx, sendCtx context.Context
	stopClaiming           context.CancelFunc
	cancelDuration         context.CancelFunc

	remaining int64 // rows to do when the pass started, for progress

	work    chan queue.Claimed // producer → executors
	out     *outbox            // executors → completer: results
	slots   *slots             // executors → producer: workers freed
	flushed chan struct{}      // completer → producer: outcomes were written

	c      counters
	halts  halts
	users  userSet
	merror atomic.Pointer[string] // the configuration error that stopped the pass
}

func newPass(ctx context.Context, j *Issue, opts IssueOptions) *pass {
	p := &pass{j: j, opts: opts, log: j.Logger, policy: j.Policy.withDefaults(), horizon: j.Horizon, start: time.Now(), ctx: ctx}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.horizon <= 0 {
		p.horizon = 30 * time.Second
	}
	p.claimCtx, p.stopClaiming = context.WithCancel(ctx)
	if opts.MaxDuration > 0 {
		p.claimCtx, p.cancelDuration = context.WithTimeout(p.claimCtx, opts.MaxDuration)
	}
	p.sendCtx = context.WithoutCancel(ctx)
	p.work = make(chan queue.Claimed)
	p.out = newOutbox(completerMaxBatch, completerMaxBatch+j.Concurrency)
	p.slots = newSlots()
	p.flushed = make(chan struct{}, 1)
	p.c.outcomes = map[wxpay.Outcome]int64{}
	p.halts.batches = map[int64]bool{}
	p.users.m = map[string]bool{}
	return p
}

// prepare rescues expired leases and counts what there is to do.
func (p *pass) prepare() error {
	if n, review, err := p.j.Store.RescueExpired(p.claimCtx, p.policy.MaxAttempts); err != nil {
		return fmt.Errorf("issue: %w", err)
	} else if n+review > 0 {
		p.log.Warn("rescued rows whose lease expired", "requeued", n, "review", review)
	}
	remaining, err := p.j.Store.Remaining(p.claimCtx, p.opts.Batch)
	if err != nil {
		return fmt.Errorf("issue: %w", err)
	}
	p.remaining = int64(remaining)
	return nil
}

// run starts the executors, the completer and the progress reporter,
// produces until there is nothing to claim, then waits for every send to
// be answered and recorded.
func (p *pass) run() (*Summary, error) {
	if p.cancelDuration != nil {
		defer p.cancelDuration()
	}
	var executors sync.WaitGroup
	for i := range p.j.Concurrency {
		executors.Add(1)
		go func() {
			defer executors.Done()
			newExecutor(p, i).run()
		}()
	}
	recorded := make(chan []int64, 1)
	go func() { recorded <- newCompleter(p).run() }()
	stopProgress := p.reportProgress()

	claimErr := newProducer(p).run()
	close(p.work)
	executors.Wait()
	p.out.close()
	touched := <-recorded
	stopProgress()
	return p.summarize(touched, claimErr)
}

// reportProgress calls the job's Progress about once a second until the
// returned function is called; no call outlives it.
func (p *pass) reportProgress() (stop func()) {
	if p.j.Progress == nil {
		return func() {}
	}
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				p.j.Progress(p.c.snapshot(p.start, p.remaining))
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
		p.j.Progress(p.c.snapshot(p.start, p.remaining))
	}
}

// summarize marks finished batches completed and says how the pass went.
func (p *pass) summarize(touched []int64, claimErr error) (*Summary, error) {
	c := &p.c
	sum := &Summary{Duration: time.Since(p.start), Claimed: c.claimed.Load(), Sent: c.sent.Load(),
		Stale: c.stale.Load(), Unrecorded: c.unrecorded.Load(), LoopErrors: c.loopErrors.Load(), Outcomes: c.outcomes, Halted: c.halted}
	finishCtx, cancel := context.WithTimeout(p.sendCtx, 10*time.Second)
	defer cancel()
	// A spend cap that leaves no room halts its batch rather than leaving
	// it runnable with rows nobody may send.
	p.haltSpendCapped(finishCtx)
	if len(touched) > 0 {
		done, err := p.j.Store.CompleteFinished(finishCtx, touched)
		if err != nil {
			p.log.Error("mark completed batches", "err", err)
		}
		sum.Completed = done
	}
	if m := p.merror.Load(); m != nil {
		return sum, fmt.Errorf("%w: %s", ErrMerchantHalted, *m)
	}
	if claimErr != nil && !errors.Is(claimErr, context.Canceled) && !errors.Is(claimErr, context.DeadlineExceeded) {
		return sum, claimErr
	}
	if sum.Unrecorded > 0 {
		return sum, fmt.Errorf("issue: %d outcomes could not be recorded; their rows stay leased and will be re-sent with the same out_request_no", sum.Unrecorded)
	}
	return sum, p.ctx.Err()
}

// haltSpendCapped halts the batches whose spend cap is reached.
func (p *pass) haltSpendCapped(ctx context.Context) {
	halted, err := p.j.Store.HaltSpendCapped(ctx, p.opts.Batch)
	if err != nil {
		if ctx.Err() == nil {
			p.c.loopErrors.Add(1)
			p.log.Warn("spend caps: could not check", "err", err)
		}
		return
	}
	for _, h := range halted {
		p.halted(h.ID, h.StockID, h.MchID, h.Reason)
	}
}

// halted records and announces a batch a guard or an answer halted.
func (p *pass) halted(batch int64, stock, mchid, reason string) {
	p.log.Error("batch halted", "batch", batch, "stock", stock, "reason", reason)
	p.audit(batch, stock, reason)
	p.c.mu.Lock()
	p.c.halted = append(p.c.halted, Halt{BatchID: batch, Text: fmt.Sprintf("batch %d: %s", batch, reason)})
	p.c.mu.Unlock()
	p.alert(Alert{Kind: alert.KindBatchHalted, BatchID: batch, MchID: mchid, Message: reason})
}

// audit keeps a halt in the audit log; the log failing does not undo it.
func (p *pass) audit(batch int64, stock, reason string) {
	if p.j.Audit == nil {
		return
	}
	b := batch
	e := audit.Entry{Time: time.Now(), Actor: "issuer:" + p.j.Owner, Role: "system", Action: "halt",
		BatchID: &b, StockID: stock, Source: "issue pass", Outcome: audit.OK, Detail: audit.Text(reason)}
	ctx, cancel := context.WithTimeout(p.sendCtx, 5*time.Second)
	defer cancel()
	if err := p.j.Audit.Record(ctx, e); err != nil {
		p.log.Error("audit log: could not record a halt", "batch", batch, "err", err)
	}
}

func (p *pass) alert(a Alert) {
	if p.j.OnAlert != nil {
		p.j.OnAlert(a)
	}
}

// claimAt is the time start times and windows are judged at.
func (p *pass) claimAt() time.Time {
	if p.j.Now != nil {
		return p.j.Now()
	}
	return time.Time{}
}

type counters struct {
	claimed, sent, issued, throttled, inFlight, terminal, stale, unrecorded, loopErrors atomic.Int64
	// recording counts results handed to the completer and not yet
	// written: until they are, the database does not show what the pass
	// has done.
	recording atomic.Int64
	mu        sync.Mutex
	outcomes  map[wxpay.Outcome]int64
	halted    []Halt
}

func (c *counters) outcome(o wxpay.Outcome) {
	c.mu.Lock()
	c.outcomes[o]++
	c.mu.Unlock()
}

func (c *counters) snapshot(start time.Time, remaining int64) Progress {
	return Progress{Elapsed: time.Since(start), Sent: c.sent.Load(), Issued: c.issued.Load(),
		Throttled: c.throttled.Load(), Remaining: max(0, remaining-c.terminal.Load()), InFlight: c.inFlight.Load()}
}

// halts are the batches (or the whole merchant) this pass stopped sending
// for: rows of theirs still claimed are released unsent.
type halts struct {
	mu       sync.Mutex
	batches  map[int64]bool
	merchant bool // a configuration error halted everything
}

func (h *halts) has(batch int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.merchant || h.batches[batch]
}

// mark records a halt and reports whether it is new.
func (h *halts) mark(batch int64, merchant bool) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	already := h.merchant || (!merchant && h.batches[batch])
	if merchant {
		h.merchant = true
	} else {
		h.batches[batch] = true
	}
	return !already
}

// userSet holds the (stock, openid) pairs being sent by this process:
// WeChat Pay answers concurrent sends to one user of one stock with
// spurious RULE_LIMIT.
type userSet struct {
	mu sync.Mutex
	m  map[string]bool
}

func userKey(row queue.Claimed) string { return row.StockID + "\x00" + row.OpenID }

func (u *userSet) acquire(row queue.Claimed) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m[userKey(row)] {
		return false
	}
	u.m[userKey(row)] = true
	return true
}

func (u *userSet) release(row queue.Claimed) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.m, userKey(row))
}

// sleepCtx waits d, or less if ctx ends first (then it returns ctx's error).
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
