package console

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/ops"
)

func (s *Server) usersRoutes() {
	s.Page("GET /users", auth.ActManageUsers, s.usersPage)
	s.Handle("POST /users", auth.ActManageUsers, http.HandlerFunc(s.addUser))
	s.Handle("POST /users/{name}/disable", auth.ActManageUsers, http.HandlerFunc(s.setDisabled(true)))
	s.Handle("POST /users/{name}/enable", auth.ActManageUsers, http.HandlerFunc(s.setDisabled(false)))
	s.Handle("POST /users/{name}/role", auth.ActManageUsers, http.HandlerFunc(s.setRole))
	// Anyone signed in mints and revokes their own tokens; the store
	// refuses the rest (an admin revokes anyone's, mints no one else's).
	s.Handle("POST /users/{name}/tokens", "", http.HandlerFunc(s.createToken))
	s.Handle("POST /users/{name}/tokens/{id}/revoke", "", http.HandlerFunc(s.revokeToken))
}

type usersData struct {
	Users  []ops.User
	Tokens []ops.Token
	Now    time.Time // which tokens still work
	Roles  []ops.Role
	Notice string
	Error  string
	Form   struct{ Name, Role string }
}

// actorOf is the request's actor; every route but the public ones has one.
func actorOf(r *http.Request) auth.Actor {
	a, _ := ActorFrom(r.Context())
	return a
}

func (s *Server) usersPage(w http.ResponseWriter, r *http.Request) {
	s.renderUsers(w, r, http.StatusOK, func(d *usersData) {
		if ok := r.URL.Query().Get("ok"); ok != "" {
			switch ok {
			case "user_add", "user_disable", "user_enable", "user_role", "token_revoke":
				d.Notice = s.T(r, "notice."+ok, r.URL.Query().Get("user"))
			}
		}
	})
}

func (s *Server) renderUsers(w http.ResponseWriter, r *http.Request, status int, fill func(*usersData)) {
	d := &usersData{Roles: auth.Roles(), Now: time.Now()}
	var err error
	if d.Users, err = s.accounts.Users(r.Context(), actorOf(r)); err == nil {
		d.Tokens, err = s.accounts.Tokens(r.Context(), actorOf(r), "")
	}
	if err != nil {
		s.log.Error("users page", "err", err)
		s.fail(w, r, http.StatusInternalServerError, "internal error")
		return
	}
	fill(d)
	s.Render(w, r, status, "users", d)
}

// userError is the status (ops.HTTPStatus) and the message for a person
// of a refused or failed act on accounts.
func (s *Server) userError(r *http.Request, err error) (int, string) {
	status := ops.HTTPStatus(err)
	var locked *auth.LockedError
	switch {
	case errors.Is(err, auth.ErrBadCredentials):
		return status, s.T(r, "account.wrong_password")
	case ops.ErrorCode(err) == ops.EFORBIDDEN:
		return status, s.T(r, "users.forbidden")
	case errors.Is(err, auth.ErrLastAdmin):
		return status, s.T(r, "users.last_admin")
	case errors.As(err, &locked):
		return status, s.T(r, "login.locked", locked.Until.Local().Format("2006-01-02 15:04:05"))
	case errors.Is(err, auth.ErrBusy), errors.Is(err, auth.ErrAddressBusy):
		return status, s.T(r, "login.busy")
	case status == http.StatusInternalServerError:
		s.log.Error("users", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	return status, ops.ErrorMessage(err)
}

// failUsers answers a refused or failed user act on the page it came
// from: the users page for admins, the account page for everyone else.
func (s *Server) failUsers(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := s.userError(r, err)
	if actorOf(r).Can(auth.ActManageUsers) {
		s.renderUsers(w, r, status, func(d *usersData) { d.Error = msg })
		return
	}
	s.renderAccount(w, r, status, func(d *accountData) { d.Error = msg })
}

func (s *Server) addUser(w http.ResponseWriter, r *http.Request) {
	name, role, password := r.PostFormValue("name"), r.PostFormValue("role"), r.PostFormValue("password")
	_, err := s.accounts.AddUser(r.Context(), actorOf(r), name, ops.Role(role), password)
	if err != nil {
		status, msg := s.userError(r, err)
		s.renderUsers(w, r, status, func(d *usersData) {
			d.Error = msg
			d.Form.Name, d.Form.Role = name, role
		})
		return
	}
	http.Redirect(w, r, "/users?ok=user_add&user="+url.QueryEscape(name), http.StatusSeeOther)
}

func (s *Server) setDisabled(disabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		act := s.accounts.EnableUser
		if disabled {
			act = s.accounts.DisableUser
		}
		if err := act(r.Context(), actorOf(r), name); err != nil {
			s.failUsers(w, r, err)
			return
		}
		ok := "user_enable"
		if disabled {
			ok = "user_disable"
		}
		http.Redirect(w, r, "/users?ok="+ok+"&user="+url.QueryEscape(name), http.StatusSeeOther)
	}
}

type tokenData struct {
	User   string
	Token  ops.Token
	Secret string
}

func (s *Server) setRole(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := s.accounts.SetRole(r.Context(), actorOf(r), name, ops.Role(r.PostFormValue("role"))); err != nil {
		s.failUsers(w, r, err)
		return
	}
	http.Redirect(w, r, "/users?ok=user_role&user="+url.QueryEscape(name), http.StatusSeeOther)
}

// tokenDays are the lives a token made in the console may have, in days.
var tokenDays = []int{7, 30, 90, 180, 365}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	days := 90
	if v := r.PostFormValue("expires_days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || !slices.Contains(tokenDays, n) {
			s.failUsers(w, r, ops.Errorf(ops.EINVALID, "expires_days: one of %v", tokenDays))
			return
		}
		days = n
	}
	tok, secret, err := s.accounts.CreateToken(r.Context(), actorOf(r), name, time.Duration(days)*24*time.Hour)
	if err != nil {
		s.failUsers(w, r, err)
		return
	}
	// Shown once, in the answer to the POST: never in a URL, a log or a
	// cache (every console answer is no-store).
	s.Render(w, r, http.StatusOK, "token", tokenData{User: name, Token: tok, Secret: secret})
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, "token id must be a number")
		return
	}
	if err := s.accounts.RevokeToken(r.Context(), actorOf(r), name, id); err != nil {
		s.failUsers(w, r, err)
		return
	}
	back := "/users"
	if name == actorOf(r).Name {
		back = "/account"
	}
	http.Redirect(w, r, back+"?ok=token_revoke&user="+url.QueryEscape(name), http.StatusSeeOther)
}
