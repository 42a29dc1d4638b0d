package pages_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/ops"
	"github.com/issuer-dev/issuer/queue"
)

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	require.NoError(t, err, sel)
	return strings.TrimSpace(v)
}

// chinese makes the browser's pages Chinese, whatever its own language.
func chinese(t *testing.T, ctx context.Context, b *testBundle) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(b.srv.URL+"/lang?lang=zh&next=/login"),
		chromedp.WaitVisible(chromedp.CSS(`input[name=username]`))))
}

// importAs imports n recipients of stock S1 as a.
func (b *testBundle) importAs(t *testing.T, a auth.Actor, name string, n int) *queue.Batch {
	t.Helper()
	rep, err := b.svc.Import(context.Background(), a, ops.ImportRequest{Reader: strings.NewReader(csvOf(name, n)),
		Source: name + ".csv", StockID: "S1", Name: name})
	require.NoError(t, err)
	return b.batch(t, rep.BatchID)
}

// TestBrowserDashboard: the home page tells an approver what waits for
// her, each count a link to the list it counts; today's issues and the
// stock's budget at WeChat Pay beside the money batches still hold.
func TestBrowserDashboard(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	b := setup(t, withSim)
	otto := auth.Actor{Name: "otto", Role: auth.RoleOperator, Source: "test"}
	done := b.importBatch(t, "done", 10)
	b.issue(t, done)
	b.svc.Config.Approval.MinCoupons = 15
	waiting := b.importAs(t, otto, "waiting", 20)
	require.Equal(t, queue.BatchAwaitingApproval, waiting.Status)
	b.svc.Config.Approval.MinCoupons = 0
	stopped := b.importBatch(t, "stopped", 5)
	_, err := b.svc.Queue.Halt(context.Background(), stopped, "stock_unavailable: the stock is stopped")
	require.NoError(t, err)

	chinese(t, ctx, b)
	signIn(t, ctx, b, "ada", "/")
	require.Equal(t, "1", text(t, ctx, `[data-need=awaiting] [data-count]`))
	require.Equal(t, "1", text(t, ctx, `[data-need=halted] [data-count]`))
	require.Equal(t, "0", text(t, ctx, `[data-need=review] [data-count]`))
	require.Equal(t, "10", text(t, ctx, `[data-field=issued_today]`))
	require.Equal(t, "¥10.00", text(t, ctx, `[data-field=issued_yuan]`))
	// S1: 100,000 coupons of ¥1, 10 issued; 5 queued (halted), 20 awaiting.
	require.Equal(t, "¥99,990.00", text(t, ctx, `tr[data-stock=S1] [data-field=left]`))
	require.Contains(t, text(t, ctx, `tr[data-stock=S1]`), "¥5.00")
	require.Contains(t, text(t, ctx, `tr[data-stock=S1]`), "¥20.00")
	require.Contains(t, text(t, ctx, `h2`), "待我处理")
	screenshot(t, ctx, "home-dashboard")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[data-need=halted] a`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-batch="`+strconv.FormatInt(stopped, 10)+`"]`)),
	))
	require.True(t, evalBool(t, ctx, `document.querySelectorAll("tbody tr[data-batch]").length === 1`))

	// otto uploaded the waiting batch: not his to approve.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name=username]`))))
	signIn(t, ctx, b, "otto", "/")
	require.Equal(t, "0", text(t, ctx, `[data-need=awaiting] [data-count]`))
	// An analyst has nothing to approve: no such tile.
	ann := b.login(t, "ann")
	page := b.get(t, ann, "/", nil)
	require.Equal(t, http.StatusOK, page.Status)
	require.NotContains(t, page.Body, `data-need="awaiting"`)
}

// TestDashboardWithoutWeChatPay: with no merchant keys the home page says
// why no budget is shown, and still renders every count.
func TestDashboardWithoutWeChatPay(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.importBatch(t, "plain", 3)
	page := b.get(t, b.login(t, "ada"), "/", nil)
	require.Equal(t, http.StatusOK, page.Status)
	require.Contains(t, page.Body, `id="budget-note"`)
	require.Contains(t, page.Body, "未配置商户密钥")
	require.Contains(t, page.Body, `data-stock="S1"`)
}

// TestBrowserSearchAndSort: a batch found by part of its name, an openid
// found in every batch holding it, and the list sorted by a column head.
func TestBrowserSearchAndSort(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	b := setup(t)
	spring := b.importBatch(t, "Spring sale", 3)
	summer := b.importBatch(t, "summer", 4)
	autumn := b.importBatch(t, "autumn", 2)

	signIn(t, ctx, b, "ann", "/search")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#search-name input[name=name]`), "SPRING"),
		chromedp.Submit(chromedp.CSS(`#search-name input[name=name]`)),
		chromedp.WaitVisible(chromedp.CSS(`#batch-filters`)),
	))
	require.True(t, evalBool(t, ctx, `document.querySelectorAll("tbody tr[data-batch]").length === 1 && `+
		`document.querySelector("tbody tr[data-batch]").dataset.batch === "`+strconv.FormatInt(spring, 10)+`"`))

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(b.srv.URL+"/search"),
		chromedp.SendKeys(chromedp.CSS(`#search-openid input[name=openid]`), "osummer00002"),
		chromedp.Submit(chromedp.CSS(`#search-openid input[name=openid]`)),
		chromedp.WaitVisible(chromedp.CSS(`#openid-rows`)),
	))
	require.Equal(t, strconv.FormatInt(summer, 10), evalString(t, ctx, `[...document.querySelectorAll("#openid-rows tr[data-batch]")].map(r => r.dataset.batch).join()`))
	screenshot(t, ctx, "search-openid")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(b.srv.URL+"/batches"),
		chromedp.Click(chromedp.CSS(`th a.sort[href*="sort=name"]`)),
		chromedp.WaitVisible(chromedp.CSS(`th a.sort.on[href*="order=desc"]`)),
	))
	order := evalString(t, ctx, `[...document.querySelectorAll("tbody tr[data-batch]")].map(r => r.dataset.batch).join()`)
	require.Equal(t, strings.Join([]string{strconv.FormatInt(spring, 10), strconv.FormatInt(autumn, 10), strconv.FormatInt(summer, 10)}, ","), order,
		"by name A to Z: Spring sale, autumn, summer (bytewise: capitals first)")
}

