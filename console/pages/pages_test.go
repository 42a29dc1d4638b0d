package pages_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/audit"
)

func TestWithoutCredentials(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := strconv.FormatInt(b.importBatch(t, "b", 3), 10)

	for _, path := range []string{"/api/v1/batches", "/api/v1/batches?status=pending&limit=5", "/api/v1/batches/" + id,
		"/api/v1/batches/" + id + "/export", "/api/v1/batches/" + id + "/recipients?openid=ob00000",
		"/api/v1/batches/" + id + "/progress", "/api/v1/batches/" + id + "/report?format=csv",
		"/api/v1/reconcile/report?format=text", "/api/v1/review", "/api/v1/review?batch=" + id} {
		requireJSONError(t, b.get(t, nil, path, nil), http.StatusUnauthorized)
	}
	for _, action := range []string{"pause", "resume", "cancel", "approve", "reject"} {
		requireJSONError(t, b.post(t, nil, "/api/v1/batches/"+id+"/"+action, nil, nil), http.StatusUnauthorized)
	}
	requireJSONError(t, b.post(t, nil, "/api/v1/review/resolve", nil, nil), http.StatusUnauthorized)
	requireJSONError(t, b.upload(t, nil, "/api/v1/batches", map[string]string{"stock": "S1"}, csvOf("x", 2), nil), http.StatusUnauthorized)

	for _, path := range []string{"/batches", "/batches?status=running", "/batches/" + id, "/upload", "/reconciliation", "/operations"} {
		a := b.get(t, nil, path, nil)
		require.Equal(t, http.StatusSeeOther, a.Status, path)
		require.Equal(t, "/login?next="+url.QueryEscape(path), a.Header.Get("Location"))
	}
	for _, path := range []string{"/batches/" + id + "/pause", "/batches/" + id + "/cancel", "/batches/" + id + "/settle",
		"/upload", "/upload/x/create", "/upload/x/drop"} {
		a := b.post(t, nil, path, url.Values{}, nil)
		require.Equal(t, http.StatusSeeOther, a.Status, path)
		require.Equal(t, "/login?next=%2F", a.Header.Get("Location"))
	}
	require.Len(t, b.batches(t), 1, "nothing was imported")
	require.Equal(t, "pending", b.batch(t, mustID(t, id)).Status, "nothing was paused or cancelled")
}

func mustID(t *testing.T, s string) int64 {
	t.Helper()
	id, err := strconv.ParseInt(s, 10, 64)
	require.NoError(t, err)
	return id
}

