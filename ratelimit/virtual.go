package ratelimit

import (
	"container/heap"
	"sync"
	"time"
)

// virtualClock is a Clock whose time moves only when its owner fires timers.
//
// It makes runs with real goroutines deterministic: every goroutine in a
// simulation blocks only on one of its timers, so "all goroutines are parked"
// is simply "the number of armed timers equals the number of goroutines".
// The runner then fires one timer at a time and waits for its owner to park
// again, which serialises the goroutines in virtual-time order.
type virtualClock struct {
	mu     sync.Mutex
	armed  *sync.Cond // broadcast whenever a timer is armed or a goroutine leaves
	now    time.Time
	timers timerHeap
	seq    uint64
	fired  int // timers fired so far; tests use it to count wake-ups
	live   int // goroutines taking part in a settled run
}

func newVirtualClock(start time.Time) *virtualClock {
	c := &virtualClock{now: start}
	c.armed = sync.NewCond(&c.mu)
	return c
}

func (c *virtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *virtualClock) NewTimer(d time.Duration) Timer {
	t := &virtualTimer{clock: c, ch: make(chan time.Time, 1), index: -1}
	c.mu.Lock()
	c.armLocked(t, d)
	c.mu.Unlock()
	return t
}

func (c *virtualClock) armLocked(t *virtualTimer, d time.Duration) {
	if d < 0 {
		d = 0
	}
	c.seq++
	t.when, t.seq = c.now.Add(d), c.seq
	heap.Push(&c.timers, t)
	c.armed.Broadcast()
}

// fireNextLocked fires the earliest timer due at or before limit.
func (c *virtualClock) fireNextLocked(limit time.Time) bool {
	if len(c.timers) == 0 || c.timers[0].when.After(limit) {
		return false
	}
	t := heap.Pop(&c.timers).(*virtualTimer)
	if t.when.After(c.now) {
		c.now = t.when
	}
	select {
	case t.ch <- t.when:
	default:
	}
	c.fired++
	return true
}

// Advance fires, in order, every timer due within d and moves time on by d.
// Owners of timers that fire together run concurrently; use run for a
// serialised simulation.
func (c *virtualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	target := c.now.Add(d)
	for c.fireNextLocked(target) {
	}
	c.now = target
}

// WaitArmed blocks until at least n timers are armed: the way a test knows
// that n goroutines have parked.
func (c *virtualClock) WaitArmed(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.timers) < n {
		c.armed.Wait()
	}
}

// Fired reports how many timers have fired.
func (c *virtualClock) Fired() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fired
}

// join and leave count the goroutines of a settled run.
func (c *virtualClock) join() {
	c.mu.Lock()
	c.live++
	c.mu.Unlock()
}

func (c *virtualClock) leave() {
	c.mu.Lock()
	c.live--
	c.armed.Broadcast()
	c.mu.Unlock()
}

// settle waits until every joined goroutine is parked on a timer.
func (c *virtualClock) settle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.settleLocked()
}

func (c *virtualClock) settleLocked() {
	for len(c.timers) < c.live {
		c.armed.Wait()
	}
}

// run fires timers one at a time, each only once all joined goroutines are
// parked, until the next timer is due after end; then time stops at end.
func (c *virtualClock) run(end time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		c.settleLocked()
		if !c.fireNextLocked(end) {
			break
		}
	}
	if end.After(c.now) {
		c.now = end
	}
}

type virtualTimer struct {
	clock *virtualClock
	ch    chan time.Time
	when  time.Time
	seq   uint64
	index int // in clock.timers; -1 when not armed
}

func (t *virtualTimer) C() <-chan time.Time { return t.ch }

func (t *virtualTimer) Stop() bool {
	c := t.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	return t.stopLocked()
}

func (t *virtualTimer) stopLocked() bool {
	wasArmed := t.index >= 0
	if wasArmed {
		heap.Remove(&t.clock.timers, t.index)
	}
	select { // no stale tick after Stop or Reset, as with Go 1.23 timers
	case <-t.ch:
	default:
	}
	return wasArmed
}

func (t *virtualTimer) Reset(d time.Duration) bool {
	c := t.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	wasArmed := t.stopLocked()
	c.armLocked(t, d)
	return wasArmed
}

// timerHeap orders timers by due time, then by arming order, so that ties
// resolve the same way on every run.
type timerHeap []*virtualTimer

func (h timerHeap) Len() int { return len(h) }

func (h timerHeap) Less(i, j int) bool {
	if !h[i].when.Equal(h[j].when) {
		return h[i].when.Before(h[j].when)
	}
	return h[i].seq < h[j].seq
}

func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *timerHeap) Push(x any) {
	t := x.(*virtualTimer)
	t.index = len(*h)
	*h = append(*h, t)
}

func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	t.index = -1
	*h = old[:len(old)-1]
	return t
}
