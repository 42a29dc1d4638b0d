package jobs

import (
	"sync"
	"sync/atomic"

	"github.com/issuer-dev/issuer/queue"
)

// The executors hand results to the completer and free slots to the
// producer without waking either for each row. At 50 sends a second a
// channel send per row woke a sleeping goroutine, and with it an idle
// thread, twice per coupon; those wake-ups cost more CPU than the rest of
// the pass beside signing. The completer lingers anyway and the producer
// claims a quarter of the executors at a time, so each is woken only when
// it has something to do.

// outbox carries results from the executors to the completer. It wakes the
// completer when the first result arrives (to start its linger), when a
// statement's worth is waiting, and when it is closed; it blocks executors
// while the completer is that far behind, as a full channel did.
type outbox struct {
	mu     sync.Mutex
	room   sync.Cond
	buf    []queue.Result
	full   int // a statement's worth
	max    int // executors block above this
	closed bool
	wake   chan struct{} // capacity 1: there is something to look at
}

func newOutbox(full, max int) *outbox {
	o := &outbox{full: full, max: max, wake: make(chan struct{}, 1)}
	o.room.L = &o.mu
	return o
}

// put adds one result, waiting while the completer is max behind.
func (o *outbox) put(r queue.Result) {
	o.mu.Lock()
	for len(o.buf) >= o.max {
		o.room.Wait()
	}
	o.buf = append(o.buf, r)
	n := len(o.buf)
	o.mu.Unlock()
	if n == 1 || n == o.full {
		signal(o.wake)
	}
}

// close tells the completer that no more results come.
func (o *outbox) close() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	signal(o.wake)
}

// signal leaves a wake-up on ch, a channel of capacity 1, unless one is
// already pending: the receiver looks at the state when it wakes, so one
// pending signal stands for any number.
func signal(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// state reports how many results wait and whether the outbox is closed.
func (o *outbox) state() (n int, closed bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.buf), o.closed
}

// take moves the waiting results into dst.
func (o *outbox) take(dst []queue.Result) []queue.Result {
	o.mu.Lock()
	dst = append(dst, o.buf...)
	o.buf = o.buf[:0]
	o.room.Broadcast()
	o.mu.Unlock()
	return dst
}

// slots counts executors freed since the producer last looked, and wakes
// the producer only once as many are free as it waits for.
type slots struct {
	freed atomic.Int64
	need  atomic.Int64 // how many freed slots wake the producer
	wake  chan struct{}
}

func newSlots() *slots {
	s := &slots{wake: make(chan struct{}, 1)}
	s.need.Store(noWaiter)
	return s
}

// noWaiter is need while the producer is not waiting: no free wakes it.
const noWaiter = 1 << 40

// free is an executor's: it finished a row.
func (s *slots) free() {
	if s.freed.Add(1) >= s.need.Load() {
		signal(s.wake)
	}
}

// collect takes the count of freed slots.
func (s *slots) collect() int { return int(s.freed.Swap(0)) }

// await blocks until at least need slots were freed since the last
// collect, or done closes; it returns the count collected.
func (s *slots) await(need int, done <-chan struct{}, also <-chan struct{}) (int, bool) {
	// need is published before freed is read, and free increments freed
	// before reading need: one of the two sees the other.
	s.need.Store(int64(need))
	defer s.need.Store(noWaiter)
	for {
		if n := s.freed.Load(); n >= int64(need) {
			return s.collect(), true
		}
		select {
		case <-s.wake:
		case <-also:
			return s.collect(), true
		case <-done:
			return s.collect(), false
		}
	}
}
