package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/issuer-dev/issuer/audit"
	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/ops"
)

// SessionCookie names the console's session cookie.
const SessionCookie = "issuer_session"

// Config is what the console depends on.
type Config struct {
	Auth  *auth.Store  // accounts, sessions, tokens
	Audit *audit.Store // the audit log shown on /audit
	// PublicURL is how people reach the console; https marks the session
	// cookie Secure even when TLS ends at a proxy.
	PublicURL string
	// ProxyUserHeader names a header holding an account name that a reverse
	// proxy authenticated; it is believed only from TrustedProxies, and the
	// account must exist and be enabled. Empty: off.
	ProxyUserHeader string
	TrustedProxies  []netip.Prefix
	// MaxUploadBytes caps request bodies of uploads (console.max_upload_mb).
	MaxUploadBytes int64
	// Location is the zone every page shows times in (config timezone);
	// default Asia/Shanghai, else UTC when the zone database is missing.
	Location *time.Location
	Logger   *slog.Logger // default: discard
}

// Server is the console's http.Handler. Register pages and routes (Handle,
// Page, AddTemplates, AddNav) before serving; it is read-only afterwards.
type Server struct {
	cfg          Config
	log          *slog.Logger
	mux          *http.ServeMux
	crossOrigin  *http.CrossOriginProtection
	secureCookie bool
	tmpl         *templates
	nav          []NavItem
	accounts     *ops.Accounts   // the operations on accounts and tokens
	auditLog     *ops.AuditLog   // reading the audit log
	pages        map[string]bool // paths with a registered GET page
	cat          Catalogue
	proxies      proxyWarnings
	homePage     http.HandlerFunc                // SetHome's, else the plain home page
	bell         func(*http.Request) (int, bool) // SetBell's
}

// proxyWarnings remembers the untrusted proxies already warned about, so
// that each is logged once (and a client faking proxy headers cannot fill
// the log, nor hide the real proxy's warning behind its own).
type proxyWarnings struct {
	mu   sync.Mutex
	seen map[netip.Addr]bool
}

// maxProxyWarnings bounds the addresses remembered, and so the warnings.
const maxProxyWarnings = 16

// first reports whether a is not yet warned about, remembering it.
func (p *proxyWarnings) first(a netip.Addr) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.seen[a] || len(p.seen) >= maxProxyWarnings {
		return false
	}
	if p.seen == nil {
		p.seen = map[netip.Addr]bool{}
	}
	p.seen[a] = true
	return true
}

// New builds the console with its own routes registered.
func New(cfg Config) (*Server, error) {
	if cfg.Auth == nil || cfg.Audit == nil {
		return nil, errors.New("console: Auth and Audit are required")
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), crossOrigin: http.NewCrossOriginProtection(),
		pages: map[string]bool{}, cat: newCatalogue(), accounts: ops.NewAccounts(cfg.Auth), auditLog: ops.NewAuditLog(cfg.Audit)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.cfg.Location == nil {
		s.cfg.Location = defaultLocation()
	}
	if u, err := url.Parse(cfg.PublicURL); err == nil && u.Scheme == "https" {
		s.secureCookie = true
	}
	var err error
	if s.tmpl, err = newTemplates(s.cfg.Location); err != nil {
		return nil, err
	}
	s.nav = defaultNav()
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", staticHandler()))
	s.mux.HandleFunc("GET /login", s.loginPage)
	s.mux.HandleFunc("POST /login", s.login)
	s.mux.HandleFunc("POST /logout", s.logout)
	s.mux.HandleFunc("GET /lang", s.setLang)
	s.Page("GET /{$}", "", s.home)
	s.Handle("GET /api/v1/whoami", "", http.HandlerFunc(s.whoami))
	s.usersRoutes()
	s.accountRoutes()
	s.auditRoutes()
	s.auditExportRoutes()
}

// public paths need no login.
func public(path string) bool {
	return path == "/login" || path == "/logout" || path == "/lang" || strings.HasPrefix(path, "/static/")
}

