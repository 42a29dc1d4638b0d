package startstop_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/internal/startstop"
)

// A group stops in the reverse order of its starts, every loop has ended
// when Stop returns, and a loop that outlives its bound is reported.
func TestGroupStopsInReverse(t *testing.T) {
	t.Parallel()
	var order []string
	loop := func(name string) *startstop.Loop {
		return &startstop.Loop{Name: name, Run: func(ctx context.Context) {
			<-ctx.Done()
			order = append(order, name) // Stop waits for each in turn: no race
		}}
	}
	g := &startstop.Group{}
	ctx := context.Background()
	require.NoError(t, g.Start(ctx, "a", loop("a")))
	require.NoError(t, g.Start(ctx, "b", startstop.Funcs{OnStop: func() error { order = append(order, "b"); return nil }}))
	require.NoError(t, g.Start(ctx, "c", loop("c")))
	require.NoError(t, g.Stop())
	require.Equal(t, []string{"c", "b", "a"}, order)

	release := make(chan struct{})
	stuck := &startstop.Loop{Name: "stuck", Timeout: 10 * time.Millisecond, Run: func(context.Context) { <-release }}
	require.NoError(t, g.Start(ctx, "stuck", stuck))
	require.ErrorContains(t, g.Stop(), "stuck still running after 10ms")
	close(release)

	failing := startstop.Funcs{OnStart: func(context.Context) error { return errors.New("no port") }}
	require.ErrorContains(t, g.Start(ctx, "http", failing), "start http: no port")
	require.NoError(t, g.Stop(), "a part that did not start is not stopped")
}
