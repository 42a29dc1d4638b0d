package pages

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/console"
	"github.com/issuer-dev/issuer/ops"
	"github.com/issuer-dev/issuer/report"
)

// maxListLimit bounds one page of GET /api/v1/batches.
const maxListLimit = 1000

// apiListLimit is the page of GET /api/v1/batches without ?limit=: the
// newest 100. Unbounded, the answer grew with every batch ever imported
// (6 MB and seconds at 10,000 batches). The next page's URL is in the
// Link header (rel="next"), so the body stays the array of batch objects.
const apiListLimit = 100

func (p *Pages) apiRoutes() {
	h := func(pattern string, act auth.Action, fn http.HandlerFunc) { p.con.Handle(pattern, act, fn) }
	h("GET /api/v1/batches", auth.ActRead, p.apiBatches)
	h("POST /api/v1/batches", auth.ActImport, p.apiImport)
	h("GET /api/v1/batches/{id}", auth.ActRead, p.apiBatch)
	// ops authorizes the acts it performs, so that a refusal is in the
	// audit log too; the route checks only what ops does not have yet.
	h("POST /api/v1/batches/{id}/pause", "", p.apiAction("pause"))
	h("POST /api/v1/batches/{id}/resume", "", p.apiAction("resume"))
	h("POST /api/v1/batches/{id}/cancel", "", p.apiAction("cancel"))
	h("POST /api/v1/batches/{id}/approve", auth.ActApprove, p.apiAction("approve"))
	h("POST /api/v1/batches/{id}/reject", auth.ActReject, p.apiAction("reject"))
	h("PATCH /api/v1/batches/{id}/guards", "", p.apiGuards)
	h("GET /api/v1/batches/{id}/export", auth.ActExport, p.apiExport)
	h("GET /api/v1/batches/{id}/recipients", auth.ActRead, p.apiRecipient)
	h("GET /api/v1/batches/{id}/progress", auth.ActRead, p.apiProgress)
	h("GET /api/v1/batches/{id}/report", auth.ActExport, p.apiBatchReport)
	h("GET /api/v1/reconcile/report", auth.ActExport, p.apiReconcileReport)
	h("GET /api/v1/review", auth.ActRead, p.apiReview)
	h("POST /api/v1/review/resolve", "", p.apiResolve)
}

func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, badRequest("%q is not a batch id", r.PathValue("id"))
	}
	return id, nil
}

// batchFilter reads status, stock, from, to (dates in the configured zone
// or RFC 3339; to is exclusive for a time and inclusive for a date),
// before_id and limit, and the search and sort parameters (searchFilter),
// a page being pageSize batches (0: the limit).
func (p *Pages) batchFilter(r *http.Request, defLimit, pageSize int) (ops.BatchFilter, error) {
	q := r.URL.Query()
	f := ops.BatchFilter{Status: q.Get("status"), StockID: strings.TrimSpace(q.Get("stock")), Limit: defLimit}
	var err error
	if v := q.Get("from"); v != "" {
		if f.CreatedFrom, err = p.parseDay(v, false); err != nil {
			return f, badRequest("from: %v", err)
		}
	}
	if v := q.Get("to"); v != "" {
		if f.CreatedBefore, err = p.parseDay(v, true); err != nil {
			return f, badRequest("to: %v", err)
		}
	}
	if v := q.Get("before_id"); v != "" {
		if f.BeforeID, err = strconv.ParseInt(v, 10, 64); err != nil || f.BeforeID < 0 {
			return f, badRequest("before_id must be a batch id")
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListLimit {
			return f, badRequest("limit must be 1..%d", maxListLimit)
		}
		f.Limit = n
	}
	if pageSize <= 0 {
		pageSize = f.Limit
	}
	return f, searchFilter(q, &f, pageSize)
}

// parseDay reads RFC 3339, or YYYY-MM-DD in the configured zone; a date
// as an upper bound means the end of that day.
func (p *Pages) parseDay(v string, end bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	d, err := time.ParseInLocation("2006-01-02", v, p.opts.Location)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want YYYY-MM-DD or RFC 3339", v)
	}
	if end {
		d = d.AddDate(0, 0, 1)
	}
	return d, nil
}

func (p *Pages) apiBatches(w http.ResponseWriter, r *http.Request) {
	f, err := p.batchFilter(r, apiListLimit, 0)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	limit := f.Limit
	f.Limit++ // one more tells whether there is a next page
	bs, err := p.svc.Batches(r.Context(), actor(r), f)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	if len(bs) > limit {
		bs = bs[:limit]
		q := r.URL.Query()
		if f.Sort != "" { // sorted: numbered pages
			q.Set("page", strconv.Itoa(f.Offset/limit+1))
		} else {
			q.Set("before_id", strconv.FormatInt(bs[len(bs)-1].ID, 10))
		}
		w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, r.URL.Path, q.Encode()))
	}
	if bs == nil {
		bs = []*ops.Batch{}
	}
	console.WriteJSON(w, http.StatusOK, bs)
}

