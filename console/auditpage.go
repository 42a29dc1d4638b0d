package console

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/issuer-dev/issuer/audit"
	"github.com/issuer-dev/issuer/auth"
)

// auditPageSize is the rows per page of /audit.
const auditPageSize = 50

func (s *Server) auditRoutes() {
	s.Page("GET /audit", auth.ActReadAudit, s.auditPage)
	s.Handle("GET /api/v1/audit", auth.ActReadAudit, http.HandlerFunc(s.auditAPI))
}

// auditFilter reads the filter fields shared by the page and the API.
func auditFilter(q url.Values) (audit.Filter, error) {
	f := audit.Filter{Actor: q.Get("actor"), Action: q.Get("action"), Outcome: audit.Outcome(q.Get("outcome"))}
	if v := q.Get("batch_id"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return f, errBadParam("batch_id must be a number")
		}
		f.BatchID = id
	}
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return f, errBadParam("since must be RFC 3339")
		}
		f.Since = t
	}
	return f, nil
}

type errBadParam string

func (e errBadParam) Error() string { return string(e) }

// auditAPI answers the contract's array, newest first.
func (s *Server) auditAPI(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := auditFilter(q)
	if err != nil {
		WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	f.Limit = audit.DefaultLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > audit.MaxLimit {
			WriteError(w, http.StatusBadRequest, "limit must be 1.."+strconv.Itoa(audit.MaxLimit))
			return
		}
		f.Limit = n
	}
	entries, err := s.cfg.Audit.List(r.Context(), f)
	if err != nil {
		s.log.Error("audit api", "err", err)
		WriteError(w, http.StatusInternalServerError, "internal error")
		return
	}
	WriteJSON(w, http.StatusOK, entries)
}

type auditData struct {
	Entries   []audit.Entry
	Filter    audit.Filter
	BatchID   string
	Outcomes  []audit.Outcome
	NewerURL  string
	OlderURL  string
	PageStart int
	From, To  string // the date range's days
	CSVURL    string // the export of what the filter selects
}

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := auditFilter(q)
	if err == nil {
		err = auditDates(q, &f)
	}
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	page, _ := strconv.Atoi(q.Get("page"))
	page = max(page, 0)
	f.Limit, f.Offset = auditPageSize+1, page*auditPageSize // one more tells whether there is an older page
	entries, err := s.cfg.Audit.List(r.Context(), f)
	if err != nil {
		s.log.Error("audit page", "err", err)
		s.fail(w, r, http.StatusInternalServerError, "internal error")
		return
	}
	d := auditData{Filter: f, BatchID: q.Get("batch_id"), Outcomes: []audit.Outcome{audit.OK, audit.Denied, audit.Error},
		PageStart: page*auditPageSize + 1, From: q.Get("from"), To: q.Get("to")}
	d.CSVURL = "/audit.csv"
	if v := auditQuery(q); len(v) > 0 {
		d.CSVURL += "?" + v.Encode()
	}
	link := func(p int) string {
		v := auditQuery(q)
		if p > 0 {
			v.Set("page", strconv.Itoa(p))
		}
		if len(v) == 0 {
			return "/audit"
		}
		return "/audit?" + v.Encode()
	}
	if len(entries) > auditPageSize {
		entries = entries[:auditPageSize]
		d.OlderURL = link(page + 1)
	}
	if page > 0 {
		d.NewerURL = link(page - 1)
	}
	d.Entries = entries
	s.Render(w, r, http.StatusOK, "audit", d)
}
