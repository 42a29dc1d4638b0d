package ratelimit

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFixed(t *testing.T) {
	t.Parallel()

	t.Run("paces at its rate whatever the answers", func(t *testing.T) {
		t.Parallel()
		clock := newVirtualClock(testStart)
		f := NewFixed(10, clock)
		g := queueCallers(clock, f, 5)
		clock.run(testStart.Add(time.Second))
		require.Equal(t, []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, 400 * time.Millisecond}, g.at)
		f.Observe(true)
		s := f.Stats()
		require.Equal(t, uint64(5), s.Sent)
		require.Equal(t, uint64(1), s.Throttled)
		require.InDelta(t, 10, s.Rate, 1e-9)
	})

	t.Run("cancel while waiting", func(t *testing.T) {
		t.Parallel()
		clock := newVirtualClock(testStart)
		f := NewFixed(10, clock)
		require.NoError(t, f.Wait(context.Background()))
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		goParked(clock, func() { errc <- f.Wait(ctx) })
		cancel()
		require.ErrorIs(t, <-errc, context.Canceled)
		require.Equal(t, uint64(1), f.Stats().Sent)
	})
}

func TestAWSAdaptive(t *testing.T) {
	t.Parallel()

	t.Run("no limit before the first throttle", func(t *testing.T) {
		t.Parallel()
		a := NewAWSAdaptive(AWSConfig{Clock: newVirtualClock(testStart)})
		for range 1000 {
			require.NoError(t, a.Wait(context.Background()))
		}
	})

	t.Run("throttle cuts to 0.7 of the measured rate, then CUBIC", func(t *testing.T) {
		t.Parallel()
		clock := newVirtualClock(testStart)
		a := NewAWSAdaptive(AWSConfig{Clock: clock})
		for range 10 {
			a.Observe(false)
			clock.Advance(50 * time.Millisecond)
		}
		a.Observe(false) // at 0.5 s: closes the first bucket, 11 answers
		measured := 0.8 * 11 / 0.5
		clock.Advance(100 * time.Millisecond)
		a.Observe(true)
		s := a.Stats()
		require.InDelta(t, 0.7*measured, s.Rate, 1e-9)
		require.InDelta(t, measured, s.Estimate, 1e-9)

		// K seconds later the curve is back at the last maximum, within
		// twice the measured rate.
		k := math.Cbrt(measured * 0.3 / 0.4)
		clock.Advance(time.Duration(k * float64(time.Second)))
		a.Observe(false)
		require.LessOrEqual(t, a.Stats().Rate, measured+1e-6)
	})

	t.Run("waiters on an empty bucket all wake", func(t *testing.T) {
		t.Parallel()
		clock := newVirtualClock(testStart)
		a := NewAWSAdaptive(AWSConfig{Clock: clock})
		a.Observe(true) // enables the bucket at its minimum rate
		g := queueCallers(clock, a, 8)
		before := clock.Fired()
		clock.run(testStart.Add(time.Minute))
		require.NotEmpty(t, g.order)
		// Each sleeper retries on its own timer: a stampede, unlike Limiter.
		require.Greater(t, clock.Fired()-before, 2*len(g.order))
	})
}

func TestSetCeilingEveryStrategy(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		new  func(Clock) Ceilinged
	}{
		{"adaptive", func(c Clock) Ceilinged { return New(Config{Initial: 100, Max: 500, Clock: c}) }},
		{"fixed", func(c Clock) Ceilinged { return NewFixed(500, c) }},
		{"aws", func(c Clock) Ceilinged { return NewAWSAdaptive(AWSConfig{Max: 500, Clock: c}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := Simulate(func(c Clock) Strategy {
				s := tt.new(c)
				s.SetCeiling(150)
				return s
			}, SimConfig{Limit: constant(1000), Duration: 10 * time.Second})
			require.LessOrEqual(t, r.PeakRate, 150.0+2)
			require.InDelta(t, 150, r.Final.Ceiling, 1e-9)
		})
	}

	t.Run("fixed: a ceiling above the rate restores it", func(t *testing.T) {
		t.Parallel()
		f := NewFixed(100, newVirtualClock(testStart))
		f.SetCeiling(50)
		require.InDelta(t, 50, f.Stats().Rate, 1e-9)
		f.SetCeiling(1000)
		require.InDelta(t, 100, f.Stats().Rate, 1e-9)
	})
}
