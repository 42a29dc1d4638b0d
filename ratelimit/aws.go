package ratelimit

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// AWSConfig configures AWSAdaptive.
type AWSConfig struct {
	// Max is the product's hard ceiling (requests/s), applied to this
	// baseline as to every strategy; 0 means none, as in the SDKs.
	Max float64
	// Clock is the time source; nil means real time.
	Clock Clock
}

// Constants of the AWS SDKs' adaptive retry mode.
const (
	awsBeta        = 0.7 // multiplicative cut on every throttle
	awsScale       = 0.4 // CUBIC scale, requests/s per s³
	awsSmooth      = 0.8 // weight of the newest bucket in the measured rate
	awsBucket      = 0.5 // seconds per measured-rate bucket
	awsMinFill     = 0.5
	awsMinCapacity = 1.0
)

// AWSAdaptive re-implements, from its public description, the client-side
// rate limiter of the AWS SDKs' "adaptive" retry mode: a token bucket that is
// off until the first throttle; each throttle sets the rate to 0.7 × min(
// measured send rate, current rate) and restarts a CUBIC curve
// 0.4·(t−K)³ + lastMax, K = ∛(lastMax·0.3/0.4); each success moves the rate
// along the curve, capped at twice the measured rate, which is smoothed over
// 0.5 s buckets. Waiters that find the bucket empty sleep for the missing
// tokens and try again. It is a baseline for comparison.
type AWSAdaptive struct {
	clock Clock
	max   float64
	start time.Time
	gate  *rate.Limiter // Max before the bucket is enabled; nil without Max

	mu           sync.Mutex
	enabled      bool
	fillRate     float64
	maxCapacity  float64
	capacity     float64
	lastRefill   float64 // seconds since start; <0 before the first refill
	measured     float64
	lastTxBucket float64
	requestCount int
	lastMaxRate  float64
	lastThrottle float64
	timeWindow   float64
	sends        window
	stats        Stats
	ceiling      float64 // SetCeiling; 0 = none beyond max
}

// NewAWSAdaptive returns the AWS adaptive baseline.
func NewAWSAdaptive(cfg AWSConfig) *AWSAdaptive {
	clock := clockOrReal(cfg.Clock)
	now := clock.Now()
	a := &AWSAdaptive{
		clock:       clock,
		max:         positiveOr(cfg.Max, 0),
		start:       now,
		fillRate:    awsMinFill,
		maxCapacity: awsMinCapacity,
		lastRefill:  -1,
		sends:       newWindow(now, sendSpan, 10),
	}
	if a.max > 0 {
		a.gate = rate.NewLimiter(rate.Limit(a.max), 1)
	}
	return a
}

func (a *AWSAdaptive) secs(t time.Time) float64 { return t.Sub(a.start).Seconds() }

// Wait takes a token from the bucket, sleeping for the missing part and
// trying again while it is empty.
func (a *AWSAdaptive) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	queued := false
	defer func() {
		if queued {
			a.mu.Lock()
			a.stats.Waiting--
			a.mu.Unlock()
		}
	}()
	for {
		a.mu.Lock()
		now := a.clock.Now()
		var d time.Duration
		var res *rate.Reservation
		if !a.enabled {
			if a.gate != nil {
				res = a.gate.ReserveN(now, 1)
				d = res.DelayFrom(now)
			}
		} else {
			a.refillLocked(a.secs(now))
			if a.capacity < 1 {
				d = time.Duration(math.Ceil((1 - a.capacity) / a.fillRate * float64(time.Second)))
			} else {
				a.capacity--
			}
		}
		if d == 0 {
			a.stats.Sent++
			a.sends.add(now, 1)
			a.mu.Unlock()
			return nil
		}
		if !queued {
			queued = true
			a.stats.Waits++
			a.stats.Waiting++
		}
		a.mu.Unlock()
		if err := sleep(ctx, a.clock, d); err != nil {
			if res != nil {
				res.CancelAt(a.clock.Now())
			}
			return err
		}
		if res != nil {
			// The gate reservation is now due: send on it.
			a.mu.Lock()
			now := a.clock.Now()
			a.stats.Sent++
			a.sends.add(now, 1)
			a.mu.Unlock()
			return nil
		}
	}
}

