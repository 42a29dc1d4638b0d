package console_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/audit"
	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/console"
	"github.com/issuer-dev/issuer/httpapi"
	"github.com/issuer-dev/issuer/internal/dbtest"
	"github.com/issuer-dev/issuer/internal/testutil"
)

const password = "correct horse battery"

type testBundle struct {
	schema *dbtest.Schema
	auth   *auth.Store
	audit  *audit.Store
	clock  *testutil.Clock
	srv    *httptest.Server
	cli    auth.Actor
}

func setup(t *testing.T, opts ...func(*console.Config)) *testBundle {
	t.Helper()
	return setupWith(t, nil, opts...)
}

// setupWith also lets register add pages and routes before serving.
func setupWith(t *testing.T, register func(*testing.T, *console.Server), opts ...func(*console.Config)) *testBundle {
	t.Helper()
	return setupFull(t, register, nil, opts...)
}

// setupAuth is setup with the accounts store's options changed by authOpt.
func setupAuth(t *testing.T, authOpt func(*auth.Options), opts ...func(*console.Config)) *testBundle {
	t.Helper()
	return setupFull(t, nil, authOpt, opts...)
}

func setupFull(t *testing.T, register func(*testing.T, *console.Server), authOpt func(*auth.Options), opts ...func(*console.Config)) *testBundle {
	t.Helper()
	s := dbtest.New(t)
	c := testutil.NewClock(time.Now().Truncate(time.Second))
	log := audit.NewStore(s.DB, c.Now)
	ao := auth.Options{Now: c.Now, Hash: auth.HashParams{Memory: 256, Time: 1, Threads: 1}, AccountLimit: 3, Lockout: time.Minute}
	if authOpt != nil {
		authOpt(&ao)
	}
	store, err := auth.NewStore(s.DB, log, ao)
	require.NoError(t, err)
	cfg := console.Config{Auth: store, Audit: log, MaxUploadBytes: 1 << 20}
	for _, o := range opts {
		o(&cfg)
	}
	con, err := console.New(cfg)
	require.NoError(t, err)
	if register != nil {
		register(t, con)
	}
	srv := httptest.NewServer(console.WithMachine(httpapi.New(httpapi.Config{}), con))
	t.Cleanup(srv.Close)
	b := &testBundle{schema: s, auth: store, audit: log, clock: c, srv: srv,
		cli: auth.ShellActor("root")}
	for name, role := range map[string]auth.Role{"ada": auth.RoleAdmin, "otto": auth.RoleOperator, "ann": auth.RoleAnalyst} {
		_, err := store.AddUser(context.Background(), b.cli, name, role, password)
		require.NoError(t, err)
	}
	return b
}

func (b *testBundle) site() testutil.Site { return testutil.Site{URL: b.srv.URL} }

func (b *testBundle) client(t *testing.T) *http.Client { return testutil.Client(t) }

func (b *testBundle) login(t *testing.T, name string) *http.Client {
	t.Helper()
	return b.site().Login(t, name, password)
}

func (b *testBundle) token(t *testing.T, name string) string {
	t.Helper()
	_, secret, err := b.auth.CreateToken(context.Background(), b.cli, name, 0)
	require.NoError(t, err)
	return secret
}

type answer = testutil.Answer

func (b *testBundle) get(t *testing.T, c *http.Client, path string, header http.Header) answer {
	t.Helper()
	return b.site().Get(t, c, path, header)
}

func (b *testBundle) post(t *testing.T, c *http.Client, path string, form url.Values, header http.Header) answer {
	t.Helper()
	return b.site().Post(t, c, path, form, header)
}

var bearer = testutil.Bearer

func requireJSONError(t *testing.T, a answer, status int) {
	t.Helper()
	require.Equal(t, status, a.Status, a.Body)
	require.Contains(t, a.Header.Get("Content-Type"), "application/json")
	var e map[string]string
	require.NoError(t, json.Unmarshal([]byte(a.Body), &e), a.Body)
	require.NotEmpty(t, e["error"])
}

func (b *testBundle) auditActions(t *testing.T) map[string]int {
	t.Helper()
	entries, err := b.audit.List(context.Background(), audit.Filter{Limit: 1000})
	require.NoError(t, err)
	got := map[string]int{}
	for _, e := range entries {
		got[e.Action+":"+string(e.Outcome)]++
	}
	return got
}

