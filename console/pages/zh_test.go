package pages_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/audit"
	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/console/pages"
	"github.com/issuer-dev/issuer/daemon"
	"github.com/issuer-dev/issuer/internal/shotlist"
	"github.com/issuer-dev/issuer/queue"
	"github.com/issuer-dev/issuer/wxpay"
)

// codeWords are the codes no Chinese page may show as they are: batch and
// row statuses, send outcomes, stock states, roles, audited actions and
// their outcomes, job names and results. Each also matches with spaces for
// underscores ("in flight"), in any case.
func codeWords() []string {
	words := slices.Clone(pages.BatchStatuses)
	words = append(words, queue.RecipientStatuses...)
	words = append(words, "in_doubt", queue.OutcomeConfirmedByQuery, queue.OutcomeNotIssuedByQuery)
	for _, o := range wxpay.Outcomes() {
		words = append(words, string(o))
	}
	words = append(words, wxpay.StockUnactivated, wxpay.StockAudit, wxpay.StockRunning, wxpay.StockStopped, wxpay.StockPaused)
	for _, r := range auth.Roles() {
		words = append(words, string(r))
	}
	for _, a := range []auth.Action{auth.ActRead, auth.ActImport, auth.ActExport, auth.ActPause, auth.ActResume, auth.ActCancel,
		auth.ActApprove, auth.ActReject, auth.ActPriority, auth.ActGuards, auth.ActSettle, auth.ActStock, auth.ActPluginSign,
		auth.ActReconcile, auth.ActReadAudit, auth.ActManageUsers, auth.ActReadUsers, auth.ActReadStockInfo} {
		words = append(words, string(a))
	}
	words = append(words, audit.ActLogin, audit.ActLoginFailed, audit.ActLockout, audit.ActLogout, audit.ActUserAdd,
		audit.ActUserDisable, audit.ActUserEnable, audit.ActTokenCreate, audit.ActTokenRevoke, audit.ActPassword,
		audit.ActUserRole, audit.ActSessionsEnd, "halt", "system", "stopped", "not activated")
	words = append(words, string(audit.OK), string(audit.Denied), string(audit.Error))
	words = append(words, "issue", "reconcile", "housekeeping", "digest",
		daemon.RunSuccess, daemon.RunFailure, daemon.RunPanic, daemon.RunInterrupted)
	slices.Sort(words)
	return slices.Compact(words)
}

// englishCode finds a code word in text.
func englishCode(words []string) *regexp.Regexp {
	var alts []string
	for _, w := range words {
		alts = append(alts, regexp.QuoteMeta(w))
		if strings.Contains(w, "_") {
			alts = append(alts, regexp.QuoteMeta(strings.ReplaceAll(w, "_", " ")))
		}
	}
	return regexp.MustCompile(`(?i)\b(` + strings.Join(alts, "|") + `)\b`)
}

// catalogueKey finds a text's key shown for want of the text.
var catalogueKey = regexp.MustCompile(`\b(bstatus|status|outcome|stockst|action|aoutcome|job|jobres|count|field|halt|error|` +
	`batch|batches|recon|ops|upload|users|audit|stock|stocks|nav|home|account|token|notice|role|kind|problem|usage)\.[a-z_]+\b`)

// visibleText is the page's text but for elements marked as raw codes
// (class "raw": WeChat Pay's code and message, a recorded English
// message), which are shown as they are on purpose.
const visibleText = `(() => {
	const c = document.body.cloneNode(true);
	c.querySelectorAll(".raw, script, style").forEach(e => e.remove());
	return c.textContent;
})()`

// TestChinesePagesShowNoEnglishCode crawls every console page, signed in
// as an admin in Chinese, over a campaign's data (demoData): the pages of
// shotlist.Pages and every page they link to. None may show a status,
// outcome, stock state, role, action or job as its English code outside
// an element marked raw.
func TestChinesePagesShowNoEnglishCode(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	b := setup(t, withSim)
	ids := demoData(t, b)
	signInZh(t, ctx, b, "ada")
	code := englishCode(codeWords())

	var queue []string
	seen := map[string]bool{}
	add := func(path string) {
		if !seen[path] {
			seen[path] = true
			queue = append(queue, path)
		}
	}
	for _, p := range shotlist.Pages {
		path, err := shotlist.Resolve(p.Path, ids)
		require.NoError(t, err)
		add(path)
	}
	skip := regexp.MustCompile(`^/(api|static|lang|logout|upload/)|\.csv$`)
	const maxPages = 80
	for i := 0; i < len(queue) && i < maxPages; i++ {
		path := queue[i]
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(b.srv.URL+path), chromedp.WaitVisible(chromedp.CSS(`main h1`))), path)
		text := evalString(t, ctx, visibleText)
		if m := code.FindAllString(text, -1); len(m) > 0 {
			t.Errorf("%s shows English codes %q:\n%s", path, m, strings.Join(strings.Fields(text), " "))
		}
		for _, k := range catalogueKey.FindAllString(text, -1) {
			if ext := filepath.Ext(k); ext != ".csv" && ext != ".txt" && ext != ".xlsx" { // a file's name is not a key
				t.Errorf("%s shows the catalogue key %q", path, k)
			}
		}
		links, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("a[href^='/']:not([download])")].map(a => a.getAttribute("href"))`))
		require.NoError(t, err)
		for _, l := range links {
			u, err := url.Parse(l)
			require.NoError(t, err)
			if !skip.MatchString(u.Path) {
				add(u.RequestURI())
			}
		}
	}
	t.Logf("%d pages crawled", min(len(queue), maxPages))

	// The upload's dry run, a page only a form reaches, and its rejects.
	list := filepath.Join(t.TempDir(), "名单.csv")
	require.NoError(t, os.WriteFile(list, []byte(csvOf("zh", 20, "bad openid!", "zh00003", strings.Repeat("o", 129), "")), 0o644))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(b.srv.URL+"/upload"),
		chromedp.WaitVisible(chromedp.CSS(`#upload-form`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=stock]`), "S1"),
		chromedp.SetUploadFiles(chromedp.CSS(`input[name=file]`), []string{list}),
		chromedp.Click(chromedp.CSS(`#btn-dryrun`)),
		chromedp.WaitVisible(chromedp.CSS(`#dryrun`)),
	))
	text := evalString(t, ctx, visibleText)
	require.Empty(t, code.FindAllString(text, -1), text)
	require.Contains(t, text, "含有不允许的字符")
	require.Contains(t, text, "最多 128 个")
	require.Greater(t, len(seen), len(shotlist.Pages), "the crawl followed links")
}

