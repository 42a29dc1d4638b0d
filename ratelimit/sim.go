package ratelimit

import (
	"context"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// SimConfig describes a virtual-time run of a Strategy against a model of
// WeChat Pay's hidden limit. Workers loop Wait → send → wait for the answer →
// Observe, as the issue job's workers do: a worker is busy for the whole
// round trip, so concurrency bounds the rate as it does in production. The
// server judges a request when it arrives, RequestLeg of the round trip after
// the send.
//
// The server's shape is a parameter, because real servers differ and change:
// a token bucket of any depth (from one token, strict pacing, to seconds), or
// fixed per-second windows; a limit that changes over time; outages that
// answer every send with 429 or 500.
type SimConfig struct {
	// Limit is the hidden limit (requests/s) at each moment of the run.
	// Required.
	Limit func(elapsed time.Duration) float64
	// Shape is how the server enforces Limit. Default TokenBucket.
	Shape SimShape
	// ServerBurst is the depth of the server's token bucket, in time at its
	// current limit, and never less than one token: a nanosecond is strict
	// pacing; for SlidingLog, the span of its log. Default 100ms.
	ServerBurst time.Duration
	// Outage, when set, is what the server answers every request arriving at
	// that moment instead of judging it: http.StatusTooManyRequests (a
	// throttle), http.StatusInternalServerError (an answer that says nothing,
	// so the sender reports nothing to the strategy), or 0 for none.
	Outage func(elapsed time.Duration) int
	// Workers is the number of concurrent senders. Default 64.
	Workers int
	// Latency is the mean round trip of one request. Default 50ms.
	Latency time.Duration
	// Jitter spreads latency uniformly over Latency·[1−Jitter, 1+Jitter];
	// with LongTail it is the σ of a log-normal round trip instead.
	Jitter float64
	// LongTail draws round trips from a log-normal distribution with mean
	// Latency and σ Jitter (default 0.8), capped at 20×Latency: most answers
	// are quick, a few are very slow.
	LongTail bool
	// RequestLeg is the share of each round trip before the server judges
	// the request, in [0, 1]. 0 (the default) judges it on send, as wxsim
	// does: the latency is the server's own work after admission. A larger
	// share lets jittered latency reorder and bunch arrivals, as a network
	// does.
	RequestLeg float64
	// ThrottleAtOnce answers a throttled request as soon as it is judged,
	// as wxsim does (its latency is the work after admission); otherwise
	// the answer takes the rest of the round trip like any other.
	ThrottleAtOnce bool
	// SendCost is the sender's own work per request (signing it, say) on a
	// single core all workers share, between the grant and the request
	// leaving: once the rate asks for more than that core gives, requests
	// queue for it and leave at its pace, not the limiter's.
	SendCost time.Duration
	// StallFor, at intervals drawn uniformly within ±50% of StallEvery,
	// stops that core (a garbage collection, another process taking the
	// CPU): requests granted meanwhile leave together when it ends.
	StallEvery, StallFor time.Duration
	// TimerLate makes each of the strategy's own timers fire late by a
	// random time up to TimerLate, as timers do in a process that does not
	// get the CPU at once: a pacer must not lose the time it was woken late.
	TimerLate time.Duration
	// Duration of the run in virtual time. Default 60s.
	Duration time.Duration
	// Seed drives the jitter; equal configs give equal results.
	Seed uint64
}

// SimShape is how a simulated server enforces its limit.
type SimShape int

const (
	// TokenBucket refills at the limit up to ServerBurst's worth of tokens;
	// a request that finds no whole token is throttled.
	TokenBucket SimShape = iota
	// FixedWindow admits at most the limit's worth of requests in each
	// calendar second, whatever their spacing within it.
	FixedWindow
	// SlidingLog admits a request when fewer than the limit's worth of
	// ServerBurst (at least one) were admitted in the ServerBurst before
	// it: nothing comes back until a whole ServerBurst after it was used.
	SlidingLog
)

func (s SimShape) String() string {
	switch s {
	case FixedWindow:
		return "fixed window"
	case SlidingLog:
		return "sliding log"
	}
	return "token bucket"
}

// SimResult is what a simulated run measured, by send time.
type SimResult struct {
	Duration  time.Duration
	Sent      int     // requests that reached the server
	Accepted  int     // answered without throttling
	Throttled int     // answered 429
	Failed    int     // answered 500 during an outage
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
	sent, throttled, failed int
	capacity                float64 // requests the hidden limit allowed in the slot
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
	if cfg.LongTail {
		cfg.Jitter = positiveOr(cfg.Jitter, 0.8)
	} else {
		cfg.Jitter = clamp(cfg.Jitter, 0, 1)
	}
	cfg.RequestLeg = clamp(cfg.RequestLeg, 0, 1)

	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	end := start.Add(cfg.Duration)
	clock := newVirtualClock(start)
	var strategyClock Clock = clock
	if cfg.TimerLate > 0 {
		strategyClock = &lateClock{Clock: clock, late: cfg.TimerLate, rng: rand.New(rand.NewPCG(cfg.Seed, 0x1a7e))}
	}
	strategy := newStrategy(strategyClock)
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

	window      int64 // FixedWindow: the current second and its count
	windowCount int

	admitted []time.Time // SlidingLog: admissions within the last ServerBurst, oldest first

	cpuFree time.Time // the sender's core is busy until then
	stallAt time.Time // the next (or current) stall starts then
}

func (m *simModel) work(ctx context.Context, clock Clock, s Strategy) {
	for {
		if err := s.Wait(ctx); err != nil {
			return
		}
		sentAt := clock.Now()
		if d := m.depart(sentAt).Sub(sentAt); d > 0 {
			if err := sleep(ctx, clock, d); err != nil {
				return
			}
		}
		latency := m.latency()
		leg := time.Duration(m.cfg.RequestLeg * float64(latency))
		if leg > 0 {
			if err := sleep(ctx, clock, leg); err != nil {
				return
			}
		}
		status := m.judge(sentAt, clock.Now())
		if status != http.StatusTooManyRequests || !m.cfg.ThrottleAtOnce {
			if err := sleep(ctx, clock, latency-leg); err != nil {
				return
			}
		}
		if status != http.StatusInternalServerError { // a 500 says nothing
			s.Observe(status == http.StatusTooManyRequests)
		}
	}
}

// lateClock is a Clock whose timers fire late by up to late.
type lateClock struct {
	Clock
	late time.Duration

	mu  sync.Mutex
	rng *rand.Rand
}

func (c *lateClock) delay(d time.Duration) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return d + time.Duration(c.rng.Int64N(int64(c.late)+1))
}

