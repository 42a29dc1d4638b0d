package alert_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/alert"
	"github.com/issuer-dev/issuer/internal/dbtest"
)

// TestHistory: every alert raised is kept, whatever became of its delivery
// (here there is no channel at all), also those raised just before Run
// stops; the newest come first and pruning drops the old.
func TestHistory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := alert.NewHistoryStore(dbtest.New(t).DB)
	n := alert.New(alert.Config{History: h})
	stop := n.Start(ctx)
	n.Notify(alert.Alert{Kind: alert.KindBatchHalted, BatchID: 7, StockID: "S1", Message: "stock_unavailable: stopped",
		Time: time.Now().Add(-40 * 24 * time.Hour)})
	n.Notify(alert.Alert{Kind: alert.KindReview, BatchID: 8, Message: "3 rows in review"})
	stop()

	kept, err := h.Recent(ctx, 10)
	require.NoError(t, err)
	require.Len(t, kept, 2)
	require.Equal(t, alert.KindReview, kept[0].Kind, "newest first")
	require.Equal(t, "批次 8 有收件人发券结果不明", kept[0].Title)
	require.Equal(t, "none", kept[0].Delivery)
	require.Equal(t, alert.SeverityError, kept[0].Severity)
	require.Equal(t, int64(7), *kept[1].BatchID)
	require.Equal(t, "S1", kept[1].StockID)

	pruned, err := h.Prune(ctx, alert.HistoryKept)
	require.NoError(t, err)
	require.EqualValues(t, 1, pruned)
	kept, err = h.Recent(ctx, 10)
	require.NoError(t, err)
	require.Len(t, kept, 1)
}