func (p *Pages) apiBatch(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err == nil {
		var b *ops.Batch
		if b, err = p.svc.Batch(r.Context(), actor(r), id); err == nil {
			console.WriteJSON(w, http.StatusOK, b)
			return
		}
	}
	p.fail(w, r, err)
}

// batchAction performs one state change and returns the batch after it.
func (p *Pages) batchAction(ctx context.Context, a auth.Actor, action string, id int64, reason string) (*ops.Batch, error) {
	switch action {
	case "pause":
		return p.svc.PauseBatch(ctx, a, id)
	case "resume":
		return p.svc.ResumeBatch(ctx, a, id)
	case "cancel":
		res, err := p.svc.CancelBatch(ctx, a, id)
		if err != nil {
			return nil, err
		}
		return res.Batch, nil
	case "approve":
		return p.svc.ApproveBatchComment(ctx, a, id, reason) // reason: the approver's comment
	case "reject":
		return p.svc.RejectBatch(ctx, a, id, reason)
	}
	return nil, ops.Errorf(ops.ENOTIMPLEMENTED, "batch %s is not available in this version", action)
}

func (p *Pages) apiAction(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r)
		if err != nil {
			p.fail(w, r, err)
			return
		}
		var reason string
		if action == "reject" {
			var body struct {
				Reason string `json:"reason"`
			}
			if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&body); err != nil || strings.TrimSpace(body.Reason) == "" {
				p.fail(w, r, badRequest(`reject takes JSON {"reason":"…"} with a reason`))
				return
			}
			reason = strings.TrimSpace(body.Reason)
		}
		if action == "approve" {
			// An optional JSON {"comment":"…"}; no body approves without one.
			var body struct {
				Comment string `json:"comment"`
			}
			if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&body); err != nil && !errors.Is(err, io.EOF) {
				p.fail(w, r, badRequest(`approve takes no body or JSON {"comment":"…"}`))
				return
			}
			reason = body.Comment
		}
		b, err := p.batchAction(r.Context(), actor(r), action, id, reason)
		if err != nil {
			p.fail(w, r, err)
			return
		}
		console.WriteJSON(w, http.StatusOK, b)
	}
}

// apiGuards changes a batch's guards: JSON with any of max_amount_yuan
// (a number or a string of yuan), window ("HH:MM-HH:MM"), start_at (RFC
// 3339 or "YYYY-MM-DD HH:MM") and priority; null clears a guard (priority
// back to 0), a key left out leaves it as it is.
func (p *Pages) apiGuards(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	req, err := readGuards(r.Body)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	b, err := p.svc.SetBatchGuards(r.Context(), actor(r), id, req)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	console.WriteJSON(w, http.StatusOK, b)
}

const guardsUsage = `guards takes JSON with any of "max_amount_yuan", "window", "start_at", "priority" (null clears), ` +
	`and "paused" (true or false: paused once approved, while the batch awaits approval)`