func TestRoles(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := strconv.FormatInt(b.importBatch(t, "b", 3), 10)
	ann, annTok := b.login(t, "ann"), b.token(t, "ann")
	otto := b.login(t, "otto")

	t.Run("AnalystMayNotChangeBatches", func(t *testing.T) {
		for _, action := range []string{"pause", "resume", "cancel", "approve", "reject"} {
			requireJSONError(t, b.post(t, ann, "/api/v1/batches/"+id+"/"+action, nil, nil), http.StatusForbidden)
			requireJSONError(t, b.post(t, nil, "/api/v1/batches/"+id+"/"+action, nil, bearer(annTok)), http.StatusForbidden)
			a := b.post(t, ann, "/batches/"+id+"/"+action, url.Values{"reason": {"x"}}, nil)
			require.Equal(t, http.StatusForbidden, a.Status, action)
			require.Contains(t, a.Header.Get("Content-Type"), "text/html")
		}
		requireJSONError(t, b.post(t, ann, "/api/v1/review/resolve", nil, nil), http.StatusForbidden)
		require.Equal(t, http.StatusForbidden, b.post(t, ann, "/batches/"+id+"/settle", nil, nil).Status)
		require.Equal(t, "pending", b.batch(t, mustID(t, id)).Status)
		for _, action := range []string{"pause", "resume", "cancel", "settle"} {
			n := 0
			for _, r := range b.auditRows(t, action) {
				if r.Actor == "ann" && r.Outcome == audit.Denied {
					n++
				}
			}
			require.Positive(t, n, "every refused %s is in the audit log", action)
		}
	})
	t.Run("AnalystMayReadUploadExport", func(t *testing.T) {
		for _, path := range []string{"/batches", "/batches/" + id, "/upload", "/reconciliation", "/operations"} {
			require.Equal(t, http.StatusOK, b.get(t, ann, path, nil).Status, path)
		}
		for _, path := range []string{"/api/v1/batches", "/api/v1/batches/" + id, "/api/v1/batches/" + id + "/export",
			"/api/v1/batches/" + id + "/progress", "/api/v1/batches/" + id + "/report?format=text", "/api/v1/review"} {
			require.Equal(t, http.StatusOK, b.get(t, nil, path, bearer(annTok)).Status, path)
		}
		page := b.get(t, ann, "/batches/"+id, nil).Body
		for _, button := range []string{`id="btn-pause"`, `id="btn-cancel"`, `id="btn-resume"`, `id="btn-settle"`, "/pause", "/cancel"} {
			require.NotContains(t, page, button, "an analyst is not shown what they may not use")
		}
		require.Contains(t, page, "/export")
	})
	t.Run("OperatorSeesButtons", func(t *testing.T) {
		page := b.get(t, otto, "/batches/"+id, nil).Body
		require.Contains(t, page, `id="btn-pause"`)
		require.Contains(t, page, `id="btn-cancel"`)
		require.Contains(t, page, `data-confirm=`, "cancel asks first")
	})
	t.Run("ApprovalOnlyAwaitingApproval", func(t *testing.T) {
		// The batch is not awaiting approval: a state that forbids → 409.
		requireJSONError(t, b.post(t, otto, "/api/v1/batches/"+id+"/approve", nil, nil), http.StatusConflict)
		requireJSONError(t, b.postJSON(t, otto, "/api/v1/batches/"+id+"/reject", map[string]string{"reason": "no"}, nil), http.StatusConflict)
		requireJSONError(t, b.postJSON(t, otto, "/api/v1/batches/"+id+"/reject", map[string]string{}, nil), http.StatusBadRequest)
		require.NotContains(t, b.get(t, otto, "/batches/"+id, nil).Body, `id="btn-approve"`)
		_, err := b.schema.DB.Exec(`UPDATE batches SET status = 'awaiting_approval' WHERE id = $1`, id)
		require.NoError(t, err)
		require.Contains(t, b.get(t, otto, "/batches/"+id, nil).Body, `id="btn-approve"`, "an operator is offered the approval")
		require.NotContains(t, b.get(t, ann, "/batches/"+id, nil).Body, `id="btn-approve"`, "an analyst is not")
	})
}

