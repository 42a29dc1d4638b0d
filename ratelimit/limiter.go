package ratelimit

import (
	"context"
	"io"
	"math"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Config configures a Limiter. Only Max usually needs setting; every other
// zero value picks a default that suits WeChat Pay's coupon send.
type Config struct {
	// Initial is the rate (requests/s) to start at. Default Max/5.
	Initial float64
	// Max is the hard ceiling (requests/s). Default 500, the documented
	// limit of favor send.
	Max float64
	// Clock is the time source; nil means real time.
	Clock Clock
	// Learned, when set, is the limit (requests/s) measured before, for
	// example by the last pass (see Keeper). The limiter then starts just
	// under it, past slow start, and probes from there; throttling that
	// contradicts it cuts as usual. Initial is ignored.
	Learned float64

	// Min is the floor (requests/s) no cut goes below. Default 1.
	Min float64
	// Margin is how far below the estimated hidden limit the rate settles
	// after a throttle, as a fraction. Default 0.03.
	Margin float64
	// Probe is how fast the rate climbs past the estimated limit once it
	// is back there, as a fraction of the estimate per second. Default 0.02:
	// small, because every request in flight when the server's bucket runs
	// dry beyond the limit fails. The climb turns into a doubling as soon as
	// the server is seen to accept more than the estimate allows.
	Probe float64
	// Burst is how much unused sending time the bucket banks, at the current
	// rate, and never less than one request. Default 5ms: too little to look
	// like a burst to the server. (Time lost to a timer that fired late is
	// banked besides, up to one request: see takeLocked.)
	Burst time.Duration
	// Trace, when set, receives a line for every 100 ms in which something
	// happened (the rate, the estimate, grants and answers in it) and one
	// for every cut, with what it was sized from. Nil reads the file named
	// by $RATELIMIT_TRACE, if set (appended to), so that a real `issuer
	// issue` can be traced without a flag.
	Trace io.Writer
}

const (
	defaultMax    = 500.0
	defaultMin    = 1.0
	defaultMargin = 0.03
	defaultProbe  = 0.02
	defaultBurst  = 5 * time.Millisecond

	// Before the first throttle, and once the server is seen to accept
	// more than the estimate, the rate doubles this often (slow start).
	slowStartDoubling = time.Second
	// Once the server is seen to accept more than the estimate, the rate
	// doubles this often: gentler than a cold start, because the server's
	// bucket may have refilled while the rate sat under a limit that rose,
	// and hides an overshoot until it runs dry.
	evidenceDoubling = 2 * time.Second
	// After a cut the rate climbs back to the estimate in this long, fast at
	// first and flattening out near it (the concave half of CUBIC).
	recoverTime = time.Second
	// The server is taken to accept more than the estimate once the sends
	// it accepted since its bucket was last seen empty exceed the estimate's
	// worth by this share of it, and by evidenceTokens.
	evidenceShare  = 0.03
	evidenceTokens = 4
	// One congestion event cuts by at most this factor (and Margin): the
	// acceptance it is sized from may be caught mid-change or, against a
	// bucket with no depth, say little. A deep fall takes a few events.
	minCutFactor = 0.7
	// A cut whose accepted rate is under minCutFactor of the rate is
	// ambiguous: a limit that fell a long way, or a bucket with no depth
	// that throttles every other request as soon as the rate passes the
	// limit. It cuts by this factor; the next throttle, a round trip or two
	// later, tells which it was.
	ambiguousCutFactor = 0.85
	// An ambiguous cut followed, this many mean latencies later, by another
	// in the same onset cuts deeper: the first one did not quiet the server.
	escalateAfter = 1.5
	// A cold start's first onset refines its cut only from at least this
	// many accepted answers: one or two say little (a fixed window turning
	// over, an answer matched to the wrong send).
	coldMinAccepted = 3
	// A throttle is isolated when at most this share of the latest answers
	// were throttled, the last cut is at least isolatedAfter old, and the
	// rate is at most isolatedAbove over the estimate the last cut that was
	// not isolated measured.
	isolatedShare = 0.05
	isolatedAfter = 2 * time.Second
	isolatedAbove = 0.01
	// Callers queued this recently: the limiter, not demand, sets the pace.
	saturatedWithin = time.Second

	sendSpan = time.Second // grants behind the measured send rate

	// A throttle among few (isolatedShare), outside an onset, while the
	// server throttled fewer than gentleBelow of the answers over the last
	// gentleSpan (and gentleMinAnswers at least), is met with a gentle cut:
	// the estimate gentleStep of Margin under the rate, the rate as much
	// again under that, held at the estimate until about gentleSends sends
	// have gone since the cut. From gentleBelow to twice that share it
	// blends into the cut the event measured.
	gentleStep       = 1.0 / 3
	gentleSends      = 250
	gentleBelow      = 0.008
	gentleSpan       = 10 * time.Second
	gentleMinAnswers = 50

	// The accepted rate is measured over the answers to about this much of
	// the latest sending, within a count of answers that keeps it from being
	// noise or history.
	acceptedSpan     = 500 * time.Millisecond
	minAcceptedCount = 8
	minShareCount    = 4
	onsetFloor       = 0.5
	answerHistory    = 256

	// A send unanswered for latencyExpiry mean latencies is taken as lost
	// (timeouts and resets are not reported), within these bounds.
	latencyExpiry = 8
	minExpiry     = 250 * time.Millisecond
	maxExpiry     = 30 * time.Second
	// A throttle that matches no send counts only this long after a cut.
	unmatchedGuard = time.Second
	// No throttle counts within this many mean latencies of a cut.
	stragglerGuard = 1.0

	parkIndefinitely = 24 * time.Hour
	retimeSlack      = time.Millisecond
)

// Limiter is an adaptive token bucket. See the package documentation for the
// algorithm. It is safe for concurrent use and starts no goroutines.
type Limiter struct {
	clock             Clock
	max, min, initial float64
	margin, probe     float64
	burst             time.Duration
	start             time.Time

	mu      sync.Mutex
	bucket  *rate.Limiter
	queue   []*waiter // FIFO; only queue[0] is timed to the bucket
	rate    float64
	ceiling float64

	congested    bool      // left slow start
	slowAt       time.Time // slow start: origin and rate it doubles from
	slowFrom     float64
	slowDoubling time.Duration
	slowUntil    float64   // when set, the doubling slows to evidenceDoubling from there
	peak         float64   // highest estimate so far
	ambiguousRun int       // ambiguous cuts in a row, the latest in an onset
	estimate     float64   // estimated hidden limit (requests/s)
	curveAt      time.Time // origin of the probe curve: the last cut
	curveFrom    float64   // rate the last cut set
	dipAt        time.Time // an isolated throttle's dip: when, and its depth
	dip          float64   // as a share of the rate the curve was at
	measured     float64   // the estimate of the last cut that was not isolated
	epoch        time.Time // throttles of sends before this are old news
	lastQueued   time.Time

	// Episodes (a first throttle and its onset): whether this one began in
	// a fast climb (slow start, or a doubling on evidence), and the least
	// the server had accepted in the second before the first throttle of
	// any episode before it, and of this one too (see echoLocked).
	ramped                        bool
	acceptedBefore, acceptedFloor float64
	coldEcho                      float64 // the estimate a cold start's refined cut raised past an echo, for its onset

	// The first onset of a limiter that started with nothing learned: the
	// sends made between the first throttled one and the first cut, their
	// rate, and their answers so far.
	cold                           bool
	coldFrom, coldTo               time.Time
	coldRate                       float64
	coldAnswers, coldAccepted      int
	coldExpected                   int // its sends still unanswered at the first cut
	coldFirstOK, coldLastThrottled time.Time

	// Evidence that the limit rose: the server's bucket was empty when the
	// send that triggered the last cut reached it (at emptyAt); since then
	// it can have accepted at most the limit's worth per second. Accepted
	// counts the sends after emptyAt it did accept, up to the latest such
	// send, lastAccepted.
	emptyAt      time.Time
	accepted     float64
	lastAccepted time.Time

	inflight sendLog // unanswered sends, oldest first
	latency  float64 // mean seconds from grant to answer

	// A light answer to a throttle, a gentle cut (gentleLocked) or a dip
	// (dipLocked): when it was made, and the cut the event measured, made
	// after all if the server throttles again in its onset.
	lightAt                  time.Time
	fullTarget, fullEstimate float64
	hold                     float64 // seconds the curve holds at the estimate before probing

	answers                        answerLog
	sends                          window
	okWin                          window // accepted answers over the last second, by answer time
	recentAnswers, recentThrottles window // over the last gentleSpan; throttles of sends since the last cut only
	stats                          Stats
	trace                          *tracer
}

type waiter struct {
	timer  Timer
	wakeAt time.Time
}

// New returns a Limiter sending at cfg.Initial.
func New(cfg Config) *Limiter {
	clock := clockOrReal(cfg.Clock)
	now := clock.Now()
	l := &Limiter{
		clock:  clock,
		max:    positiveOr(cfg.Max, defaultMax),
		min:    positiveOr(cfg.Min, defaultMin),
		margin: positiveOr(cfg.Margin, defaultMargin),
		probe:  positiveOr(cfg.Probe, defaultProbe),
		burst:  cfg.Burst,
		start:  now,
	}
	if l.burst <= 0 {
		l.burst = defaultBurst
	}
	l.min = min(l.min, l.max)
	l.margin = min(l.margin, 0.5)
	l.initial = clamp(positiveOr(cfg.Initial, l.max/5), l.min, l.max)
	l.ceiling = l.max
	l.rate = l.initial
	l.slowAt, l.slowFrom, l.slowDoubling = now, l.initial, slowStartDoubling
	l.sends = newWindow(now, sendSpan, 10)
	l.okWin = newWindow(now, sendSpan, 10)
	l.recentAnswers = newWindow(now, gentleSpan, 20)
	l.recentThrottles = newWindow(now, gentleSpan, 20)
	l.cold = true
	if cfg.Learned > 0 && !math.IsInf(cfg.Learned, 1) {
		l.cold = false
		// Start where a cut to the learned limit would have left the rate.
		l.congested = true
		l.estimate = clamp(cfg.Learned, l.min, l.max)
		l.measured = l.estimate
		l.initial = clamp(l.estimate*(1-l.margin), l.min, l.max)
		l.rate = l.initial
		l.curveAt, l.curveFrom, l.epoch, l.emptyAt = now, l.rate, now, now
	}
	l.bucket = rate.NewLimiter(rate.Limit(l.rate), l.burstFor(l.rate))
	l.bucket.AllowN(now, 1) // full to Burst, not to the room for lateness
	l.trace = newTracer(cfg.Trace, now)
	return l
}

// Wait blocks until the caller may send one request. Callers are served in
// arrival order; only the first in line sleeps on the bucket, the others are
// parked until it leaves, so a rate change applies at once to everybody
// waiting and a grant wakes exactly one goroutine.
func (l *Limiter) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	now := l.clock.Now()
	l.updateLocked(now)
	if len(l.queue) == 0 && l.takeLocked(now, now) {
		l.grantLocked(now)
		l.mu.Unlock()
		return nil
	}
	w := &waiter{}
	l.queue = append(l.queue, w)
	l.stats.Waits++
	l.lastQueued = now
	w.timer = l.clock.NewTimer(l.parkLocked(w, now))
	l.mu.Unlock()

	for {
		select {
		case <-ctx.Done():
			l.mu.Lock()
			l.leaveLocked(w, l.clock.Now())
			l.mu.Unlock()
			return ctx.Err()
		case <-w.timer.C():
		}
		l.mu.Lock()
		now = l.clock.Now()
		if err := ctx.Err(); err != nil {
			l.leaveLocked(w, now)
			l.mu.Unlock()
			return err
		}
		l.updateLocked(now)
		l.lastQueued = now
		if l.queue[0] == w && l.takeLocked(w.wakeAt, now) {
			l.grantLocked(now)
			l.leaveLocked(w, now)
			l.mu.Unlock()
			return nil
		}
		w.timer.Reset(l.parkLocked(w, now))
		l.mu.Unlock()
	}
}

