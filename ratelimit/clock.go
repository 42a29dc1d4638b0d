package ratelimit

import (
	"context"
	"time"
)

// Clock is the time source of every strategy in this package. Production code
// leaves it nil (real time); tests and Simulate pass a virtual clock so that
// time only moves when they say so.
type Clock interface {
	Now() time.Time
	// NewTimer returns an armed timer that delivers on C once d has passed.
	NewTimer(d time.Duration) Timer
}

// Timer is the part of *time.Timer that the strategies need. Stop and Reset
// follow the Go 1.23 semantics: after either returns, no stale tick is
// delivered.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
	Reset(d time.Duration) bool
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time        { return t.t.C }
func (t realTimer) Stop() bool                 { return t.t.Stop() }
func (t realTimer) Reset(d time.Duration) bool { return t.t.Reset(d) }

func clockOrReal(c Clock) Clock {
	if c == nil {
		return realClock{}
	}
	return c
}

// sleep waits for d on clock, or until ctx is done.
func sleep(ctx context.Context, clock Clock, d time.Duration) error {
	t := clock.NewTimer(d)
	select {
	case <-ctx.Done():
		t.Stop()
		return ctx.Err()
	case <-t.C():
		return nil
	}
}