// TestBrowserBulk: an operator selects batches, reads one confirmation
// naming each with its money at stake, confirms, and reads a result per
// batch; each act is audited as if done alone, and a batch the act does not
// apply to is left alone.
func TestBrowserBulk(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	b := setup(t, withSim)
	one := b.importBatch(t, "one", 3)
	two := b.importBatch(t, "two", 4)
	three := b.importBatch(t, "three", 2)
	_, err := b.svc.PauseBatch(context.Background(), b.cli, three)
	require.NoError(t, err)

	chinese(t, ctx, b)
	signIn(t, ctx, b, "otto", "/batches")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#bulk-all`)),
		chromedp.Click(chromedp.CSS(`#bulk-pause`)),
		chromedp.WaitVisible(chromedp.CSS(`#btn-bulk-apply`)),
	))
	require.Contains(t, text(t, ctx, `#bulk-summary`), "将暂停以下 2 个发放批次，尚未发出的 ¥7.00")
	require.Equal(t, "3", evalString(t, ctx, `String(document.querySelectorAll("#bulk-rows tr[data-batch]").length)`))
	require.True(t, evalBool(t, ctx, `document.querySelector('#bulk-rows tr[data-batch="`+strconv.FormatInt(three, 10)+`"]').classList.contains("muted")`),
		"the paused batch is not paused again")
	screenshot(t, ctx, "bulk-confirm")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#btn-bulk-apply`)),
		chromedp.WaitVisible(chromedp.CSS(`#bulk-back`)),
	))
	for _, id := range []int64{one, two} {
		require.Equal(t, "ok", evalString(t, ctx, `document.querySelector('#bulk-rows tr[data-batch="`+strconv.FormatInt(id, 10)+`"] [data-result]').dataset.result`))
		require.Equal(t, queue.BatchPaused, b.batch(t, id).Status)
	}
	require.Len(t, b.auditRows(t, "pause"), 3, "the cli's pause and one per batch of the bulk act")
	loc, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	require.Contains(t, loc, "/batches/bulk/done", "redirected after the post")

	// An analyst's bulk post is refused batch by batch, each refusal audited.
	ann := b.login(t, "ann")
	a := b.post(t, ann, "/batches/bulk", map[string][]string{"action": {"resume"}, "id": {strconv.FormatInt(one, 10)}}, nil)
	require.Equal(t, http.StatusSeeOther, a.Status)
	done := b.get(t, ann, a.Header.Get("Location"), nil)
	require.Equal(t, http.StatusOK, done.Status)
	require.Contains(t, done.Body, `data-result="forbidden"`)
	require.Equal(t, queue.BatchPaused, b.batch(t, one).Status)
	denied := 0
	for _, e := range b.auditRows(t, "resume") {
		if e.Outcome == "denied" {
			denied++
		}
	}
	require.Equal(t, 1, denied)
}

// TestBatchesAPISorted: the list API sorts and searches like the page, and
// a sorted list's next page is numbered.
func TestBatchesAPISorted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, n := range []string{"delta", "alpha", "charlie", "bravo"} {
		b.importBatch(t, n, 2)
	}
	tok := b.token(t, "ann")
	names := func(a answer) []string {
		var bs []queue.Batch
		a.JSON(t, &bs)
		var out []string
		for _, x := range bs {
			out = append(out, x.Name)
		}
		return out
	}
	a := b.get(t, nil, "/api/v1/batches?sort=name&order=asc&limit=3", bearer(tok))
	require.Equal(t, http.StatusOK, a.Status, a.Body)
	require.Equal(t, []string{"alpha", "bravo", "charlie"}, names(a))
	link := a.Header.Get("Link")
	require.Contains(t, link, "page=1")
	next := strings.TrimSuffix(strings.TrimPrefix(strings.Split(link, ";")[0], "<"), ">")
	require.Equal(t, []string{"delta"}, names(b.get(t, nil, next, bearer(tok))))
	require.Equal(t, []string{"charlie"}, names(b.get(t, nil, "/api/v1/batches?name=ARL", bearer(tok))))
	requireJSONError(t, b.get(t, nil, "/api/v1/batches?sort=bogus", bearer(tok)), http.StatusBadRequest)
	requireJSONError(t, b.get(t, nil, "/api/v1/batches?has=bogus", bearer(tok)), http.StatusBadRequest)
	requireJSONError(t, b.get(t, nil, "/api/v1/batches?sort=name&before_id=3", bearer(tok)), http.StatusBadRequest)
}