// isAPI tells JSON routes from pages.
func isAPI(path string) bool { return strings.HasPrefix(path, "/api/") }

// Handle registers h for a ServeMux pattern behind the login. With act set,
// only actors whose role may perform act reach h; others get 403. Use it
// for API routes and page form posts.
func (s *Server) Handle(pattern string, act auth.Action, h http.Handler) {
	if act != "" {
		h = s.requireAction(act, h)
	}
	s.mux.Handle(pattern, h)
}

// Page registers a GET page like Handle and lets the navigation show a
// link to its path.
func (s *Server) Page(pattern string, act auth.Action, h http.HandlerFunc) {
	s.Handle(pattern, act, h)
	_, path, _ := strings.Cut(pattern, " ")
	s.pages[strings.TrimSuffix(path, "{$}")] = true
}

// ServeHTTP answers every request that is not a machine endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header(), r.URL.Path)
	s.noteUntrustedProxy(r)
	bearer, hasBearer := bearerToken(r)
	// A bearer token is sent deliberately by a program, never attached by
	// a browser to a forged request, so only the other credentials need
	// the cross-origin check.
	if !hasBearer {
		if err := s.crossOrigin.Check(r); err != nil {
			s.log.Warn("cross-origin request refused", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr,
				"origin", r.Header.Get("Origin"))
			msg := "cross-origin request refused"
			if !isAPI(r.URL.Path) {
				msg = s.T(r, "error.cross_origin")
			}
			s.forbidden(w, r, msg)
			return
		}
	}
	if public(r.URL.Path) {
		s.dispatch(w, r)
		return
	}
	actor, err := s.authenticate(r, bearer, hasBearer)
	switch {
	case errors.Is(err, auth.ErrNoSession):
		s.unauthenticated(w, r)
		return
	case err != nil:
		s.log.Error("authenticate", "err", err)
		s.fail(w, r, http.StatusInternalServerError, "internal error") // a page says it in the reader's language
		return
	}
	s.dispatch(w, r.WithContext(WithActor(r.Context(), actor)))
}

// authenticate finds the request's actor: a bearer token, else a trusted
// proxy's user header, else the session cookie.
func (s *Server) authenticate(r *http.Request, bearer string, hasBearer bool) (auth.Actor, error) {
	ctx, addr := r.Context(), s.clientAddr(r)
	if hasBearer {
		return s.cfg.Auth.TokenActor(ctx, bearer, addr)
	}
	if s.cfg.ProxyUserHeader != "" {
		// From anyone else the header is ignored (noteUntrustedProxy
		// warns once per address).
		if name := r.Header.Get(s.cfg.ProxyUserHeader); name != "" && s.fromTrustedProxy(r) {
			return s.cfg.Auth.ActiveActor(ctx, name, addr)
		}
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return auth.Actor{}, auth.ErrNoSession
	}
	return s.cfg.Auth.SessionActor(ctx, c.Value, addr)
}

func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

func remoteIP(r *http.Request) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (s *Server) fromTrustedProxy(r *http.Request) bool {
	a, ok := remoteIP(r)
	return ok && s.trusted(a)
}

// noteUntrustedProxy warns, once per address, when a request comes
// through a proxy console.trusted_proxies does not list: every client
// behind it then shares its address for lockouts and the audit log, and
// its user header is not believed.
func (s *Server) noteUntrustedProxy(r *http.Request) {
	h := r.Header
	if h.Get("X-Forwarded-For") == "" && h.Get("Forwarded") == "" && h.Get("X-Real-IP") == "" &&
		(s.cfg.ProxyUserHeader == "" || h.Get(s.cfg.ProxyUserHeader) == "") {
		return
	}
	a, ok := remoteIP(r)
	if !ok || s.trusted(a) || !s.proxies.first(a) {
		return
	}
	s.log.Warn("requests arrive through a proxy that console.trusted_proxies does not list: every client behind it "+
		"shares its address for login lockouts and the audit log, and its user header is ignored; "+
		"add the proxy's address to console.trusted_proxies", "proxy", a.String())
}

