package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/issuer-dev/issuer/alert"
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

// Summary is the result of one pass.
type Summary struct {
	Duration   time.Duration
	Claimed    int64
	Sent       int64
	Outcomes   map[wxpay.Outcome]int64
	Halted     []string // "batch 3: budget_exhausted: NOT_ENOUGH 批次预算不足"
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

type counters struct {
	claimed, sent, issued, throttled, inFlight, terminal, stale, unrecorded, loopErrors atomic.Int64
	// recording counts results handed to the recorder and not yet written:
	// until they are, the database does not show what the pass has done.
	recording atomic.Int64
	mu        sync.Mutex
	outcomes  map[wxpay.Outcome]int64
	halted    []string
}

func (c *counters) outcome(o wxpay.Outcome) {
	c.mu.Lock()
	c.outcomes[o]++
	c.mu.Unlock()
}

// Run performs one pass: it returns when nothing is claimable now or soon
// (see Horizon), when MaxDuration is spent or ctx is cancelled — in every
// case only after in-flight sends have finished and been recorded.
func (j *Issue) Run(ctx context.Context, opts IssueOptions) (*Summary, error) {
	if j.Concurrency <= 0 || j.Lease <= 0 || j.Owner == "" {
		return nil, errors.New("issue: concurrency, lease and owner are required")
	}
	log := j.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	policy := j.Policy.withDefaults()
	horizon := j.Horizon
	if horizon <= 0 {
		horizon = 30 * time.Second
	}
	start := time.Now()

	// claimCtx ends the claiming; sends already started run to their own
	// timeout so that their answers are recorded, never abandoned.
	claimCtx, stopClaiming := context.WithCancel(ctx)
	defer stopClaiming()
	if opts.MaxDuration > 0 {
		var cancel context.CancelFunc
		claimCtx, cancel = context.WithTimeout(claimCtx, opts.MaxDuration)
		defer cancel()
	}
	sendCtx := context.WithoutCancel(ctx)

	if n, review, err := j.Store.RescueExpired(claimCtx, policy.MaxAttempts); err != nil {
		return nil, fmt.Errorf("issue: %w", err)
	} else if n+review > 0 {
		log.Warn("rescued rows whose lease expired", "requeued", n, "review", review)
	}
	remaining, err := j.Store.Remaining(claimCtx, opts.Batch)
	if err != nil {
		return nil, fmt.Errorf("issue: %w", err)
	}

	c := &counters{outcomes: map[wxpay.Outcome]int64{}}
	work := make(chan queue.Claimed)
	results := make(chan queue.Result, j.Concurrency)
	freed := make(chan struct{}, j.Concurrency)
	var merchantErr atomic.Pointer[string]
	halted := &haltSet{m: map[int64]bool{}}
	users := &userSet{m: map[string]bool{}}

	var workers sync.WaitGroup
	for i := range j.Concurrency {
		workers.Add(1)
		go func() {
			defer workers.Done()
			rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(i)))
			for row := range work {
				c.recording.Add(1) // handle hands exactly one result to the recorder
				if !users.acquire(row) {
					// The same user of the same stock (another batch) is being
					// sent right now: WeChat Pay answers concurrent sends to one
					// user with spurious RULE_LIMIT. Try this row again shortly.
					r := release(row)
					r.NextAttemptAt = time.Now().Add(time.Second)
					results <- r
				} else {
					j.handle(claimCtx, sendCtx, log, policy, rnd, row, results, halted, c, &merchantErr, stopClaiming)
					users.release(row)
				}
				c.inFlight.Add(-1)
				freed <- struct{}{}
			}
		}()
	}
	recorded := make(chan []int64)
	// flushed tells the claim loop that outcomes were written, so rows
	// they requeued may be claimable: it waits for this instead of polling.
	flushed := make(chan struct{}, 1)
	go func() { recorded <- j.record(ctx, log, results, c, flushed) }()

	var stopProgress, progressStopped chan struct{}
	if j.Progress != nil {
		stopProgress, progressStopped = make(chan struct{}), make(chan struct{})
		go func() {
			defer close(progressStopped)
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-stopProgress:
					return
				case <-t.C:
					j.Progress(c.snapshot(start, int64(remaining)))
				}
			}
		}()
	}

	claimErr := j.claimLoop(claimCtx, log, opts, horizon, policy, work, freed, flushed, c)
	close(work)
	workers.Wait()
	close(results)
	touched := <-recorded
	if stopProgress != nil {
		close(stopProgress)
		<-progressStopped // no Progress call may outlive Run
		j.Progress(c.snapshot(start, int64(remaining)))
	}

	sum := &Summary{Duration: time.Since(start), Claimed: c.claimed.Load(), Sent: c.sent.Load(),
		Stale: c.stale.Load(), Unrecorded: c.unrecorded.Load(), LoopErrors: c.loopErrors.Load(), Outcomes: c.outcomes, Halted: c.halted}
	if len(touched) > 0 {
		finishCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		done, err := j.Store.CompleteFinished(finishCtx, touched)
		cancel()
		if err != nil {
			log.Error("mark completed batches", "err", err)
		}
		sum.Completed = done
	}
	if m := merchantErr.Load(); m != nil {
		return sum, fmt.Errorf("%w: %s", ErrMerchantHalted, *m)
	}
	if claimErr != nil && !errors.Is(claimErr, context.Canceled) && !errors.Is(claimErr, context.DeadlineExceeded) {
		return sum, claimErr
	}
	if sum.Unrecorded > 0 {
		return sum, fmt.Errorf("issue: %d outcomes could not be recorded; their rows stay leased and will be re-sent with the same out_request_no", sum.Unrecorded)
	}
	return sum, ctx.Err()
}

