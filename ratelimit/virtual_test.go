package ratelimit

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestVirtualClock(t *testing.T) {
	t.Parallel()

	t.Run("timers fire in due order, ties in arming order", func(t *testing.T) {
		t.Parallel()
		c := newVirtualClock(testStart)
		a, b, d := c.NewTimer(time.Second), c.NewTimer(time.Second), c.NewTimer(time.Millisecond)
		c.mu.Lock()
		var order []Timer
		for c.fireNextLocked(testStart.Add(time.Hour)) {
			for _, tm := range []Timer{a, b, d} {
				select {
				case <-tm.C():
					order = append(order, tm)
				default:
				}
			}
		}
		c.mu.Unlock()
		require.Equal(t, []Timer{d, a, b}, order)
		require.Equal(t, testStart.Add(time.Second), c.Now())
	})

	t.Run("stop and reset leave no stale tick", func(t *testing.T) {
		t.Parallel()
		c := newVirtualClock(testStart)
		tm := c.NewTimer(time.Millisecond)
		c.Advance(time.Millisecond)
		require.False(t, tm.Reset(time.Second))
		c.Advance(time.Millisecond)
		select {
		case <-tm.C():
			t.Fatal("stale tick after Reset")
		default:
		}
		require.True(t, tm.Stop())
		c.Advance(time.Hour)
		select {
		case <-tm.C():
			t.Fatal("tick after Stop")
		default:
		}
		require.Equal(t, 1, c.Fired())
	})

	t.Run("WaitArmed sees a parked goroutine", func(t *testing.T) {
		t.Parallel()
		c := newVirtualClock(testStart)
		done := make(chan struct{})
		go func() {
			<-c.NewTimer(time.Second).C()
			close(done)
		}()
		c.WaitArmed(1)
		c.Advance(time.Second)
		<-done
	})
}

func TestWindow(t *testing.T) {
	t.Parallel()

	w := newWindow(testStart, time.Second, 10)
	at := func(d time.Duration) time.Time { return testStart.Add(d) }
	for i := range 20 { // 40/s for half a second
		w.add(at(time.Duration(i)*25*time.Millisecond), 1)
	}
	require.False(t, w.warm(at(500*time.Millisecond)))
	require.InDelta(t, 40, w.rate(at(500*time.Millisecond)), 1e-9)
	// At 1 s the first slot has left: 16 events over the last 0.9 s.
	require.InDelta(t, 16/0.9, w.rate(at(time.Second)), 1e-9)
	require.True(t, w.warm(at(time.Second)))
	require.Zero(t, w.rate(at(10*time.Second)))
}