func (c *lateClock) NewTimer(d time.Duration) Timer {
	return &lateTimer{Timer: c.Clock.NewTimer(c.delay(d)), clock: c}
}

type lateTimer struct {
	Timer
	clock *lateClock
}

func (t *lateTimer) Reset(d time.Duration) bool { return t.Timer.Reset(t.clock.delay(d)) }

// depart is when a request granted at now leaves the sender, after the
// requests before it and any stall of the sender's core.
func (m *simModel) depart(now time.Time) time.Time {
	if m.cfg.SendCost <= 0 && (m.cfg.StallEvery <= 0 || m.cfg.StallFor <= 0) {
		return now
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t := now
	if t.Before(m.cpuFree) {
		t = m.cpuFree
	}
	if m.cfg.StallEvery > 0 && m.cfg.StallFor > 0 {
		next := func(from time.Time) time.Time {
			return from.Add(time.Duration(float64(m.cfg.StallEvery) * (0.5 + m.rng.Float64())))
		}
		if m.stallAt.IsZero() {
			m.stallAt = next(m.start)
		}
		for !m.stallAt.Add(m.cfg.StallFor).After(t) {
			m.stallAt = next(m.stallAt.Add(m.cfg.StallFor))
		}
		if !t.Before(m.stallAt) {
			t = m.stallAt.Add(m.cfg.StallFor)
		}
	}
	t = t.Add(m.cfg.SendCost)
	m.cpuFree = t
	return t
}

// latency draws one round trip.
func (m *simModel) latency() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	mean := float64(m.cfg.Latency)
	switch {
	case m.cfg.LongTail:
		sigma := m.cfg.Jitter
		return time.Duration(min(20*mean, mean*math.Exp(sigma*m.rng.NormFloat64()-sigma*sigma/2)))
	case m.cfg.Jitter > 0:
		return time.Duration(mean * (1 + m.cfg.Jitter*(2*m.rng.Float64()-1)))
	}
	return m.cfg.Latency
}

