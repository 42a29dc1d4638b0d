package console

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/issuer-dev/issuer/audit"
	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/internal/excelcsv"
)

// auditCSVMax bounds the rows one export writes.
const auditCSVMax = 100000

func (s *Server) auditExportRoutes() {
	s.Handle("GET /audit.csv", auth.ActReadAudit, http.HandlerFunc(s.auditCSV))
}

// auditDates reads the page's date range: from and to are days
// (YYYY-MM-DD, to inclusive) in loc, the console's zone, which the page
// shows times in.
func auditDates(q url.Values, f *audit.Filter, loc *time.Location) error {
	if v := q.Get("from"); v != "" {
		d, err := time.ParseInLocation("2006-01-02", v, loc)
		if err != nil {
			return errBadParam("from must be a date YYYY-MM-DD")
		}
		if f.Since.IsZero() || d.After(f.Since) {
			f.Since = d
		}
	}
	if v := q.Get("to"); v != "" {
		d, err := time.ParseInLocation("2006-01-02", v, loc)
		if err != nil {
			return errBadParam("to must be a date YYYY-MM-DD")
		}
		f.Until = d.AddDate(0, 0, 1)
	}
	return nil
}

// auditQuery is the page's filter as a query string, for its links.
func auditQuery(q url.Values) url.Values {
	v := url.Values{}
	for _, k := range []string{"actor", "action", "outcome", "batch_id", "since", "from", "to"} {
		if q.Get(k) != "" {
			v.Set(k, q.Get(k))
		}
	}
	return v
}

// pageAuditFilter is the filter of the audit page and of its export: the
// API's fields and the date range in the console's zone.
func (s *Server) pageAuditFilter(q url.Values) (audit.Filter, error) {
	f, err := auditFilter(q)
	if err == nil {
		err = auditDates(q, &f, s.cfg.Location)
	}
	return f, err
}

// auditCSV writes every entry the page's filter selects, newest first, as
// CSV for Excel (excelcsv: a byte-order mark, no cell a formula).
func (s *Server) auditCSV(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := s.pageAuditFilter(q)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="audit-`+time.Now().In(s.cfg.Location).Format("20060102-150405")+`.csv"`)
	_, _ = io.WriteString(w, excelcsv.BOM)
	cw := excelcsv.NewWriter(w)
	// The console's zone, named, as on the page.
	_ = cw.Write([]string{"time (" + s.cfg.Location.String() + ")", "actor", "role", "action", "batch_id", "stock_id", "source", "outcome", "message", "detail"})
	f.Limit = audit.MaxLimit
	for f.Offset = 0; f.Offset < auditCSVMax; f.Offset += audit.MaxLimit {
		entries, err := s.auditLog.List(r.Context(), actorOf(r), f)
		if err != nil {
			// The header is out: the file ends short, and the log says why.
			s.log.Error("audit export", "err", err)
			_ = cw.Write([]string{"export stopped: internal error"})
			break
		}
		for _, e := range entries {
			batch := ""
			if e.BatchID != nil {
				batch = strconv.FormatInt(*e.BatchID, 10)
			}
			_ = cw.Write([]string{e.Time.In(s.cfg.Location).Format(TimeLayout), e.Actor, e.Role, e.Action, batch, e.StockID,
				e.Source, string(e.Outcome), e.Message, string(e.Detail)})
		}
		if len(entries) < audit.MaxLimit {
			break
		}
	}
	cw.Flush()
}
