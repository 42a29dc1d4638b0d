package pages_test

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// TestBrowserMoneyBeforeClick walks the money flows as a team does: otto's
// dry run shows the ¥ total, the stock's state from WeChat Pay and that
// approval will be needed; creating lands on the batch (reload and Back do
// not post again); otto, the uploader, is not offered the approval but
// edits the guards; ada approves from a summary with a comment, which the
// batch page then shows; the batch halts at its cap, the halt links to
// the cap editor, which refuses a cap below what is issued.
func TestBrowserMoneyBeforeClick(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	b := setup(t, withSim, withApproval(10))
	list := filepath.Join(t.TempDir(), "money.csv")
	require.NoError(t, os.WriteFile(list, []byte(csvOf("mny", 12)), 0o644))

	signIn(t, ctx, b, "otto", "/upload")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(b.srv.URL+"/lang?lang=zh&next=/upload"), // Chinese first, whatever the browser asks
		chromedp.WaitVisible(chromedp.CSS(`input[name=stock]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=stock]`), "S1"),
		chromedp.SendKeys(chromedp.CSS(`input[name=name]`), "春季活动"),
		chromedp.SetUploadFiles(chromedp.CSS(`input[name=file]`), []string{list}),
		chromedp.Click(chromedp.CSS(`#btn-dryrun`)),
		chromedp.WaitVisible(chromedp.CSS(`#dryrun`)),
	))
	require.Equal(t, "12.00", evalString(t, ctx, `document.querySelector("[data-field=amount]").textContent`))
	require.Equal(t, "发放中", evalString(t, ctx, `document.querySelector("[data-field=stock-status]").textContent`))
	require.True(t, evalBool(t, ctx, `document.querySelector("[data-field=approval-needed]") !== null`))
	require.Contains(t, evalString(t, ctx, `document.querySelector("#btn-create").textContent`), "¥12.00")
	screenshot(t, ctx, "money-dryrun")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#btn-create`)),
		chromedp.WaitVisible(chromedp.CSS(`#progress`)),
	))
	bs := b.batches(t)
	require.Len(t, bs, 1)
	id := strconv.FormatInt(bs[0].ID, 10)
	require.Equal(t, "awaiting_approval", bs[0].Status)
	// Reload: the page got again, nothing posted again (Back to the dry
	// run of a created upload: TestUploadPage).
	require.NoError(t, chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`#progress`))))
	loc, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	require.Contains(t, loc, "/batches/"+id)
	require.Len(t, b.batches(t), 1)

	// The uploader is not offered the approval; they edit name and guards
	// (a window around now, so that it sends below).
	sh, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	now := time.Now().In(sh)
	window := now.Add(-time.Hour).Format("15:04") + "-" + now.Add(2*time.Hour).Format("15:04")
	require.True(t, evalBool(t, ctx, `document.querySelector("#btn-approve") === null && document.querySelector("#self-note") !== null`))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS(`#guards-form input[name=name]`), "春季活动（改）"),
		chromedp.SetValue(chromedp.CSS(`#guards-form input[name=window]`), window),
		chromedp.SetValue(chromedp.CSS(`#guards-form input[name=max_amount_yuan]`), "5"),
		chromedp.Click(chromedp.CSS(`#btn-guards`)),
	))
	require.Eventually(t, func() bool { return b.batch(t, bs[0].ID).Window == window }, time.Minute, 20*time.Millisecond)
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`p.notice`))))
	bt := b.batch(t, bs[0].ID)
	require.Equal(t, "春季活动（改）", bt.Name)
	require.Equal(t, window, bt.Window)
	require.NotNil(t, bt.MaxAmountFen)
	require.EqualValues(t, 500, *bt.MaxAmountFen)
	require.Len(t, b.auditRows(t, "guards"), 2, "the rename and the guards, each audited")

	// ada approves from the summary, with a comment.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name=username]`))))
	signIn(t, ctx, b, "ada", "/batches/"+id+"?lang=zh")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#btn-approve`)),
		chromedp.WaitVisible(chromedp.CSS(`#summary`)),
	))
	require.Equal(t, "otto", evalString(t, ctx, `document.querySelector("[data-field=uploader]").textContent`))
	require.Equal(t, "12.00", evalString(t, ctx, `document.querySelector("#summary [data-field=amount]").textContent`))
	screenshot(t, ctx, "money-approve")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#approve-comment`), "预算已确认"),
		chromedp.Click(chromedp.CSS(`#btn-confirm-approve`)),
		chromedp.WaitVisible(chromedp.CSS(`#decision`)),
	))
	require.Equal(t, "预算已确认", evalString(t, ctx, `document.querySelector("[data-field=comment]").textContent`))
	require.Contains(t, evalString(t, ctx, `document.querySelector("[data-field=approved]").textContent`), "ada")
	require.Equal(t, "pending", b.batch(t, bs[0].ID).Status)

	require.Equal(t, "12.00", evalString(t, ctx, `document.querySelector("[data-field=total_yuan]").textContent`),
		"the money rows add up to the batch's amount")

	// Sent up to its ¥5 cap, the batch halts: the halt says it is issuer's
	// own words and links to the cap editor, which refuses a cap below
	// what is issued and takes a higher one.
	b.issueUntilStuck(t, bs[0].ID)
	require.Equal(t, "halted", b.batch(t, bs[0].ID).Status)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(b.srv.URL+"/batches/"+id), chromedp.WaitVisible(chromedp.CSS(`#halt`))))
	require.True(t, evalBool(t, ctx, `document.querySelector("#halt [data-source=issuer]") !== null && document.querySelector("#halt [data-source=wechat_pay]") === null`))
	require.Equal(t, "12.00", evalString(t, ctx, `document.querySelector("[data-field=total_yuan]").textContent`))
	require.Equal(t, "5.00", evalString(t, ctx, `document.querySelector("[data-money=issued]").textContent`))
	screenshot(t, ctx, "money-halted")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#halt-cap`)),
		chromedp.SetValue(chromedp.CSS(`#guards-form input[name=max_amount_yuan]`), "3"),
		chromedp.Click(chromedp.CSS(`#btn-guards`)),
		chromedp.WaitVisible(chromedp.CSS(`p.error[role=alert]`)),
	))
	require.Contains(t, evalString(t, ctx, `document.querySelector("p.error[role=alert]").textContent`), "金额上限不能低于")
	require.EqualValues(t, 500, *b.batch(t, bs[0].ID).MaxAmountFen, "the cap stayed")
	// Reloading after the refusal neither posts again nor shows it twice.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(b.srv.URL+"/batches/"+id), chromedp.WaitVisible(chromedp.CSS(`#guards-form`))))
	require.True(t, evalBool(t, ctx, `document.querySelector("p.error[role=alert]") === null`))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS(`#guards-form input[name=max_amount_yuan]`), "20"),
		chromedp.Click(chromedp.CSS(`#btn-guards`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)), // the saved page, after the redirect
	))
	require.EqualValues(t, 2000, *b.batch(t, bs[0].ID).MaxAmountFen)
	screenshot(t, ctx, "money-batch")
}