// clientAddr is the address lockouts and the audit log name: the peer, or,
// behind a trusted proxy, the nearest untrusted hop of X-Forwarded-For.
func (s *Server) clientAddr(r *http.Request) string {
	a, ok := remoteIP(r)
	if !ok {
		return r.RemoteAddr
	}
	if !s.trusted(a) {
		return a.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		if !s.trusted(h.Unmap()) {
			return h.Unmap().String()
		}
	}
	return a.String()
}

// ClientAddr is the request's client address as the console records it.
func (s *Server) ClientAddr(r *http.Request) string { return s.clientAddr(r) }

func (s *Server) unauthenticated(w http.ResponseWriter, r *http.Request) {
	if isAPI(r.URL.Path) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="issuer"`)
		WriteError(w, http.StatusUnauthorized, "authentication required: a bearer token or a console session")
		return
	}
	next := r.URL.RequestURI()
	if r.Method != http.MethodGet {
		next = "/"
	}
	http.Redirect(w, r, "/login?next="+url.QueryEscape(next), http.StatusSeeOther)
}

// requireAction lets through only actors whose role may perform act.
func (s *Server) requireAction(act auth.Action, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := ActorFrom(r.Context())
		if !ok {
			s.unauthenticated(w, r)
			return
		}
		if !a.Can(act) {
			if isAPI(r.URL.Path) {
				s.forbidden(w, r, fmt.Sprintf("%s may not %s (needs %s)", a.Role, act, auth.MinRole(act)))
				return
			}
			s.forbidden(w, r, s.T(r, "error.forbidden_act", s.Word(r, "role", string(a.Role)), s.Word(r, "action", string(act)),
				s.Word(r, "role", string(auth.MinRole(act)))))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) forbidden(w http.ResponseWriter, r *http.Request, msg string) {
	s.fail(w, r, http.StatusForbidden, msg)
}

// fail answers an error as JSON for the API and as a page otherwise.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if isAPI(r.URL.Path) {
		WriteError(w, status, msg)
		return
	}
	if status == http.StatusInternalServerError {
		msg = s.T(r, "error.internal")
	}
	s.Render(w, r, status, "error", map[string]any{"Status": status, "Message": msg})
}

// Fail answers an error the way the route expects: {"error":…} for
// /api/…, the error page otherwise.
func (s *Server) Fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.fail(w, r, status, msg)
}

// FailDetail is Fail with the error's own words, which the API answers
// and the error page shows, marked raw, under msg in the reader's
// language.
func (s *Server) FailDetail(w http.ResponseWriter, r *http.Request, status int, msg, detail string) {
	if isAPI(r.URL.Path) {
		WriteError(w, status, detail)
		return
	}
	s.Render(w, r, status, "error", map[string]any{"Status": status, "Message": msg, "Detail": detail})
}

// securityHeaders go on every console answer. The CSP allows no inline
// script or style, so an injected tag does nothing even if escaping failed.
func securityHeaders(h http.Header, path string) {
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if !strings.HasPrefix(path, "/static/") {
		h.Set("Cache-Control", "no-store")
	}
}

type actorKey struct{}

// WithActor returns ctx carrying a.
func WithActor(ctx context.Context, a auth.Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the authenticated actor of a request's context.
func ActorFrom(ctx context.Context) (auth.Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(auth.Actor)
	return a, ok
}

// WriteJSON answers v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encode answer"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// WriteError answers {"error": msg}.
func WriteError(w http.ResponseWriter, status int, msg string) {
	WriteJSON(w, status, map[string]string{"error": msg})
}

func (s *Server) whoami(w http.ResponseWriter, r *http.Request) {
	a, _ := ActorFrom(r.Context())
	WriteJSON(w, http.StatusOK, map[string]string{"name": a.Name, "role": string(a.Role)})
}

// MaxUploadBytes is the cap for upload request bodies (console.max_upload_mb);
// upload handlers wrap r.Body in http.MaxBytesReader with it and answer 413
// past it.
func (s *Server) MaxUploadBytes() int64 { return s.cfg.MaxUploadBytes }