func TestWithoutCredentials(t *testing.T) {
	t.Parallel()
	b := setup(t)

	for _, path := range []string{"/api/v1/audit", "/api/v1/audit?limit=5", "/api/v1/whoami", "/api/v1/batches", "/api/v1/batches/1"} {
		requireJSONError(t, b.get(t, nil, path, nil), http.StatusUnauthorized)
	}
	requireJSONError(t, b.post(t, nil, "/api/v1/batches/1/pause", nil, nil), http.StatusUnauthorized)
	requireJSONError(t, b.get(t, nil, "/api/v1/whoami", bearer("isu_forged")), http.StatusUnauthorized)

	for _, path := range []string{"/", "/users", "/audit", "/audit?actor=x", "/batches"} {
		a := b.get(t, nil, path, nil)
		require.Equal(t, http.StatusSeeOther, a.Status, path)
		require.Equal(t, "/login?next="+url.QueryEscape(path), a.Header.Get("Location"))
	}
	for _, path := range []string{"/users", "/users/ann/disable", "/users/ann/tokens"} {
		a := b.post(t, nil, path, url.Values{"name": {"eve"}, "role": {"admin"}, "password": {password}}, nil)
		require.Equal(t, http.StatusSeeOther, a.Status, path)
		require.Equal(t, "/login?next=%2F", a.Header.Get("Location"))
	}
	users, err := b.auth.Users(context.Background())
	require.NoError(t, err)
	require.Len(t, users, 3, "nothing was added")

	// The machine endpoints keep their own rules.
	require.Equal(t, http.StatusOK, b.get(t, nil, "/healthz", nil).Status)
	require.Equal(t, http.StatusOK, b.get(t, nil, "/readyz", nil).Status)
	require.Equal(t, http.StatusServiceUnavailable, b.get(t, nil, "/metrics", nil).Status, "no gatherer in this test")
	require.Equal(t, http.StatusNotFound, b.post(t, nil, "/plugin/sign", nil, nil).Status, "no plugin token in this test")
	require.Equal(t, http.StatusServiceUnavailable, b.post(t, nil, "/callbacks/wxpay", nil, nil).Status)

	// Public: the login page and the assets.
	a := b.get(t, nil, "/login", nil)
	require.Equal(t, http.StatusOK, a.Status)
	a = b.get(t, nil, "/static/app.css", nil)
	require.Equal(t, http.StatusOK, a.Status)
	require.Contains(t, a.Header.Get("Content-Type"), "text/css")
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t)
	admin := b.login(t, "ada")
	for _, a := range []answer{b.get(t, nil, "/login", nil), b.get(t, nil, "/", nil), b.get(t, admin, "/users", nil),
		b.get(t, nil, "/api/v1/audit", nil), b.get(t, admin, "/api/v1/audit", nil), b.get(t, nil, "/static/app.js", nil)} {
		csp := a.Header.Get("Content-Security-Policy")
		require.Contains(t, csp, "default-src 'self'")
		require.Contains(t, csp, "script-src 'self';")
		require.NotContains(t, csp, "unsafe-inline")
		require.Contains(t, csp, "frame-ancestors 'none'")
		require.Equal(t, "nosniff", a.Header.Get("X-Content-Type-Options"))
		require.Equal(t, "DENY", a.Header.Get("X-Frame-Options"))
		require.Equal(t, "same-origin", a.Header.Get("Referrer-Policy"))
	}
	page := b.get(t, admin, "/users", nil)
	require.Equal(t, "no-store", page.Header.Get("Cache-Control"))
	require.NotContains(t, page.Body, "<script>", "no inline script")
	require.NotContains(t, page.Body, " style=", "no inline style")
	require.NotContains(t, page.Body, " onclick=", "no inline handlers")
}