// takeLocked takes a token at now for a caller whose timer was due at due.
// A timer that fired late (they do, by a millisecond and more, in a process
// that does not get the CPU at once) keeps the time it lost banked, up to a
// token: the next caller is timed from when this one was due, not from when
// it woke. The bucket is a token deeper than Burst for that; any other time,
// it banks no more than Burst, at least one token. Without that room a late
// wake-up found the bucket full where more time had passed and lost the
// rest: below 400/s, where 5 ms of Burst held less than two tokens, the
// sends fell behind the rate by as much as the timers were late, 400/s at
// 0.5 ms late sending 320/s.
func (l *Limiter) takeLocked(due, now time.Time) bool {
	if !now.After(due) {
		b, banked := l.bucket.Burst(), l.bankedFor(l.rate)
		l.bucket.SetBurstAt(now, banked) // takes the tokens as of now…
		l.bucket.SetBurstAt(now, banked) // …and drops the room for lateness
		l.bucket.SetBurstAt(now, b)
	}
	return l.bucket.AllowN(now, 1)
}

// parkLocked returns how long w sleeps: the head until the bucket has a
// token, everybody else until the head hands over.
func (l *Limiter) parkLocked(w *waiter, now time.Time) time.Duration {
	d := parkIndefinitely
	if l.queue[0] == w {
		d = l.delayLocked(now)
	}
	w.wakeAt = now.Add(d)
	return d
}

