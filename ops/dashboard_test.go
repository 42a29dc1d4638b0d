package ops_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/audit"
	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/internal/config"
	"github.com/issuer-dev/issuer/internal/dbtest"
	"github.com/issuer-dev/issuer/ops"
	"github.com/issuer-dev/issuer/queue"
)

var approver = auth.Actor{Name: "ada", Role: auth.RoleAdmin, Source: "test"}

// importValued imports n rows of prefix worth fen each for stock.
func (b *guardsBundle) importValued(t *testing.T, a auth.Actor, stock, prefix string, n int, fen int64) *queue.Batch {
	t.Helper()
	var sb strings.Builder
	sb.WriteString("openid,coupon_value\n")
	for i := range n {
		fmt.Fprintf(&sb, "%s%04d,%d\n", prefix, i, fen)
	}
	rep, err := b.svc.Import(context.Background(), a, ops.ImportRequest{Reader: strings.NewReader(sb.String()),
		Source: prefix + ".csv", StockID: stock, Name: prefix})
	require.NoError(t, err)
	bt, err := b.svc.Queue.Batch(context.Background(), rep.BatchID)
	require.NoError(t, err)
	return bt
}

func (b *guardsBundle) batch(t *testing.T, id int64) *queue.Batch {
	t.Helper()
	bt, err := b.svc.Queue.Batch(context.Background(), id)
	require.NoError(t, err)
	return bt
}

// issueAll claims and records every row of open batches as issued.
func (b *guardsBundle) issueAll(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for {
		rows, err := b.svc.Queue.Claim(ctx, queue.ClaimOptions{Owner: "t", Limit: 100, Lease: time.Minute})
		require.NoError(t, err)
		if len(rows) == 0 {
			return
		}
		res := make([]queue.Result, len(rows))
		for i, r := range rows {
			res[i] = queue.Result{ID: r.ID, Status: queue.StatusIssued, Answered: true, Outcome: "issued", CouponID: fmt.Sprint("c", r.ID)}
		}
		ids, _, err := b.svc.Queue.Record(ctx, "t", res)
		require.NoError(t, err)
		_, err = b.svc.Queue.CompleteFinished(ctx, ids)
		require.NoError(t, err)
	}
}

// TestDashboard: the numbers of the home page from one call — what waits
// for whom (an uploader's own batch is not its to approve), today's
// issues and money, halts, and by stock the money batches still hold; the
// budget is not asked without keys, and a WeChat Pay that does not answer
// is a note per stock, never an error of the page.
func TestDashboard(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := guardsSetup(t, config.Approval{MinCoupons: 10})
	done := b.importValued(t, operator, "S1", "done", 4, 150)
	b.issueAll(t)
	require.Equal(t, queue.BatchCompleted, b.batch(t, done.ID).Status)
	waiting := b.importValued(t, operator, "S1", "wait", 12, 100)
	require.Equal(t, queue.BatchAwaitingApproval, waiting.Status)
	halted := b.importValued(t, operator, "S2", "halt", 3, 200)
	_, err := b.svc.Queue.Halt(ctx, halted.ID, "stock_unavailable: the stock is stopped")
	require.NoError(t, err)

	d, err := b.svc.Dashboard(ctx, approver)
	require.NoError(t, err)
	require.Equal(t, 1, d.AwaitingApproval)
	require.Equal(t, 1, d.AwaitingNotUploader, "ada may approve olga's batch")
	require.True(t, d.MayApprove)
	require.Equal(t, 1, d.Halted)
	require.EqualValues(t, 4, d.IssuedToday)
	require.EqualValues(t, 600, d.IssuedTodayFen)
	require.EqualValues(t, 4, d.Answers, "the four sends are within the last minute")
	require.Equal(t, ops.BudgetNoKeys, d.BudgetNote)
	require.Len(t, d.Stocks, 2)
	require.Equal(t, "S1", d.Stocks[0].StockID)
	require.EqualValues(t, 1200, d.Stocks[0].AwaitingFen)
	require.EqualValues(t, 0, d.Stocks[0].QueuedFen)
	require.Equal(t, "S2", d.Stocks[1].StockID)
	require.EqualValues(t, 600, d.Stocks[1].QueuedFen)

	mine, err := b.svc.Dashboard(ctx, operator)
	require.NoError(t, err)
	require.Equal(t, 0, mine.AwaitingNotUploader, "olga uploaded it: not hers to approve")

	b.svc.WX = func() (ops.WXClient, error) { return nil, errors.New("dial tcp: connection refused") }
	d, err = b.svc.Dashboard(ctx, approver)
	require.NoError(t, err, "WeChat Pay not answering is no error of the page")
	require.Empty(t, d.BudgetNote)
	for _, s := range d.Stocks {
		require.Nil(t, s.Stock)
		require.Contains(t, s.Err, "connection refused")
		require.EqualValues(t, -1, s.LeftFen)
	}

	_, err = b.svc.Dashboard(ctx, auth.Actor{Name: "nobody", Source: "test"})
	require.ErrorIs(t, err, auth.ErrForbidden)
}

