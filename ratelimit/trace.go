package ratelimit

import (
	"fmt"
	"io"
	"os"
	"time"
)

// TraceEnv names the file a Limiter built without Config.Trace appends its
// trace to, when set.
const TraceEnv = "RATELIMIT_TRACE"

// traceSlot is the stretch of time one trace line sums up.
const traceSlot = 100 * time.Millisecond

// tracer writes a Limiter's trace: one line per traceSlot in which anything
// happened, stamped with its end, and one per cut. A nil tracer writes
// nothing. It is used under the Limiter's lock.
type tracer struct {
	w     io.Writer
	start time.Time
	slot  int64 // the slot being counted
	// counted in the slot
	grants, accepted, throttled int
}

func newTracer(w io.Writer, start time.Time) *tracer {
	if w == nil {
		path := os.Getenv(TraceEnv)
		if path == "" {
			return nil
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return nil // a trace is a debugging aid; no trace is no failure
		}
		w = f // open for the life of the process
	}
	fmt.Fprintf(w, "# ratelimit trace from %s: seconds since then; per %v: rate, estimate, measured send rate, latency, grants, answers accepted / throttled; cuts\n",
		start.Format(time.RFC3339Nano), traceSlot)
	return &tracer{w: w, start: start}
}

// tick closes the slots before now's with the limiter's state as it is.
func (t *tracer) tick(now time.Time, l *Limiter) {
	if t == nil {
		return
	}
	slot := int64(now.Sub(t.start) / traceSlot)
	if slot <= t.slot {
		return
	}
	if t.grants+t.accepted+t.throttled > 0 {
		end := time.Duration(t.slot+1) * traceSlot
		fmt.Fprintf(t.w, "%8.3f rate %6.1f est %6.1f send %6.1f lat %5.1fms grants %3d ok %3d thr %2d\n", end.Seconds(),
			l.rate, l.estimate, l.sends.rate(now), 1000*l.latency, t.grants, t.accepted, t.throttled)
	}
	t.slot, t.grants, t.accepted, t.throttled = slot, 0, 0, 0
}

func (t *tracer) grant() {
	if t != nil {
		t.grants++
	}
}

func (t *tracer) answer(throttled bool) {
	if t == nil {
		return
	}
	if throttled {
		t.throttled++
	} else {
		t.accepted++
	}
}

// event writes one line at now.
func (t *tracer) event(now time.Time, format string, args ...any) {
	if t == nil {
		return
	}
	fmt.Fprintf(t.w, "%8.3f ", now.Sub(t.start).Seconds())
	fmt.Fprintf(t.w, format, args...)
	fmt.Fprintln(t.w)
}