func TestCrossOriginPost(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := strconv.FormatInt(b.importBatch(t, "b", 3), 10)
	otto := b.login(t, "otto")
	evil := http.Header{"Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}}
	requireJSONError(t, b.post(t, otto, "/api/v1/batches/"+id+"/pause", nil, evil), http.StatusForbidden)
	require.Equal(t, http.StatusForbidden, b.post(t, otto, "/batches/"+id+"/cancel", nil, evil).Status)
	require.Equal(t, http.StatusForbidden, b.upload(t, otto, "/api/v1/batches", map[string]string{"stock": "S1"}, csvOf("x", 2), evil).Status)
	require.Equal(t, "pending", b.batch(t, mustID(t, id)).Status)
	require.Len(t, b.batches(t), 1)
	// The same request from the console's own origin goes through.
	same := http.Header{"Origin": {b.srv.URL}, "Sec-Fetch-Site": {"same-origin"}}
	require.Equal(t, http.StatusOK, b.post(t, otto, "/api/v1/batches/"+id+"/pause", nil, same).Status)
}

func TestBatchesAPI(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ids := []int64{b.importBatch(t, "a", 2), b.importBatch(t, "b", 3), b.importBatch(t, "c", 4)}
	ann := b.login(t, "ann")

	var list []map[string]any
	b.get(t, ann, "/api/v1/batches", nil).JSON(t, &list)
	require.Len(t, list, 3)
	require.EqualValues(t, ids[2], list[0]["id"], "newest first")
	for _, k := range []string{"id", "name", "stock_id", "kind", "status", "counts", "in_doubt"} {
		require.Contains(t, list[0], k)
	}
	b.get(t, ann, "/api/v1/batches?limit=2", nil).JSON(t, &list)
	require.Len(t, list, 2)
	b.get(t, ann, "/api/v1/batches?before_id="+strconv.FormatInt(ids[1], 10), nil).JSON(t, &list)
	require.Len(t, list, 1)
	require.EqualValues(t, ids[0], list[0]["id"])
	b.get(t, ann, "/api/v1/batches?status=running", nil).JSON(t, &list)
	require.Empty(t, list)
	require.Equal(t, "[]\n", b.get(t, ann, "/api/v1/batches?stock=NONE", nil).Body, "an empty array, not null")
	b.get(t, ann, "/api/v1/batches?from=2000-01-01&to=2999-12-31", nil).JSON(t, &list)
	require.Len(t, list, 3)
	b.get(t, ann, "/api/v1/batches?to=2000-01-01", nil).JSON(t, &list)
	require.Empty(t, list)
	requireJSONError(t, b.get(t, ann, "/api/v1/batches?from=yesterday", nil), http.StatusBadRequest)
	requireJSONError(t, b.get(t, ann, "/api/v1/batches?limit=0", nil), http.StatusBadRequest)

	var one map[string]any
	b.get(t, ann, "/api/v1/batches/"+strconv.FormatInt(ids[1], 10), nil).JSON(t, &one)
	require.Equal(t, "b", one["name"])
	require.EqualValues(t, 3, one["counts"].(map[string]any)["pending"])
	requireJSONError(t, b.get(t, ann, "/api/v1/batches/999999", nil), http.StatusNotFound)
	requireJSONError(t, b.get(t, ann, "/api/v1/batches/x", nil), http.StatusBadRequest)

	// Pause, resume, cancel answer the batch; a state that forbids is 409.
	otto := b.login(t, "otto")
	path := "/api/v1/batches/" + strconv.FormatInt(ids[0], 10)
	b.post(t, otto, path+"/pause", nil, nil).JSON(t, &one)
	require.Equal(t, "paused", one["status"])
	b.post(t, otto, path+"/resume", nil, nil).JSON(t, &one)
	require.Equal(t, "pending", one["status"])
	b.post(t, otto, path+"/cancel", nil, nil).JSON(t, &one)
	require.Equal(t, "cancelled", one["status"])
	requireJSONError(t, b.post(t, otto, path+"/pause", nil, nil), http.StatusConflict)

	// Every act is in the audit log, the refused ones too.
	requireJSONError(t, b.post(t, ann, path+"/resume", nil, nil), http.StatusForbidden)
	for action, outcomes := range map[string][]audit.Outcome{"pause": {audit.Error, audit.OK}, "resume": {audit.OK}, "cancel": {audit.OK}} {
		rows := b.auditRows(t, action)
		var got []audit.Outcome
		for _, r := range rows {
			if r.Actor == "otto" {
				got = append(got, r.Outcome)
			}
		}
		require.Equal(t, outcomes, got, action)
	}
	denied := false
	for _, r := range b.auditRows(t, "resume") {
		denied = denied || r.Actor == "ann" && r.Outcome == audit.Denied
	}
	require.True(t, denied, "a refused act is recorded as denied")
}

func TestUploadAPI(t *testing.T) {
	t.Parallel()
	b := setup(t, withMaxUpload(64<<10))
	ann := b.login(t, "ann")
	fields := map[string]string{"stock": "S1", "kind": "favor", "name": "spring"}

	t.Run("DryRunStoresNothing", func(t *testing.T) {
		f := map[string]string{"stock": "S1", "dry_run": "true"}
		var rep map[string]any
		a := b.upload(t, ann, "/api/v1/batches", f, csvOf("d", 5, "d00001", ""), nil)
		require.Equal(t, http.StatusOK, a.Status, a.Body)
		a.JSON(t, &rep)
		require.Contains(t, rep, "batch_id")
		require.Nil(t, rep["batch_id"], "null: nothing stored, as import --json prints it")
		require.EqualValues(t, 7, rep["lines"])
		require.EqualValues(t, 5, rep["accepted"])
		require.EqualValues(t, 1, rep["duplicates"])
		require.EqualValues(t, 1, rep["blank"])
		require.Empty(t, b.batches(t))
		require.Empty(t, b.auditRows(t, "import"), "a dry run stores nothing and is not an act")
	})
	t.Run("TooManyRejects", func(t *testing.T) {
		var rep struct {
			BatchID  int64 `json:"batch_id"`
			Rejected int   `json:"rejected"`
			Accepted int   `json:"accepted"`
			Rejects  []struct {
				Line   int    `json:"line"`
				Reason string `json:"reason"`
			} `json:"rejects"`
			Error string `json:"error"`
		}
		var bad []string
		for i := range 150 {
			bad = append(bad, "bad openid "+strconv.Itoa(i))
		}
		a := b.upload(t, ann, "/api/v1/batches", fields, csvOf("r", 3, bad...), nil)
		require.Equal(t, http.StatusUnprocessableEntity, a.Status, a.Body)
		a.JSON(t, &rep)
		require.Equal(t, 150, rep.Rejected)
		require.Len(t, rep.Rejects, 100, "the first 100")
		require.Equal(t, 5, rep.Rejects[0].Line)
		require.NotEmpty(t, rep.Rejects[0].Reason)
		require.NotEmpty(t, rep.Error)
		require.Empty(t, b.batches(t))
	})
	t.Run("OverTheLimit", func(t *testing.T) {
		a := b.upload(t, ann, "/api/v1/batches", fields, csvOf("big", 8000), nil)
		requireJSONError(t, a, http.StatusRequestEntityTooLarge)
		require.Empty(t, b.batches(t))
		require.Empty(t, b.uploadFiles(t), "the partial file is gone")
	})
	t.Run("BadRequests", func(t *testing.T) {
		requireJSONError(t, b.upload(t, ann, "/api/v1/batches", map[string]string{"kind": "favor"}, csvOf("x", 2), nil), http.StatusBadRequest)
		requireJSONError(t, b.upload(t, ann, "/api/v1/batches", map[string]string{"stock": "S1", "kind": "other"}, csvOf("x", 2), nil), http.StatusBadRequest)
		requireJSONError(t, b.upload(t, ann, "/api/v1/batches", fields, "no such column\nx\n", nil), http.StatusUnprocessableEntity)
		requireJSONError(t, b.post(t, ann, "/api/v1/batches", url.Values{"stock": {"S1"}}, nil), http.StatusBadRequest)
		require.Empty(t, b.batches(t))
	})
	t.Run("Create", func(t *testing.T) {
		var rep map[string]any
		a := b.upload(t, ann, "/api/v1/batches", fields, csvOf("c", 4), nil)
		require.Equal(t, http.StatusCreated, a.Status, a.Body)
		a.JSON(t, &rep)
		id := int64(rep["batch_id"].(float64))
		require.NotZero(t, id)
		require.Equal(t, "pending", rep["status"])
		require.EqualValues(t, 4, rep["accepted"])
		bt := b.batch(t, id)
		require.Equal(t, "spring", bt.Name)
		var rows []audit.Entry
		for _, r := range b.auditRows(t, "import") {
			if r.Outcome == audit.OK {
				rows = append(rows, r)
			}
		}
		require.Len(t, rows, 1, "the failed imports are recorded as errors, this one as ok")
		require.Equal(t, "ann", rows[0].Actor)
		require.Equal(t, audit.OK, rows[0].Outcome)
		require.Equal(t, id, *rows[0].BatchID)
		require.Empty(t, b.uploadFiles(t), "the spooled file is removed")
		// Who uploaded is on the list.
		require.Contains(t, b.get(t, ann, "/batches", nil).Body, "<td>ann</td>")
	})
}

func TestUploadPage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ann, otto := b.login(t, "ann"), b.login(t, "otto")
	file := csvOf("p", 3, "not an openid!", "p00000")
	a, ok := b.dryRun(t, ann, map[string]string{"stock": "S1", "kind": "favor", "name": "page"}, file)
	require.True(t, ok, a.Body)
	require.Equal(t, http.StatusOK, a.Status, a.Body)
	require.Contains(t, a.Body, `data-field="rejected">1<`)
	require.Contains(t, a.Body, `data-field="accepted">3<`)
	require.Contains(t, a.Body, `data-field="duplicates">1<`)
	require.Contains(t, a.Body, `<code>5</code>:`, "the reject as line: reason")
	require.Empty(t, b.batches(t), "the dry run stored nothing")
	tok := between(a.Body, `action="/upload/`, `/create"`)
	require.Len(t, tok, 48)
	require.Len(t, b.uploadFiles(t), 2, "the upload and its rejects wait")

	// The rejects download, as CSV with the line and the reason.
	rj := b.get(t, ann, "/upload/"+tok+"/rejects.csv", nil)
	require.Equal(t, http.StatusOK, rj.Status)
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(rj.Body, "\uFEFF"))).ReadAll()
	require.NoError(t, err)
	require.Equal(t, []string{"line", "reason", "raw"}, recs[0])
	require.Equal(t, "5", recs[1][0])

	// Only its uploader sees or uses the token.
	require.Equal(t, http.StatusNotFound, b.get(t, otto, "/upload/"+tok+"/rejects.csv", nil).Status)
	require.Equal(t, "/upload", b.post(t, otto, "/upload/"+tok+"/create", nil, nil).Header.Get("Location"), "not otto's: gone for him")
	require.Equal(t, http.StatusNotFound, b.get(t, otto, "/upload/"+tok, nil).Status)

	// More rejects than allowed: creating needs the explicit choice; a
	// refused create goes back to the dry run, which waits still and says
	// what works.
	a = b.post(t, ann, "/upload/"+tok+"/create", nil, nil)
	require.Equal(t, "/upload/"+tok, a.Header.Get("Location"))
	a = b.follow(t, ann, a)
	require.Contains(t, a.Body, `role="alert"`)
	require.Contains(t, a.Body, "略过被拒的行")
	require.Empty(t, b.batches(t))
	require.Len(t, b.uploadFiles(t), 2, "a refused create keeps the upload")

	a = b.post(t, ann, "/upload/"+tok+"/create", url.Values{"accept_rejects": {"true"}}, nil)
	require.Equal(t, http.StatusSeeOther, a.Status, a.Body)
	bs := b.batches(t)
	require.Len(t, bs, 1)
	require.Equal(t, 3, bs[0].Accepted)
	require.Equal(t, 1, bs[0].Rejected)
	require.Equal(t, "/batches/"+strconv.FormatInt(bs[0].ID, 10)+"?ok=import", a.Header.Get("Location"))
	require.Empty(t, b.uploadFiles(t))
	// Posted again (Back, reload): the batch it made, never a second one nor
	// the duplicate-file refusal.
	a = b.post(t, ann, "/upload/"+tok+"/create", nil, nil)
	require.Equal(t, "/batches/"+strconv.FormatInt(bs[0].ID, 10), a.Header.Get("Location"))
	require.Equal(t, "/batches/"+strconv.FormatInt(bs[0].ID, 10), b.get(t, ann, "/upload/"+tok, nil).Header.Get("Location"))
	require.Len(t, b.batches(t), 1)

	// Drop removes the file and stores nothing.
	a, _ = b.dryRun(t, ann, map[string]string{"stock": "S1"}, csvOf("q", 2))
	tok = between(a.Body, `action="/upload/`, `/create"`)
	require.NotEmpty(t, b.uploadFiles(t))
	require.Equal(t, http.StatusSeeOther, b.post(t, ann, "/upload/"+tok+"/drop", nil, nil).Status)
	require.Empty(t, b.uploadFiles(t))
	require.Len(t, b.batches(t), 1)
}

