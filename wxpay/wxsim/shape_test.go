package wxsim_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/internal/testutil"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

func TestShape(t *testing.T) {
	t.Parallel()

	// sends sends n favor coupons at the clock's current instant and
	// returns the statuses.
	sends := func(t *testing.T, b *testBundle, n int, tag string) []int {
		t.Helper()
		var out []int
		for i := range n {
			out = append(out, b.sendFavor(t, "S1", fmt.Sprintf("u-%s-%d", tag, i), fmt.Sprintf("ORN-%s-%d", tag, i)).status)
		}
		return out
	}
	const ok, thr, fail = http.StatusOK, http.StatusTooManyRequests, http.StatusInternalServerError
	stock := []wxsim.StockSpec{{ID: "S1", Budget: 1000}}

	t.Run("bucket depth: strict pacing", func(t *testing.T) {
		t.Parallel()
		clk := testutil.NewClock(time.Unix(1_700_000_000, 0))
		b := setup(t, wxsim.Options{Stocks: stock, Limit: 10, Now: clk.Now, Shape: wxsim.Shape{Depth: wxsim.Duration(time.Nanosecond)}})
		require.Equal(t, []int{ok, thr}, sends(t, b, 2, "a"))
		clk.Advance(100 * time.Millisecond) // one token at 10/s
		require.Equal(t, []int{ok, thr}, sends(t, b, 2, "b"))
	})

	t.Run("bucket depth: 200ms", func(t *testing.T) {
		t.Parallel()
		clk := testutil.NewClock(time.Unix(1_700_000_000, 0))
		b := setup(t, wxsim.Options{Stocks: stock, Limit: 10, Now: clk.Now, Shape: wxsim.Shape{Depth: wxsim.Duration(200 * time.Millisecond)}})
		require.Equal(t, []int{ok, ok, thr}, sends(t, b, 3, "a"))
	})

	t.Run("fixed windows", func(t *testing.T) {
		t.Parallel()
		clk := testutil.NewClock(time.Unix(1_700_000_000, 900_000_000))
		b := setup(t, wxsim.Options{Stocks: stock, Limit: 3, Now: clk.Now, Shape: wxsim.Shape{Kind: wxsim.ShapeWindow}})
		require.Equal(t, []int{ok, ok, ok, thr}, sends(t, b, 4, "a"))
		clk.Advance(100 * time.Millisecond) // the next calendar second: a full window at once
		require.Equal(t, []int{ok, ok, ok, thr}, sends(t, b, 4, "b"))
	})

	t.Run("steps: halving, outages, doubling back", func(t *testing.T) {
		t.Parallel()
		clk := testutil.NewClock(time.Unix(1_700_000_000, 0))
		steps, err := wxsim.ParseSteps("10s:0.5,20s:1:429,21s:1:500,22s:2")
		require.NoError(t, err)
		b := setup(t, wxsim.Options{Stocks: stock, Limit: 4, Now: clk.Now, Shape: wxsim.Shape{Steps: steps}})
		require.Equal(t, []int{ok, ok, ok, ok, thr}, sends(t, b, 5, "a"))
		clk.Advance(10 * time.Second) // bucket of 2, full
		require.Equal(t, []int{ok, ok, thr}, sends(t, b, 3, "b"))
		clk.Advance(10 * time.Second)
		require.Equal(t, []int{thr}, sends(t, b, 1, "c"))
		clk.Advance(time.Second)
		require.Equal(t, []int{fail}, sends(t, b, 1, "d"))
		clk.Advance(time.Second) // 8/s, bucket of 8
		require.Equal(t, []int{ok, ok, ok, ok, ok, ok, ok, ok, thr}, sends(t, b, 9, "e"))
		require.Equal(t, int64(1), b.sim.Stats().Faults["outage_500"])
	})

	t.Run("admin API and validation", func(t *testing.T) {
		t.Parallel()
		b := setup(t, wxsim.Options{Stocks: stock, Limit: 5})
		ctx := context.Background()
		sh := wxsim.Shape{Kind: wxsim.ShapeWindow, LongTail: 0.5, Steps: []wxsim.Step{{After: wxsim.Duration(time.Second), Factor: 0.5}}}
		require.NoError(t, b.admin.SetShape(ctx, sh))
		got, err := b.admin.Shape(ctx)
		require.NoError(t, err)
		require.Equal(t, sh, got)
		require.ErrorContains(t, b.admin.SetShape(ctx, wxsim.Shape{Kind: "leaky"}), "400")
		require.Error(t, b.admin.SetShape(ctx, wxsim.Shape{Steps: []wxsim.Step{{Outage: 503}}}))
		_, err = wxsim.ParseSteps("10s")
		require.Error(t, err)
	})
}
