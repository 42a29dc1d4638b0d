package queue

import (
	"time"

	"github.com/issuer-dev/issuer/guard"
)

// Window is a daily send window (guard.Window).
type Window = guard.Window

// ParseWindow reads "HH:MM-HH:MM" (guard.ParseWindow).
func ParseWindow(s string, loc *time.Location) (Window, error) { return guard.ParseWindow(s, loc) }

// window returns the batch's window, if it has one.
func (g *Guards) window() (Window, bool) {
	if g.WindowStart == nil || g.WindowEnd == nil || g.WindowTZ == nil {
		return Window{}, false
	}
	loc, err := time.LoadLocation(*g.WindowTZ)
	if err != nil {
		loc = time.UTC
	}
	return Window{Start: *g.WindowStart, End: *g.WindowEnd, Loc: loc}, true
}

// nextSend is when a batch of this status and these guards may next be
// claimed, from now; nil when an operator must act first.
func (g *Guards) nextSend(status string, now time.Time) *time.Time {
	if status != BatchPending && status != BatchRunning {
		return nil
	}
	t := now
	if g.StartAt != nil && g.StartAt.After(t) {
		t = *g.StartAt
	}
	if w, ok := g.window(); ok {
		t = w.Next(t)
	}
	return &t
}

// fillGuards derives the display fields.
func (b *Batch) fillGuards(now time.Time) {
	if w, ok := b.window(); ok {
		b.Window = w.String()
	}
	b.NextSendAt = b.nextSend(b.Status, now)
}
