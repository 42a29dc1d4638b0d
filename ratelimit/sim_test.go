package ratelimit

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func constant(limit float64) func(time.Duration) float64 {
	return func(time.Duration) float64 { return limit }
}

func newAdaptive(cfg Config) func(Clock) Strategy {
	return func(c Clock) Strategy {
		// Parallel subtests share this closure: configure a copy, never the
		// captured cfg.
		own := cfg
		own.Clock = c
		return New(own)
	}
}

// TestSimulate checks the limiter against the model of WeChat Pay's hidden
// limit. The targets are those of the P1 figures: at least 95% of the limit
// with at most 2% of calls throttled.
func TestSimulate(t *testing.T) {
	t.Parallel()

	adaptive := newAdaptive(Config{Initial: 100, Max: 500})
	tests := []struct {
		name     string
		strategy func(Clock) Strategy
		cfg      SimConfig
		check    func(t *testing.T, r SimResult)
	}{
		{
			name:     "converges near a 200/s limit",
			strategy: adaptive,
			cfg:      SimConfig{Limit: constant(200), Duration: 40 * time.Second, Jitter: 0.5},
			check: func(t *testing.T, r SimResult) {
				require.GreaterOrEqual(t, r.Goodput, 0.95)
				require.LessOrEqual(t, r.ThrottledShare, 0.02)
				require.InDelta(t, 200, r.Final.Estimate, 20)
			},
		},
		{
			name:     "converges near a 400/s limit with a deep server bucket",
			strategy: adaptive,
			cfg:      SimConfig{Limit: constant(400), ServerBurst: time.Second, Duration: 40 * time.Second, Jitter: 0.5},
			check: func(t *testing.T, r SimResult) {
				require.GreaterOrEqual(t, r.Goodput, 0.95)
				require.LessOrEqual(t, r.ThrottledShare, 0.02)
			},
		},
		{
			name:     "long round trips",
			strategy: adaptive,
			cfg:      SimConfig{Limit: constant(300), Workers: 256, Latency: 300 * time.Millisecond, Duration: 40 * time.Second, Jitter: 0.5},
			check: func(t *testing.T, r SimResult) {
				require.GreaterOrEqual(t, r.Goodput, 0.95)
				require.LessOrEqual(t, r.ThrottledShare, 0.02)
			},
		},
		{
			name:     "halved limit: throttling back under 2% within 3s",
			strategy: adaptive,
			cfg:      SimConfig{Limit: halving(400, 20*time.Second), Duration: 40 * time.Second, Jitter: 0.5},
			check: func(t *testing.T, r SimResult) {
				require.LessOrEqual(t, r.Recovery(20*time.Second, 0.02), 3*time.Second)
				require.GreaterOrEqual(t, r.Goodput, 0.95)
				require.LessOrEqual(t, r.ThrottledShare, 0.02)
				require.InDelta(t, 200, r.Final.Estimate, 20)
			},
		},
		{
			name:     "limit above max: never above max",
			strategy: adaptive,
			cfg:      SimConfig{Limit: constant(1000), Duration: 20 * time.Second},
			check: func(t *testing.T, r SimResult) {
				require.LessOrEqual(t, r.PeakRate, 500.0+2) // Max plus the 5ms burst
				require.Zero(t, r.Throttled)
				require.GreaterOrEqual(t, float64(r.Accepted)/20, 0.9*500) // slow start included
			},
		},
		{
			name: "ceiling below the limit: never above the ceiling",
			strategy: func(c Clock) Strategy {
				l := New(Config{Initial: 100, Max: 500, Clock: c})
				l.SetCeiling(150)
				return l
			},
			cfg: SimConfig{Limit: constant(200), Duration: 20 * time.Second},
			check: func(t *testing.T, r SimResult) {
				require.LessOrEqual(t, r.PeakRate, 150.0+1)
				require.Zero(t, r.Throttled)
				require.GreaterOrEqual(t, float64(r.Accepted)/20, 0.95*150)
			},
		},
		{
			name:     "demand below the limit: no throttling",
			strategy: adaptive,
			cfg:      SimConfig{Limit: constant(200), Workers: 4, Duration: 20 * time.Second}, // 80/s of demand
			check: func(t *testing.T, r SimResult) {
				require.Zero(t, r.Throttled)
				require.InDelta(t, 80*20, r.Accepted, 80)
			},
		},
		{
			name:     "fixed rate ignores throttling",
			strategy: func(c Clock) Strategy { return NewFixed(500, c) },
			cfg:      SimConfig{Limit: constant(200), Duration: 10 * time.Second},
			check: func(t *testing.T, r SimResult) {
				require.LessOrEqual(t, r.PeakRate, 501.0)
				require.InDelta(t, 0.6, r.ThrottledShare, 0.01)
				require.Zero(t, r.Final.Cuts)
			},
		},
		{
			name:     "aws adaptive cuts on every throttle",
			strategy: func(c Clock) Strategy { return NewAWSAdaptive(AWSConfig{Max: 500, Clock: c}) },
			cfg:      SimConfig{Limit: constant(200), Duration: 20 * time.Second},
			check: func(t *testing.T, r SimResult) {
				require.Positive(t, r.Final.Throttled)
				require.Equal(t, r.Final.Throttled, r.Final.Cuts)
				require.Less(t, r.Goodput, 0.95)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := Simulate(tt.strategy, tt.cfg)
			require.Equal(t, r.Accepted+r.Throttled, r.Sent)
			tt.check(t, r)
		})
	}
}

func TestSimulateDeterministic(t *testing.T) {
	t.Parallel()

	cfg := SimConfig{Limit: halving(300, 5*time.Second), Workers: 32, Duration: 10 * time.Second, Jitter: 0.5, Seed: 7}
	strategy := newAdaptive(Config{Initial: 100})
	require.Equal(t, Simulate(strategy, cfg), Simulate(strategy, cfg))
}

func TestSimResultRecovery(t *testing.T) {
	t.Parallel()

	// slots of 100ms at 10 sends each, throttling as given per slot
	result := func(throttled ...int) SimResult {
		r := SimResult{Duration: time.Duration(len(throttled)) * simSlotWidth}
		for _, n := range throttled {
			r.slots = append(r.slots, simSlot{sent: 10, throttled: n})
		}
		return r
	}
	tests := []struct {
		name   string
		result SimResult
		change time.Duration
		want   time.Duration
	}{
		{"never above", result(0, 0, 0, 0, 0), 0, 0},
		{"above then back", result(0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), 0, 1200 * time.Millisecond},
		{"measured from the change", result(0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), 100 * time.Millisecond, 1100 * time.Millisecond},
		{"never back", result(0, 5, 5, 5), 0, 400 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, tt.result.Recovery(tt.change, 0.02))
		})
	}
}