func (l *Limiter) delayLocked(now time.Time) time.Duration {
	tokens := l.bucket.TokensAt(now)
	if tokens >= 1 {
		return 0
	}
	return time.Duration(math.Ceil((1 - tokens) / l.rate * float64(time.Second)))
}

// leaveLocked takes w out of the queue and, if it was first, times the next
// in line.
func (l *Limiter) leaveLocked(w *waiter, now time.Time) {
	w.timer.Stop()
	i := slices.Index(l.queue, w)
	if i < 0 {
		return
	}
	l.queue = slices.Delete(l.queue, i, i+1)
	if i == 0 && len(l.queue) > 0 {
		h := l.queue[0]
		h.timer.Reset(l.parkLocked(h, now))
	}
}

func (l *Limiter) grantLocked(now time.Time) {
	l.trace.tick(now, l)
	l.trace.grant()
	l.stats.Sent++
	l.sends.add(now, 1)
	l.expireLocked(now) // bounds the log even if nobody calls Observe
	l.inflight.push(now)
}

// Observe reports one answered request: throttled for 429 FREQUENCY_LIMITED
// and the like, false for any other definite answer. Requests that got no
// answer (timeouts, resets) need no report.
//
// Answers are matched to sends in order. A throttle of a request sent before
// the last cut belongs to the episode that cut already handled and is only
// counted; a throttle of a later request is a new congestion event.
func (l *Limiter) Observe(throttled bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	l.trace.tick(now, l)
	l.trace.answer(throttled)
	l.stats.Answered++
	if !throttled {
		l.okWin.add(now, 1)
	}
	sentAt, matched := l.matchLocked(now)
	if matched {
		l.answers.push(answer{sentAt: sentAt, throttled: throttled})
	}
	l.recentAnswers.add(now, 1)
	if throttled && (!matched || !sentAt.Before(l.epoch)) {
		// Only news: a throttle of a send before the last cut is of the
		// episode that cut handled, and a bunch of them says no more
		// than the first.
		l.recentThrottles.add(now, 1)
	}
	if throttled {
		l.stats.Throttled++
		switch {
		case matched && sentAt.Before(l.epoch),
			!matched && now.Sub(l.epoch) < unmatchedGuard,
			// Answers come back out of order, so a slow answer to a
			// request sent before the cut may be matched to a later send;
			// answers to later sends are rare this soon.
			now.Sub(l.epoch).Seconds() < stragglerGuard*l.latency:
		default:
			l.congestionLocked(now, sentAt, matched)
		}
	} else if matched && l.congested && sentAt.After(l.emptyAt) {
		l.evidenceLocked(now, sentAt)
	}
	if matched && l.cold && !l.coldTo.IsZero() {
		l.refineColdLocked(now, sentAt, throttled)
	}
	l.updateLocked(now)
}

