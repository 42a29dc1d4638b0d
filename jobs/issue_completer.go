package jobs

import (
	"context"
	"time"

	"github.com/issuer-dev/issuer/queue"
)

// completer records results in batched statements, retrying while the
// database is away, and tells the producer after each write.
//
// The linger bounds how long an outcome waits in memory. Longer means
// fewer, larger writes (at 50 sends/s, 5 ms made every outcome a statement
// of its own); it costs nothing in safety, because an outcome lost with the
// process leaves its row leased and it is resent with the same
// out_request_no, which WeChat Pay answers idempotently.
type completer struct {
	*pass
	buf      []queue.Result
	touched  map[int64]bool
	shutdown time.Duration // how long a write may keep failing before it is given up
}

const (
	completerMaxBatch = 512
	completerLinger   = 100 * time.Millisecond
)

func newCompleter(p *pass) *completer {
	shutdown := p.j.ShutdownTimeout
	if shutdown <= 0 {
		shutdown = DefaultShutdownTimeout
	}
	return &completer{pass: p, buf: make([]queue.Result, 0, completerMaxBatch), touched: map[int64]bool{}, shutdown: shutdown}
}

// run records until the outbox closes and returns the batches touched.
func (cp *completer) run() []int64 {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		n, closed := cp.out.state()
		if n == 0 {
			if closed {
				out := make([]int64, 0, len(cp.touched))
				for b := range cp.touched {
					out = append(out, b)
				}
				return out
			}
			<-cp.out.wake
			continue
		}
		if n < completerMaxBatch && !closed {
			// A signal from before this look says nothing new; one after
			// it means a statement's worth or the end.
			select {
			case <-cp.out.wake:
			default:
			}
			if n, closed = cp.out.state(); n < completerMaxBatch && !closed {
				timer.Reset(completerLinger)
				select {
				case <-timer.C:
				case <-cp.out.wake:
					timer.Stop()
				}
			}
		}
		cp.buf = cp.out.take(cp.buf)
		cp.flush()
	}
}

// flush writes what is buffered. Bounded, so that a database outage
// cannot wedge the pass: unrecorded rows keep their lease and are rescued
// and resent later.
func (cp *completer) flush() {
	started := time.Now()
	for attempt := 0; len(cp.buf) > 0; attempt++ {
		err := cp.write()
		if err == nil {
			return
		}
		if time.Since(started) > cp.shutdown {
			cp.c.unrecorded.Add(int64(len(cp.buf)))
			cp.c.recording.Add(-int64(len(cp.buf)))
			cp.log.Error("giving up recording outcomes; the rows stay leased and will be re-sent with the same out_request_no after the lease expires",
				"rows", len(cp.buf), "err", err)
			cp.buf = cp.buf[:0]
			return
		}
		cp.log.Warn("record outcomes failed; retrying", "rows", len(cp.buf), "err", err, "attempt", attempt+1)
		time.Sleep(min(5*time.Second, time.Duration(attempt+1)*200*time.Millisecond))
	}
}

func (cp *completer) write() error {
	ctx, cancel := context.WithTimeout(cp.sendCtx, 15*time.Second)
	defer cancel()
	batches, stale, err := cp.j.Store.Record(ctx, cp.j.Owner, cp.buf)
	if err != nil {
		return err
	}
	for _, b := range batches {
		cp.touched[b] = true
	}
	cp.c.recording.Add(-int64(len(cp.buf)))
	if stale > 0 {
		cp.c.stale.Add(int64(stale))
		cp.log.Warn("results for rows whose lease was taken over were not recorded; their new owner resends the same out_request_no", "rows", stale)
	}
	cp.buf = cp.buf[:0]
	signal(cp.flushed)
	return nil
}
