package console

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/issuer-dev/issuer/auth"
)

func (s *Server) usersRoutes() {
	s.Page("GET /users", auth.ActManageUsers, s.usersPage)
	s.Handle("POST /users", auth.ActManageUsers, http.HandlerFunc(s.addUser))
	s.Handle("POST /users/{name}/disable", auth.ActManageUsers, http.HandlerFunc(s.setDisabled(true)))
	s.Handle("POST /users/{name}/enable", auth.ActManageUsers, http.HandlerFunc(s.setDisabled(false)))
	s.Handle("POST /users/{name}/tokens", auth.ActManageUsers, http.HandlerFunc(s.createToken))
	s.Handle("POST /users/{name}/tokens/{id}/revoke", auth.ActManageUsers, http.HandlerFunc(s.revokeToken))
}

type usersData struct {
	Users  []auth.User
	Tokens []auth.Token
	Roles  []auth.Role
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
			case "user_add", "user_disable", "user_enable", "token_revoke":
				d.Notice = s.T(r, "notice."+ok, r.URL.Query().Get("user"))
			}
		}
	})
}

func (s *Server) renderUsers(w http.ResponseWriter, r *http.Request, status int, fill func(*usersData)) {
	d := &usersData{Roles: auth.Roles()}
	var err error
	if d.Users, err = s.cfg.Auth.Users(r.Context()); err == nil {
		d.Tokens, err = s.cfg.Auth.Tokens(r.Context(), "")
	}
	if err != nil {
		s.log.Error("users page", "err", err)
		s.fail(w, r, http.StatusInternalServerError, "internal error")
		return
	}
	fill(d)
	s.Render(w, r, status, "users", d)
}

// userError maps a store error to a status and message for a person.
func userError(err error) (int, string) {
	switch {
	case errors.Is(err, auth.ErrForbidden):
		return http.StatusForbidden, err.Error()
	case errors.Is(err, auth.ErrNotFound), errors.Is(err, auth.ErrNoToken):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, auth.ErrExists):
		return http.StatusConflict, err.Error()
	}
	return http.StatusBadRequest, err.Error()
}

func (s *Server) addUser(w http.ResponseWriter, r *http.Request) {
	name, role, password := r.PostFormValue("name"), r.PostFormValue("role"), r.PostFormValue("password")
	_, err := s.cfg.Auth.AddUser(r.Context(), actorOf(r), name, auth.Role(role), password)
	if err != nil {
		status, msg := userError(err)
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
		if err := s.cfg.Auth.SetDisabled(r.Context(), actorOf(r), name, disabled); err != nil {
			status, msg := userError(err)
			s.renderUsers(w, r, status, func(d *usersData) { d.Error = msg })
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
	Token  auth.Token
	Secret string
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	tok, secret, err := s.cfg.Auth.CreateToken(r.Context(), actorOf(r), name, 0)
	if err != nil {
		status, msg := userError(err)
		s.renderUsers(w, r, status, func(d *usersData) { d.Error = msg })
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
	if err := s.cfg.Auth.RevokeToken(r.Context(), actorOf(r), name, id); err != nil {
		status, msg := userError(err)
		s.renderUsers(w, r, status, func(d *usersData) { d.Error = msg })
		return
	}
	http.Redirect(w, r, "/users?ok=token_revoke&user="+url.QueryEscape(name), http.StatusSeeOther)
}
