package ratelimit

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// SimConfig describes a virtual-time run of a Strategy against a model of
// WeChat Pay's hidden limit: a token bucket that answers "throttled" when
// empty. Workers loop Wait → send → wait for the answer → Observe, as the
// issue job's workers do.
type SimConfig struct {
	// Limit is the hidden limit (requests/s) at each moment of the run.
	// Required.
	Limit func(elapsed time.Duration) float64
	// ServerBurst is the depth of the server's bucket, in time at its
	// current limit. Default 100ms.
	ServerBurst time.Duration
	// Workers is the number of concurrent senders. Default 64.
	Workers int
	// Latency is the round trip of one request. Default 50ms.
	Latency time.Duration
	// Jitter spreads latency uniformly over Latency·[1−Jitter, 1+Jitter].
	Jitter float64
	// Duration of the run in virtual time. Default 60s.
	Duration time.Duration
	// Seed drives the jitter; equal configs give equal results.
	Seed uint64
}

// SimResult is what a simulated run measured, by send time.
type SimResult struct {
	Duration  time.Duration
	Sent      int     // requests that reached the server
	Accepted  int     // answered without throttling
	Throttled int     // answered 429
	Capacity  float64 // requests the hidden limit allowed over the run (∫ limit dt)
	// Goodput is Accepted ÷ Capacity: the share of the hidden limit used.
	Goodput float64
	// ThrottledShare is Throttled ÷ Sent.
	ThrottledShare float64
	// PeakRate is the most requests sent in any one-second window.
	PeakRate float64
	// Final is the strategy's Stats at the end of the run.
	Final Stats

	slots []simSlot
}

const simSlotWidth = 100 * time.Millisecond

type simSlot struct {
	sent, throttled int
	capacity        float64 // requests the hidden limit allowed in the slot
}

