package ops_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/internal/config"
	"github.com/issuer-dev/issuer/internal/dbtest"
	"github.com/issuer-dev/issuer/internal/simtest"
	"github.com/issuer-dev/issuer/ops"
	"github.com/issuer-dev/issuer/queue"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

// previewSetup is the operations on a private schema and a simulator with
// the stocks: RUN (running, 10 coupons of ¥1), LOW (running, 2 coupons),
// PAU (paused) and STOP (stopped).
func previewSetup(t *testing.T, approval config.Approval) *testBundle {
	t.Helper()
	sim := simtest.Start(t, wxsim.Options{Stocks: []wxsim.StockSpec{
		{ID: "RUN", Kind: wxsim.KindFavor, Budget: 10}, {ID: "LOW", Kind: wxsim.KindFavor, Budget: 2},
		{ID: "PAU", Kind: wxsim.KindFavor, Budget: 10, Status: wxsim.StatusPaused},
		{ID: "STOP", Kind: wxsim.KindFavor, Budget: 10, Status: wxsim.StatusExpired}}})
	client := sharedClient{sim.Client(t, 2)}
	s := dbtest.New(t)
	cfg := config.Defaults()
	loc, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	cfg.Location, cfg.Approval = loc, approval
	cfg.WXPay.MchID, cfg.WXPay.AppID = sim.Keys.MchID, sim.Keys.AppID
	log := &auditLog{}
	svc := ops.New(s.DB, &cfg, func() (ops.WXClient, error) { return client, nil }, log, nil)
	return &testBundle{svc: svc, audit: log, sim: sim}
}

func list(prefix string, n int) string {
	var sb strings.Builder
	sb.WriteString("openid\n")
	for i := range n {
		fmt.Fprintf(&sb, "%s%04d\n", prefix, i)
	}
	return sb.String()
}

func codes(cs []ops.Check) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Severity+":"+c.Code)
	}
	return out
}

// TestPreviewImport: the dry run counts the money, asks WeChat Pay for the
// stock's state and budget, and says what creating would meet; a stopped
// stock is refused, at the dry run and at the import.
func TestPreviewImport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := previewSetup(t, config.Approval{MinCoupons: 3})
	preview := func(stock, file string) *ops.ImportPreview {
		t.Helper()
		pv, err := b.svc.PreviewImport(ctx, operator, ops.ImportRequest{Reader: strings.NewReader(file), Source: "l.csv", StockID: stock})
		require.NoError(t, err)
		return pv
	}
	for _, tc := range []struct {
		name, stock string
		n           int
		want        []string
	}{
		{"Running", "RUN", 2, nil},
		{"Approval", "RUN", 3, []string{"info:approval"}},
		{"OverBudget", "LOW", 2 + 1, []string{"warn:over_budget", "warn:over_coupons", "info:approval"}},
		{"Paused", "PAU", 1, []string{"warn:stock_not_running"}},
		{"Stopped", "STOP", 1, []string{"block:stock_stopped"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pv := preview(tc.stock, list("o"+tc.name, tc.n))
			require.Equal(t, tc.want, codes(pv.Checks))
			require.Equal(t, tc.n, pv.Report.Accepted)
			require.EqualValues(t, 100*tc.n, pv.Report.AmountFen, "¥1 each, the stock's face value")
			require.NotNil(t, pv.Stock)
			require.EqualValues(t, 100, pv.Stock.FaceValueFen)
			require.Equal(t, tc.stock == "STOP", pv.Blocked())
		})
	}
	pv := preview("RUN", list("oApproval", 3))
	require.Equal(t, "min_coupons", pv.Report.ApprovalRule)
	require.Equal(t, 3, pv.Approval.MinCoupons)
	require.EqualValues(t, 1000, pv.Stock.RemainingFen)

	// Stopped: the import itself refuses, and stores nothing.
	_, err := b.svc.Import(ctx, operator, ops.ImportRequest{Reader: strings.NewReader(list("oStop", 2)), Source: "s.csv", StockID: "STOP"})
	require.ErrorIs(t, err, ops.ErrStockStopped)
	require.Equal(t, ops.EINVALID, ops.ErrorCode(err))
	bs, err := b.svc.Queue.Batches(ctx, queue.BatchFilter{})
	require.NoError(t, err)
	require.Empty(t, bs)

	// What is queued counts against the budget left; the same file again is
	// a check naming the batch, not an error.
	rep, err := b.svc.Import(ctx, operator, ops.ImportRequest{Reader: strings.NewReader(list("oQ", 6)), Source: "q.csv", StockID: "RUN"})
	require.NoError(t, err)
	pv = preview("RUN", list("oMore", 2))
	require.EqualValues(t, 600, pv.Stock.QueuedFen)
	require.Equal(t, []string{}, append([]string{}, codes(pv.Checks)...))
	pv = preview("RUN", list("oMore", 5))
	require.Equal(t, []string{"warn:over_queued", "info:approval"}, codes(pv.Checks))
	pv = preview("RUN", list("oQ", 6))
	require.Contains(t, codes(pv.Checks), "block:duplicate_file")
	require.Equal(t, rep.BatchID, pv.Checks[0].BatchID)
}