func readGuards(body io.Reader) (ops.GuardsRequest, error) {
	var req ops.GuardsRequest
	var fields map[string]json.RawMessage
	if err := json.NewDecoder(io.LimitReader(body, 64<<10)).Decode(&fields); err != nil || fields == nil {
		return req, badRequest("%s", guardsUsage)
	}
	none := ops.None
	text := func(name string, raw json.RawMessage, number bool) (*string, error) {
		if string(raw) == "null" {
			return &none, nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err == nil {
			return &s, nil
		}
		var n json.Number
		if number && json.Unmarshal(raw, &n) == nil {
			s = n.String()
			return &s, nil
		}
		return nil, badRequest("%s: want a string or null", name)
	}
	var err error
	for name, raw := range fields {
		switch name {
		case "max_amount_yuan":
			req.MaxAmountYuan, err = text(name, raw, true)
		case "window":
			req.Window, err = text(name, raw, false)
		case "start_at":
			req.StartAt, err = text(name, raw, false)
		case "priority":
			n := 0
			if string(raw) != "null" {
				if json.Unmarshal(raw, &n) != nil {
					return req, badRequest("priority: want a whole number or null")
				}
			}
			req.Priority = &n
		case "paused":
			var v bool
			if json.Unmarshal(raw, &v) != nil {
				return req, badRequest("paused: want true or false")
			}
			req.Paused = &v
		default:
			return req, badRequest("unknown field %q; %s", name, guardsUsage)
		}
		if err != nil {
			return req, err
		}
	}
	if req == (ops.GuardsRequest{}) {
		return req, badRequest("%s", guardsUsage)
	}
	return req, nil
}

// extendDeadlines lets a long upload or download outlive the daemon's
// short server timeouts; a server without deadlines ignores it.
func (p *Pages) extendDeadlines(w http.ResponseWriter, read bool) {
	rc := http.NewResponseController(w)
	until := time.Now().Add(p.opts.TransferTimeout)
	if read {
		_ = rc.SetReadDeadline(until)
	}
	_ = rc.SetWriteDeadline(until)
}

func (p *Pages) apiExport(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	// Check first, so that a refusal is a clean status, not half a file.
	if _, err := p.svc.Batch(r.Context(), actor(r), id); err != nil {
		p.fail(w, r, err)
		return
	}
	p.extendDeadlines(w, false)
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="batch-%d.csv"`, id))
	if err := p.svc.ExportBatch(r.Context(), actor(r), id, w); err != nil {
		// Headers are gone; cut the answer short so that a client cannot
		// take a truncated file for a whole one.
		p.log.Error("batch export", "batch", id, "err", err)
		panic(http.ErrAbortHandler)
	}
}

func (p *Pages) apiRecipient(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	rec, err := p.svc.LookupRecipient(r.Context(), actor(r), id, strings.TrimSpace(r.URL.Query().Get("openid")))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	console.WriteJSON(w, http.StatusOK, rec)
}

// progressAnswer is ops.Progress with the times a page shows, formatted
// in the configured zone.
type progressAnswer struct {
	*ops.Progress
	TimeZone string `json:"timezone"`
	ETAText  string `json:"eta_text"`
	NowText  string `json:"now_text"`
}

func (p *Pages) apiProgress(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	pr, err := p.svc.BatchProgress(r.Context(), actor(r), id)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	console.WriteJSON(w, http.StatusOK, p.progressAnswer(pr))
}

func (p *Pages) progressAnswer(pr *ops.Progress) progressAnswer {
	a := progressAnswer{Progress: pr, TimeZone: p.zone(), ETAText: "—", NowText: p.when(pr.Now)}
	if pr.ETA != nil {
		a.ETAText = p.when(*pr.ETA)
	}
	return a
}

func reportFormat(r *http.Request) (report.Format, error) {
	v := r.URL.Query().Get("format")
	if v == "" {
		return report.XLSX, nil
	}
	f, err := report.ParseFormat(v)
	if err != nil {
		return "", badRequest("%v", err)
	}
	return f, nil
}

func (p *Pages) writeReport(w http.ResponseWriter, r *http.Request, rep *report.Report, f report.Format, name string) {
	defer rep.Close()
	p.extendDeadlines(w, false)
	switch f {
	case report.XLSX:
		w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	case report.CSV:
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	default:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.%s"`, name, map[report.Format]string{
		report.XLSX: "xlsx", report.CSV: "csv", report.Text: "txt"}[f]))
	if err := rep.Write(r.Context(), w, f); err != nil {
		p.log.Error("report", "name", name, "err", err)
		panic(http.ErrAbortHandler)
	}
}

func (p *Pages) apiBatchReport(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	f, err := reportFormat(r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	rep, err := p.svc.BatchReport(r.Context(), actor(r), id, report.Options{Location: p.opts.Location})
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.writeReport(w, r, rep, f, fmt.Sprintf("batch-%d-report", id))
}

func (p *Pages) apiReconcileReport(w http.ResponseWriter, r *http.Request) {
	f, err := reportFormat(r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	stock := strings.TrimSpace(r.URL.Query().Get("stock"))
	rep, err := p.svc.ReconcileReportDownload(r.Context(), actor(r), report.Options{StockID: stock, Location: p.opts.Location})
	if err != nil {
		p.fail(w, r, err)
		return
	}
	name := "reconcile"
	if stock != "" {
		name += "-" + safeName(stock)
	}
	p.writeReport(w, r, rep, f, name)
}

// safeName keeps a file name to letters, digits, - and _.
func safeName(s string) string {
	return strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			return c
		}
		return '_'
	}, s)
}

func optionalBatch(v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id < 0 {
		return 0, badRequest("batch must be a batch id")
	}
	return id, nil
}

func (p *Pages) apiReview(w http.ResponseWriter, r *http.Request) {
	batch, err := optionalBatch(r.URL.Query().Get("batch"))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	rows, err := p.svc.Review(r.Context(), actor(r), batch)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	if rows == nil {
		rows = []ops.ReviewRow{}
	}
	console.WriteJSON(w, http.StatusOK, rows)
}

func (p *Pages) apiResolve(w http.ResponseWriter, r *http.Request) {
	var batch int64
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var body struct {
			Batch int64 `json:"batch"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&body); err != nil && err != io.EOF {
			p.fail(w, r, badRequest(`resolve takes JSON {"batch":ID}`))
			return
		}
		batch = body.Batch
	} else {
		var err error
		if batch, err = optionalBatch(r.FormValue("batch")); err != nil {
			p.fail(w, r, err)
			return
		}
	}
	sum, err := p.svc.ResolveReview(r.Context(), actor(r), batch)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	console.WriteJSON(w, http.StatusOK, sum)
}
