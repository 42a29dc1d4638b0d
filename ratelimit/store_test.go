package ratelimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/internal/dbtest"
	"github.com/issuer-dev/issuer/ratelimit"
)

func TestEstimateStore(t *testing.T) {
	t.Parallel()

	type testBundle struct {
		store *ratelimit.EstimateStore
	}
	setup := func(t *testing.T) *testBundle {
		t.Helper()
		return &testBundle{store: &ratelimit.EstimateStore{DB: dbtest.New(t).DB}}
	}
	ctx := context.Background()

	t.Run("none stored", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, ok, err := b.store.Load(ctx, "1900000001")
		require.NoError(t, err)
		require.False(t, ok)
	})

	t.Run("the latest save wins, per merchant", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		require.NoError(t, b.store.Save(ctx, "1900000001", 310))
		require.NoError(t, b.store.Save(ctx, "1900000001", 290.5))
		require.NoError(t, b.store.Save(ctx, "1900000002", 80))
		l, ok, err := b.store.Load(ctx, "1900000001")
		require.NoError(t, err)
		require.True(t, ok)
		require.InDelta(t, 290.5, l.Estimate, 1e-9)
		require.WithinDuration(t, time.Now(), l.At, time.Hour) // the database's clock, not a timing assertion
		l, _, err = b.store.Load(ctx, "1900000002")
		require.NoError(t, err)
		require.InDelta(t, 80, l.Estimate, 1e-9)
	})

	t.Run("not a rate", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		require.Error(t, b.store.Save(ctx, "1900000001", 0))
	})

	t.Run("keeper seeds from the store and saves the merchant's limit", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		require.NoError(t, b.store.Save(ctx, "1900000001", 300))
		k := &ratelimit.Keeper{Store: b.store, MchID: "1900000001"}
		k.SetInstances(2)
		cfg := k.Seed(ctx, ratelimit.Config{Initial: 100, Max: 500})
		require.InDelta(t, 150, cfg.Learned, 1e-9) // this instance's share
		lim := ratelimit.New(cfg)
		require.InDelta(t, 150, lim.Stats().Estimate, 1e-9)

		runCtx, cancel := context.WithCancel(ctx)
		cancel() // Run saves once more on the way out
		k.Run(runCtx, lim)
		l, _, err := b.store.Load(ctx, "1900000001")
		require.NoError(t, err)
		require.InDelta(t, 300, l.Estimate, 1e-9)
	})
}

func TestLearnedStart(t *testing.T) {
	t.Parallel()

	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		learned ratelimit.Learned
		age     time.Duration
		want    float64
	}{
		{"none", ratelimit.Learned{}, 0, 100},
		{"fresh", ratelimit.Learned{Estimate: 300, At: at}, time.Hour, 300},
		{"two days: halfway to initial", ratelimit.Learned{Estimate: 300, At: at}, 48 * time.Hour, 200},
		{"a week: near initial", ratelimit.Learned{Estimate: 300, At: at}, 7 * 24 * time.Hour, 100 + 200.0/64},
		{"never above what was learned", ratelimit.Learned{Estimate: 60, At: at}, 30 * 24 * time.Hour, 60},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.InDelta(t, tt.want, tt.learned.Start(at.Add(tt.age), 100), 1e-6)
		})
	}
}