// refineColdLocked follows a cold start down to the limit. The first cut of
// a limiter that knew nothing is sized from the few answers known then; the
// answers to the sends it made after the server first throttled — most
// still on their way when it cut — arrive over the next round trip. While
// the server's bucket is empty it accepts its limit's worth whatever is
// sent, so their accepted share times the rate they went out at is the
// limit. Once enough are back the rate follows it down at once, instead of
// a round trip per event. Only the first onset: later ones start near a
// measured limit, where a probe's few throttles say little.
func (l *Limiter) refineColdLocked(now, sentAt time.Time, throttled bool) {
	if sentAt.Before(l.coldFrom) || sentAt.After(l.coldTo) {
		if sentAt.After(l.coldTo) && now.Sub(l.coldTo).Seconds() > escalateAfter*l.latency {
			l.cold = false // the onset's answers are in
		}
		return
	}
	l.coldAnswers++
	if throttled {
		if sentAt.After(l.coldLastThrottled) {
			l.coldLastThrottled = sentAt
		}
	} else {
		l.coldAccepted++
		if l.coldFirstOK.IsZero() || sentAt.Before(l.coldFirstOK) {
			l.coldFirstOK = sentAt
		}
	}
	// Most of the onset's answers, not the first few: with jittered round
	// trips the first to come back are matched to the wrong sends.
	if l.coldAnswers < max(minAcceptedCount, l.coldExpected*3/4) || l.coldAccepted < coldMinAccepted {
		return // too few to say; nothing through is an outage, which holds
	}
	if !l.coldFirstOK.Before(l.coldLastThrottled) {
		// Throttled, then accepted again: not an empty bucket that lets
		// the limit through evenly but a fixed window spent, then a new
		// one. The share says nothing of the limit.
		return
	}
	m := l.coldRate * float64(l.coldAccepted) / float64(l.coldAnswers)
	if m >= l.estimate*minCutFactor || m*(1-l.margin) >= l.rate {
		return
	}
	m = max(m, l.coldRate*onsetFloor, l.min)
	est := l.echoLocked(now, m, l.coldRate, math.Inf(1))
	if est > m {
		l.coldEcho = est
	}
	l.trace.event(now, "cut cold: %d of %d answers to the onset's sends at %.1f/s accepted: limit %.1f, rate %.1f → %.1f, estimate %.1f",
		l.coldAccepted, l.coldAnswers, l.coldRate, m, l.rate, m*(1-l.margin), est)
	l.cutLocked(now, m*(1-l.margin), est)
	l.cold = false
}

// matchLocked pops the oldest unanswered send, skipping sends so old that
// their answer is taken as lost.
func (l *Limiter) matchLocked(now time.Time) (time.Time, bool) {
	l.expireLocked(now)
	if l.inflight.len() == 0 {
		return time.Time{}, false
	}
	sentAt := l.inflight.pop()
	age := now.Sub(sentAt).Seconds()
	if l.latency == 0 {
		l.latency = age
	} else {
		l.latency += (age - l.latency) / 8
	}
	return sentAt, true
}

// expireLocked drops sends whose answer is overdue: the caller saw a timeout
// or reset and, rightly, reported nothing.
func (l *Limiter) expireLocked(now time.Time) {
	expiry := maxExpiry
	if l.latency > 0 {
		expiry = clamp(time.Duration(latencyExpiry*l.latency*float64(time.Second)), minExpiry, maxExpiry)
	}
	for l.inflight.len() > 0 && now.Sub(l.inflight.peek()) > expiry {
		l.inflight.pop()
	}
}

// congestionLocked handles the first throttle of an episode. While the
// server throttles, its bucket is empty and what it lets through is its
// refill rate: the hidden limit. So the rate drops to just under the rate at
// which the latest sends got through (as BBR measures delivery rate: by send
// time, so that the round trip does not dilute it). At the onset those sends
// still show the calm before, so a cut is always at least Margin; the next
// throttle of a request sent after this cut is a new event that sees more of
// the congestion, so a large drop of the limit converges in about a second.
func (l *Limiter) congestionLocked(now, sentAt time.Time, matched bool) {
	m, ok := l.measureLocked(now)
	if !ok {
		return
	}
	isolated := l.isolatedLocked(now, m)
	target, estimate, ambiguous := l.sizeLocked(now, m)
	if !m.onset {
		l.startEpisodeLocked(now)
	}
	if !isolated && l.ramped {
		estimate = l.echoLocked(now, max(estimate, target), m.base, l.acceptedBefore)
		if m.onset {
			// The cold start's refined cut climbed back past an echo
			// (refineColdLocked); the rest of its onset measures the same
			// echo and must not undo that.
			estimate = max(estimate, l.coldEcho)
		}
	}
	first := l.cold && l.coldTo.IsZero()
	l.trace.event(now, "cut: sent %.3f s ago (matched %t), base %.1f, accepted %.1f, share %.3f (measured %t, onset %t, isolated %t, ambiguous %t, run %d): rate %.1f → %.1f, estimate %.1f",
		now.Sub(sentAt).Seconds(), matched, m.base, m.accepted, m.share, m.measured, m.onset, isolated, ambiguous, l.ambiguousRun, l.rate, max(target, l.min), max(estimate, target))
	// The server throttles on after a gentle cut or a dip: its bucket
	// stayed empty, a limit the light answer did not get under. Make the
	// cut the event that led to it measured over the latest answers — not
	// what this onset measures from the few sends since then, which
	// against a bucket jitter bunches (two throttles close together by
	// chance) cut 11% where one throttle among 48 said 2%. Unless most of
	// the onset's answers are throttles: then the limit fell, and the
	// onset measures how far.
	afterLight := m.onset && !l.lightAt.IsZero() && l.lightAt.Equal(l.epoch) && m.share >= minCutFactor
	l.lightAt = time.Time{}
	switch {
	case !isolated && l.gentleLocked(now, m, target, estimate):
	case afterLight:
		l.trace.event(now, "cut after a light one: rate %.1f → %.1f, estimate %.1f", l.rate, min(l.fullTarget, l.rate), l.fullEstimate)
		l.measuredCutLocked(now, min(l.fullTarget, l.rate), l.fullEstimate)
	case isolated:
		l.dipLocked(now, target)
		l.fullTarget, l.fullEstimate, l.lightAt = target, estimate, now
	default:
		l.measuredCutLocked(now, target, estimate)
	}
	if !matched {
		sentAt = now
	}
	if first {
		l.startColdLocked(now, sentAt, m)
	}
	if m.onset {
		// The bucket has stayed empty since the earlier trigger: keep
		// measuring from there. The count restarts, which only delays
		// evidence of a higher limit.
		sentAt = l.emptyAt
	}
	l.emptyAt, l.accepted, l.lastAccepted = sentAt, 0, sentAt
}

