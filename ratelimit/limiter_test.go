package ratelimit

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
)

var testStart = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

type testBundle struct {
	clock *virtualClock
	lim   *Limiter
}

func newTestBundle(cfg Config) *testBundle {
	clock := newVirtualClock(testStart)
	cfg.Clock = clock
	return &testBundle{clock: clock, lim: New(cfg)}
}

// goParked runs fn on a goroutine that takes part in the clock's settled
// runs, and returns once every such goroutine is parked again or done.
func goParked(clock *virtualClock, fn func()) {
	clock.join()
	go func() {
		defer clock.leave()
		fn()
	}()
	clock.settle()
}

// grants records when and in which order queued callers got through.
type grants struct {
	mu    sync.Mutex
	order []int
	at    []time.Duration
}

func (g *grants) add(i int, at time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.order = append(g.order, i)
	g.at = append(g.at, at)
}

func (g *grants) count(within time.Duration) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, at := range g.at {
		if at <= within {
			n++
		}
	}
	return n
}

// queueCallers parks n callers of Wait, in order, and records their grants.
func queueCallers(clock *virtualClock, s Strategy, n int) *grants {
	g := &grants{}
	for i := range n {
		goParked(clock, func() {
			if s.Wait(context.Background()) == nil {
				g.add(i, clock.Now().Sub(testStart))
			}
		})
	}
	return g
}

// send grants one request at each interval from now on, and returns when the
// last one went out.
func send(t *testing.T, b *testBundle, n int, interval time.Duration) {
	t.Helper()
	for range n {
		require.NoError(t, b.lim.Wait(context.Background()))
		b.clock.Advance(interval)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name        string
		cfg         Config
		wantRate    float64
		wantCeiling float64
	}{
		{"zero config", Config{}, 100, 500},
		{"initial given", Config{Initial: 42, Max: 500}, 42, 500},
		{"initial above max", Config{Initial: 900, Max: 300}, 300, 300},
		{"max only", Config{Max: 50}, 10, 50},
		{"min above initial", Config{Initial: 5, Min: 20}, 20, 500},
		{"nonsense", Config{Initial: math.NaN(), Max: math.Inf(1), Margin: -1}, 100, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestBundle(tt.cfg).lim.Stats()
			require.InDelta(t, tt.wantRate, s.Rate, 1e-9)
			require.InDelta(t, tt.wantCeiling, s.Ceiling, 1e-9)
			require.Zero(t, s.Estimate)
		})
	}
}

func TestLimiterWait(t *testing.T) {
	t.Parallel()

	setup := func(t *testing.T) *testBundle {
		t.Helper()
		return newTestBundle(Config{Initial: 10, Max: 10})
	}

	t.Run("first call passes at once", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		require.NoError(t, b.lim.Wait(context.Background()))
		s := b.lim.Stats()
		require.Equal(t, uint64(1), s.Sent)
		require.Zero(t, s.Waits)
	})

	t.Run("queued callers go in arrival order at the rate", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		g := queueCallers(b.clock, b.lim, 5)
		b.clock.run(testStart.Add(time.Second))
		require.Equal(t, []int{0, 1, 2, 3, 4}, g.order)
		for i, at := range g.at {
			require.InDelta(t, float64(i)*0.1, at.Seconds(), 1e-6, "grant %d", i)
		}
		s := b.lim.Stats()
		require.Equal(t, uint64(4), s.Waits)
		require.Equal(t, uint64(5), s.Sent)
		require.Zero(t, s.Waiting)
	})

	t.Run("cancelled context", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		require.ErrorIs(t, b.lim.Wait(ctx), context.Canceled)
		require.Zero(t, b.lim.Stats().Sent)
	})

	t.Run("cancel while queued hands the turn on", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		require.NoError(t, b.lim.Wait(context.Background()))

		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		goParked(b.clock, func() { errc <- b.lim.Wait(ctx) }) // first in line
		g := queueCallers(b.clock, b.lim, 1)
		require.Equal(t, 2, b.lim.Stats().Waiting)

		cancel()
		require.ErrorIs(t, <-errc, context.Canceled)
		b.clock.settle()
		require.Equal(t, 1, b.lim.Stats().Waiting)

		b.clock.run(testStart.Add(time.Second))
		require.Equal(t, []time.Duration{100 * time.Millisecond}, g.at)
		require.Zero(t, b.lim.Stats().Waiting)
	})
}