func TestLogin(t *testing.T) {
	t.Parallel()
	b := setup(t)

	t.Run("Success", func(t *testing.T) {
		c := b.client(t)
		a := b.post(t, c, "/login", url.Values{"username": {"ann"}, "password": {password}, "next": {"/audit?actor=x"}}, nil)
		require.Equal(t, http.StatusSeeOther, a.Status)
		require.Equal(t, "/audit?actor=x", a.Header.Get("Location"))
		cookies := a.Res.Cookies()
		require.Len(t, cookies, 1)
		ck := cookies[0]
		require.Equal(t, console.SessionCookie, ck.Name)
		require.Len(t, ck.Value, 43)
		require.True(t, ck.HttpOnly)
		require.Equal(t, http.SameSiteLaxMode, ck.SameSite)
		require.Equal(t, "/", ck.Path)
		require.False(t, ck.Secure, "plain http and no https public URL")

		who := b.get(t, c, "/api/v1/whoami", nil)
		require.Equal(t, http.StatusOK, who.Status)
		require.JSONEq(t, `{"name":"ann","role":"analyst"}`, who.Body)
		home := b.get(t, c, "/", nil)
		require.Equal(t, http.StatusOK, home.Status)
		require.Contains(t, home.Body, "ann")

		a = b.post(t, c, "/logout", nil, nil)
		require.Equal(t, http.StatusSeeOther, a.Status)
		require.Equal(t, "/login", a.Header.Get("Location"))
		// The cookie is gone from the jar and the session from the database.
		require.Equal(t, http.StatusSeeOther, b.get(t, c, "/", nil).Status)
		_, err := b.auth.SessionActor(context.Background(), ck.Value, "")
		require.ErrorIs(t, err, auth.ErrNoSession)
	})
	t.Run("Failure", func(t *testing.T) {
		for _, form := range []url.Values{
			{"username": {"ann"}, "password": {"wrong password"}},
			{"username": {"nobody"}, "password": {password}},
			{"username": {"ann"}},
		} {
			a := b.post(t, nil, "/login", form, nil)
			require.Equal(t, http.StatusUnauthorized, a.Status)
			require.Empty(t, a.Res.Cookies())
			require.Contains(t, a.Body, `name="username"`, "the login page again")
		}
	})
	t.Run("NextStaysOnSite", func(t *testing.T) {
		for _, next := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", ""} {
			a := b.post(t, nil, "/login", url.Values{"username": {"otto"}, "password": {password}, "next": {next}}, nil)
			require.Equal(t, http.StatusSeeOther, a.Status)
			require.Equal(t, "/", a.Header.Get("Location"), next)
		}
	})
	t.Run("SecureCookie", func(t *testing.T) {
		b := setup(t, func(c *console.Config) { c.PublicURL = "https://issuer.example.com" })
		a := b.post(t, nil, "/login", url.Values{"username": {"ann"}, "password": {password}}, nil)
		require.Equal(t, http.StatusSeeOther, a.Status)
		require.True(t, a.Res.Cookies()[0].Secure)
	})
}

func TestLockout(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for range 3 {
		a := b.post(t, nil, "/login", url.Values{"username": {"otto"}, "password": {"wrong password"}}, nil)
		require.Equal(t, http.StatusUnauthorized, a.Status)
	}
	a := b.post(t, nil, "/login", url.Values{"username": {"otto"}, "password": {password}}, nil)
	require.Equal(t, http.StatusTooManyRequests, a.Status)
	require.Empty(t, a.Res.Cookies())
	require.NotEmpty(t, a.Header.Get("Retry-After"))
	b.clock.Advance(time.Minute)
	b.login(t, "otto")

	got := b.auditActions(t)
	require.Equal(t, 4, got["login_failed:denied"], "3 wrong passwords and one while locked")
	require.Equal(t, 1, got["lockout:denied"])
	require.Equal(t, 1, got["login:ok"])
}