// A stopped stock's batch is refused at the dry run and at create, with
// what works instead; a GET of a post-only path lands on a page.
func TestStoppedStockAndPostOnlyPaths(t *testing.T) {
	t.Parallel()
	b := setup(t, withSim)
	otto := b.login(t, "otto")
	for _, act := range []string{"start", "stop"} {
		require.Equal(t, http.StatusSeeOther, b.post(t, otto, "/stocks/"+simStock+"/"+act, url.Values{}, nil).Status)
	}
	a, ok := b.dryRun(t, otto, map[string]string{"stock": simStock, "name": "stopped"}, csvOf("st", 3))
	require.True(t, ok, a.Body)
	require.Contains(t, a.Body, `data-check="stock_stopped"`)
	require.NotContains(t, a.Body, `id="btn-create"`)
	tok := between(a.Body, `action="/upload/`, `/drop"`)
	a = b.follow(t, otto, b.post(t, otto, "/upload/"+tok+"/create", nil, nil))
	require.Contains(t, a.Body, "券批次已永久停止")
	require.Empty(t, b.batches(t), "nothing stored for a stopped stock")
	a = b.upload(t, otto, "/api/v1/batches", map[string]string{"stock": simStock}, csvOf("st", 3), nil)
	require.Equal(t, http.StatusBadRequest, a.Status, a.Body)
	require.Empty(t, b.batches(t))

	id := strconv.FormatInt(b.importBatch(t, "get", 2), 10)
	for path, to := range map[string]string{"/batches/" + id + "/pause": "/batches/" + id, "/users/ann/tokens": "/account", // not an admin: the tokens are on the account page
		"/upload/x/create": "/upload"} {
		a := b.get(t, otto, path, nil)
		require.Equal(t, http.StatusSeeOther, a.Status, path)
		require.True(t, strings.HasPrefix(a.Header.Get("Location"), to), "%s → %s", path, a.Header.Get("Location"))
	}
}