func TestLimiterNoStampede(t *testing.T) {
	t.Parallel()

	b := newTestBundle(Config{Initial: 100, Max: 100})
	g := queueCallers(b.clock, b.lim, 64)
	before := b.clock.Fired()
	b.clock.run(testStart.Add(time.Second))

	require.Len(t, g.order, 64)
	// One wake-up per grant at most: only the first in line sleeps on the
	// bucket and it hands over to exactly one successor.
	require.LessOrEqual(t, b.clock.Fired()-before, 64)
}

func TestLimiterCutAppliesToWaiters(t *testing.T) {
	t.Parallel()

	t.Run("limiter", func(t *testing.T) {
		t.Parallel()
		b := newTestBundle(Config{Initial: 100, Max: 100})
		g := queueCallers(b.clock, b.lim, 64)
		b.lim.SetCeiling(10)
		b.clock.run(testStart.Add(time.Second))
		// The first caller passed before the cut; the rest go at 10/s.
		require.LessOrEqual(t, g.count(time.Second), 1+10)
	})

	t.Run("x/time/rate reservations keep the old rate", func(t *testing.T) {
		t.Parallel()
		// Why the limiter queues instead of reserving: sleepers of
		// rate.Limiter.Wait hold reservations that SetLimit does not re-time.
		lim := rate.NewLimiter(100, 1)
		var due []time.Duration
		for range 64 {
			due = append(due, lim.ReserveN(testStart, 1).DelayFrom(testStart))
		}
		lim.SetLimitAt(testStart, 10)
		require.Less(t, due[63], time.Second)
	})
}

func TestLimiterObserve(t *testing.T) {
	t.Parallel()

	setup := func(t *testing.T) *testBundle {
		t.Helper()
		return newTestBundle(Config{Initial: 100, Max: 100})
	}

	t.Run("answers that are not throttled never cut", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		send(t, b, 50, 10*time.Millisecond)
		for range 50 {
			b.lim.Observe(false)
		}
		s := b.lim.Stats()
		require.Zero(t, s.Cuts)
		require.Equal(t, uint64(50), s.Answered)
		require.InDelta(t, 100, s.Rate, 1e-9)
	})

	t.Run("throttles of one episode cut once", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		send(t, b, 20, 10*time.Millisecond)
		for range 20 {
			b.lim.Observe(true)
		}
		s := b.lim.Stats()
		require.Equal(t, uint64(1), s.Cuts)
		require.Equal(t, uint64(20), s.Throttled)
		require.Equal(t, b.clock.Now(), s.LastCut)

		// A request sent after the cut and throttled is news.
		b.clock.Advance(time.Second)
		send(t, b, 1, 0)
		b.lim.Observe(true)
		require.Equal(t, uint64(2), b.lim.Stats().Cuts)
	})

	tests := []struct {
		name      string
		sends     int
		throttled func(i int) bool // of the answers, in send order
		wantRate  float64
	}{
		{
			name:      "cut lands just under the accepted rate",
			sends:     50,
			throttled: func(i int) bool { return i == 49 },
			// The last 50 sends span 0.49 s and 48 of the 49 after the
			// first got through: 97.96/s, less the 3% margin.
			wantRate: 0.97 * 48 / 0.49,
		},
		{
			name:      "cut is at least the margin",
			sends:     5, // too few answers to measure
			throttled: func(i int) bool { return i == 4 },
			wantRate:  0.97 * 100,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			send(t, b, tt.sends, 10*time.Millisecond)
			for i := range tt.sends {
				b.lim.Observe(tt.throttled(i))
				if tt.throttled(i) {
					break // the rest are the same episode
				}
			}
			s := b.lim.Stats()
			require.Equal(t, uint64(1), s.Cuts)
			require.InDelta(t, tt.wantRate, s.Rate, 1e-6)
			require.InDelta(t, tt.wantRate/0.97, s.Estimate, 1e-6)
		})
	}

	t.Run("demand-paced cut starts from what was sent", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		send(t, b, 40, 50*time.Millisecond) // 20/s, nobody waits
		for i := range 40 {
			b.lim.Observe(i == 39)
		}
		// The last 10 answers (half a second's worth at 20/s) span 0.45 s
		// of sending; 8 of the last 9 got through.
		require.InDelta(t, 0.97*8/0.45, b.lim.Stats().Rate, 1e-6)
	})

	t.Run("unanswered sends expire", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		send(t, b, 10, 10*time.Millisecond)
		for range 10 {
			b.lim.Observe(false) // learns a latency of about 50ms
		}
		send(t, b, 3000, 10*time.Millisecond)
		require.Less(t, b.lim.inflight.len(), 100)
	})
}

