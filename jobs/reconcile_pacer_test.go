package jobs

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFlowPacer(t *testing.T) {
	t.Parallel()
	setup := func(t *testing.T) (*FlowPacer, *time.Time, *[]time.Duration) {
		t.Helper()
		now := time.Date(2025, 3, 1, 10, 30, 0, 0, time.UTC)
		var slept []time.Duration
		p := NewFlowPacer()
		p.now = func() time.Time { return now }
		p.sleep = func(_ context.Context, d time.Duration) error {
			slept = append(slept, d)
			now = now.Add(d)
			return nil
		}
		return p, &now, &slept
	}

	t.Run("FiveAMinute", func(t *testing.T) {
		t.Parallel()
		p, now, slept := setup(t)
		ctx := context.Background()
		var at []time.Time
		for range 11 {
			require.NoError(t, p.Wait(ctx))
			at = append(at, *now)
			*now = now.Add(time.Second)
		}
		// The first five go at once; each later call waits until the call
		// five before it is a minute old.
		require.Equal(t, []time.Duration{55 * time.Second, 55 * time.Second}, *slept)
		for i := 5; i < len(at); i++ {
			require.Equal(t, time.Minute, at[i].Sub(at[i-5]), "call %d", i)
		}
	})

	t.Run("BackoffWaitsAWholeWindow", func(t *testing.T) {
		t.Parallel()
		p, now, slept := setup(t)
		require.NoError(t, p.Wait(context.Background()))
		p.Backoff()
		start := *now
		require.NoError(t, p.Wait(context.Background()))
		require.Equal(t, time.Minute, now.Sub(start))
		require.Len(t, *slept, 1)
	})

	t.Run("Cancelled", func(t *testing.T) {
		t.Parallel()
		p := NewPacer(1, time.Hour)
		ctx, cancel := context.WithCancel(context.Background())
		require.NoError(t, p.Wait(ctx))
		cancel()
		require.ErrorIs(t, p.Wait(ctx), context.Canceled)
	})
}
