package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
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
	entries, err := s.auditLog.List(r.Context(), actorOf(r), f)
	if err != nil {
		s.log.Error("audit api", "err", err)
		WriteError(w, http.StatusInternalServerError, "internal error")
		return
	}
	WriteJSON(w, http.StatusOK, entries)
}

type auditData struct {
	Entries   []auditRow
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
	f, err := s.pageAuditFilter(q)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	page, _ := strconv.Atoi(q.Get("page"))
	page = max(page, 0)
	f.Limit, f.Offset = auditPageSize+1, page*auditPageSize // one more tells whether there is an older page
	entries, err := s.auditLog.List(r.Context(), actorOf(r), f)
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
	for _, e := range entries {
		d.Entries = append(d.Entries, s.auditRow(r, e))
	}
	s.Render(w, r, http.StatusOK, "audit", d)
}

// auditRow is an entry as the page shows it: its detail as labelled
// fields rather than JSON.
type auditRow struct {
	audit.Entry
	Fields []Field // the detail's fields, labelled
	Text   string  // a detail of free text, in the reader's language
	Raw    string  // a detail of free text as recorded, not known to say
}

// Field is a labelled value of a recorded detail.
type Field struct {
	Key, Label, Value string
}

// detailWords are the detail fields whose values are codes with labels.
var detailWords = map[string]string{"role": "role", "from": "role", "status": "bstatus", "action": "action"}

func (s *Server) auditRow(r *http.Request, e audit.Entry) auditRow {
	row := auditRow{Entry: e}
	if len(e.Detail) == 0 || string(e.Detail) == "null" || string(e.Detail) == `""` {
		return row
	}
	var text string
	if err := json.Unmarshal(e.Detail, &text); err == nil {
		row.Text, row.Raw = s.detailText(r, text)
		return row
	}
	var obj map[string]any
	if err := json.Unmarshal(e.Detail, &obj); err != nil {
		row.Raw = string(e.Detail)
		return row
	}
	row.Fields = DetailFields(obj, func(prefix, code string) string { return s.Word(r, prefix, code) })
	for i, f := range row.Fields {
		if t, err := time.Parse(time.RFC3339Nano, f.Value); err == nil {
			row.Fields[i].Value = s.When(t)
		}
	}
	return row
}

// Free-text details ops records, by the catalogue key that says them.
var (
	detailBatchIs = regexp.MustCompile(`^batch is (\S+)$`)
	detailImport  = regexp.MustCompile(`^(.*): lines (\d+) = accepted (\d+) \+ duplicates (\d+) \+ repeats (\d+) \+ rejected (\d+) \+ blank (\d+) \(sha256 (\w+)\); status (\S+)(.*)$`)
)

// detailText says a free-text detail in the reader's language, and what
// of it is said only as recorded (raw).
func (s *Server) detailText(r *http.Request, d string) (text, raw string) {
	if m := detailBatchIs.FindStringSubmatch(d); m != nil {
		return s.T(r, "audit.d.batch_is", s.Word(r, "bstatus", m[1])), ""
	}
	if m := detailImport.FindStringSubmatch(d); m != nil {
		return s.T(r, "audit.d.import", m[1], m[2], m[3], m[4], m[5], m[6], m[7], s.Word(r, "bstatus", m[9]), m[8]),
			strings.TrimSpace(m[10])
	}
	return "", d
}

// DetailFields labels a recorded detail's fields in order of their keys;
// word gives a code's label (prefix "field" for a key).
func DetailFields(obj map[string]any, word func(prefix, code string) string) []Field {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]Field, 0, len(keys))
	for _, k := range keys {
		v := ""
		switch x := obj[k].(type) {
		case string:
			v = x
			if prefix, ok := detailWords[k]; ok {
				v = word(prefix, x)
			}
		case float64:
			v = strconv.FormatFloat(x, 'f', -1, 64)
		case bool:
			v = strconv.FormatBool(x)
		case nil:
			v = "—"
		default:
			b, _ := json.Marshal(x)
			v = string(b)
		}
		out = append(out, Field{Key: k, Label: word("field", k), Value: v})
	}
	return out
}