func TestSizeCut(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name         string
		base         float64
		accepted     float64
		measured     bool
		wantTarget   float64
		wantEstimate float64
	}{
		{"nothing measured: the margin", 100, 0, false, 97, 100},
		{"just over the limit", 100, 95, true, 0.97 * 95, 95},
		{"accepted more than sent: the margin", 100, 120, true, 97, 100},
		{"a deep fall or no depth: in steps, aiming back", 100, 40, true, 0.97 * 85, 97},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			target, estimate, _ := sizeCut(tt.base, tt.accepted, tt.measured, 0.03)
			require.InDelta(t, tt.wantTarget, target, 1e-9)
			require.InDelta(t, tt.wantEstimate, estimate, 1e-9)
		})
	}
}

func TestLimiterSetCeiling(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name        string
		ceilings    []float64
		wantCeiling float64
		wantRate    float64
	}{
		{"lowering cuts the rate", []float64{50}, 50, 50},
		{"never above max", []float64{900}, 500, 100},
		{"never below min", []float64{0}, 1, 1},
		{"NaN is ignored", []float64{50, math.NaN()}, 50, 50},
		{"raising frees the rate again", []float64{50, 400}, 400, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newTestBundle(Config{Initial: 100, Max: 500})
			for _, c := range tt.ceilings {
				b.lim.SetCeiling(c)
			}
			s := b.lim.Stats()
			require.InDelta(t, tt.wantCeiling, s.Ceiling, 1e-9)
			require.InDelta(t, tt.wantRate, s.Rate, 1e-9)
		})
	}
}

func TestLimiterRaiseWakesTheHead(t *testing.T) {
	t.Parallel()

	b := newTestBundle(Config{Initial: 100, Max: 100})
	b.lim.SetCeiling(1)
	require.NoError(t, b.lim.Wait(context.Background()))
	g := queueCallers(b.clock, b.lim, 1) // first in line, due in a second
	b.lim.SetCeiling(100)
	b.clock.run(testStart.Add(100 * time.Millisecond))
	require.Len(t, g.at, 1)
	require.LessOrEqual(t, g.at[0], 10*time.Millisecond)
}

func TestLimiterCurve(t *testing.T) {
	t.Parallel()

	l := New(Config{Clock: newVirtualClock(testStart)})
	l.estimate, l.curveFrom = 200, 194
	k := recoverTime.Seconds()

	require.InDelta(t, 194, l.curveLocked(0), 1e-9)
	require.InDelta(t, 200, l.curveLocked(k), 1e-9)
	require.InDelta(t, 200*(1+0.02*10), l.curveLocked(k+10), 1e-9)
	prev := 0.0
	for t10 := range 600 {
		r := l.curveLocked(float64(t10) / 10)
		require.Greater(t, r, prev)
		prev = r
	}
	// Flat where it arrives: the last fifth of the recovery gains little.
	require.Less(t, l.curveLocked(k)-l.curveLocked(0.8*k), 0.01*200)
}