func (a *AWSAdaptive) refillLocked(now float64) {
	if a.lastRefill < 0 {
		a.lastRefill = now
		return
	}
	a.capacity = min(a.maxCapacity, a.capacity+(now-a.lastRefill)*a.fillRate)
	a.lastRefill = now
}

// Observe feeds one answer to the CUBIC controller.
func (a *AWSAdaptive) Observe(throttled bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t := a.clock.Now()
	now := a.secs(t)
	a.stats.Answered++
	a.updateMeasuredLocked(now)
	var calculated float64
	if throttled {
		a.stats.Throttled++
		a.stats.Cuts++
		a.stats.LastCut = t
		rateToUse := a.measured
		if a.enabled {
			rateToUse = min(a.measured, a.fillRate)
		}
		a.lastMaxRate = rateToUse
		a.timeWindow = math.Cbrt(a.lastMaxRate * (1 - awsBeta) / awsScale)
		a.lastThrottle = now
		calculated = rateToUse * awsBeta
		a.enabled = true
	} else {
		a.timeWindow = math.Cbrt(a.lastMaxRate * (1 - awsBeta) / awsScale)
		dt := now - a.lastThrottle - a.timeWindow
		calculated = awsScale*dt*dt*dt + a.lastMaxRate
	}
	newRate := min(calculated, 2*a.measured)
	if c := a.capLocked(); c > 0 {
		newRate = min(newRate, c)
	}
	a.refillLocked(now)
	a.fillRate = max(newRate, awsMinFill)
	a.maxCapacity = max(newRate, awsMinCapacity)
	a.capacity = min(a.capacity, a.maxCapacity)
}

// capLocked is the cap on the rate: Max and the ceiling; 0 for none.
func (a *AWSAdaptive) capLocked() float64 {
	switch {
	case a.ceiling > 0 && a.max > 0:
		return min(a.ceiling, a.max)
	case a.ceiling > 0:
		return a.ceiling
	}
	return a.max
}

// SetCeiling caps the rate at ceiling, for a per-merchant budget shared
// among instances (the SDKs have no such thing; every strategy here honours
// it).
func (a *AWSAdaptive) SetCeiling(ceiling float64) {
	if math.IsNaN(ceiling) || ceiling <= 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ceiling = ceiling
	c := a.capLocked()
	if a.gate == nil {
		a.gate = rate.NewLimiter(rate.Limit(c), 1)
	} else {
		a.gate.SetLimitAt(a.clock.Now(), rate.Limit(c))
	}
	if a.enabled {
		a.fillRate = max(min(a.fillRate, c), awsMinFill)
		a.maxCapacity = max(min(a.maxCapacity, c), awsMinCapacity)
		a.capacity = min(a.capacity, a.maxCapacity)
	}
}

func (a *AWSAdaptive) updateMeasuredLocked(now float64) {
	bucket := math.Floor(now/awsBucket) * awsBucket
	a.requestCount++
	if bucket > a.lastTxBucket {
		current := float64(a.requestCount) / (bucket - a.lastTxBucket)
		a.measured = current*awsSmooth + a.measured*(1-awsSmooth)
		a.requestCount = 0
		a.lastTxBucket = bucket
	}
}

// Stats returns a snapshot. Rate is 0 while the bucket is off and no Max is
// set: no limit at all.
func (a *AWSAdaptive) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.stats
	s.Ceiling = a.capLocked()
	s.Rate = s.Ceiling
	if a.enabled {
		s.Rate = a.fillRate
	}
	s.Estimate = a.lastMaxRate
	s.SendRate = a.sends.rate(a.clock.Now())
	return s
}