// Simulate runs the strategy built by newStrategy on a virtual clock and
// measures it. The workers are real goroutines calling the real Wait and
// Observe; the clock only moves once all of them are parked, one timer at a
// time, so a run is deterministic and takes no wall-clock sleeping. The
// strategy must take its time only from the clock it is given and block only
// on that clock's timers, as Limiter, Fixed and AWSAdaptive do.
func Simulate(newStrategy func(Clock) Strategy, cfg SimConfig) SimResult {
	if cfg.ServerBurst <= 0 {
		cfg.ServerBurst = 100 * time.Millisecond
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 64
	}
	if cfg.Latency <= 0 {
		cfg.Latency = 50 * time.Millisecond
	}
	if cfg.Duration <= 0 {
		cfg.Duration = time.Minute
	}
	cfg.Jitter = clamp(cfg.Jitter, 0, 1)

	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	end := start.Add(cfg.Duration)
	clock := newVirtualClock(start)
	strategy := newStrategy(clock)
	m := &simModel{
		cfg:    cfg,
		start:  start,
		end:    end,
		rng:    rand.New(rand.NewPCG(cfg.Seed, 0x5eed)),
		tokens: max(1, cfg.Limit(0)*cfg.ServerBurst.Seconds()),
		last:   start,
		slots:  make([]simSlot, (cfg.Duration+simSlotWidth-1)/simSlotWidth),
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range cfg.Workers {
		clock.join()
		wg.Go(func() {
			defer clock.leave()
			m.work(ctx, clock, strategy)
		})
		// Start workers one by one so that the run never depends on how the
		// Go scheduler interleaves them.
		clock.settle()
	}
	clock.run(end)
	final := strategy.Stats()
	cancel()
	wg.Wait()
	return m.result(final)
}

type simModel struct {
	cfg        SimConfig
	start, end time.Time

	mu     sync.Mutex // only one worker runs at a time; this keeps -race honest
	rng    *rand.Rand
	tokens float64
	last   time.Time
	slots  []simSlot
}

func (m *simModel) work(ctx context.Context, clock Clock, s Strategy) {
	for {
		if err := s.Wait(ctx); err != nil {
			return
		}
		throttled, latency := m.send(clock.Now())
		if err := sleep(ctx, clock, latency); err != nil {
			return
		}
		s.Observe(throttled)
	}
}

// send lets the server's bucket judge one request and draws its latency.
func (m *simModel) send(now time.Time) (throttled bool, latency time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	limit := m.cfg.Limit(now.Sub(m.start))
	depth := max(1, limit*m.cfg.ServerBurst.Seconds())
	m.tokens = min(depth, m.tokens+now.Sub(m.last).Seconds()*limit)
	m.last = now
	throttled = m.tokens < 1
	if !throttled {
		m.tokens--
	}
	if now.Before(m.end) {
		slot := &m.slots[now.Sub(m.start)/simSlotWidth]
		slot.sent++
		if throttled {
			slot.throttled++
		}
	}
	latency = m.cfg.Latency
	if m.cfg.Jitter > 0 {
		latency = time.Duration(float64(latency) * (1 + m.cfg.Jitter*(2*m.rng.Float64()-1)))
	}
	return throttled, latency
}

func (m *simModel) result(final Stats) SimResult {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := SimResult{Duration: m.cfg.Duration, Final: final, slots: m.slots}
	const step = time.Millisecond
	for t := time.Duration(0); t < m.cfg.Duration; t += step {
		c := m.cfg.Limit(t) * step.Seconds()
		m.slots[t/simSlotWidth].capacity += c
		r.Capacity += c
	}
	perSecond := int(time.Second / simSlotWidth)
	window := 0
	for i, s := range m.slots {
		r.Sent += s.sent
		r.Throttled += s.throttled
		window += s.sent
		if i >= perSecond {
			window -= m.slots[i-perSecond].sent
		}
		r.PeakRate = max(r.PeakRate, float64(window))
	}
	r.Accepted = r.Sent - r.Throttled
	if r.Capacity > 0 {
		r.Goodput = float64(r.Accepted) / r.Capacity
	}
	if r.Sent > 0 {
		r.ThrottledShare = float64(r.Throttled) / float64(r.Sent)
	}
	return r
}

// Recovery measures how long after a change of the hidden limit at change the
// throttled share, over a trailing second, is back under threshold: zero if
// it never rose above it, the rest of the run if it never came back.
func (r SimResult) Recovery(change time.Duration, threshold float64) time.Duration {
	perSecond := int(time.Second / simSlotWidth)
	first := int(change / simSlotWidth)
	share := func(i int) float64 { // trailing second ending with slot i
		var sent, thr int
		for j := max(0, i-perSecond+1); j <= i; j++ {
			sent += r.slots[j].sent
			thr += r.slots[j].throttled
		}
		if sent == 0 {
			return 0
		}
		return float64(thr) / float64(sent)
	}
	onset := -1
	for i := first; i < len(r.slots); i++ {
		if share(i) > threshold {
			onset = i
			break
		}
	}
	if onset < 0 {
		return 0
	}
	for i := onset; i < len(r.slots); i++ {
		if share(i) <= threshold {
			return time.Duration(i+1)*simSlotWidth - change
		}
	}
	return r.Duration - change
}

// Between measures goodput and throttled share over [from, to) of the run,
// for figures that leave out a warm-up.
func (r SimResult) Between(from, to time.Duration) (goodput, throttledShare float64) {
	var sent, throttled int
	var capacity float64
	for i := max(0, int(from/simSlotWidth)); i < min(len(r.slots), int(to/simSlotWidth)); i++ {
		sent += r.slots[i].sent
		throttled += r.slots[i].throttled
		capacity += r.slots[i].capacity
	}
	if capacity > 0 {
		goodput = float64(sent-throttled) / capacity
	}
	if sent > 0 {
		throttledShare = float64(throttled) / float64(sent)
	}
	return goodput, throttledShare
}