func (c *counters) snapshot(start time.Time, remaining int64) Progress {
	return Progress{Elapsed: time.Since(start), Sent: c.sent.Load(), Issued: c.issued.Load(),
		Throttled: c.throttled.Load(), Remaining: max(0, remaining-c.terminal.Load()), InFlight: c.inFlight.Load()}
}

// claimLoop claims as many rows as there are free workers — never more, so
// no claimed row waits in memory while its lease runs down.
//
// It claims once a quarter of the workers are free (or none is busy),
// not each time one frees up: one claim per row is most of the process's
// CPU beyond signing when the limiter holds the pace, and with three
// quarters of the workers still holding rows the limiter never waits for
// the claim.
func (j *Issue) claimLoop(ctx context.Context, log *slog.Logger, opts IssueOptions, horizon time.Duration, policy Policy,
	work chan<- queue.Claimed, freed, flushed <-chan struct{}, c *counters) error {
	free := j.Concurrency
	refill := max(1, j.Concurrency/4)
	failures := 0
	// dueFailures backs off the bookkeeping queries apart from claims, so
	// that a persistent failure there neither spins nor goes unseen while
	// claims succeed.
	dueFailures := 0
	loopError := func(what string, err error) {
		c.loopErrors.Add(1)
		log.Warn(what+" failed; retrying", "err", err, "failures", dueFailures)
	}
	lastRescue := time.Now()
	for {
		// Collect freed slots without blocking.
	drain:
		for {
			select {
			case <-freed:
				free++
			default:
				break drain
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if free == 0 || (free < refill && c.inFlight.Load() > 0) {
			select {
			case <-freed:
				free++
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if time.Since(lastRescue) > j.Lease/2 {
			lastRescue = time.Now()
			n, review, err := j.Store.RescueExpired(ctx, policy.MaxAttempts)
			switch {
			case err != nil && ctx.Err() == nil:
				loopError("rescue expired leases", err)
			case n+review > 0:
				log.Warn("rescued rows whose lease expired", "requeued", n, "review", review)
			}
		}
		// Not cancelled by a stop: a claim that commits just as the stop
		// cancels it would leave its rows leased to nobody until expiry.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		rows, err := j.Store.Claim(cctx, queue.ClaimOptions{Owner: j.Owner, Limit: free, Lease: j.Lease, Batch: opts.Batch})
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			failures++
			// The database may be restarting: keep what is in flight, retry
			// claiming for a while, then give up cleanly.
			if failures > 20 {
				return fmt.Errorf("issue: %w", err)
			}
			log.Warn("claim failed; retrying", "err", err, "failures", failures)
			if sleepCtx(ctx, time.Duration(failures)*250*time.Millisecond) != nil {
				return ctx.Err()
			}
			continue
		}
		failures = 0
		if len(rows) == 0 {
			if c.inFlight.Load() > 0 || c.recording.Load() > 0 {
				// Answers may requeue rows (throttled, retry): look again
				// when a worker frees up or outcomes are written — every
				// row in flight or being recorded ends in both.
				select {
				case <-freed:
					free++
				case <-flushed:
				case <-ctx.Done():
					return ctx.Err()
				}
				continue
			}
			if _, _, err := j.Store.RescueExpired(ctx, policy.MaxAttempts); err != nil && ctx.Err() == nil {
				loopError("rescue expired leases", err)
			}
			due, ok, err := j.Store.NextDue(ctx, opts.Batch)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				dueFailures++
				loopError("next due", err)
				if sleepCtx(ctx, min(time.Duration(dueFailures)*250*time.Millisecond, 10*time.Second)) != nil {
					return ctx.Err()
				}
				continue
			}
			dueFailures = 0
			wait := time.Until(due)
			if !ok || wait > horizon {
				return nil // nothing claimable now or soon: the pass is done
			}
			if sleepCtx(ctx, max(wait, 10*time.Millisecond)) != nil {
				return ctx.Err()
			}
			continue
		}
		c.claimed.Add(int64(len(rows)))
		for _, row := range rows {
			c.inFlight.Add(1)
			free--
			work <- row // a worker is free: we claimed no more than free slots
		}
	}
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

// userSet holds the (stock, openid) pairs being sent by this process.
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

type haltSet struct {
	mu sync.Mutex
	m  map[int64]bool
	// merchant is set once a configuration error halted everything.
	merchant bool
}

func (h *haltSet) has(batch int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.merchant || h.m[batch]
}

// handle sends one row and queues its result.
func (j *Issue) handle(claimCtx, sendCtx context.Context, log *slog.Logger, policy Policy, rnd *rand.Rand, row queue.Claimed,
	results chan<- queue.Result, halted *haltSet, c *counters, merchantErr *atomic.Pointer[string], stopClaiming func()) {
	if halted.has(row.BatchID) {
		results <- release(row)
		return
	}
	if err := j.Limiter.Wait(claimCtx); err != nil {
		results <- release(row) // stopping: give the row back unsent
		return
	}
	res, err := j.send(sendCtx, row)
	o := wxpay.Classify(res, err)
	if o != wxpay.OutcomeUnknown {
		j.Limiter.Observe(o == wxpay.OutcomeThrottled)
	}
	c.sent.Add(1)
	c.outcome(o)
	if j.OnAnswer != nil {
		j.OnAnswer(o)
	}
	if o == wxpay.OutcomeThrottled {
		c.throttled.Add(1)
	}
	if o.Success() {
		c.issued.Add(1)
	}
	r, h := decide(policy, row, res, err, o, time.Now(), rnd)
	if r.Status != queue.StatusPending {
		c.terminal.Add(1)
	}
	switch {
	case o == wxpay.OutcomeUnclassified:
		log.Warn("unclassified answer", "batch", row.BatchID, "openid", row.OpenID, "out_request_no", row.OutRequestNo,
			"status", res.Status, "request_id", res.RequestID, "err", err)
	case r.Status == queue.StatusReview:
		log.Error("recipient needs review: it may or may not have been issued", "batch", row.BatchID, "openid", row.OpenID,
			"out_request_no", row.OutRequestNo, "attempts", row.Attempts, "last", r.WxMessage)
		j.alert(Alert{Kind: alert.KindReview, BatchID: row.BatchID, MchID: row.MchID,
			Message: fmt.Sprintf("openid %s out_request_no %s after %d attempts: %s", row.OpenID, row.OutRequestNo, row.Attempts, r.WxMessage)})
	}
	results <- r
	if h.batch || h.merchant {
		j.halt(log, row, h, halted, c, merchantErr, stopClaiming)
	}
}

func (j *Issue) halt(log *slog.Logger, row queue.Claimed, h halt, halted *haltSet, c *counters, merchantErr *atomic.Pointer[string], stopClaiming func()) {
	halted.mu.Lock()
	already := halted.merchant || (h.batch && halted.m[row.BatchID])
	if h.merchant {
		halted.merchant = true
	} else {
		halted.m[row.BatchID] = true
	}
	halted.mu.Unlock()
	if already {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if h.merchant {
		reason := h.reason
		merchantErr.CompareAndSwap(nil, &reason)
		stopClaiming()
		ids, err := j.Store.HaltMerchant(ctx, row.MchID, h.reason)
		if err != nil {
			log.Error("halt merchant", "mchid", row.MchID, "err", err)
		}
		log.Error("configuration error: halted every batch of the merchant", "mchid", row.MchID, "batches", ids, "reason", h.reason)
		c.mu.Lock()
		c.halted = append(c.halted, fmt.Sprintf("merchant %s (batches %v): %s", row.MchID, ids, h.reason))
		c.mu.Unlock()
		j.alert(Alert{Kind: alert.KindMerchantHalted, MchID: row.MchID, Message: h.reason})
		return
	}
	ok, err := j.Store.Halt(ctx, row.BatchID, h.reason)
	if err != nil {
		log.Error("halt batch", "batch", row.BatchID, "err", err)
	}
	if ok {
		log.Error("batch halted", "batch", row.BatchID, "stock", row.StockID, "reason", h.reason)
		c.mu.Lock()
		c.halted = append(c.halted, fmt.Sprintf("batch %d: %s", row.BatchID, h.reason))
		c.mu.Unlock()
		j.alert(Alert{Kind: alert.KindBatchHalted, BatchID: row.BatchID, MchID: row.MchID, Message: h.reason})
	}
}

func (j *Issue) alert(a Alert) {
	if j.OnAlert != nil {
		j.OnAlert(a)
	}
}

func (j *Issue) send(ctx context.Context, row queue.Claimed) (wxpay.SendResult, error) {
	if row.Kind == string(wxpay.KindProduct) {
		req := wxpay.ProductSendRequest{OpenID: row.OpenID, AppID: row.AppID, StockID: row.StockID, OutRequestNo: row.OutRequestNo}
		if row.CouponCode != nil {
			req.CouponCode = *row.CouponCode
		}
		if row.CouponType != nil {
			req.CouponType = *row.CouponType
		}
		if row.MemberCardID != nil {
			req.MemberCardID = *row.MemberCardID
		}
		return j.Sender.SendProduct(ctx, req)
	}
	req := wxpay.FavorSendRequest{OpenID: row.OpenID, StockID: row.StockID, OutRequestNo: row.OutRequestNo,
		AppID: row.AppID, StockCreatorMchID: row.StockCreatorMchID}
	if row.CouponValue != nil {
		req.CouponValue = uint64(*row.CouponValue)
	}
	if row.CouponMinimum != nil {
		req.CouponMinimum = uint64(*row.CouponMinimum)
	}
	return j.Sender.SendFavor(ctx, req)
}

// record batches results for a while and writes them in one statement,
// retrying while the database is away, and signals flushed after each
// write. It returns the batches touched.
//
// The linger bounds how long an outcome waits in memory. Longer means
// fewer, larger writes (at 50 sends/s, 5 ms made every outcome a statement
// of its own); it costs nothing in safety, because an outcome lost with the
// process leaves its row leased and it is resent with the same
// out_request_no, which WeChat Pay answers idempotently.
func (j *Issue) record(ctx context.Context, log *slog.Logger, results <-chan queue.Result, c *counters, flushed chan<- struct{}) []int64 {
	const maxBatch = 512
	const linger = 100 * time.Millisecond
	touched := map[int64]bool{}
	buf := make([]queue.Result, 0, maxBatch)
	shutdown := j.ShutdownTimeout
	if shutdown <= 0 {
		shutdown = DefaultShutdownTimeout
	}
	flush := func() {
		started := time.Now()
		for attempt := 0; len(buf) > 0; attempt++ {
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
			batches, stale, err := j.Store.Record(fctx, j.Owner, buf)
			cancel()
			if err == nil {
				for _, b := range batches {
					touched[b] = true
				}
				c.recording.Add(-int64(len(buf)))
				if stale > 0 {
					c.stale.Add(int64(stale))
					log.Warn("results for rows whose lease was taken over were not recorded; their new owner resends the same out_request_no", "rows", stale)
				}
				buf = buf[:0]
				select {
				case flushed <- struct{}{}:
				default: // a signal is already pending
				}
				return
			}
			// Bounded, so that a database outage cannot wedge the pass:
			// unrecorded rows keep their lease and are rescued later.
			if time.Since(started) > shutdown {
				c.unrecorded.Add(int64(len(buf)))
				c.recording.Add(-int64(len(buf)))
				log.Error("giving up recording outcomes; the rows stay leased and will be re-sent with the same out_request_no after the lease expires",
					"rows", len(buf), "err", err)
				buf = buf[:0]
				return
			}
			log.Warn("record outcomes failed; retrying", "rows", len(buf), "err", err, "attempt", attempt+1)
			time.Sleep(min(5*time.Second, time.Duration(attempt+1)*200*time.Millisecond))
		}
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case r, ok := <-results:
			if !ok {
				flush()
				out := make([]int64, 0, len(touched))
				for b := range touched {
					out = append(out, b)
				}
				return out
			}
			if len(buf) == 0 {
				timer.Reset(linger)
			}
			buf = append(buf, r)
			if len(buf) >= maxBatch {
				flush()
			}
		case <-timer.C:
			flush()
		}
	}
}
