package ratelimit

import "time"

// window counts events over a sliding window made of fixed slots, so a rate
// can be read at any moment without keeping every timestamp.
type window struct {
	origin time.Time
	slot   time.Duration
	counts []float64 // ring; counts[abs % len] is slot abs
	latest int64     // absolute index of the newest slot written
}

func newWindow(origin time.Time, span time.Duration, slots int) window {
	return window{origin: origin, slot: span / time.Duration(slots), counts: make([]float64, slots)}
}

func (w *window) index(now time.Time) int64 {
	d := now.Sub(w.origin)
	if d < 0 {
		d = 0
	}
	return int64(d / w.slot)
}

// advance clears the slots that fell out of the window by now.
func (w *window) advance(now time.Time) int64 {
	i := w.index(now)
	if i <= w.latest {
		return w.latest
	}
	n := int64(len(w.counts))
	if i-w.latest >= n {
		clear(w.counts)
	} else {
		for j := w.latest + 1; j <= i; j++ {
			w.counts[j%n] = 0
		}
	}
	w.latest = i
	return i
}

func (w *window) add(now time.Time, k float64) {
	i := w.advance(now)
	w.counts[i%int64(len(w.counts))] += k
}

func (w *window) sum(now time.Time) float64 {
	w.advance(now)
	var s float64
	for _, c := range w.counts {
		s += c
	}
	return s
}

// span is the stretch of time the window covers at now: the full slots
// behind the current one plus the elapsed part of the current one, and
// never more than has passed since origin.
func (w *window) span(now time.Time) time.Duration {
	i := w.advance(now)
	elapsed := now.Sub(w.origin)
	s := time.Duration(len(w.counts)-1)*w.slot + elapsed - time.Duration(i)*w.slot
	return min(s, elapsed)
}

// rate is events per second over the window.
func (w *window) rate(now time.Time) float64 {
	s := w.span(now)
	if s <= 0 {
		return 0
	}
	return w.sum(now) / s.Seconds()
}

// warm reports whether the window has been open long enough to be full.
func (w *window) warm(now time.Time) bool {
	return now.Sub(w.origin) >= time.Duration(len(w.counts))*w.slot
}
