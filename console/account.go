package console

import (
	"net/http"
	"time"

	"github.com/issuer-dev/issuer/ops"
)

// accountRoutes are every signed-in person's own: their password, their
// API tokens and signing out everywhere.
func (s *Server) accountRoutes() {
	s.Page("GET /account", "", s.accountPage)
	s.Handle("POST /account/password", "", http.HandlerFunc(s.changePassword))
	s.Handle("POST /account/sign-out-everywhere", "", http.HandlerFunc(s.signOutEverywhere))
	s.Handle("DELETE /api/v1/sessions", "", http.HandlerFunc(s.apiSignOutEverywhere))
}

type accountData struct {
	Tokens    []ops.Token
	TokenDays []int
	Now       time.Time
	Notice    string
	Error     string
}

func (s *Server) accountPage(w http.ResponseWriter, r *http.Request) {
	s.renderAccount(w, r, http.StatusOK, func(d *accountData) {
		switch ok := r.URL.Query().Get("ok"); ok {
		case "password", "token_revoke":
			d.Notice = s.T(r, "notice."+ok)
		}
	})
}

func (s *Server) renderAccount(w http.ResponseWriter, r *http.Request, status int, fill func(*accountData)) {
	d := &accountData{TokenDays: tokenDays, Now: time.Now()}
	var err error
	if d.Tokens, err = s.accounts.Tokens(r.Context(), actorOf(r), actorOf(r).Name); err != nil {
		s.log.Error("account page", "err", err)
		s.fail(w, r, http.StatusInternalServerError, "internal error")
		return
	}
	fill(d)
	s.Render(w, r, status, "account", d)
}

// changePassword changes the signed-in person's password after checking
// the current one; their other sessions end, this one stays.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	current, password := r.PostFormValue("current_password"), r.PostFormValue("new_password")
	if password != r.PostFormValue("new_password_again") {
		s.renderAccount(w, r, http.StatusBadRequest, func(d *accountData) { d.Error = s.T(r, "account.mismatch") })
		return
	}
	if err := s.accounts.ChangePassword(r.Context(), actorOf(r), current, password, cookieValue(r, SessionCookie)); err != nil {
		s.failUsers(w, r, err)
		return
	}
	http.Redirect(w, r, "/account?ok=password", http.StatusSeeOther)
}

// signOutEverywhere ends every session of the signed-in person, this one
// too. Their API tokens stay: they are revoked one by one on this page.
func (s *Server) signOutEverywhere(w http.ResponseWriter, r *http.Request) {
	a := actorOf(r)
	if _, err := s.accounts.EndSessions(r.Context(), a, a.Name, ""); err != nil {
		s.failUsers(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// apiSignOutEverywhere is signOutEverywhere for programs: it answers
// {"sessions_ended": n}.
func (s *Server) apiSignOutEverywhere(w http.ResponseWriter, r *http.Request) {
	a := actorOf(r)
	n, err := s.accounts.EndSessions(r.Context(), a, a.Name, "")
	if err != nil {
		status, msg := s.userError(r, err)
		WriteError(w, status, msg)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]int64{"sessions_ended": n})
}