func between(s, from, to string) string {
	_, rest, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, to)
	return v
}

func TestXSSRendersInert(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ann := b.login(t, "ann")
	payload := `<script>alert(1)</script><img src=x onerror=alert(2)>`
	// In a batch name.
	a := b.upload(t, ann, "/api/v1/batches", map[string]string{"stock": "S1", "name": payload}, csvOf("x", 2), nil)
	require.Equal(t, http.StatusCreated, a.Status, a.Body)
	var rep map[string]any
	a.JSON(t, &rep)
	id := strconv.FormatInt(int64(rep["batch_id"].(float64)), 10)
	// In WeChat Pay's message and a settlement note of a row in review.
	_, err := b.schema.DB.Exec(`UPDATE recipients SET status = 'review', outcome = 'unclassified', doubt_since = now(), wx_code = 'X<b>', wx_message = $1,
		note = $1, attempts = 1, last_attempt_at = now() WHERE batch_id = $2 AND openid = 'ox00000'`, payload, id)
	require.NoError(t, err)
	_, err = b.schema.DB.Exec(`UPDATE batches SET status = 'halted', halt_reason = $1 WHERE id = $2`, "budget_exhausted: NOT_ENOUGH "+payload, id)
	require.NoError(t, err)
	otto := b.login(t, "otto")
	for _, path := range []string{"/batches", "/batches/" + id, "/batches/" + id + "?openid=ox00000", "/operations", "/reconciliation"} {
		page := b.get(t, otto, path, nil)
		require.Equal(t, http.StatusOK, page.Status, path)
		require.NotContains(t, page.Body, "<script>alert", path)
		require.NotContains(t, page.Body, "<img src=x", path)
		require.NotContains(t, page.Body, "X<b>", path)
	}
	page := b.get(t, otto, "/batches/"+id, nil).Body
	require.Contains(t, page, "&lt;script&gt;alert(1)&lt;/script&gt;")
	require.Contains(t, page, "NOT_ENOUGH", "WeChat Pay's code as it is")
	// In a CSV field: the dry run's rejects list shows it as text.
	a, ok := b.dryRun(t, ann, map[string]string{"stock": "S1"}, "openid\nokopenid1\n"+`"`+payload+`"`+"\n")
	require.True(t, ok, a.Body)
	require.Contains(t, a.Body, "&lt;script&gt;", "the reason quotes the field, escaped")
	require.NotContains(t, a.Body, "<script>alert")
	require.NotContains(t, a.Body, "<img src=x")
	// Every page is served with a CSP that refuses inline script.
	require.Contains(t, b.get(t, otto, "/batches/"+id, nil).Header.Get("Content-Security-Policy"), "script-src 'self'")
}