func TestRoles(t *testing.T) {
	t.Parallel()
	b := setup(t)
	clients := map[string]*http.Client{"ann": b.login(t, "ann"), "otto": b.login(t, "otto"), "ada": b.login(t, "ada")}
	tokens := map[string]string{"ann": b.token(t, "ann"), "otto": b.token(t, "otto"), "ada": b.token(t, "ada")}

	for _, tc := range []struct {
		user    string
		method  string
		path    string
		allowed bool
	}{
		{"ann", "GET", "/users", false},
		{"ann", "GET", "/audit", false},
		{"ann", "GET", "/api/v1/audit", false},
		{"ann", "POST", "/users", false},
		{"ann", "POST", "/users/otto/disable", false},
		{"ann", "POST", "/users/otto/tokens", false},
		{"otto", "GET", "/users", false},
		{"otto", "POST", "/users", false},
		{"otto", "POST", "/users/ann/disable", false},
		{"otto", "POST", "/users/ann/enable", false},
		{"otto", "POST", "/users/ann/tokens", false},
		{"otto", "POST", "/users/ann/tokens/1/revoke", false},
		{"otto", "GET", "/audit", true},
		{"otto", "GET", "/api/v1/audit", true},
		{"ada", "GET", "/users", true},
		{"ada", "GET", "/audit", true},
		{"ada", "GET", "/api/v1/audit", true},
		{"ann", "GET", "/", true},
	} {
		t.Run(tc.user+tc.method+tc.path, func(t *testing.T) {
			form := url.Values{"name": {"eve"}, "role": {"admin"}, "password": {password}}
			var viaCookie, viaToken answer
			if tc.method == "GET" {
				viaCookie = b.get(t, clients[tc.user], tc.path, nil)
				viaToken = b.get(t, nil, tc.path, bearer(tokens[tc.user]))
			} else {
				viaCookie = b.post(t, clients[tc.user], tc.path, form, nil)
				viaToken = b.post(t, nil, tc.path, form, bearer(tokens[tc.user]))
			}
			for _, a := range []answer{viaCookie, viaToken} {
				if tc.allowed {
					require.Equal(t, http.StatusOK, a.Status, a.Body)
					continue
				}
				if strings.HasPrefix(tc.path, "/api/") {
					requireJSONError(t, a, http.StatusForbidden)
				} else {
					require.Equal(t, http.StatusForbidden, a.Status)
					require.Contains(t, a.Header.Get("Content-Type"), "text/html")
				}
			}
		})
	}
	users, err := b.auth.Users(context.Background())
	require.NoError(t, err)
	require.Len(t, users, 3)
	for _, u := range users {
		require.False(t, u.Disabled)
	}

	// The navigation shows each role what it may open.
	nav := func(user string) string { return b.get(t, clients[user], "/", nil).Body }
	require.NotContains(t, nav("ann"), `href="/users"`)
	require.NotContains(t, nav("ann"), `href="/audit"`)
	require.Contains(t, nav("otto"), `href="/audit"`)
	require.NotContains(t, nav("otto"), `href="/users"`)
	require.Contains(t, nav("ada"), `href="/users"`)
}

func TestUsersPage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	admin := b.login(t, "ada")
	ann := b.login(t, "ann")
	annToken := b.token(t, "ann")
	require.Equal(t, http.StatusOK, b.get(t, nil, "/api/v1/whoami", bearer(annToken)).Status)

	// Add.
	a := b.post(t, admin, "/users", url.Values{"name": {"bea"}, "role": {"operator"}, "password": {password}}, nil)
	require.Equal(t, http.StatusSeeOther, a.Status, a.Body)
	page := b.get(t, admin, "/users?ok=user_add&user=bea", nil)
	require.Contains(t, page.Body, "bea")
	a = b.post(t, admin, "/users", url.Values{"name": {"bea"}, "role": {"operator"}, "password": {password}}, nil)
	require.Equal(t, http.StatusConflict, a.Status)
	a = b.post(t, admin, "/users", url.Values{"name": {"cat"}, "role": {"operator"}, "password": {"short"}}, nil)
	require.Equal(t, http.StatusBadRequest, a.Status)
	require.Contains(t, a.Body, "too short")
	a = b.post(t, admin, "/users", url.Values{"name": {"cat"}, "role": {"root"}, "password": {password}}, nil)
	require.Equal(t, http.StatusBadRequest, a.Status)

	// An admin mints no one else's token; bea mints her own, shown once,
	// and it works.
	a = b.post(t, admin, "/users/bea/tokens", nil, nil)
	require.Equal(t, http.StatusForbidden, a.Status)
	a = b.post(t, b.login(t, "bea"), "/users/bea/tokens", nil, nil)
	require.Equal(t, http.StatusOK, a.Status)
	i := strings.Index(a.Body, auth.TokenPrefix)
	require.Positive(t, i)
	secret := a.Body[i : i+len(auth.TokenPrefix)+43]
	who := b.get(t, nil, "/api/v1/whoami", bearer(secret))
	require.JSONEq(t, `{"name":"bea","role":"operator"}`, who.Body)
	require.NotContains(t, b.get(t, admin, "/users", nil).Body, secret, "never shown again")
	var stored int
	require.NoError(t, b.schema.DB.Get(&stored, `SELECT count(*) FROM api_tokens WHERE hash = sha256(convert_to($1, 'UTF8'))`, secret))
	require.Equal(t, 1, stored, "stored as its SHA-256")

	// Revoke it.
	tokens, err := b.auth.Tokens(context.Background(), "bea")
	require.NoError(t, err)
	a = b.post(t, admin, "/users/bea/tokens/"+strconv.FormatInt(tokens[0].ID, 10)+"/revoke", nil, nil)
	require.Equal(t, http.StatusSeeOther, a.Status)
	requireJSONError(t, b.get(t, nil, "/api/v1/whoami", bearer(secret)), http.StatusUnauthorized)

	// Disable: ann's session and token stop at once.
	a = b.post(t, admin, "/users/ann/disable", nil, nil)
	require.Equal(t, http.StatusSeeOther, a.Status)
	require.Equal(t, http.StatusSeeOther, b.get(t, ann, "/", nil).Status)
	requireJSONError(t, b.get(t, ann, "/api/v1/whoami", nil), http.StatusUnauthorized)
	requireJSONError(t, b.get(t, nil, "/api/v1/whoami", bearer(annToken)), http.StatusUnauthorized)
	a = b.post(t, nil, "/login", url.Values{"username": {"ann"}, "password": {password}}, nil)
	require.Equal(t, http.StatusUnauthorized, a.Status)
	require.Equal(t, http.StatusNotFound, b.post(t, admin, "/users/nobody/disable", nil, nil).Status)

	// Enable.
	a = b.post(t, admin, "/users/ann/enable", nil, nil)
	require.Equal(t, http.StatusSeeOther, a.Status)
	b.login(t, "ann")

	got := b.auditActions(t)
	for _, act := range []string{"user_add:ok", "user_disable:ok", "user_enable:ok", "token_create:ok", "token_revoke:ok", "login:ok", "login_failed:denied"} {
		require.Positive(t, got[act], act)
	}
}

