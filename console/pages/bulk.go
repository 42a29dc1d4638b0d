package pages

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/internal/money"
	"github.com/issuer-dev/issuer/ops"
)

// Bulk acts on the batch list: the list's checkboxes ask GET /batches/bulk
// for one confirmation naming every batch and its money at stake; its
// button posts to POST /batches/bulk, which performs one ops act per batch
// and redirects to GET /batches/bulk/done with a result per batch.
func (p *Pages) bulkRoutes() {
	p.con.Handle("GET /batches/bulk", auth.ActRead, http.HandlerFunc(p.bulkConfirm))
	// ops authorizes and audits each batch's act, refusals included.
	p.con.Handle("POST /batches/bulk", "", http.HandlerFunc(p.bulkApply))
	p.con.Handle("GET /batches/bulk/done", auth.ActRead, http.HandlerFunc(p.bulkDone))
}

// bulkIDs reads the selected batch ids (id=…, repeated).
func bulkIDs(vals []string) ([]int64, error) {
	var ids []int64
	for _, v := range vals {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return nil, badRequest("%q is not a batch id", v)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

type bulkRow struct {
	ID      int64
	Name    string
	Status  string
	Stake   string
	Applies bool
	Result  string // done: ok, state, forbidden, not_found, error
}

type bulkData struct {
	Action  string
	Rows    []bulkRow
	Total   string
	Applies int
	Done    bool
	OK      int
	Back    string
}

func (p *Pages) bulkConfirm(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ids, err := bulkIDs(q["id"])
	if err != nil {
		p.fail(w, r, err)
		return
	}
	action := q.Get("action")
	items, total, err := p.svc.BulkPreview(r.Context(), actor(r), action, ids)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	d := bulkData{Action: action, Total: money.YuanGrouped(total), Back: safeBack(q.Get("back"))}
	for _, it := range items {
		d.Rows = append(d.Rows, bulkRow{ID: it.Batch.ID, Name: it.Batch.Name, Status: it.Batch.Status,
			Stake: money.YuanGrouped(it.QueuedFen), Applies: it.Applies})
		if it.Applies {
			d.Applies++
		}
	}
	p.con.Render(w, r, http.StatusOK, "bulk", d)
}

func (p *Pages) bulkApply(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		p.fail(w, r, badRequest("form: %v", err))
		return
	}
	ids, err := bulkIDs(r.PostForm["id"])
	if err != nil {
		p.fail(w, r, err)
		return
	}
	action := r.PostFormValue("action")
	results, err := p.svc.BulkAct(r.Context(), actor(r), action, ids)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	v := url.Values{"action": {action}}
	if back := safeBack(r.PostFormValue("back")); back != "" {
		v.Set("back", back)
	}
	for _, res := range results {
		code := "ok"
		switch {
		case res.Err == nil:
		case ops.ErrorCode(res.Err) == ops.EFORBIDDEN:
			code = "forbidden"
		case ops.ErrorCode(res.Err) == ops.ECONFLICT:
			code = "state"
		case ops.ErrorCode(res.Err) == ops.ENOTFOUND:
			code = "not_found"
		default:
			code = "error"
			p.log.Error("bulk act failed", "action", action, "batch", res.ID, "err", res.Err)
		}
		v.Add("r", fmt.Sprintf("%d:%s", res.ID, code))
	}
	http.Redirect(w, r, "/batches/bulk/done?"+v.Encode(), http.StatusSeeOther)
}

var bulkCodes = []string{"ok", "state", "forbidden", "not_found", "error"}

func (p *Pages) bulkDone(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := bulkData{Action: q.Get("action"), Done: true, Back: safeBack(q.Get("back"))}
	if !slices.Contains(ops.BulkActions(), d.Action) {
		p.fail(w, r, badRequest("action must be pause, resume or cancel"))
		return
	}
	for _, v := range q["r"] {
		idText, code, _ := strings.Cut(v, ":")
		id, err := strconv.ParseInt(idText, 10, 64)
		if err != nil || !slices.Contains(bulkCodes, code) {
			p.fail(w, r, badRequest("%q is not a result", v))
			return
		}
		row := bulkRow{ID: id, Result: code, Status: "—"}
		if b, err := p.svc.Batch(r.Context(), actor(r), id); err == nil {
			row.Name, row.Status = b.Name, b.Status
		}
		if code == "ok" {
			d.OK++
		}
		d.Rows = append(d.Rows, row)
	}
	p.con.Render(w, r, http.StatusOK, "bulk", d)
}

// safeBack keeps a return link only to the batch list.
func safeBack(s string) string {
	if s == "/batches" || strings.HasPrefix(s, "/batches?") {
		return s
	}
	return ""
}