func TestPagesRender(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.importBatch(t, "render", 5)
	_, err := b.schema.DB.Exec(`INSERT INTO instances (id, mchid, hostname, pid, version) VALUES ('host-1:42', '1900000109', 'host-1', 42, 'v1.2.3')`)
	require.NoError(t, err)
	_, err = b.schema.DB.Exec(`INSERT INTO job_runs (job, instance, scheduled_for, finished_at, result, counts, error)
		VALUES ('reconcile', 'host-1:42', now(), now(), 'failure', '{"files": 2}', 'download: timeout')`)
	require.NoError(t, err)
	ann := b.login(t, "ann")
	for _, lang := range []string{"en", "zh"} {
		list := b.get(t, ann, "/batches?lang="+lang, nil)
		require.Equal(t, http.StatusOK, list.Status)
		require.Contains(t, list.Body, `<svg class="pbar"`)
		require.Contains(t, list.Body, "Asia/Shanghai", "times are labelled with the zone")
		page := b.get(t, ann, "/batches/"+strconv.FormatInt(id, 10)+"?lang="+lang, nil)
		require.Equal(t, http.StatusOK, page.Status)
		require.Contains(t, page.Body, `id="rate-chart"`)
		require.Contains(t, page.Body, `src="/static/batch.js"`)
		require.Contains(t, page.Body, "0.00", "amounts in yuan with two decimals")
		ops := b.get(t, ann, "/operations?lang="+lang, nil)
		require.Contains(t, ops.Body, "host-1")
		require.Contains(t, ops.Body, "download: timeout")
		rec := b.get(t, ann, "/reconciliation?lang="+lang, nil)
		require.Equal(t, http.StatusOK, rec.Status)
	}
	require.Contains(t, b.get(t, ann, "/batches?lang=zh", nil).Body, "待发放")
	require.Contains(t, b.get(t, ann, "/batches?lang=en", nil).Body, "pending")
	require.Equal(t, http.StatusOK, b.get(t, nil, "/static/batch.js", nil).Status)
	// Paging: one more than a page shows the older link.
	for i := range 50 {
		b.importBatch(t, "p"+strconv.Itoa(i), 1)
	}
	list := b.get(t, ann, "/batches", nil).Body
	require.Contains(t, list, "before_id=")
	require.Equal(t, http.StatusOK, b.get(t, ann, "/batches?status=pending&stock=S1&from=2000-01-01", nil).Status)
	require.Equal(t, http.StatusBadRequest, b.get(t, ann, "/batches?from=nope", nil).Status)
	require.Equal(t, http.StatusNotFound, b.get(t, ann, "/batches/999999", nil).Status)
}

