package ratelimit

import (
	"context"
	"time"
)

// Strategy is what a sender needs from a client-side rate limiter: ask before
// each request, report each definite answer. Limiter, Fixed and AWSAdaptive
// implement it so that they can be compared on the same workload.
type Strategy interface {
	// Wait blocks until the caller may send one request, or ctx is done.
	Wait(ctx context.Context) error
	// Observe reports one answered request; throttled is true for a 429
	// (FREQUENCY_LIMITED and friends).
	Observe(throttled bool)
	Stats() Stats
}

// Stats is a snapshot of a strategy, cheap enough to take on every progress
// tick.
type Stats struct {
	Rate     float64 // requests/s the strategy allows right now
	Ceiling  float64 // cap on Rate (Config.Max or the last SetCeiling)
	Estimate float64 // estimated hidden limit in requests/s; 0 until the first throttle
	SendRate float64 // measured requests/s granted over the last second

	Waiting   int    // callers queued in Wait right now
	Waits     uint64 // Wait calls that had to queue
	Sent      uint64 // Wait calls granted
	Answered  uint64 // Observe calls
	Throttled uint64 // Observe(true) calls
	Cuts      uint64 // congestion events that lowered the rate
	LastCut   time.Time
}

// Ceilinged is a Strategy whose rate can be capped at run time: the daemon
// gives each live instance its share of the merchant's budget. Every
// strategy in this package implements it.
type Ceilinged interface {
	Strategy
	// SetCeiling caps the rate (requests/s); NaN and values ≤ 0 are
	// ignored by the baselines, clamped to Config.Min by Limiter.
	SetCeiling(ceiling float64)
}

var (
	_ Ceilinged = (*Limiter)(nil)
	_ Ceilinged = (*Fixed)(nil)
	_ Ceilinged = (*AWSAdaptive)(nil)
	_ Strategy  = (*Limiter)(nil)
	_ Strategy  = (*Fixed)(nil)
	_ Strategy  = (*AWSAdaptive)(nil)
)
