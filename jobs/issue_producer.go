package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/issuer-dev/issuer/queue"
)

// producer claims rows for the executors: never more than there are free
// executors, so no claimed row waits in memory while its lease runs down.
//
// It claims once a quarter of the executors are free (or none is busy),
// not each time one frees up: one claim per row is most of the process's
// CPU beyond signing when the limiter holds the pace, and with three
// quarters of the executors still holding rows the limiter never waits
// for the claim.
type producer struct {
	*pass
	free, refill int
	failures     int // consecutive failed claims
	// bookFailures backs off the bookkeeping queries apart from claims,
	// so that a persistent failure there neither spins nor goes unseen
	// while claims succeed.
	bookFailures int
	lastRescue   time.Time
	lastStocks   time.Time
}

func newProducer(p *pass) *producer {
	return &producer{pass: p, free: p.j.Concurrency, refill: max(1, p.j.Concurrency/4), lastRescue: time.Now()}
}

// run produces until nothing is claimable now or soon, or claiming ends.
func (pr *producer) run() error {
	ctx := pr.claimCtx
	for {
		pr.free += pr.slots.collect()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if pr.free == 0 || (pr.free < pr.refill && pr.c.inFlight.Load() > 0) {
			n, ok := pr.slots.await(pr.refill-pr.free, ctx.Done(), nil)
			pr.free += n
			if !ok {
				return ctx.Err()
			}
			continue
		}
		pr.housekeep(ctx)
		rows, err := pr.claim()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			pr.failures++
			// The database may be restarting: keep what is in flight, retry
			// claiming for a while, then give up cleanly.
			if pr.failures > 20 {
				return fmt.Errorf("issue: %w", err)
			}
			pr.log.Warn("claim failed; retrying", "err", err, "failures", pr.failures)
			if sleepCtx(ctx, time.Duration(pr.failures)*250*time.Millisecond) != nil {
				return ctx.Err()
			}
			continue
		}
		pr.failures = 0
		if len(rows) > 0 {
			pr.hand(rows)
			continue
		}
		done, err := pr.idle(ctx)
		if done || err != nil {
			return err
		}
	}
}

// housekeep rescues expired leases now and then, and checks the stocks
// before claiming for them.
func (pr *producer) housekeep(ctx context.Context) {
	if time.Since(pr.lastRescue) > pr.j.Lease/2 {
		pr.lastRescue = time.Now()
		n, review, err := pr.j.Store.RescueExpired(ctx, pr.policy.MaxAttempts)
		switch {
		case err != nil && ctx.Err() == nil:
			pr.loopError("rescue expired leases", err)
		case n+review > 0:
			pr.log.Warn("rescued rows whose lease expired", "requeued", n, "review", review)
		}
	}
	if pr.j.Stocks != nil && time.Since(pr.lastStocks) > stockCheckEvery {
		pr.lastStocks = time.Now()
		pr.checkStocks(ctx)
	}
}

// claim leases as many rows as there are free executors. It is not
// cancelled by a stop: a claim that commits just as the stop cancels it
// would leave its rows leased to nobody until expiry.
func (pr *producer) claim() ([]queue.Claimed, error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(pr.claimCtx), 30*time.Second)
	defer cancel()
	return pr.j.Store.Claim(cctx, queue.ClaimOptions{Owner: pr.j.Owner, Limit: pr.free, Lease: pr.j.Lease,
		Batch: pr.opts.Batch, At: pr.claimAt()})
}

// hand gives claimed rows to free executors.
func (pr *producer) hand(rows []queue.Claimed) {
	pr.c.claimed.Add(int64(len(rows)))
	for _, row := range rows {
		pr.c.inFlight.Add(1)
		pr.free--
		pr.work <- row // an executor is free: no more were claimed than free slots
	}
}

// idle is what the producer does when a claim found nothing: wait for
// answers that may requeue rows, or for rows due soon, or end the pass.
func (pr *producer) idle(ctx context.Context) (done bool, err error) {
	if pr.c.inFlight.Load() > 0 || pr.c.recording.Load() > 0 {
		// Answers may requeue rows (throttled, retry): look again when an
		// executor frees up or outcomes are written — every row in flight
		// or being recorded ends in both.
		n, ok := pr.slots.await(1, ctx.Done(), pr.flushed)
		pr.free += n
		if !ok {
			return true, ctx.Err()
		}
		return false, nil
	}
	if _, _, err := pr.j.Store.RescueExpired(ctx, pr.policy.MaxAttempts); err != nil && ctx.Err() == nil {
		pr.loopError("rescue expired leases", err)
	}
	// Nothing in flight: a spend cap with no room left halts its batch now.
	pr.haltSpendCapped(ctx)
	due, ok, err := pr.j.Store.NextDue(ctx, pr.opts.Batch, pr.claimAt())
	if err != nil {
		if ctx.Err() != nil {
			return true, ctx.Err()
		}
		pr.bookFailures++
		pr.loopError("next due", err)
		return false, sleepCtx(ctx, min(time.Duration(pr.bookFailures)*250*time.Millisecond, 10*time.Second))
	}
	pr.bookFailures = 0
	wait := time.Until(due)
	if !ok || wait > pr.horizon {
		return true, nil // nothing claimable now or soon: the pass is done
	}
	return false, sleepCtx(ctx, max(wait, 10*time.Millisecond))
}

func (pr *producer) loopError(what string, err error) {
	pr.c.loopErrors.Add(1)
	pr.log.Warn(what+" failed; retrying", "err", err, "failures", pr.bookFailures)
}
