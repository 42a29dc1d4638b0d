package pages_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/alert"
	"github.com/issuer-dev/issuer/auth"
)

// TestBrowserNotifications: the bell counts what waits for the person (a
// batch awaiting its approval, a halt) and the settlement verdicts it has
// not seen; its page lists them, and marking them seen leaves only what
// still waits for someone to act.
func TestBrowserNotifications(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	b := setup(t, withSim)
	otto := auth.Actor{Name: "otto", Role: auth.RoleOperator, Source: "test"}
	b.svc.Config.Approval.MinCoupons = 5
	waiting := b.importAs(t, otto, "waiting", 6)
	b.svc.Config.Approval.MinCoupons = 0
	halted := b.importBatch(t, "halted", 3)
	_, err := b.svc.Queue.Halt(context.Background(), halted, "budget_exhausted: NOT_ENOUGH")
	require.NoError(t, err)
	cancelled := b.importBatch(t, "cancelled", 2)
	_, err = b.svc.CancelBatch(context.Background(), b.cli, cancelled)
	require.NoError(t, err)

	chinese(t, ctx, b)
	signIn(t, ctx, b, "ada", "/batches")
	require.Equal(t, "3", text(t, ctx, `#bell-count`), "one approval, one halt, one verdict")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#bell`)),
		chromedp.WaitVisible(chromedp.CSS(`#note-verdicts`)),
	))
	require.True(t, evalBool(t, ctx, `document.querySelector('#note-approvals li[data-batch="`+strconv.FormatInt(waiting.ID, 10)+`"]') !== null`))
	require.True(t, evalBool(t, ctx, `document.querySelector('#note-halted li[data-batch="`+strconv.FormatInt(halted, 10)+`"]') !== null`))
	require.True(t, evalBool(t, ctx, `document.querySelectorAll("#note-verdicts tr.new").length === 1`))
	require.Contains(t, text(t, ctx, `#note-verdicts`), "取消并结算")
	require.Contains(t, text(t, ctx, `#note-verdicts`), "未发出的 2 行已取消；向微信支付查询 0 行结果待确认的行")
	screenshot(t, ctx, "notifications")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#btn-seen`)),
		chromedp.WaitVisible(chromedp.CSS(`#seen-at:not([data-seen="—"])`)),
	))
	require.True(t, evalBool(t, ctx, `document.querySelectorAll("#note-verdicts tr.new").length === 0`))
	require.Equal(t, "2", text(t, ctx, `#bell-count`), "the approval and the halt wait until someone acts")

	// otto uploaded the waiting batch, so only the halt and the verdict
	// are his.
	page := b.get(t, b.login(t, "otto"), "/notifications", nil)
	require.Equal(t, http.StatusOK, page.Status)
	require.Contains(t, page.Body, `id="bell-count">2<`)
}

// TestOperationsAlertHistory: the operations page lists the alerts the
// daemon kept, newest first, in Chinese.
func TestOperationsAlertHistory(t *testing.T) {
	t.Parallel()
	b := setup(t)
	h := alert.NewHistoryStore(b.schema.DB)
	n := alert.New(alert.Config{History: h})
	stop := n.Start(context.Background())
	n.Notify(alert.Alert{Kind: alert.KindBatchHalted, BatchID: 42, Message: "budget_exhausted: NOT_ENOUGH"})
	stop()
	page := b.get(t, b.login(t, "ann"), "/operations", nil)
	require.Equal(t, http.StatusOK, page.Status)
	require.Contains(t, page.Body, `data-kind="batch_halted"`)
	require.Contains(t, page.Body, "批次 42 已停止发券")
	require.Contains(t, page.Body, `href="/batches/42"`)
}