// congestion is what a congestion event measured.
type congestion struct {
	base     float64 // the rate being cut: the limiter's, or what was really sent
	accepted float64 // the rate at which the latest sends got through
	share    float64 // the share of them that got through
	measured bool    // enough answers to say
	onset    bool    // the server's bucket has been empty since the last cut's trigger
	ranAhead bool    // the sends went out slower than the rate
}

// measureLocked measures a congestion event: the rate being cut, and at
// what rate and share the latest sends got through. It is false when the
// event calls for no cut at all.
func (l *Limiter) measureLocked(now time.Time) (congestion, bool) {
	m := congestion{base: l.rate}
	if now.Sub(l.lastQueued) > saturatedWithin {
		m.base = min(m.base, l.sends.rate(now)) // demand-paced: cut what was really sent
	}
	n := clamp(int(m.base*acceptedSpan.Seconds()), minAcceptedCount, answerHistory)
	m.onset = l.congested && now.Sub(l.emptyAt) < acceptedSpan
	if m.onset {
		// Still the onset the last cut saw: the server's bucket has been
		// empty since emptyAt, so what it accepted of the sends since then
		// is its refill, the limit, undiluted by the calm before.
		m.accepted, m.share, m.measured = l.answers.acceptedSince(l.emptyAt, m.base, n)
		if m.measured && m.accepted == 0 {
			// Nothing got through since the bucket was seen empty: an
			// outage, or a fixed window spent until the next second. No
			// rate would do better, and the cut already made stands; the
			// next episode measures afresh.
			return m, false
		}
		if m.measured && m.accepted >= m.base*(1-l.margin) {
			// The server accepted about the rate's worth per second of
			// what was sent since: the cut already made is as low as the
			// limit asks. These throttles are of sends that left the
			// sender later than granted, a backlog in a sender short of
			// CPU draining after the cut at the pace it had before, and
			// found the bucket still empty; a cut for each would take the
			// rate down by Margin an event, far under the limit.
			return m, false
		}
	} else {
		m.accepted, m.share, m.measured = l.answers.acceptedRate(n)
	}
	m.ranAhead = m.measured && m.share >= minCutFactor && m.accepted < m.base*minCutFactor
	if m.ranAhead {
		// Most of the latest sends got through, yet far fewer per second
		// than the rate allows: they went out slower than it. The rate ran
		// ahead of a sender bound by its CPU or its database, or demand
		// paused; the rate says nothing of the limit, what was sent does.
		// (Sized from the rate, this looked like a bucket with no depth
		// and cut by a sixth.)
		m.base = m.accepted / m.share
	}
	if m.measured && !m.ranAhead && l.congested && !m.onset && m.share >= 1-isolatedShare && m.accepted < m.base*m.share*(1-l.margin) {
		// Few of the latest sends throttled, and they went out slower
		// than the rate: the server's bucket was empty for a moment, not
		// all along, and what it accepted per second is only what a
		// sender short of CPU for a while sent. The limit is about where
		// the rate was; the share throttled says by how much it was over.
		m.accepted = m.base * m.share
	}
	return m, true
}

// isolatedLocked tells an isolated throttle: past slow start, long after
// the last cut, few of the latest answers throttled, at a rate no higher
// than the last measured limit. A server that jitter or a burst of late
// sends found empty for a moment says little of the limit: the rate dips by
// the share throttled and Margin and is back on the curve it was on within
// recoverTime (dipLocked), the estimate unchanged. If the limit is under it
// after all, the throttling goes on and the next event, not isolated,
// measures it.
//
// So is a throttle among few while the sends lagged the rate (ranAhead):
// what the sender could not keep up then is no limit to hold it to once it
// can.
func (l *Limiter) isolatedLocked(now time.Time, m congestion) bool {
	return m.measured && l.congested && !m.onset && m.share >= 1-isolatedShare &&
		now.Sub(l.stats.LastCut) >= isolatedAfter && (m.ranAhead || m.base <= l.measured*(1+isolatedAbove))
}

// gentleLocked answers a throttle among few, outside an onset, while the
// server has throttled little lately, with a gentle cut, and reports
// whether it did; target and estimate are the cut the event measured.
//
// Against a bucket a few tokens deep whose arrivals jitter bunches (100/s,
// 5 tokens, 150±30 ms judged after it), the limit has no edge: a fixed
// sender at 0.97 of it is throttled 0.3%, at 0.98 0.6%, at 0.99 0.9%, and
// a throttle now and then says only that the rate is somewhere on that
// slope. Measured, one throttle among the 50 latest answers says the limit
// is 2% under the rate, and with Margin each cut took 5% off, the rate
// averaging 0.96 of the limit. A gentle cut takes a third of Margin off
// for the estimate and as much again for the rate, and the curve holds at
// the estimate for about gentleSends sends — longer at a low rate, where
// one throttle is a larger share — before it probes again: the rate rides
// the slope at about 0.7% throttled, 0.97 of the limit and more.
//
// A bucket with an edge (no jitter to speak of, or depth) throttles only
// over its limit, and keeps throttling if a gentle cut leaves the rate
// over it: the next event, in the onset, makes the cut this one measured
// (congestionLocked). And a server that throttles often is no slope to
// ride: from gentleBelow of the answers over the last gentleSpan to twice
// that, the gentle cut blends into the measured one.
func (l *Limiter) gentleLocked(now time.Time, m congestion, target, estimate float64) bool {
	if !m.measured || !l.congested || m.onset || m.ranAhead || m.share < 1-isolatedShare {
		return false
	}
	answered := l.recentAnswers.sum(now)
	if answered < gentleMinAnswers {
		return false
	}
	k := clamp((l.recentThrottles.sum(now)/answered-gentleBelow)/gentleBelow, 0, 1)
	l.fullTarget, l.fullEstimate = target, estimate
	ge := m.base * (1 - gentleStep*l.margin)
	gt := ge * (1 - gentleStep*l.margin)
	estimate = ge + k*(min(estimate, ge)-ge)
	target = gt + k*(min(target, gt)-gt)
	l.trace.event(now, "gentle cut (%.2f of the way to the measured one): rate %.1f → %.1f, estimate %.1f", k, l.rate, target, estimate)
	l.measuredCutLocked(now, target, estimate)
	l.lightAt = now
	l.hold = max(0, gentleSends/l.estimate-recoverTime.Seconds())
	return true
}

