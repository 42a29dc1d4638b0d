package pages_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/issuer-dev/issuer/internal/testutil"
	"github.com/stretchr/testify/require"
)

func browser(t *testing.T) context.Context { return testutil.Browser(t, 900) }

func screenshot(t *testing.T, ctx context.Context, name string) string {
	return testutil.Screenshot(t, ctx, name)
}

func signIn(t *testing.T, ctx context.Context, b *testBundle, name, next string) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(b.srv.URL+next),
		chromedp.WaitVisible(chromedp.CSS(`input[name=username]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=username]`), name),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password),
		chromedp.Submit(chromedp.CSS(`input[name=password]`)),
		// .who is on signed-in pages only: the login page's own heading
		// would let the next step race the sign-in's navigation.
		chromedp.WaitVisible(chromedp.CSS(`.who`)),
		chromedp.WaitVisible(chromedp.CSS(`main h1`)),
	))
}

// signInZh signs in as name and chooses Chinese for every page after.
func signInZh(t *testing.T, ctx context.Context, b *testBundle, name string) {
	t.Helper()
	signIn(t, ctx, b, name, "/batches?lang=zh")
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(b.srv.URL+"/lang?lang=zh&next=/batches"),
		chromedp.WaitVisible(chromedp.CSS(`main h1`))))
}

func evalBool(t *testing.T, ctx context.Context, js string) bool {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js, chromedp.EvalAwaitPromise))
	require.NoError(t, err, js)
	return v
}

func evalString(t *testing.T, ctx context.Context, js string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	require.NoError(t, err, js)
	return v
}

// TestBrowserBatchLifecycle drives the console as people do: an operator
// uploads a list with bad lines, reads the dry run, creates the batch,
// pauses and resumes it, watches it complete against the simulator and
// downloads its report; an analyst sees no operator buttons and is
// refused when trying anyway.
func TestBrowserBatchLifecycle(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	b := setup(t, withSim)
	list := filepath.Join(t.TempDir(), "spring.csv")
	require.NoError(t, os.WriteFile(list, []byte(csvOf("web", 30, "bad openid!", "web00003", "")), 0o644))

	signIn(t, ctx, b, "otto", "/upload?lang=en")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`input[name=stock]`), "S1"),
		chromedp.SendKeys(chromedp.CSS(`input[name=name]`), "Spring campaign"),
		chromedp.SetUploadFiles(chromedp.CSS(`input[name=file]`), []string{list}),
		chromedp.Click(chromedp.CSS(`#btn-dryrun`)),
		chromedp.WaitVisible(chromedp.CSS(`#dryrun`)),
	))
	rejected, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[data-field=rejected]`)))
	require.NoError(t, err)
	require.Equal(t, "1", rejected)
	accepted, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[data-field=accepted]`)))
	require.NoError(t, err)
	require.Equal(t, "30", accepted)
	require.Empty(t, b.batches(t), "the dry run stored nothing")
	screenshot(t, ctx, "upload-dryrun")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`input[name=accept_rejects]`)),
		chromedp.Click(chromedp.CSS(`#btn-create`)),
		chromedp.WaitVisible(chromedp.CSS(`#progress`)),
	))
	bs := b.batches(t)
	require.Len(t, bs, 1)
	id := strconv.FormatInt(bs[0].ID, 10)
	loc, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	require.Contains(t, loc, "/batches/"+id)

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#btn-pause`)),
		chromedp.WaitVisible(chromedp.CSS(`#btn-resume`)),
	))
	require.Equal(t, "paused", b.batch(t, bs[0].ID).Status)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#btn-resume`)),
		chromedp.WaitVisible(chromedp.CSS(`#btn-pause`)),
	))
	require.Equal(t, "pending", b.batch(t, bs[0].ID).Status)

	// The page polls; an issue pass against the simulator completes the
	// batch, and the page follows without a reload by hand.
	b.issue(t, bs[0].ID)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS(`.st-completed`)),
	))
	issued, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[data-count=issued]`)))
	require.NoError(t, err)
	require.Equal(t, "30", issued)
	screenshot(t, ctx, "batch-completed")

	ctype := evalString(t, ctx, `fetch("/api/v1/batches/`+id+`/report?format=xlsx").then(r => r.status + " " + r.headers.get("Content-Type"))`)
	require.Equal(t, "200 application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ctype)

	// An analyst sees no operator buttons, and the API refuses them anyway.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name=username]`))))
	signIn(t, ctx, b, "ann", "/batches/"+id+"?lang=en")
	require.True(t, evalBool(t, ctx, `document.querySelector("#btn-pause, #btn-resume, #btn-cancel, #btn-settle") === null`))
	require.True(t, evalBool(t, ctx, `document.querySelector("#dl-xlsx") !== null`), "analysts download reports")
	status := evalString(t, ctx, `fetch("/api/v1/batches/`+id+`/cancel", {method: "POST"}).then(r => String(r.status))`)
	require.Equal(t, "403", status)
	require.Equal(t, "completed", b.batch(t, bs[0].ID).Status)
	require.True(t, strings.HasPrefix(evalString(t, ctx, `document.title`), "Batch "+id))
}