func TestCrossOrigin(t *testing.T) {
	t.Parallel()
	b := setup(t)
	admin := b.login(t, "ada")
	form := url.Values{"name": {"eve"}, "role": {"admin"}, "password": {password}}

	for _, h := range []http.Header{
		{"Origin": {"https://evil.example"}},
		{"Sec-Fetch-Site": {"cross-site"}},
	} {
		a := b.post(t, admin, "/users", form, h)
		require.Equal(t, http.StatusForbidden, a.Status, a.Body)
		a = b.post(t, admin, "/logout", nil, h)
		require.Equal(t, http.StatusForbidden, a.Status)
		a = b.post(t, nil, "/login", url.Values{"username": {"ada"}, "password": {password}}, h)
		require.Equal(t, http.StatusForbidden, a.Status, "no login CSRF")
	}
	_, err := b.auth.User(context.Background(), "eve")
	require.ErrorIs(t, err, auth.ErrNotFound)
	require.Equal(t, http.StatusOK, b.get(t, admin, "/users", nil).Status, "still signed in")

	// Same origin is fine, and so is a bearer token from anywhere.
	a := b.post(t, admin, "/users", form, http.Header{"Origin": {b.srv.URL}, "Sec-Fetch-Site": {"same-origin"}})
	require.Equal(t, http.StatusSeeOther, a.Status, a.Body)
	h := bearer(b.token(t, "ada"))
	h.Set("Origin", "https://elsewhere.example")
	form.Set("name", "fay")
	a = b.post(t, nil, "/users", form, h)
	require.Equal(t, http.StatusSeeOther, a.Status, a.Body)
}

func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.login(t, "otto")
	b.clock.Advance(29 * time.Minute)
	require.Equal(t, http.StatusOK, b.get(t, c, "/", nil).Status)
	b.clock.Advance(30 * time.Minute)
	a := b.get(t, c, "/audit", nil)
	require.Equal(t, http.StatusSeeOther, a.Status, "idle for 30 minutes")
	requireJSONError(t, b.get(t, c, "/api/v1/audit", nil), http.StatusUnauthorized)

	c = b.login(t, "otto")
	for range 24 { // used every 29 minutes: never idle, 11h36m after login
		b.clock.Advance(29 * time.Minute)
		require.Equal(t, http.StatusOK, b.get(t, c, "/", nil).Status)
	}
	b.clock.Advance(29 * time.Minute)
	require.Equal(t, http.StatusSeeOther, b.get(t, c, "/", nil).Status, "12h05m after login")
}