func TestIssueProgressReports(t *testing.T) {
	t.Parallel()
	b := setup(t, withSim)
	ann, otto := b.login(t, "ann"), b.login(t, "otto")
	a := b.upload(t, ann, "/api/v1/batches", map[string]string{"stock": "S1", "name": "live"}, csvOf("live", 40), nil)
	require.Equal(t, http.StatusCreated, a.Status, a.Body)
	var rep map[string]any
	a.JSON(t, &rep)
	id := int64(rep["batch_id"].(float64))
	path := "/api/v1/batches/" + strconv.FormatInt(id, 10)

	var pr struct {
		Counts    map[string]int `json:"counts"`
		Total     int            `json:"total"`
		Remaining int            `json:"remaining"`
		InDoubt   int            `json:"in_doubt"`
		Rate      float64        `json:"sends_per_second"`
		Series    []struct {
			Rate float64 `json:"rate"`
		} `json:"series"`
		Outcomes map[string]int `json:"outcomes"`
		TimeZone string         `json:"timezone"`
		Batch    struct {
			Status string `json:"status"`
		} `json:"batch"`
	}
	b.get(t, ann, path+"/progress", nil).JSON(t, &pr)
	require.Equal(t, 40, pr.Counts["pending"])
	require.Equal(t, 40, pr.Remaining)
	require.Len(t, pr.Series, 60)
	require.Equal(t, "Asia/Shanghai", pr.TimeZone)

	b.issue(t, id)
	b.get(t, ann, path+"/progress", nil).JSON(t, &pr)
	require.Equal(t, 40, pr.Counts["issued"])
	require.Equal(t, 0, pr.Remaining)
	require.Equal(t, 40, pr.Outcomes["issued"])
	require.Equal(t, "completed", pr.Batch.Status)
	sum := 0.0
	for _, p := range pr.Series {
		sum += p.Rate
	}
	require.InDelta(t, 40.0/10, sum, 0.001, "every answer is in the series (per second of 10 s steps)")
	require.Positive(t, pr.Rate)
	b.sim.CheckExactlyOnce(t, b.schema.DB, "S1")

	// Lookup.
	var rec map[string]any
	b.get(t, ann, path+"/recipients?openid=live00007", nil).JSON(t, &rec)
	require.Equal(t, "issued", rec["status"])
	require.NotEmpty(t, rec["coupon_id"])
	requireJSONError(t, b.get(t, ann, path+"/recipients?openid=nobody", nil), http.StatusNotFound)
	requireJSONError(t, b.get(t, ann, path+"/recipients", nil), http.StatusBadRequest)
	require.Contains(t, b.get(t, ann, "/batches/"+strconv.FormatInt(id, 10)+"?openid=live00007", nil).Body, "live00007")

	// Export: the contract's CSV.
	exp := b.get(t, ann, path+"/export", nil)
	require.Equal(t, http.StatusOK, exp.Status)
	require.Contains(t, exp.Header.Get("Content-Type"), "text/csv")
	header, _, _ := strings.Cut(strings.TrimPrefix(exp.Body, "\uFEFF"), "\n")
	require.Equal(t, "openid,out_request_no,status,outcome,coupon_id,wx_code,wx_message,attempts,last_attempt_at", strings.TrimSpace(header))
	require.Equal(t, 41, strings.Count(exp.Body, "\n"))

	// Reports in every format.
	for format, ctype := range map[string]string{"xlsx": "spreadsheetml", "csv": "text/csv", "text": "text/plain"} {
		r := b.get(t, ann, path+"/report?format="+format, nil)
		require.Equal(t, http.StatusOK, r.Status, format)
		require.Contains(t, r.Header.Get("Content-Type"), ctype)
		require.Contains(t, r.Header.Get("Content-Disposition"), "attachment")
		require.NotEmpty(t, r.Body)
		r = b.get(t, ann, "/api/v1/reconcile/report?stock=S1&format="+format, nil)
		require.Equal(t, http.StatusOK, r.Status, format)
	}
	rc := b.get(t, ann, "/api/v1/reconcile/report?format=csv", nil)
	require.Contains(t, rc.Body, "batch_id,stock_id,issued,used,refunded,net_used,use_rate,used_amount,unknown_coupons")
	requireJSONError(t, b.get(t, ann, path+"/report?format=pdf", nil), http.StatusBadRequest)
	recon := b.get(t, ann, "/reconciliation?stock=S1&lang=en", nil)
	require.Contains(t, recon.Body, "callbacks (so far)", "usage labelled by its source")

	// Review: none; settling asks WeChat Pay and never sends.
	require.Equal(t, "[]\n", b.get(t, ann, "/api/v1/review?batch="+strconv.FormatInt(id, 10), nil).Body)
	var settled map[string]int
	b.postJSON(t, otto, "/api/v1/review/resolve", map[string]int64{"batch": id}, nil).JSON(t, &settled)
	require.Equal(t, 0, settled["checked"])
	require.Len(t, b.auditRows(t, "settle"), 1)
	page := b.follow(t, otto, b.post(t, otto, "/batches/"+strconv.FormatInt(id, 10)+"/settle", nil, nil))
	require.Equal(t, http.StatusOK, page.Status)
	require.Contains(t, page.Body, `role="status"`, "what settling did, after the redirect")
	require.Len(t, b.auditRows(t, "settle"), 2)
	require.Len(t, b.sim.Ledger("S1"), 40, "nothing more was sent")
}

