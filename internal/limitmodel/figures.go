package limitmodel

import (
	"time"
)

// Figures is what a run got of the limit, by the server's own log.
type Figures struct {
	Sends, Accepted int
	Span            time.Duration // from the first send judged to the last
	// Whole is accepted ÷ the limit's worth over Span; Steady the same
	// from steadyFrom after the first send to a second before the last
	// (the last second drains the batch).
	Whole, Steady float64
	// Throttled and SteadyThrottled are the shares of sends answered 429.
	Throttled, SteadyThrottled float64
}

// Measure reads a server's log; limit is the hidden limit at each moment
// since the first send.
func Measure(log []Event, limit func(since time.Duration) float64, steadyFrom time.Duration) Figures {
	var f Figures
	if len(log) == 0 {
		return f
	}
	first, last := log[0].At, log[0].At
	for _, e := range log {
		if e.At.Before(first) {
			first = e.At
		}
		if e.At.After(last) {
			last = e.At
		}
	}
	f.Span = last.Sub(first)
	steadyTo := f.Span - time.Second
	var sends, accepted, steadySends, steadyAccepted int
	for _, e := range log {
		at := e.At.Sub(first)
		sends++
		if e.Admitted {
			accepted++
		}
		if at >= steadyFrom && at < steadyTo {
			steadySends++
			if e.Admitted {
				steadyAccepted++
			}
		}
	}
	f.Sends, f.Accepted = sends, accepted
	f.Whole = ratio(float64(accepted), capacity(limit, 0, f.Span))
	f.Throttled = ratio(float64(sends-accepted), float64(sends))
	if steadyTo > steadyFrom {
		f.Steady = ratio(float64(steadyAccepted), capacity(limit, steadyFrom, steadyTo))
		f.SteadyThrottled = ratio(float64(steadySends-steadyAccepted), float64(steadySends))
	}
	return f
}

// capacity is ∫ limit over [from, to).
func capacity(limit func(time.Duration) float64, from, to time.Duration) float64 {
	const step = time.Millisecond
	var c float64
	for t := from; t < to; t += step {
		c += limit(t) * step.Seconds()
	}
	return c
}

func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

// Slot is one stretch of a run: sends judged in it, and how many of them
// were throttled.
type Slot struct {
	Sends, Throttled int
}

// Slots counts a log by slots of width from the first send on.
func Slots(log []Event, width time.Duration) []Slot {
	if len(log) == 0 {
		return nil
	}
	first := log[0].At
	for _, e := range log {
		if e.At.Before(first) {
			first = e.At
		}
	}
	var out []Slot
	for _, e := range log {
		i := int(e.At.Sub(first) / width)
		for len(out) <= i {
			out = append(out, Slot{})
		}
		out[i].Sends++
		if !e.Admitted {
			out[i].Throttled++
		}
	}
	return out
}
