package ops_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/internal/config"
	"github.com/issuer-dev/issuer/ops"
	"github.com/issuer-dev/issuer/queue"
)

// TestBulk: the preview names each batch with the money it has not sent
// and whether the act applies to its status; the act is one audited act
// per batch, a refusal or a status it does not apply to failing that batch
// alone.
func TestBulk(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := guardsSetup(t, config.Approval{})
	one := b.importValued(t, operator, "S1", "one", 3, 100)
	two := b.importValued(t, operator, "S1", "two", 2, 250)
	_, err := b.svc.PauseBatch(ctx, operator, two.ID)
	require.NoError(t, err)

	items, total, err := b.svc.BulkPreview(ctx, analyst, "pause", []int64{one.ID, two.ID})
	require.NoError(t, err, "a preview is a read")
	require.Len(t, items, 2)
	require.True(t, items[0].Applies)
	require.EqualValues(t, 300, items[0].QueuedFen)
	require.False(t, items[1].Applies, "already paused")
	require.EqualValues(t, 500, items[1].QueuedFen)
	require.EqualValues(t, 300, total, "only what the act applies to is at stake")

	res, err := b.svc.BulkAct(ctx, analyst, "pause", []int64{one.ID})
	require.NoError(t, err)
	require.ErrorIs(t, res[0].Err, auth.ErrForbidden)
	require.Equal(t, []string{"ana:denied"}, b.outcomes("pause")[1:], "the refusal is audited")

	res, err = b.svc.BulkAct(ctx, operator, "pause", []int64{one.ID, two.ID})
	require.NoError(t, err)
	require.NoError(t, res[0].Err)
	require.Equal(t, queue.BatchPaused, res[0].Batch.Status)
	require.ErrorIs(t, res[1].Err, queue.ErrState)
	require.Equal(t, []string{"olga:ok", "ana:denied", "olga:ok", "olga:error"}, b.outcomes("pause"))

	res, err = b.svc.BulkAct(ctx, operator, "cancel", []int64{one.ID, two.ID})
	require.NoError(t, err)
	for _, r := range res {
		require.NoError(t, r.Err)
		require.Equal(t, queue.BatchCancelled, r.Batch.Status)
	}

	for _, bad := range []struct {
		action string
		ids    []int64
	}{{"approve", []int64{one.ID}}, {"pause", nil}, {"pause", []int64{one.ID, one.ID}}, {"pause", []int64{-1}}, {"pause", make([]int64, ops.MaxBulk+1)}} {
		_, err := b.svc.BulkAct(ctx, operator, bad.action, bad.ids)
		require.Equal(t, ops.EINVALID, ops.ErrorCode(err), "%v", bad)
	}
}