// TestFormAddressesLeadToTheirPage: a GET of an address that only takes a
// form's POST (a reload after the act, a bookmark) leads to the page the
// form is on, never to a bare "Method Not Allowed".
func TestFormAddressesLeadToTheirPage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.importBatch(t, "spring", 3)
	otto := b.login(t, "otto")
	batch := "/batches/" + strconv.FormatInt(id, 10)
	for path, want := range map[string]string{
		batch + "/pause":          batch,
		batch + "/cancel":         batch,
		batch + "/settle":         batch,
		"/upload/abc/create":      "/upload/abc",
		"/upload/abc/drop":        "/upload/abc",
		"/reconciliation/fetch":   "/reconciliation",
		"/stocks/9856000/restart": "/stocks/9856000",
		"/users/otto/tokens":      "/account",
	} {
		a := b.get(t, otto, path, nil)
		require.Equal(t, http.StatusSeeOther, a.Status, path)
		require.Equal(t, want, a.Header.Get("Location"), path)
	}
}

// TestExportInTheZone: the batch export's last_attempt_at is in the
// console's zone, its offset saying which, as every page shows times.
func TestExportInTheZone(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.importBatch(t, "zone", 2)
	_, err := b.schema.DB.Exec(`UPDATE recipients SET last_attempt_at = '2026-03-01 02:30:00+00', attempts = 1 WHERE batch_id = $1`, id)
	require.NoError(t, err)
	a := b.get(t, b.login(t, "ann"), "/api/v1/batches/"+strconv.FormatInt(id, 10)+"/export", nil)
	require.Equal(t, http.StatusOK, a.Status, a.Body)
	require.Contains(t, a.Body, ",1,2026-03-01T10:30:00+08:00\n")
}

// TestUploadErrorsInChinese: the same file again is refused naming the
// batch it matches, and a file without a header line says what to do, in
// Chinese, never pointing at a command-line flag.
func TestUploadErrorsInChinese(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ann := b.login(t, "ann")
	a, ok := b.dryRun(t, ann, map[string]string{"stock": "S2"}, csvOf("d", 3))
	require.True(t, ok, a.Body)
	b.follow(t, ann, b.post(t, ann, "/upload/"+between(a.Body, `action="/upload/`, `/create"`)+"/create", nil, nil))
	id := b.batches(t)[0].ID

	a, ok = b.dryRun(t, ann, map[string]string{"stock": "S2"}, csvOf("d", 3))
	if ok && strings.Contains(a.Body, `/create"`) {
		a = b.follow(t, ann, b.post(t, ann, "/upload/"+between(a.Body, `action="/upload/`, `/create"`)+"/create", nil, nil))
	}
	require.Contains(t, a.Body, "/batches/"+strconv.FormatInt(id, 10), "the page names the batch the file matches")
	require.NotContains(t, a.Body, "--allow-duplicate")

	a, ok = b.dryRun(t, ann, map[string]string{"stock": "S2"}, "oAAAAAAAAAAAAAAAAAAAAAAAAAAA\noBBBBBBBBBBBBBBBBBBBBBBBBBBB\n")
	require.False(t, ok)
	require.Contains(t, a.Body, "像是收券人而不是表头")
}

// TestRefusalsInChinese: an act the batch's state forbids, and a batch
// that is not there, are said in Chinese on the page.
func TestRefusalsInChinese(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.importBatch(t, "refusal", 2)
	_, err := b.svc.CancelBatch(context.Background(), b.cli, id)
	require.NoError(t, err)
	otto := b.login(t, "otto")
	zh := http.Header{"Accept-Language": {"zh-CN"}}
	a := b.post(t, otto, "/batches/"+strconv.FormatInt(id, 10)+"/pause", nil, zh)
	if loc := a.Header.Get("Location"); a.Status == http.StatusSeeOther {
		a = b.get(t, otto, loc, zh) // the page shows the refusal once
	}
	require.Contains(t, a.Body, "发放批次当前的状态不允许此操作")
	a = b.get(t, otto, "/batches/99999", zh)
	require.Equal(t, http.StatusNotFound, a.Status)
	require.Contains(t, a.Body, "没有这个页面或记录")
}