// A halt says who gave its reason and links to the next step that works
// in the console.
func TestHaltNamesSourceAndNextStep(t *testing.T) {
	t.Parallel()
	b := setup(t)
	otto := b.login(t, "otto")
	id := b.importBatch(t, "halt", 2)
	path := "/batches/" + strconv.FormatInt(id, 10)
	for _, tc := range []struct {
		reason string
		want   []string
		not    []string
	}{
		{"stock_unavailable: stock S1 is paused in WeChat Pay: restart it (issuer stock restart S1); then issuer batch resume 1",
			[]string{`data-source="issuer"`, "券批次 S1 在微信支付已暂停。", `href="/stocks/S1"`},
			[]string{`data-source="wechat_pay"`, "issuer stock restart"}},
		{"stock_unavailable: stock S1 is stopped in WeChat Pay and cannot issue again: import the list for another stock",
			[]string{`data-source="issuer"`, "已永久停止", `id="halt-upload"`}, []string{`data-source="wechat_pay"`}},
		{"budget_exhausted: NOT_ENOUGH 批次预算不足",
			[]string{`data-source="wechat_pay"`, "<code>NOT_ENOUGH</code>", "批次预算不足", `href="/stocks/S1"`},
			[]string{`data-source="issuer"`}},
		{"spend_cap: 5.00 of the 5.00 yuan cap is issued or in doubt; no remaining recipient fits under it",
			[]string{`data-source="issuer"`, `id="halt-cap"`}, []string{`data-source="wechat_pay"`}},
	} {
		_, err := b.schema.DB.Exec(`UPDATE batches SET status = 'halted', halt_reason = $2 WHERE id = $1`, id, tc.reason)
		require.NoError(t, err)
		page := b.get(t, otto, path, nil).Body
		for _, w := range tc.want {
			require.Contains(t, page, w, tc.reason)
		}
		for _, n := range tc.not {
			require.NotContains(t, page, n, tc.reason)
		}
	}
}

// The API approves with an optional comment and sets paused-once-approved
// while a batch awaits approval.
func TestAPIApproveComment(t *testing.T) {
	t.Parallel()
	b := setup(t, withApproval(2))
	id := b.importBatch(t, "api", 2)
	require.Equal(t, "awaiting_approval", b.batch(t, id).Status)
	base := "/api/v1/batches/" + strconv.FormatInt(id, 10)
	otto := bearer(b.token(t, "otto"))
	a := b.patchJSON(t, nil, base+"/guards", `{"paused":true}`, otto)
	require.Equal(t, http.StatusOK, a.Status, a.Body)
	require.True(t, b.batch(t, id).StartPaused)
	requireJSONError(t, b.postJSON(t, nil, base+"/approve", "not an object", otto), http.StatusBadRequest)
	a = b.postJSON(t, nil, base+"/approve", map[string]string{"comment": "预算已确认"}, otto)
	require.Equal(t, http.StatusOK, a.Status, a.Body)
	var m map[string]any
	a.JSON(t, &m)
	require.Equal(t, "预算已确认", m["approve_comment"])
	require.Equal(t, "paused", m["status"], "paused once approved")
	requireJSONError(t, b.patchJSON(t, nil, base+"/guards", `{"paused":false}`, otto), http.StatusConflict)
}