// judge lets the server decide on one request sent at sentAt that arrives
// now, and counts it against the slot of its send time.
func (m *simModel) judge(sentAt, now time.Time) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	elapsed := now.Sub(m.start)
	status := http.StatusOK
	if m.cfg.Outage != nil {
		status = max(status, m.cfg.Outage(elapsed))
	}
	if status == http.StatusOK && !m.admitLocked(elapsed, now) {
		status = http.StatusTooManyRequests
	}
	if sentAt.Before(m.end) {
		slot := &m.slots[sentAt.Sub(m.start)/simSlotWidth]
		slot.sent++
		switch status {
		case http.StatusTooManyRequests:
			slot.throttled++
		case http.StatusInternalServerError:
			slot.failed++
		}
	}
	return status
}

func (m *simModel) admitLocked(elapsed time.Duration, now time.Time) bool {
	limit := m.cfg.Limit(elapsed)
	if m.cfg.Shape == FixedWindow {
		if w := int64(elapsed / time.Second); w != m.window {
			m.window, m.windowCount = w, 0
		}
		if float64(m.windowCount+1) > limit {
			return false
		}
		m.windowCount++
		return true
	}
	if m.cfg.Shape == SlidingLog {
		from := now.Add(-m.cfg.ServerBurst)
		i := 0
		for i < len(m.admitted) && !m.admitted[i].After(from) {
			i++
		}
		m.admitted = m.admitted[i:]
		if float64(len(m.admitted)+1) > max(1, math.Round(limit*m.cfg.ServerBurst.Seconds())) {
			return false
		}
		m.admitted = append(m.admitted, now)
		return true
	}
	depth := max(1, limit*m.cfg.ServerBurst.Seconds())
	m.tokens = min(depth, m.tokens+now.Sub(m.last).Seconds()*limit)
	m.last = now
	if m.tokens < 1 {
		return false
	}
	m.tokens--
	return true
}

func (m *simModel) result(final Stats) SimResult {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := SimResult{Duration: m.cfg.Duration, Final: final, slots: m.slots}
	const step = time.Millisecond
	for t := time.Duration(0); t < m.cfg.Duration; t += step {
		c := m.cfg.Limit(t) * step.Seconds()
		if m.cfg.Outage != nil && m.cfg.Outage(t) != 0 {
			c = 0
		}
		m.slots[t/simSlotWidth].capacity += c
		r.Capacity += c
	}
	perSecond := int(time.Second / simSlotWidth)
	window := 0
	for i, s := range m.slots {
		r.Sent += s.sent
		r.Throttled += s.throttled
		r.Failed += s.failed
		window += s.sent
		if i >= perSecond {
			window -= m.slots[i-perSecond].sent
		}
		r.PeakRate = max(r.PeakRate, float64(window))
	}
	r.Accepted = r.Sent - r.Throttled - r.Failed
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
	var sent, throttled, failed int
	var capacity float64
	for i := max(0, int(from/simSlotWidth)); i < min(len(r.slots), int(to/simSlotWidth)); i++ {
		sent += r.slots[i].sent
		throttled += r.slots[i].throttled
		failed += r.slots[i].failed
		capacity += r.slots[i].capacity
	}
	if capacity > 0 {
		goodput = float64(sent-throttled-failed) / capacity
	}
	if sent > 0 {
		throttledShare = float64(throttled) / float64(sent)
	}
	return goodput, throttledShare
}

// Reach measures how long after a rise of the hidden limit at change the
// goodput over a trailing second first comes to level: at least a second,
// the rest of the run if it never does.
func (r SimResult) Reach(change time.Duration, level float64) time.Duration {
	perSecond := int(time.Second / simSlotWidth)
	first := int(change / simSlotWidth)
	for i := first + perSecond - 1; i < len(r.slots); i++ {
		var accepted int
		var capacity float64
		for j := i - perSecond + 1; j <= i; j++ {
			accepted += r.slots[j].sent - r.slots[j].throttled - r.slots[j].failed
			capacity += r.slots[j].capacity
		}
		if capacity > 0 && float64(accepted) >= level*capacity {
			return time.Duration(i+1)*simSlotWidth - change
		}
	}
	return r.Duration - change
}