func TestPageActions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := strconv.FormatInt(b.importBatch(t, "act", 3), 10)
	otto := b.login(t, "otto")
	for _, step := range []struct{ action, status string }{{"pause", "paused"}, {"resume", "pending"}, {"cancel", "cancelled"}} {
		a := b.post(t, otto, "/batches/"+id+"/"+step.action, nil, nil)
		require.Equal(t, http.StatusSeeOther, a.Status, a.Body)
		require.Equal(t, "/batches/"+id+"?ok="+step.action, a.Header.Get("Location"))
		require.Equal(t, step.status, b.batch(t, mustID(t, id)).Status)
	}
	a := b.follow(t, otto, b.post(t, otto, "/batches/"+id+"/pause", nil, nil))
	require.Contains(t, a.Body, `role="alert"`, "a cancelled batch cannot be paused: the page says so after the redirect")
	require.NotContains(t, b.get(t, otto, "/batches/"+id, nil).Body, `role="alert"`, "once")
	for _, action := range []string{"pause", "resume", "cancel"} {
		found := false
		for _, r := range b.auditRows(t, action) {
			found = found || r.Actor == "otto" && r.Outcome == audit.OK
		}
		require.True(t, found, action)
	}
	require.Contains(t, b.get(t, otto, "/batches/"+id+"?ok=cancel&lang=en", nil).Body, "Batch cancelled")
	_ = context.Background
}

