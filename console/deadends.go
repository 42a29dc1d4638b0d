package console

import (
	"net/http"
	"strings"

	"github.com/issuer-dev/issuer/auth"
)

// dispatch serves r by its route. A page address no route takes is a
// page in the person's language rather than the mux's bare text: a GET of
// an address that only takes a form's POST (a reload or a bookmark after
// an act, /users/carol/tokens) goes to the page the form is on, another
// method a route does not take is 405 and an unknown address 404.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}
	if !isAPI(r.URL.Path) && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		if s.takes(r, http.MethodPost, r.URL.Path) {
			http.Redirect(w, r, s.formPage(r), http.StatusSeeOther)
			return
		}
	}
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		if s.takes(r, m, r.URL.Path) {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		if isAPI(r.URL.Path) {
			WriteError(w, http.StatusNotFound, "no such route: "+r.URL.Path)
			return
		}
		s.fail(w, r, http.StatusNotFound, s.T(r, "error.not_found"))
		return
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	if isAPI(r.URL.Path) {
		WriteError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed here; allowed: "+strings.Join(allow, ", "))
		return
	}
	s.fail(w, r, http.StatusMethodNotAllowed, s.T(r, "error.method", r.Method))
}

// takes reports whether a route takes method on path.
func (s *Server) takes(r *http.Request, method, path string) bool {
	probe := r.Clone(r.Context())
	probe.Method, probe.URL.Path, probe.URL.RawPath = method, path, ""
	_, pattern := s.mux.Handler(probe)
	return pattern != ""
}

// formPage is the page a form that posts to r's path is on: the nearest
// address above it that shows a page (/batches/3/pause → /batches/3,
// /users/carol/tokens → /users, or /account for someone who may not
// manage users).
func (s *Server) formPage(r *http.Request) string {
	path := strings.TrimSuffix(r.URL.Path, "/")
	for path != "" {
		path = path[:strings.LastIndex(path, "/")]
		if path == "" {
			break
		}
		if s.takes(r, http.MethodGet, path) {
			if a, ok := ActorFrom(r.Context()); path == "/users" && ok && !a.Can(auth.ActManageUsers) {
				return "/account"
			}
			return path
		}
	}
	return "/"
}