func TestXSS(t *testing.T) {
	t.Parallel()
	b := setup(t)
	payload := `<script>alert(1)</script><img src=x onerror=alert(2)>`
	// A failed login puts the typed name in the audit log and the page.
	a := b.post(t, nil, "/login", url.Values{"username": {payload}, "password": {"whatever it is"}}, nil)
	require.Equal(t, http.StatusUnauthorized, a.Status)
	require.NotContains(t, a.Body, payload)
	require.Contains(t, a.Body, "&lt;script&gt;")

	admin := b.login(t, "ada")
	page := b.get(t, admin, "/audit?actor="+url.QueryEscape(payload), nil)
	require.Equal(t, http.StatusOK, page.Status)
	require.NotContains(t, page.Body, "<script>alert")
	require.NotContains(t, page.Body, "<img src=x")
	require.Contains(t, page.Body, "&lt;script&gt;alert(1)&lt;/script&gt;")

	// Names with markup cannot be created at all.
	a = b.post(t, admin, "/users", url.Values{"name": {payload}, "role": {"analyst"}, "password": {password}}, nil)
	require.Equal(t, http.StatusBadRequest, a.Status)
	require.NotContains(t, a.Body, "<script>alert")
}

func TestAuditAPI(t *testing.T) {
	t.Parallel()
	b := setup(t)
	otto := b.login(t, "otto")
	b.clock.Advance(time.Second)
	b.post(t, nil, "/login", url.Values{"username": {"ann"}, "password": {"wrong password"}}, nil)
	b.clock.Advance(time.Second)
	b.post(t, otto, "/logout", nil, nil)

	tok := b.token(t, "otto")
	a := b.get(t, nil, "/api/v1/audit?limit=2", bearer(tok))
	require.Equal(t, http.StatusOK, a.Status, a.Body)
	var entries []map[string]any
	require.NoError(t, json.Unmarshal([]byte(a.Body), &entries))
	require.Len(t, entries, 2)
	require.Equal(t, "token_create", entries[0]["action"], "newest first")
	require.Equal(t, "logout", entries[1]["action"])
	for _, k := range []string{"time", "actor", "role", "action", "batch_id", "stock_id", "source", "outcome", "detail"} {
		require.Contains(t, entries[1], k)
	}
	require.Equal(t, "otto", entries[1]["actor"])
	require.Equal(t, "operator", entries[1]["role"])
	require.Equal(t, "127.0.0.1", entries[1]["source"])
	require.Equal(t, "ok", entries[1]["outcome"])

	a = b.get(t, nil, "/api/v1/audit?action=login_failed", bearer(tok))
	require.NoError(t, json.Unmarshal([]byte(a.Body), &entries))
	require.Len(t, entries, 1)
	require.Equal(t, "denied", entries[0]["outcome"])
	requireJSONError(t, b.get(t, nil, "/api/v1/audit?limit=0", bearer(tok)), http.StatusBadRequest)
	requireJSONError(t, b.get(t, nil, "/api/v1/audit?limit=x", bearer(tok)), http.StatusBadRequest)

	page := b.get(t, nil, "/audit?outcome=denied", bearer(tok))
	require.Equal(t, http.StatusOK, page.Status)
	require.Contains(t, page.Body, "login_failed")
	require.NotContains(t, page.Body, ">logout<")
}

