package console

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"golang.org/x/text/language"

	"github.com/issuer-dev/issuer/auth"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// staticHandler serves the console's stylesheet and scripts by name; a
// directory is not found (no listing of what the console ships).
func staticHandler() http.Handler {
	sub, _ := fs.Sub(staticFS, "static") // the directory is embedded
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
		if st, err := fs.Stat(sub, name); name == "" || err != nil || st.IsDir() {
			http.NotFound(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})
}

// templates holds the layout and every page. Each page is its own clone of
// the layout, so all of them can define "content" and "title".
type templates struct {
	mu    sync.RWMutex
	base  *template.Template
	pages map[string]*template.Template
}

var funcs = template.FuncMap{
	"fmtTime": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			return v.Local().Format("2006-01-02 15:04:05")
		case *time.Time:
			if v == nil {
				return "—"
			}
			return v.Local().Format("2006-01-02 15:04:05")
		}
		return ""
	},
	"deref": func(p *int64) any {
		if p == nil {
			return ""
		}
		return *p
	},
}

func newTemplates() (*templates, error) {
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("console templates: %w", err)
	}
	t := &templates{base: base, pages: map[string]*template.Template{}}
	entries, _ := fs.ReadDir(templateFS, "templates")
	for _, e := range entries {
		if e.Name() == "layout.html" {
			continue
		}
		if err := t.add(templateFS, "templates/"+e.Name()); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// add parses one page file over a clone of the layout; the page's name is
// the file name without .html.
func (t *templates) add(fsys fs.FS, path string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	clone, err := t.base.Clone()
	if err != nil {
		return fmt.Errorf("console templates: %w", err)
	}
	page, err := clone.ParseFS(fsys, path)
	if err != nil {
		return fmt.Errorf("console templates %s: %w", path, err)
	}
	name := strings.TrimSuffix(path[strings.LastIndex(path, "/")+1:], ".html")
	t.pages[name] = page
	return nil
}

// AddTemplates parses page templates (files matching patterns in fsys).
// Each file defines "title" and "content" and is rendered inside the
// layout by Render under its file name without .html ("batches.html" →
// "batches"). The catalogue's T is available as {{.T "key"}}.
func (s *Server) AddTemplates(fsys fs.FS, patterns ...string) error {
	for _, pat := range patterns {
		paths, err := fs.Glob(fsys, pat)
		if err != nil {
			return fmt.Errorf("console templates: %w", err)
		}
		for _, p := range paths {
			if err := s.tmpl.add(fsys, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// AddMessages adds texts for pages registered elsewhere (lang "zh" or
// "en"); call it before serving.
func (s *Server) AddMessages(lang string, msgs map[string]string) { s.cat.Add(lang, msgs) }

// T returns key's text in the request's language.
func (s *Server) T(r *http.Request, key string, args ...any) string {
	return s.cat.T(Lang(r), key, args...)
}

// NavItem is a link in the navigation bar, shown to actors who may perform
// Action and only once a page is registered at Path.
type NavItem struct {
	Path   string
	Key    string // catalogue key of the label
	Action auth.Action
}

func defaultNav() []NavItem {
	return []NavItem{
		{"/batches", "nav.batches", auth.ActRead},
		{"/upload", "nav.upload", auth.ActImport},
		{"/reconciliation", "nav.reconciliation", auth.ActRead},
		{"/operations", "nav.operations", auth.ActRead},
		{"/users", "nav.users", auth.ActManageUsers},
		{"/audit", "nav.audit", auth.ActReadAudit},
	}
}

// AddNav adds a navigation link, or replaces the one with the same path.
func (s *Server) AddNav(item NavItem) {
	for i, n := range s.nav {
		if n.Path == item.Path {
			s.nav[i] = item
			return
		}
	}
	s.nav = append(s.nav, item)
}

// NavLink is a navigation link as rendered.
type NavLink struct {
	Path, Label string
	Active      bool
}

// View is what every page template receives: the request's language and
// actor, the navigation, and the page's own Data.
type View struct {
	Lang      string
	OtherLang string // the language switch's target
	Actor     auth.Actor
	SignedIn  bool
	Nav       []NavLink
	Path      string // the request's path and query, for the language switch
	Data      any
	// Bell and BellCount: the notifications link and what waits there
	// (SetBell).
	Bell      bool
	BellCount int
	cat       Catalogue
}

// T looks up key in the catalogue in the page's language.
func (v View) T(key string, args ...any) string { return v.cat.T(v.Lang, key, args...) }

// Can reports whether the viewer may perform act (to hide buttons; the
// routes check again).
func (v View) Can(act string) bool { return v.SignedIn && v.Actor.Can(auth.Action(act)) }

// Render writes the named page inside the layout with data as View.Data.
// It renders into a buffer first, so a template error is a clean 500
// rather than half a page.
func (s *Server) Render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	s.tmpl.mu.RLock()
	t, ok := s.tmpl.pages[name]
	s.tmpl.mu.RUnlock()
	if !ok {
		s.log.Error("no such page template", "name", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	v := View{Lang: Lang(r), Path: r.URL.RequestURI(), Data: data, cat: s.cat}
	v.OtherLang = "en"
	if v.Lang == "en" {
		v.OtherLang = "zh"
	}
	v.Actor, v.SignedIn = ActorFrom(r.Context())
	if v.SignedIn {
		for _, n := range s.nav {
			if s.pages[n.Path] && v.Actor.Can(n.Action) {
				v.Nav = append(v.Nav, NavLink{Path: n.Path, Label: v.T(n.Key),
					Active: r.URL.Path == n.Path || strings.HasPrefix(r.URL.Path, n.Path+"/")})
			}
		}
		if s.bell != nil {
			v.BellCount, v.Bell = s.bell(r)
		}
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		s.log.Error("render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", v.Lang)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// LangCookie remembers a person's language choice.
const LangCookie = "issuer_lang"

var langMatcher = language.NewMatcher([]language.Tag{language.SimplifiedChinese, language.English})

// Lang is the request's language, "zh" or "en": the lang parameter, else
// the language cookie, else Accept-Language, else Chinese.
func Lang(r *http.Request) string {
	for _, v := range []string{r.URL.Query().Get("lang"), cookieValue(r, LangCookie)} {
		if v == "zh" || v == "en" {
			return v
		}
	}
	if al := r.Header.Get("Accept-Language"); al != "" {
		tags, _, err := language.ParseAcceptLanguage(al)
		if err == nil && len(tags) > 0 {
			_, i, _ := langMatcher.Match(tags...)
			if i == 1 {
				return "en"
			}
		}
	}
	return "zh"
}

func cookieValue(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}

// setLang stores the language choice and returns to where it was made.
func (s *Server) setLang(w http.ResponseWriter, r *http.Request) {
	lang := r.URL.Query().Get("lang")
	if lang != "zh" && lang != "en" {
		s.fail(w, r, http.StatusBadRequest, "lang must be zh or en")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: LangCookie, Value: lang, Path: "/", MaxAge: 365 * 24 * 3600,
		HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
}

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	if s.homePage != nil {
		s.homePage(w, r)
		return
	}
	s.Render(w, r, http.StatusOK, "home", nil)
}

// SetHome serves the home page "/" with h instead of the list of pages
// (the pages' dashboard). Call it before serving.
func (s *Server) SetHome(h http.HandlerFunc) { s.homePage = h }

// SetBell puts a bell in every signed-in page's bar, linking to
// /notifications with the count n tells (ok false: no bell for this
// request). Call it before serving.
func (s *Server) SetBell(n func(r *http.Request) (count int, ok bool)) { s.bell = n }