// TestEditBeforeApproval: a batch awaiting approval is renamed and set to
// pause once approved, each act audited; the approval keeps its comment;
// once decided, neither changes.
func TestEditBeforeApproval(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := guardsSetup(t, config.Approval{MinCoupons: 2})
	other := auth.Actor{Name: "oscar", Role: auth.RoleOperator, Source: "test"}
	bt := b.importList(t, operator, "oE", 2)
	require.Equal(t, queue.BatchAwaitingApproval, bt.Status)

	got, err := b.svc.RenameBatch(ctx, operator, bt.ID, "春季 · 第二波")
	require.NoError(t, err)
	require.Equal(t, "春季 · 第二波", got.Name)
	_, err = b.svc.RenameBatch(ctx, operator, bt.ID, "bad\x1bname")
	require.Error(t, err)
	paused := true
	got, err = b.svc.SetBatchGuards(ctx, operator, bt.ID, ops.GuardsRequest{Paused: &paused})
	require.NoError(t, err)
	require.True(t, got.StartPaused)

	_, err = b.svc.ApproveBatchComment(ctx, operator, bt.ID, "mine")
	require.ErrorIs(t, err, auth.ErrForbidden, "the uploader never approves")
	got, err = b.svc.ApproveBatchComment(ctx, other, bt.ID, "  预算已确认 ")
	require.NoError(t, err)
	require.Equal(t, queue.BatchPaused, got.Status, "paused once approved")
	require.NotNil(t, got.ApproveComment)
	require.Equal(t, "预算已确认", *got.ApproveComment)

	_, err = b.svc.RenameBatch(ctx, operator, bt.ID, "later")
	require.ErrorIs(t, err, queue.ErrState)
	_, err = b.svc.SetBatchGuards(ctx, operator, bt.ID, ops.GuardsRequest{Paused: &paused})
	require.ErrorIs(t, err, queue.ErrState)
	require.Equal(t, []string{"olga:ok", "olga:ok", "olga:error", "olga:error"}, b.outcomes("guards"), "a bad name is refused before it is an act")
	require.Equal(t, []string{"olga:denied", "oscar:ok"}, b.outcomes("approve"))
}

// TestProgressPartsAddUp: the batch page's parts partition the rows and
// their money adds up to the batch's amount.
func TestProgressPartsAddUp(t *testing.T) {
	t.Parallel()
	b := guardsSetup(t, config.Approval{})
	bt := b.importList(t, operator, "oP", 4)
	pr, err := b.svc.BatchProgress(context.Background(), operator, bt.ID)
	require.NoError(t, err)
	n := 0
	for _, p := range pr.Parts {
		n += p.Count
	}
	require.Equal(t, pr.Total, n)
	require.Equal(t, 4, pr.Parts[2].Count, "pending")
	require.Equal(t, bt.AmountFen, pr.Money.TotalFen)
}
