package pages

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestReconCache: the first view waits for the figures; later views get
// them kept, and once they are old start one read in the background while
// being served the old ones; a fetch reads at once; close waits for the
// reads under way.
func TestReconCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newReconCache()
	var builds atomic.Int64
	release := make(chan struct{}, 10)
	build := func(context.Context) (*reconData, error) {
		n := builds.Add(1)
		<-release
		return &reconData{AsOf: time.Now().Format(time.RFC3339Nano), LinesTotal: int(n)}, nil
	}
	release <- struct{}{}
	d, err := c.get(ctx, "", false, build)
	require.NoError(t, err)
	require.Equal(t, 1, d.LinesTotal)
	d, err = c.get(ctx, "", false, build)
	require.NoError(t, err)
	require.Equal(t, 1, d.LinesTotal, "kept")
	require.EqualValues(t, 1, builds.Load())

	// Old figures: served at once, one read starts behind them.
	c.mu.Lock()
	c.entries[""].read = time.Now().Add(-time.Hour)
	c.mu.Unlock()
	d, err = c.get(ctx, "", false, build)
	require.NoError(t, err)
	require.Equal(t, 1, d.LinesTotal)
	require.True(t, d.Building)
	d, err = c.get(ctx, "", false, build)
	require.NoError(t, err)
	require.True(t, d.Building, "one read at a time")
	release <- struct{}{}
	require.Eventually(t, func() bool {
		d, err := c.get(ctx, "", false, build)
		return err == nil && d.LinesTotal == 2 && !d.Building
	}, 10*time.Second, 10*time.Millisecond)
	require.EqualValues(t, 2, builds.Load())

	// A fetch reads at once and keeps what it read.
	release <- struct{}{}
	d, err = c.get(ctx, "", true, build)
	require.NoError(t, err)
	require.Equal(t, 3, d.LinesTotal)
	d, err = c.get(ctx, "", false, build)
	require.NoError(t, err)
	require.Equal(t, 3, d.LinesTotal)

	// Each stock has its own figures; close waits for a read under way.
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := c.get(ctx, "S1", false, build)
		require.ErrorIs(t, err, errReconBuilding, "longer than reconWait")
	}()
	<-done
	closed := make(chan struct{})
	go func() {
		c.close()
		close(closed)
	}()
	select {
	case <-closed:
		t.Fatal("close returned while a read was under way")
	case <-time.After(50 * time.Millisecond):
	}
	release <- struct{}{}
	<-closed
}