// sizeLocked sizes the cut of an event (sizeCut), deeper for an ambiguous
// cut that did not quiet the server, never below onsetFloor of the rate
// within an onset; it counts the ambiguous cuts in a row.
func (l *Limiter) sizeLocked(now time.Time, m congestion) (target, estimate float64, ambiguous bool) {
	target, estimate, ambiguous = sizeCut(m.base, m.accepted, m.measured, l.margin)
	// Two round trips after an ambiguous cut, the sends it paced have been
	// answered; throttles before then may still be stragglers of the rate
	// before it, matched out of order.
	settled := now.Sub(l.epoch).Seconds() > escalateAfter*l.latency
	if ambiguous && m.onset && l.ambiguousRun > 0 && settled {
		// The last ambiguous cut did not end the throttling: not a bucket
		// with no depth just over its limit, which one cut of
		// ambiguousCutFactor quiets, but a limit well under the rate. Each
		// further event of the onset cuts deeper.
		target = m.base * math.Pow(ambiguousCutFactor, float64(l.ambiguousRun+1)) * (1 - l.margin)
	}
	switch {
	case ambiguous && m.onset:
		l.ambiguousRun++
	case ambiguous:
		l.ambiguousRun = 1
	default:
		l.ambiguousRun = 0
	}
	if m.onset {
		// One event of an onset cuts at most to onsetFloor of the rate it
		// starts from: answers matched to the wrong side of emptyAt, or a
		// fixed window spent until the next second, can make the limit
		// look lower than it is. A deeper fall is cut again by the next
		// event; a floor tied to the episode's first rate instead held a
		// cold start at 1.5× a 50/s limit through half a second of cuts
		// that changed nothing.
		target, estimate = max(target, m.base*onsetFloor), max(estimate, m.base*onsetFloor)
	}
	return target, estimate, ambiguous
}

// startColdLocked notes the first onset of a cold start, cut at now from
// sends made since sentAt, for refineColdLocked.
func (l *Limiter) startColdLocked(now, sentAt time.Time, m congestion) {
	if m.ranAhead {
		// The sender, not the rate, set the pace, and a sender short of
		// CPU sends in bursts that a shallow bucket throttles in part
		// whatever the rate: the share of the onset's sends it let through
		// says nothing of the limit. The cold start measures no further.
		l.cold = false
		return
	}
	l.coldFrom, l.coldTo, l.coldRate = sentAt, now, m.base
	for i := range l.inflight.len() {
		if !l.inflight.at(i).Before(sentAt) {
			l.coldExpected++
		}
	}
}

// echoLocked returns the estimate a cut at now climbs back to: estimate,
// the limit as the latest answers measured it, or more when the server
// accepted clearly more than that over a second before.
//
// A token bucket that throttles lets through its refill, the limit, so
// what it accepts per second of sending is the limit. A sliding log (at
// most the limit's worth in any trailing window) lets through only what
// leaves the window: the echo of what it admitted a window earlier. After a
// fast climb that was far less than the limit — about half of it after a
// slow start, 0.8 after a doubling on evidence — and the rate sat there for
// the six seconds or so the probe and the evidence test took to climb back.
// What either server accepted in the second before it throttled is at
// least what it accepts per second while throttling, and for the log its
// limit: so when the estimate is more than twice Margin under that, the
// rate still cuts to the measurement, but climbs back to just under what
// was accepted (Margin under it, and no higher than the rate being cut, or
// within an onset the estimate of the cut that began it).
//
// A bucket accepts its depth besides in that second, so the measure is
// bounded by past: a cold start's refined cut passes what was accepted in
// the last second, once the first (which holds the full bucket) is over;
// a later cut the least that was accepted in the second before any earlier
// episode's first throttle, which for a bucket found empty before is about
// its limit and for the log always its limit. Later cuts use it only in an
// episode that began in a fast climb, where the echo is deep: outside one,
// a limit that fell looks the same and the estimate must follow it.
func (l *Limiter) echoLocked(now time.Time, estimate, base, past float64) float64 {
	accepted := min(past, l.okWin.rate(now))
	if !l.okWin.warm(now) || estimate >= accepted*(1-2*l.margin) {
		return estimate
	}
	if l.congested && now.Sub(l.emptyAt) < acceptedSpan {
		base = max(base, l.estimate)
	}
	return max(estimate, min(accepted, base)*(1-l.margin))
}

// startEpisodeLocked notes the first throttle of an episode: whether it
// came in a fast climb, and what the server accepted in the second before
// it.
func (l *Limiter) startEpisodeLocked(now time.Time) {
	l.ramped, l.coldEcho = !l.congested, 0
	l.acceptedBefore = l.acceptedFloor
	if !l.okWin.warm(now) {
		return
	}
	if a := l.okWin.rate(now); l.acceptedFloor == 0 || a < l.acceptedFloor {
		l.acceptedFloor = a
	}
}

