package intake_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/intake"
	"github.com/issuer-dev/issuer/queue"
)

func TestImportGuards(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	imp := func(t *testing.T, b *testBundle, body string, g intake.Guards) (*intake.Report, error) {
		t.Helper()
		var rejects []intake.Reject
		o := opts(intake.KindFavor, &rejects)
		o.Guards = g
		return intake.Import(ctx, b.db, strings.NewReader(body), o)
	}

	t.Run("DuplicateFileRefused", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		first, err := imp(t, b, "openid\noA\noB\n", intake.Guards{})
		require.NoError(t, err)
		_, err = imp(t, b, "openid\noA\noB\n", intake.Guards{})
		require.ErrorIs(t, err, intake.ErrDuplicateFile)
		require.ErrorContains(t, err, "batch "+itoa(int(first.BatchID)))
		var n int
		require.NoError(t, b.db.Get(&n, `SELECT count(*) FROM batches`))
		require.Equal(t, 1, n, "nothing stored")
		// On purpose: stored, and its openids are all repeats unless allowed.
		rep, err := imp(t, b, "openid\noA\noB\n", intake.Guards{AllowDuplicate: true, AllowRepeats: true})
		require.NoError(t, err)
		require.Equal(t, 2, rep.Accepted)
		// A cancelled batch's file may be imported again.
		_, err = queue.NewStore(b.db).Cancel(ctx, first.BatchID)
		require.NoError(t, err)
		_, err = queue.NewStore(b.db).Cancel(ctx, rep.BatchID)
		require.NoError(t, err)
		_, err = imp(t, b, "openid\noA\noB\n", intake.Guards{AllowRepeats: true})
		require.NoError(t, err)
	})

	t.Run("RepeatsSkippedAndCounted", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := imp(t, b, "openid\noA\noB\noC\n", intake.Guards{})
		require.NoError(t, err)
		rep, err := imp(t, b, "openid\noB\noD\noD\n\noC\noE\n", intake.Guards{})
		require.NoError(t, err)
		require.Equal(t, intake.Report{Lines: 6, Accepted: 2, Duplicates: 1, Repeats: 2, Blank: 1}, stripIDs(rep))
		require.Equal(t, rep.Lines, rep.Accepted+rep.Duplicates+rep.Repeats+rep.Rejected+rep.Blank)
		bt, err := queue.NewStore(b.db).Batch(ctx, rep.BatchID)
		require.NoError(t, err)
		require.Equal(t, 2, bt.Accepted)
		require.Equal(t, 2, bt.Repeats)
		require.Equal(t, 2, bt.Counts[queue.StatusPending])
		// All repeats: nothing to store.
		_, err = imp(t, b, "openid\noA\n", intake.Guards{})
		require.ErrorContains(t, err, "repeats")
	})

	t.Run("ApprovalThresholds", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		rep, err := imp(t, b, "openid,coupon_value\noA,500\noB,500\n", intake.Guards{ApprovalMinAmountFen: 1000, UploadedBy: "ann"})
		require.NoError(t, err)
		require.Equal(t, queue.BatchAwaitingApproval, rep.Status, "at the amount threshold")
		rep, err = imp(t, b, "openid\noC\noD\n", intake.Guards{ApprovalMinCoupons: 3, FaceValueFen: 500, Paused: true})
		require.NoError(t, err)
		require.Equal(t, queue.BatchPaused, rep.Status, "under both thresholds, created paused")
		bt, err := queue.NewStore(b.db).Batch(ctx, rep.BatchID)
		require.NoError(t, err)
		require.Equal(t, int64(1000), bt.AmountFen, "rows without coupon_value count at the stock's face value")
	})

	// A list split under the per-batch thresholds still waits: the daily
	// ones count the stock's batches of the day together.
	t.Run("DailyThresholds", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		daily := intake.Guards{ApprovalDailyCoupons: 5, ApprovalMinCoupons: 4, UploadedBy: "ann"}
		rep, err := imp(t, b, "openid\noA\noB\noC\n", daily)
		require.NoError(t, err)
		require.Equal(t, queue.BatchPending, rep.Status, "3 of the day's 5")
		rep, err = imp(t, b, "openid\noD\noE\noF\n", daily)
		require.NoError(t, err)
		require.Equal(t, queue.BatchAwaitingApproval, rep.Status, "6 today: at or over 5, though each is under 4")
		require.Contains(t, rep.ApprovalReason, "approval.daily_coupons (5)")
		require.Contains(t, rep.ApprovalReason, "6 recipients")
		require.Equal(t, intake.RuleDailyCoupons, rep.ApprovalRule, "named for the pages")
		require.EqualValues(t, 3, rep.DayCoupons, "the day's other batches")
		// A rejected batch does not count; another stock's never do.
		_, err = queue.NewStore(b.db).Reject(ctx, rep.BatchID, "olga", "split list")
		require.NoError(t, err)
		rep, err = imp(t, b, "openid\noG\n", daily)
		require.NoError(t, err)
		require.Equal(t, queue.BatchPending, rep.Status, "3 + 1 today")
		var rejects []intake.Reject
		o := opts(intake.KindFavor, &rejects)
		o.StockID, o.Guards = "9856001", daily
		rep, err = intake.Import(ctx, b.db, strings.NewReader("openid\noH\n"), o)
		require.NoError(t, err)
		require.Equal(t, queue.BatchPending, rep.Status, "another stock")
		// Yesterday's batches do not count today.
		_, err = b.db.Exec(`UPDATE batches SET created_at = created_at - interval '1 day'`)
		require.NoError(t, err)
		rep, err = imp(t, b, "openid\noI\noJ\noK\n", daily)
		require.NoError(t, err)
		require.Equal(t, queue.BatchPending, rep.Status)

		// The amount the same way.
		byAmount := intake.Guards{ApprovalDailyAmountFen: 1000, ApprovalMinAmountFen: 800}
		o.StockID, o.Guards = "9856002", byAmount
		rep, err = intake.Import(ctx, b.db, strings.NewReader("openid,coupon_value\noL,500\n"), o)
		require.NoError(t, err)
		require.Equal(t, queue.BatchPending, rep.Status)
		rep, err = intake.Import(ctx, b.db, strings.NewReader("openid,coupon_value\noM,500\n"), o)
		require.NoError(t, err)
		require.Equal(t, queue.BatchAwaitingApproval, rep.Status)
		require.Contains(t, rep.ApprovalReason, "10.00 yuan")
		require.Equal(t, intake.RuleDailyAmount, rep.ApprovalRule)
		require.EqualValues(t, 500, rep.AmountFen, "the batch's amount, reported")
		require.EqualValues(t, 500, rep.DayAmountFen)
		require.Zero(t, rep.Unvalued)
		// Without a face value, rows without a coupon_value are counted apart.
		o.Guards = intake.Guards{}
		rep, err = intake.Import(ctx, b.db, strings.NewReader("openid,coupon_value\noV1,300\noV2,\n"), o)
		require.NoError(t, err)
		require.EqualValues(t, 300, rep.AmountFen)
		require.EqualValues(t, 1, rep.Unvalued)
		// ... which needs the rows' value.
		o.Guards = intake.Guards{ApprovalDailyAmountFen: 1000}
		_, err = intake.Import(ctx, b.db, strings.NewReader("openid\noN\n"), o)
		require.ErrorContains(t, err, "face value is unknown")
	})

	t.Run("CapNeedsKnownValues", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := imp(t, b, "openid\noA\n", intake.Guards{MaxAmountFen: 1000})
		require.ErrorContains(t, err, "face value is unknown")
	})

	t.Run("WhenToSendStored", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		shanghai, err := time.LoadLocation("Asia/Shanghai")
		require.NoError(t, err)
		w, err := queue.ParseWindow("22:00-06:00", shanghai)
		require.NoError(t, err)
		start := time.Now().Add(48 * time.Hour).Truncate(time.Second)
		rep, err := imp(t, b, "openid\noA\n", intake.Guards{StartAt: start, Window: &w, Priority: 5, MaxAmountFen: 100000, FaceValueFen: 500})
		require.NoError(t, err)
		bt, err := queue.NewStore(b.db).Batch(ctx, rep.BatchID)
		require.NoError(t, err)
		require.Equal(t, "22:00-06:00", bt.Window)
		require.Equal(t, 5, bt.Priority)
		require.True(t, start.Equal(*bt.StartAt))
		require.NotNil(t, bt.NextSendAt)
		require.False(t, bt.NextSendAt.Before(start), "not before its start time")
		require.True(t, w.Contains(*bt.NextSendAt), "inside its window")
	})
}