// TestSearch: batches by a part of their name (wildcards literal) and an
// openid's row in every batch.
func TestSearch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := guardsSetup(t, config.Approval{})
	a := b.importValued(t, operator, "S1", "spring", 3, 100)
	c := b.importValued(t, operator, "S1", "summer", 2, 100)
	_ = b.importValued(t, operator, "S2", "autumn_50pct", 2, 100)
	again := b.importValued(t, operator, "S2", "spring", 4, 100)

	bs, err := b.svc.Batches(ctx, analyst, queue.BatchFilter{Name: "SPR"})
	require.NoError(t, err)
	require.Len(t, bs, 2)
	require.Equal(t, []int64{again.ID, a.ID}, []int64{bs[0].ID, bs[1].ID})
	bs, err = b.svc.Batches(ctx, analyst, queue.BatchFilter{Name: "n_5"})
	require.NoError(t, err)
	require.Len(t, bs, 1, "_ is a letter of the name, not a wildcard")
	bs, err = b.svc.Batches(ctx, analyst, queue.BatchFilter{Name: "%"})
	require.NoError(t, err)
	require.Empty(t, bs)
	bs, err = b.svc.Batches(ctx, analyst, queue.BatchFilter{Sort: "name", Asc: true})
	require.NoError(t, err)
	require.Equal(t, []int64{0, again.ID, a.ID, c.ID}[1:], []int64{bs[1].ID, bs[2].ID, bs[3].ID}, "equal names newest first")

	rows, err := b.svc.SearchOpenID(ctx, analyst, "spring0001")
	require.NoError(t, err)
	require.Len(t, rows, 2)
	require.Equal(t, []int64{again.ID, a.ID}, []int64{rows[0].BatchID, rows[1].BatchID})
	rows, err = b.svc.SearchOpenID(ctx, analyst, " summer0001 ")
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.Equal(t, c.ID, rows[0].BatchID)
	require.Equal(t, "summer", rows[0].BatchName)
	require.Equal(t, queue.StatusPending, rows[0].Status)
	rows, err = b.svc.SearchOpenID(ctx, analyst, "nobody")
	require.NoError(t, err)
	require.Empty(t, rows)
	_, err = b.svc.SearchOpenID(ctx, analyst, "")
	require.Equal(t, ops.EINVALID, ops.ErrorCode(err))
}

// TestNotifications: what waits for whom, and each settlement's verdict
// read back from the audit log's detail; marking them seen leaves the
// batches that still wait for someone to act.
func TestNotifications(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.New(t)
	cfg := config.Defaults()
	loc, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	cfg.Location, cfg.Approval = loc, config.Approval{MinCoupons: 10}
	cfg.WXPay.MchID, cfg.WXPay.AppID = "1900000109", "wx0000000000000001"
	// The verdicts are read from the audit log in the database.
	b := &guardsBundle{svc: ops.New(s.DB, &cfg, nil, audit.NewStore(s.DB, nil), nil)}
	waiting := b.importValued(t, operator, "S1", "wait", 12, 100)
	require.Equal(t, queue.BatchAwaitingApproval, waiting.Status)
	gone := b.importValued(t, operator, "S1", "gone", 3, 100)
	_, err = b.svc.CancelBatch(ctx, operator, gone.ID)
	require.NoError(t, err)

	n, err := b.svc.Notifications(ctx, approver)
	require.NoError(t, err)
	require.Len(t, n.Approvals, 1)
	require.Len(t, n.Verdicts, 1)
	v := n.Verdicts[0]
	require.True(t, v.Known, v.Detail)
	require.Equal(t, 3, v.Cancelled)
	require.Equal(t, 0, v.Checked)
	require.Equal(t, 2, n.Count())

	mine, err := b.svc.Notifications(ctx, operator)
	require.NoError(t, err)
	require.Empty(t, mine.Approvals, "olga uploaded it")

	require.NoError(t, b.svc.MarkNotificationsSeen(ctx, approver))
	n, err = b.svc.Notifications(ctx, approver)
	require.NoError(t, err)
	require.Equal(t, 1, n.Count(), "the approval still waits")
	require.False(t, n.SeenAt.IsZero())
}