// evidenceLocked counts one accepted send made after the server's bucket was
// last seen empty. Since then the server can have accepted at most the
// limit's worth of sends per second of sending; if it accepted clearly more
// than the estimate's worth, the limit is higher than the estimate (it rose,
// or the cut undershot), and the rate doubles from where it is until the
// next throttle says where the limit now is. Without this a raised limit
// would be found only as fast as the cautious probe climbs.
//
// The test works whatever the depth of the server's bucket: just after it
// ran dry it holds only what the limit refilled since, which is what the
// estimate's worth counts. A deep bucket that was never seen empty gives no
// evidence either way.
func (l *Limiter) evidenceLocked(now, sentAt time.Time) {
	l.accepted++
	if sentAt.After(l.lastAccepted) {
		l.lastAccepted = sentAt
	}
	allowed := l.estimate * l.lastAccepted.Sub(l.emptyAt).Seconds()
	// Answers are matched to sends in order, so with jittered round trips
	// up to a round trip's worth of them may be matched to the wrong side
	// of emptyAt.
	if l.accepted <= allowed*(1+evidenceShare)+evidenceTokens+l.estimate*l.latency {
		return
	}
	l.trace.event(now, "evidence: %.0f accepted in %.3f s of sending since the bucket was seen empty, over the estimate's %.1f: doubling from %.1f",
		l.accepted, l.lastAccepted.Sub(l.emptyAt).Seconds(), allowed, max(l.rate, l.estimate))
	l.congested = false
	l.slowAt, l.slowFrom, l.slowDoubling = now, max(l.rate, l.estimate), evidenceDoubling
	if l.slowFrom < l.peak/2 {
		// Far under a limit seen lately (after an outage, say): climb back
		// to half of it at the cold-start pace, then gently.
		l.slowDoubling, l.slowUntil = slowStartDoubling/2, l.peak/2
	}
}

// sizeCut returns the rate to cut to and the estimated limit to climb back
// to, from the rate being cut and the accepted rate, if measured.
func sizeCut(base, accepted float64, measured bool, margin float64) (target, estimate float64, ambiguous bool) {
	switch {
	case !measured:
		return base * (1 - margin), base, false
	case accepted >= base*minCutFactor:
		estimate = min(accepted, base)
		return estimate * (1 - margin), estimate, false
	default:
		// Either the limit fell a long way, and the next throttle of a
		// request sent after this cut will cut again, or a bucket with no
		// depth throttles every other request just over its limit; then
		// the rate climbs back to just under where it was.
		return base * ambiguousCutFactor * (1 - margin), base * (1 - margin), true
	}
}

// cutLocked lowers the rate to target and restarts the probe curve from
// there towards estimate.
func (l *Limiter) cutLocked(now time.Time, target, estimate float64) {
	target = max(target, l.min)
	l.congested = true
	l.estimate = max(estimate, target)
	l.peak = max(l.peak, l.estimate)
	l.curveAt, l.curveFrom, l.dip, l.epoch = now, target, 0, now
	l.hold = 0
	l.stats.Cuts++
	l.stats.LastCut = now
	l.setRateLocked(now, min(target, l.ceiling))
}

// measuredCutLocked is cutLocked for a cut that measured the limit: a later
// throttle at no more than its estimate is isolated (isolatedLocked).
func (l *Limiter) measuredCutLocked(now time.Time, target, estimate float64) {
	l.cutLocked(now, target, estimate)
	l.measured = l.estimate
}

// dipLocked answers an isolated throttle: the rate steps down to target at
// once and climbs back over recoverTime, as after a cut, but to the curve
// it was on, which goes on as if nothing had happened; the estimate stands.
func (l *Limiter) dipLocked(now time.Time, target float64) {
	l.dip = 0
	if r := l.targetLocked(now); target < r {
		l.dipAt, l.dip = now, 1-target/r
	}
	l.epoch = now
	l.stats.Cuts++
	l.stats.LastCut = now
	l.updateLocked(now)
}

// SetCeiling caps the rate at ceiling (clamped to [Config.Min, Config.Max]),
// for a per-merchant budget shared among instances. Lowering it below the
// current rate takes effect for callers already waiting.
func (l *Limiter) SetCeiling(ceiling float64) {
	if math.IsNaN(ceiling) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	ceiling = clamp(ceiling, l.min, l.max)
	if ceiling < l.rate {
		l.epoch = now // earlier sends went out at the higher rate
	}
	l.ceiling = ceiling
	l.updateLocked(now)
}

// Stats returns a snapshot.
func (l *Limiter) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	l.updateLocked(now)
	s := l.stats
	s.Rate = l.rate
	s.Ceiling = l.ceiling
	s.Estimate = l.estimate
	s.SendRate = l.sends.rate(now)
	s.Waiting = len(l.queue)
	return s
}

// targetLocked is the rate the algorithm wants at now.
func (l *Limiter) targetLocked(now time.Time) float64 {
	var r float64
	if !l.congested {
		r = l.slowFrom * math.Exp2(now.Sub(l.slowAt).Seconds()/l.slowDoubling.Seconds())
		if l.slowUntil > 0 && r >= l.slowUntil {
			l.slowAt, l.slowFrom, l.slowDoubling, l.slowUntil = now, l.slowUntil, evidenceDoubling, 0
			r = l.slowFrom
		}
	} else {
		r = l.curveLocked(now.Sub(l.curveAt).Seconds())
	}
	if t := now.Sub(l.dipAt).Seconds(); l.dip > 0 && t < recoverTime.Seconds() {
		x := 1 - t/recoverTime.Seconds()
		r *= 1 - l.dip*x*x*x
	}
	if l.sends.warm(now) {
		// As AWS does: never run far ahead of what callers actually send, so
		// an idle spell does not license a burst.
		r = min(r, max(2*l.sends.rate(now), l.initial))
	}
	return clamp(r, l.min, l.ceiling)
}

