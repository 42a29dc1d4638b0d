package ratelimit

import (
	"context"
	"math"
	"sync"

	"golang.org/x/time/rate"
)

// Fixed is plain x/time/rate at a fixed rate, ignoring throttles: the
// baseline that trusts the documented limit.
type Fixed struct {
	clock  Clock
	bucket *rate.Limiter

	mu      sync.Mutex
	rate    float64 // the configured rate
	ceiling float64 // the last SetCeiling, or rate
	sends   window
	stats   Stats
}

// NewFixed returns a Fixed limiter at r requests/s with a burst of one.
// clock nil means real time.
func NewFixed(r float64, clock Clock) *Fixed {
	clock = clockOrReal(clock)
	r = positiveOr(r, defaultMax)
	return &Fixed{
		clock:   clock,
		rate:    r,
		ceiling: r,
		bucket:  rate.NewLimiter(rate.Limit(r), 1),
		sends:   newWindow(clock.Now(), sendSpan, 10),
	}
}

// Wait reserves a token and sleeps until it is due, as rate.Limiter.Wait
// does, but on the injected clock.
func (f *Fixed) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	now := f.clock.Now()
	res := f.bucket.ReserveN(now, 1)
	d := res.DelayFrom(now)
	if d > 0 {
		f.stats.Waits++
		f.stats.Waiting++
	}
	f.mu.Unlock()
	if d > 0 {
		err := sleep(ctx, f.clock, d)
		f.mu.Lock()
		f.stats.Waiting--
		f.mu.Unlock()
		if err != nil {
			res.CancelAt(f.clock.Now())
			return err
		}
	}
	f.mu.Lock()
	f.stats.Sent++
	f.sends.add(f.clock.Now(), 1)
	f.mu.Unlock()
	return nil
}

// Observe only counts: a fixed limiter does not adapt.
func (f *Fixed) Observe(throttled bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stats.Answered++
	if throttled {
		f.stats.Throttled++
	}
}

// SetCeiling caps the rate at ceiling, for a per-merchant budget shared
// among instances; a ceiling above the configured rate restores it. Callers
// already sleeping on a reservation keep it.
func (f *Fixed) SetCeiling(ceiling float64) {
	if math.IsNaN(ceiling) || ceiling <= 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ceiling = min(ceiling, f.rate)
	f.bucket.SetLimitAt(f.clock.Now(), rate.Limit(f.ceiling))
}

// Stats returns a snapshot.
func (f *Fixed) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.stats
	s.Rate, s.Ceiling = f.ceiling, f.ceiling
	s.SendRate = f.sends.rate(f.clock.Now())
	return s
}
