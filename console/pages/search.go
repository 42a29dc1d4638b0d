package pages

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/console"
	"github.com/issuer-dev/issuer/ops"
)

// searchFilter reads the list's search and sort parameters: name (a part
// of the batch name), has (review, in_doubt), sort (ops.SortColumns),
// order (asc, desc) and page (with a sort other than by id: pages of
// pageSize batches).
func searchFilter(q url.Values, f *ops.BatchFilter, pageSize int) error {
	f.Name = strings.TrimSpace(q.Get("name"))
	switch f.Has = q.Get("has"); f.Has {
	case "", ops.HasReview, ops.HasInDoubt:
	default:
		return badRequest("has must be %s or %s", ops.HasReview, ops.HasInDoubt)
	}
	if f.Sort = q.Get("sort"); f.Sort != "" && !slices.Contains(ops.SortColumns(), f.Sort) {
		return badRequest("sort must be one of %s", strings.Join(ops.SortColumns(), ", "))
	}
	switch q.Get("order") {
	case "", "desc":
	case "asc":
		f.Asc = true
	default:
		return badRequest("order must be asc or desc")
	}
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 10000 {
			return badRequest("page must be a number 0..10000")
		}
		f.Offset = n * pageSize
	}
	if f.Sort == "id" {
		f.Sort = ""
	}
	if f.Sort != "" && f.BeforeID > 0 {
		return badRequest("before_id pages the list by id only; with sort, use page")
	}
	return nil
}

// listKeys are the batch list's query parameters a link keeps.
var listKeys = []string{"status", "stock", "from", "to", "name", "has", "sort", "order"}

// listURL is /batches with q's filters, set overriding them ("" drops a key).
func listURL(q url.Values, set map[string]string) string {
	v := url.Values{}
	for _, k := range listKeys {
		if q.Get(k) != "" {
			v.Set(k, q.Get(k))
		}
	}
	for k, val := range set {
		if val == "" {
			v.Del(k)
		} else {
			v.Set(k, val)
		}
	}
	if len(v) == 0 {
		return "/batches"
	}
	return "/batches?" + v.Encode()
}

// sortHeader is a column heading of the list that sorts by it.
type sortHeader struct {
	Key   string // catalogue key of the label
	Sort  string
	URL   string
	Arrow string // ↑ or ↓ on the column sorted by
	Num   bool
}

// sortHeaders are the list's sortable headings: a click sorts by the
// column, a second click turns the order around.
func sortHeaders(q url.Values) map[string]sortHeader {
	cur, asc := q.Get("sort"), q.Get("order") == "asc"
	if cur == "" {
		cur = "id"
	}
	out := map[string]sortHeader{}
	for _, c := range ops.SortColumns() {
		h := sortHeader{Sort: c}
		order := ""
		if c == "name" || c == "stock" || c == "status" {
			order = "asc" // text reads A to Z first
		}
		if c == cur {
			h.Arrow = "↓"
			if asc {
				h.Arrow = "↑"
			}
			order = "asc"
			if asc {
				order = "desc"
			}
		}
		sort := c
		if c == "id" {
			sort = ""
		}
		h.URL = listURL(q, map[string]string{"sort": sort, "order": order, "page": ""})
		out[c] = h
	}
	return out
}

var searchNav = console.NavItem{Path: "/search", Key: "nav.search", Action: auth.ActRead}

func (p *Pages) searchRoutes() {
	p.con.Page("GET /search", auth.ActRead, p.searchPage)
	p.con.Handle("GET /api/v1/search/openid", auth.ActRead, http.HandlerFunc(p.apiSearchOpenID))
	p.con.AddNav(searchNav)
}

type openIDRow struct {
	ops.OpenIDRow
	Last, Issued string
}

type searchData struct {
	Name, OpenID string
	Rows         []openIDRow
	Searched     bool
	Max          int
	Zone         string
	Error        string
}

// searchPage finds batches by name (the list, filtered) and an openid's
// rows in every batch.
func (p *Pages) searchPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if name := strings.TrimSpace(q.Get("name")); name != "" && q.Get("openid") == "" {
		http.Redirect(w, r, listURL(url.Values{}, map[string]string{"name": name}), http.StatusSeeOther)
		return
	}
	d := searchData{OpenID: strings.TrimSpace(q.Get("openid")), Zone: p.zone(), Max: ops.MaxOpenIDRows}
	if d.OpenID != "" {
		rows, err := p.svc.SearchOpenID(r.Context(), actor(r), d.OpenID)
		if err != nil {
			status, msg, ok := p.inline(w, r, err)
			if !ok {
				return
			}
			d.Error = msg
			p.con.Render(w, r, status, "search", d)
			return
		}
		d.Searched = true
		for _, row := range rows {
			d.Rows = append(d.Rows, openIDRow{OpenIDRow: row, Last: p.whenPtr(row.LastAttempt), Issued: p.whenPtr(row.IssuedAt)})
		}
	}
	p.con.Render(w, r, http.StatusOK, "search", d)
}

func (p *Pages) apiSearchOpenID(w http.ResponseWriter, r *http.Request) {
	rows, err := p.svc.SearchOpenID(r.Context(), actor(r), r.URL.Query().Get("openid"))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	console.WriteJSON(w, http.StatusOK, rows)
}