// curveLocked is the rate t seconds after the last cut: a cubic rise from
// the cut to the estimate over recoverTime, flat as it arrives, then a
// steady climb past it at Probe per second. The climb finds the server's
// bucket empty again within a few percent of the limit when the limit has
// not moved, so it costs few throttles; when the limit has risen, the
// evidence test turns it into a doubling.
func (l *Limiter) curveLocked(t float64) float64 {
	k := recoverTime.Seconds()
	if t < k {
		x := 1 - t/k
		return l.estimate - (l.estimate-l.curveFrom)*x*x*x
	}
	t -= k
	if t < l.hold {
		return l.estimate
	}
	t -= l.hold
	return l.estimate * (1 + l.probe*t)
}

func (l *Limiter) updateLocked(now time.Time) {
	l.setRateLocked(now, l.targetLocked(now))
}

func (l *Limiter) setRateLocked(now time.Time, r float64) {
	if r == l.rate {
		return
	}
	up := r > l.rate
	l.rate = r
	l.bucket.SetLimitAt(now, rate.Limit(r))
	l.bucket.SetBurstAt(now, l.burstFor(r))
	if up && len(l.queue) > 0 {
		// The head sleeps for a token at the old rate; wake it sooner.
		h := l.queue[0]
		if d := l.delayLocked(now); now.Add(d).Before(h.wakeAt.Add(-retimeSlack)) {
			h.wakeAt = now.Add(d)
			h.timer.Reset(d)
		}
	}
}

// burstFor is the bucket's depth at rate r: bankedFor, and room for a late
// wake-up's lost time (see takeLocked).
func (l *Limiter) burstFor(r float64) int {
	return l.bankedFor(r) + 1
}

// bankedFor is how many tokens the bucket banks at rate r: Burst's worth,
// at least one.
func (l *Limiter) bankedFor(r float64) int {
	return max(1, int(r*l.burst.Seconds()))
}

// sendLog is a FIFO of the grant times of unanswered sends.
type sendLog struct {
	buf  []time.Time
	head int
	n    int
}

func (q *sendLog) len() int { return q.n }

func (q *sendLog) push(t time.Time) {
	if q.n == len(q.buf) {
		grown := make([]time.Time, max(64, 2*len(q.buf)))
		for i := range q.n {
			grown[i] = q.buf[(q.head+i)%len(q.buf)]
		}
		q.buf, q.head = grown, 0
	}
	q.buf[(q.head+q.n)%len(q.buf)] = t
	q.n++
}

func (q *sendLog) peek() time.Time { return q.buf[q.head] }

func (q *sendLog) at(i int) time.Time { return q.buf[(q.head+i)%len(q.buf)] }

func (q *sendLog) pop() time.Time {
	t := q.buf[q.head]
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	return t
}

type answer struct {
	sentAt    time.Time
	throttled bool
}

// answerLog keeps the latest answers with the send time each was matched
// to, in send order.
type answerLog struct {
	buf  [answerHistory]answer
	next int
	n    int
}

func (a *answerLog) push(x answer) {
	a.buf[a.next] = x
	a.next = (a.next + 1) % answerHistory
	a.n = min(a.n+1, answerHistory)
}

// acceptedSince is the rate at which the latest sends made at or after t,
// up to n of them, got through: per second of send time when there are
// enough of them, else as the accepted share of base; and that share.
func (a *answerLog) acceptedSince(t time.Time, base float64, n int) (rate, share float64, ok bool) {
	n = min(n, a.n)
	count, accepted := 0, 0
	var first, last time.Time
	for i := 1; i <= n; i++ {
		x := a.buf[(a.next-i+answerHistory)%answerHistory]
		if x.sentAt.Before(t) {
			break
		}
		if count == 0 {
			last = x.sentAt
		}
		first = x.sentAt
		count++
		if !x.throttled {
			accepted++
		}
	}
	if count > 0 {
		share = float64(accepted) / float64(count)
	}
	switch span := last.Sub(first).Seconds(); {
	case count >= minAcceptedCount && span > 0:
		return float64(accepted) * float64(count-1) / float64(count) / span, share, true
	case count >= minShareCount:
		return base * share, share, true
	}
	return 0, 0, false
}

// acceptedRate is the rate, per second of send time, at which the last n
// answered sends got through, and their accepted share; false when fewer
// than minAcceptedCount answers are known.
func (a *answerLog) acceptedRate(n int) (rate, share float64, ok bool) {
	n = min(n, a.n)
	if n < minAcceptedCount {
		return 0, 0, false
	}
	first := a.buf[(a.next-n+answerHistory)%answerHistory]
	last := a.buf[(a.next-1+answerHistory)%answerHistory]
	span := last.sentAt.Sub(first.sentAt).Seconds()
	if span <= 0 {
		return 0, 0, false
	}
	accepted := 0
	for i := 1; i < n; i++ { // n sends span n-1 gaps
		if !a.buf[(a.next-i+answerHistory)%answerHistory].throttled {
			accepted++
		}
	}
	return float64(accepted) / span, float64(accepted) / float64(n-1), true
}

func positiveOr(v, def float64) float64 {
	if v > 0 && !math.IsInf(v, 1) {
		return v
	}
	return def
}

func clamp[T int | float64 | time.Duration](v, lo, hi T) T {
	return min(max(v, lo), hi)
}
