package guard

import (
	"fmt"
	"time"
)

// Window is a daily send window in a time zone: from Start to End,
// minutes after midnight; Start > End spans midnight and Start == End is
// the whole day. The claim judges it in SQL (OpenSQL, schema: batch_open);
// this is the same rule for saying when a batch will next send, and a
// test holds the two together.
type Window struct {
	Start, End int // minutes after midnight
	Loc        *time.Location
}

// ParseWindow reads "HH:MM-HH:MM".
func ParseWindow(s string, loc *time.Location) (Window, error) {
	var h1, m1, h2, m2 int
	if n, err := fmt.Sscanf(s, "%d:%d-%d:%d", &h1, &m1, &h2, &m2); err != nil || n != 4 ||
		h1 < 0 || h1 > 23 || h2 < 0 || h2 > 23 || m1 < 0 || m1 > 59 || m2 < 0 || m2 > 59 {
		return Window{}, fmt.Errorf("window %q: want HH:MM-HH:MM, e.g. 09:00-21:00 or 22:00-06:00 across midnight", s)
	}
	return Window{Start: h1*60 + m1, End: h2*60 + m2, Loc: loc}, nil
}

func (w Window) String() string {
	return fmt.Sprintf("%02d:%02d-%02d:%02d", w.Start/60, w.Start%60, w.End/60, w.End%60)
}

// Contains reports whether t is inside the window.
func (w Window) Contains(t time.Time) bool {
	lt := t.In(w.Loc)
	m := lt.Hour()*60 + lt.Minute()
	switch {
	case w.Start == w.End:
		return true
	case w.Start < w.End:
		return m >= w.Start && m < w.End
	default:
		return m >= w.Start || m < w.End
	}
}

// Next returns t if it is inside the window, else when the window next
// opens.
func (w Window) Next(t time.Time) time.Time {
	if w.Contains(t) {
		return t
	}
	lt := t.In(w.Loc)
	open := time.Date(lt.Year(), lt.Month(), lt.Day(), w.Start/60, w.Start%60, 0, 0, w.Loc)
	if !open.After(t) {
		open = time.Date(lt.Year(), lt.Month(), lt.Day()+1, w.Start/60, w.Start%60, 0, 0, w.Loc)
	}
	return open
}
