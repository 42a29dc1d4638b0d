package jobs

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/issuer-dev/issuer/queue"
	"github.com/issuer-dev/issuer/wxpay"
)

// Policy holds the retry rules for one answer.
type Policy struct {
	MaxAttempts int // unknown answers before review
	// MaxUnclassified is how many unclassified answers a row gets before
	// review: an answer nobody understands is retried only a few times.
	MaxUnclassified int
	BackoffBase     time.Duration
	BackoffCap      time.Duration
	Location        *time.Location // for "retry after midnight"
}

func (p Policy) withDefaults() Policy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.MaxUnclassified <= 0 {
		p.MaxUnclassified = 3
	}
	if p.BackoffBase <= 0 {
		p.BackoffBase = time.Second
	}
	if p.BackoffCap <= 0 {
		p.BackoffCap = 5 * time.Minute
	}
	if p.Location == nil {
		p.Location = time.UTC
	}
	return p
}

// halt is what an answer means beyond its row.
type halt struct {
	batch    bool // halt this batch (budget, stock)
	merchant bool // halt every batch of the merchant and stop the job
	reason   string
}

// decide turns one classified answer into the row's next state. It is
// pure: the clock and the random source come in.
func decide(p Policy, row queue.Claimed, res wxpay.SendResult, err error, o wxpay.Outcome, now time.Time, rnd *rand.Rand) (queue.Result, halt) {
	r := queue.Result{ID: row.ID, Answered: true, Outcome: string(o), Uncount: !o.CountsAttempt()}
	var apiErr *wxpay.APIError
	switch {
	case errors.As(err, &apiErr):
		r.WxCode, r.WxMessage = apiErr.Code, apiErr.Message
	case err != nil:
		r.WxMessage = err.Error()
	}
	var h halt
	switch {
	case o.Success():
		r.Status = queue.StatusIssued
		if row.Kind == string(wxpay.KindProduct) {
			r.CouponCode = res.CouponID
		} else {
			r.CouponID = res.CouponID
		}
	case o.HaltsMerchant():
		r.Status = queue.StatusPending
		h = halt{merchant: true, reason: haltReason(o, r)}
	case o.HaltsBatch():
		r.Status = queue.StatusPending
		h = halt{batch: true, reason: haltReason(o, r)}
	case o.Throttles():
		// Requeue soon; the limiter, not the row, does the slowing down.
		r.Status = queue.StatusPending
		r.NextAttemptAt = now.Add(time.Duration(rnd.Int64N(int64(250 * time.Millisecond))))
	case o.RetryAfterMidnight():
		r.Status = queue.StatusPending
		r.NextAttemptAt = nextMidnight(now, p.Location).Add(time.Duration(rnd.Int64N(int64(10 * time.Minute))))
	case o.InDoubt():
		// An answer nobody understands is retried only a few times.
		limit := p.MaxAttempts
		if o == wxpay.OutcomeUnclassified {
			limit = min(p.MaxUnclassified, p.MaxAttempts)
		}
		if row.Attempts >= limit {
			r.Status = queue.StatusReview
		} else {
			r.Status = queue.StatusPending
			r.NextAttemptAt = now.Add(backoff(p, row.Attempts, rnd))
		}
	default: // user_limited, user_abnormal, invalid_user, invalid_request
		r.Status = queue.StatusFailed
	}
	return r, h
}

func haltReason(o wxpay.Outcome, r queue.Result) string {
	if r.WxCode != "" {
		return fmt.Sprintf("%s: %s %s", o, r.WxCode, r.WxMessage)
	}
	return string(o)
}

// backoff is full jitter: uniform in [0, min(cap, base·2^(attempt-1))).
func backoff(p Policy, attempt int, rnd *rand.Rand) time.Duration {
	d := p.BackoffCap
	if attempt-1 < 30 {
		if e := p.BackoffBase << max(0, attempt-1); e > 0 && e < d {
			d = e
		}
	}
	return time.Duration(rnd.Int64N(int64(d)) + 1)
}

func nextMidnight(now time.Time, loc *time.Location) time.Time {
	t := now.In(loc)
	return time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc)
}

// release is the result for a claimed row that was never sent.
func release(row queue.Claimed) queue.Result {
	return queue.Result{ID: row.ID, Status: queue.StatusPending, Uncount: true}
}

// Defaults of the issue job, also the configuration's (issue.max_attempts,
// issue.shutdown_timeout): named once, here.
const (
	// DefaultMaxAttempts is how many sends with no clear answer a row gets
	// before it goes to review.
	DefaultMaxAttempts = 10
	// DefaultShutdownTimeout bounds how long in-flight sends may finish
	// and record after a stop.
	DefaultShutdownTimeout = 30 * time.Second
)
