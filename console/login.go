package console

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/issuer-dev/issuer/auth"
)

// secure reports whether cookies must be Secure: the request came over TLS
// or people reach the console by an https public URL.
func (s *Server) secure(r *http.Request) bool { return r.TLS != nil || s.secureCookie }

// safeNext keeps a post-login redirect on this site: a local absolute path
// only, never "//host" or a scheme.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\r\n\t") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return next
}

type loginData struct {
	Next     string
	Username string
	Error    string
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.Render(w, r, http.StatusOK, "login", loginData{Next: safeNext(r.URL.Query().Get("next"))})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	name, password := r.PostFormValue("username"), r.PostFormValue("password")
	next := safeNext(r.PostFormValue("next"))
	data := loginData{Next: next, Username: name}
	if name == "" || password == "" {
		data.Error = s.T(r, "login.failed")
		s.Render(w, r, http.StatusUnauthorized, "login", data)
		return
	}
	sess, err := s.cfg.Auth.Login(r.Context(), name, password, s.clientAddr(r))
	var locked *auth.LockedError
	switch {
	case errors.As(err, &locked):
		data.Error = s.T(r, "login.locked", s.When(locked.Until)+" ("+s.cfg.Location.String()+")")
		w.Header().Set("Retry-After", retryAfter(time.Until(locked.Until)))
		s.Render(w, r, http.StatusTooManyRequests, "login", data)
		return
	case errors.Is(err, auth.ErrAddressBusy), errors.Is(err, auth.ErrBusy):
		// Nothing was checked or counted: the bound on password checks
		// running at once keeps a flood of logins from taking the memory
		// of the process that issues the coupons.
		status := http.StatusServiceUnavailable
		if errors.Is(err, auth.ErrAddressBusy) {
			status = http.StatusTooManyRequests
		}
		data.Error = s.T(r, "login.busy")
		w.Header().Set("Retry-After", "1")
		s.Render(w, r, status, "login", data)
		return
	case errors.Is(err, auth.ErrBadCredentials):
		data.Error = s.T(r, "login.failed")
		s.Render(w, r, http.StatusUnauthorized, "login", data)
		return
	case err != nil:
		s.log.Error("login", "err", err)
		s.fail(w, r, http.StatusInternalServerError, "internal error")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: sess.Token, Path: "/", Expires: sess.ExpiresAt,
		HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func retryAfter(d time.Duration) string {
	secs := int64(d/time.Second) + 1
	if secs < 1 {
		secs = 1
	}
	return strconv.FormatInt(secs, 10)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		if err := s.cfg.Auth.Logout(r.Context(), c.Value, s.clientAddr(r)); err != nil {
			s.log.Error("logout", "err", err)
			s.fail(w, r, http.StatusInternalServerError, "internal error")
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