func TestProxyUserHeader(t *testing.T) {
	t.Parallel()
	trusted := setup(t, func(c *console.Config) {
		c.ProxyUserHeader = "X-Remote-User"
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	a := trusted.get(t, nil, "/api/v1/whoami", http.Header{"X-Remote-User": {"otto"}, "X-Forwarded-For": {"203.0.113.9"}})
	require.Equal(t, http.StatusOK, a.Status, a.Body)
	require.JSONEq(t, `{"name":"otto","role":"operator"}`, a.Body)
	requireJSONError(t, trusted.get(t, nil, "/api/v1/whoami", http.Header{"X-Remote-User": {"nobody"}}), http.StatusUnauthorized)
	require.NoError(t, trusted.auth.SetDisabled(context.Background(), trusted.cli, "otto", true))
	requireJSONError(t, trusted.get(t, nil, "/api/v1/whoami", http.Header{"X-Remote-User": {"otto"}}), http.StatusUnauthorized)

	untrusted := setup(t, func(c *console.Config) {
		c.ProxyUserHeader = "X-Remote-User"
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	})
	requireJSONError(t, untrusted.get(t, nil, "/api/v1/whoami", http.Header{"X-Remote-User": {"ada"}}), http.StatusUnauthorized)
	off := setup(t)
	requireJSONError(t, off.get(t, nil, "/api/v1/whoami", http.Header{"X-Remote-User": {"ada"}}), http.StatusUnauthorized)
}

func TestLanguage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.Contains(t, b.get(t, nil, "/login", http.Header{"Accept-Language": {"en-US,en;q=0.9"}}).Body, "Sign in")
	require.Contains(t, b.get(t, nil, "/login", http.Header{"Accept-Language": {"zh-CN,zh;q=0.9,en;q=0.5"}}).Body, "登录")
	require.Contains(t, b.get(t, nil, "/login?lang=en", http.Header{"Accept-Language": {"zh-CN"}}).Body, "Sign in")

	c := b.client(t)
	a := b.get(t, c, "/lang?lang=en&next=/login", nil)
	require.Equal(t, http.StatusSeeOther, a.Status)
	require.Equal(t, "/login", a.Header.Get("Location"))
	require.Contains(t, b.get(t, c, "/login", http.Header{"Accept-Language": {"zh-CN"}}).Body, "Sign in", "the choice beats the browser")
	a = b.get(t, c, "/lang?lang=en&next=//evil.example", nil)
	require.Equal(t, "/", a.Header.Get("Location"))
}

// TestExtend registers a page, its texts and an API route the way the
// batch pages do.
func TestExtend(t *testing.T) {
	t.Parallel()
	pages := fstest.MapFS{"web/batches.html": {Data: []byte(`{{define "title"}}{{.T "batches.title"}}{{end}}
{{define "content"}}<h1>{{.T "batches.title"}}</h1><p id="n">{{.Data}}</p>{{if .Can "pause"}}<button>pause</button>{{end}}{{end}}`)}}
	b := setupWith(t, func(t *testing.T, s *console.Server) {
		require.NoError(t, s.AddTemplates(pages, "web/*.html"))
		s.AddMessages("en", map[string]string{"batches.title": "All batches"})
		s.AddMessages("zh", map[string]string{"batches.title": "全部批次"})
		s.Page("GET /batches", auth.ActRead, func(w http.ResponseWriter, r *http.Request) {
			s.Render(w, r, http.StatusOK, "batches", 42)
		})
		s.Handle("POST /api/v1/batches/{id}/pause", auth.ActPause, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			a, _ := console.ActorFrom(r.Context())
			console.WriteJSON(w, http.StatusOK, map[string]string{"id": r.PathValue("id"), "by": a.Name})
		}))
	})
	ann, otto := b.login(t, "ann"), b.login(t, "otto")
	home := b.get(t, ann, "/", http.Header{"Accept-Language": {"en"}})
	require.Contains(t, home.Body, `href="/batches"`)
	require.NotContains(t, home.Body, `href="/upload"`, "no page registered there")

	page := b.get(t, ann, "/batches", http.Header{"Accept-Language": {"en"}})
	require.Equal(t, http.StatusOK, page.Status)
	require.Contains(t, page.Body, "<h1>All batches</h1>")
	require.Contains(t, page.Body, `<p id="n">42</p>`)
	require.NotContains(t, page.Body, "<button>pause</button>")
	require.Contains(t, page.Body, `class="active"`)
	require.Contains(t, b.get(t, otto, "/batches", http.Header{"Accept-Language": {"zh-CN"}}).Body, "<button>pause</button>")
	require.Contains(t, b.get(t, otto, "/batches", http.Header{"Accept-Language": {"zh-CN"}}).Body, "全部批次")

	requireJSONError(t, b.post(t, ann, "/api/v1/batches/7/pause", nil, nil), http.StatusForbidden)
	a := b.post(t, otto, "/api/v1/batches/7/pause", nil, nil)
	require.Equal(t, http.StatusOK, a.Status)
	require.JSONEq(t, `{"id":"7","by":"otto"}`, a.Body)
}