// The money guards' upload fields reach the import; a duplicate file is
// refused naming its batch; a guard that does not parse stores nothing.
func TestUploadGuards(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ann := b.login(t, "ann")
	f := map[string]string{"stock": "S2", "paused": "true", "priority": "3", "window": "22:00-06:00", "start_at": "2030-01-02 10:00"}
	a := b.upload(t, ann, "/api/v1/batches", f, csvOf("g", 2), nil)
	require.Equal(t, http.StatusCreated, a.Status, a.Body)
	var rep struct {
		BatchID int64  `json:"batch_id"`
		Status  string `json:"status"`
		Repeats int    `json:"repeats"`
	}
	require.NoError(t, json.Unmarshal([]byte(a.Body), &rep))
	require.Equal(t, "paused", rep.Status)
	show := b.get(t, ann, fmt.Sprintf("/api/v1/batches/%d", rep.BatchID), nil)
	require.Contains(t, show.Body, `"priority":3`)
	require.Contains(t, show.Body, `"window":"22:00-06:00"`)
	// The same file again: refused, naming the batch it matches.
	a = b.upload(t, ann, "/api/v1/batches", f, csvOf("g", 2), nil)
	requireJSONError(t, a, http.StatusConflict)
	require.Contains(t, a.Body, fmt.Sprintf("batch %d", rep.BatchID))
	// A guard that does not parse stores nothing.
	before := len(b.batches(t))
	requireJSONError(t, b.upload(t, ann, "/api/v1/batches", map[string]string{"stock": "S2", "window": "9-5"}, csvOf("w", 2), nil), http.StatusBadRequest)
	require.Len(t, b.batches(t), before)
}
