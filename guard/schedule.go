package guard

import (
	"fmt"
	"time"
)

// Schedule is when a batch may send: not before StartAt (zero: now), and
// only inside Window each day (nil: all day). The claim judges it in SQL
// (OpenSQL); Window.Next says when a batch will next send.
type Schedule struct {
	StartAt time.Time
	Window  *Window
}

// store sets the schedule's columns.
func (s Schedule) store(c *columns) {
	var startAt *time.Time
	if !s.StartAt.IsZero() {
		startAt = &s.StartAt
	}
	var wStart, wEnd *int
	var wTZ *string
	if w := s.Window; w != nil {
		tz := w.Loc.String()
		wStart, wEnd, wTZ = &w.Start, &w.End, &tz
	}
	c.set("start_at", startAt)
	c.set("window_start", wStart)
	c.set("window_end", wEnd)
	c.set("window_tz", wTZ)
}

// OpenSQL is the claim's test that batch b may be claimed at the time in
// parameter at (NULL: the database's now): runnable (pending or running,
// so never awaiting approval, paused, halted or ended), past its start
// time and inside its send window. It calls the schema's batch_open(status,
// start_at, window_start, window_end, window_tz, t), which is
//
//	status IN ('pending', 'running')
//	AND (start_at IS NULL OR start_at <= t)
//	AND (window_start IS NULL OR window_start = window_end OR
//	     minute_of_day(t, window_tz) in [window_start, window_end),
//	     across midnight when window_start > window_end)
//
// — the rule of Window.Contains, which a test holds to it.
func OpenSQL(b, at string) string {
	return fmt.Sprintf("batch_open(%[1]s.status, %[1]s.start_at, %[1]s.window_start, %[1]s.window_end, %[1]s.window_tz, coalesce(%[2]s::timestamptz, now()))", b, at)
}
