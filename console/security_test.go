package console_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/console"
	"github.com/issuer-dev/issuer/internal/testutil"
)

// behindProxy trusts the test's loopback peer as a proxy, so that
// X-Forwarded-For gives each request its client address.
func behindProxy(c *console.Config) {
	c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
}

func from(addr string) http.Header { return http.Header{"X-Forwarded-For": {addr}} }

// TestLoginFlood: a flood of logins never runs more password checks at
// once than the bound; the rest are answered 503, or 429 past the
// address's share, at once, unchecked and uncounted.
func TestLoginFlood(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}, 64), make(chan struct{})
	releaseAll := sync.OnceFunc(func() { close(release) })
	t.Cleanup(releaseAll) // before the server's Close, even on failure
	var running, peak, checked atomic.Int32
	b := setupAuth(t, func(o *auth.Options) {
		o.MaxHashes, o.MaxHashesPerAddress, o.AddressLimit = 3, 2, 100
		o.Verify = func(pw, hash string, want auth.HashParams) (bool, bool, error) {
			n := running.Add(1)
			defer running.Add(-1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			checked.Add(1)
			entered <- struct{}{}
			<-release
			return auth.VerifyPassword(pw, hash, want)
		}
	}, behindProxy)

	statuses := make(chan int, 40)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			a := b.post(t, nil, "/login", url.Values{"username": {"otto"}, "password": {"wrong password"}},
				from(fmt.Sprintf("198.51.100.%d", i%10)))
			if a.Status != http.StatusUnauthorized {
				require.NotEmpty(t, a.Header.Get("Retry-After"))
				require.Empty(t, a.Res.Cookies())
			}
			statuses <- a.Status
		})
	}
	// Three are being checked; the other 37 are answered meanwhile.
	got := map[int]int{}
	for range 37 {
		got[<-statuses]++
	}
	for range 3 {
		<-entered
	}
	require.Empty(t, entered, "no more than three checked")
	releaseAll()
	wg.Wait()
	close(statuses)
	for s := range statuses {
		got[s]++
	}
	require.Equal(t, 3, got[http.StatusUnauthorized], "%v", got)
	require.Equal(t, 37, got[http.StatusServiceUnavailable]+got[http.StatusTooManyRequests], "%v", got)
	require.EqualValues(t, 3, checked.Load())
	require.EqualValues(t, 3, peak.Load())
	require.Equal(t, 3, b.auditActions(t)["login_failed:denied"], "the refused were neither checked nor counted")
	b.login(t, "otto")
}

// TestLockoutPerAddress: failures from one address lock the account there
// only; the real user elsewhere signs in, and no name is locked for
// everyone.
func TestLockoutPerAddress(t *testing.T) {
	t.Parallel()
	b := setup(t, behindProxy)
	for range 3 {
		a := b.post(t, nil, "/login", url.Values{"username": {"otto"}, "password": {"wrong password"}}, from("203.0.113.66"))
		require.Equal(t, http.StatusUnauthorized, a.Status)
	}
	a := b.post(t, nil, "/login", url.Values{"username": {"otto"}, "password": {password}}, from("203.0.113.66"))
	require.Equal(t, http.StatusTooManyRequests, a.Status, "the attacker's address is slowed")
	require.NotEmpty(t, a.Header.Get("Retry-After"))
	a = b.post(t, nil, "/login", url.Values{"username": {"otto"}, "password": {password}}, from("192.0.2.10"))
	require.Equal(t, http.StatusSeeOther, a.Status, "otto at his own address is not locked out")
}

// TestUntrustedProxyWarning: requests through a proxy that is not in
// trusted_proxies are warned about once per proxy address.
func TestUntrustedProxyWarning(t *testing.T) {
	t.Parallel()
	var logs testutil.Buffer
	b := setup(t, func(c *console.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		c.ProxyUserHeader = "X-Forwarded-User"
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	})
	require.Equal(t, http.StatusOK, b.get(t, nil, "/login", nil).Status)
	require.NotContains(t, logs.String(), "trusted_proxies", "a direct request")
	for range 3 {
		b.get(t, nil, "/login", from("203.0.113.9"))
		requireJSONError(t, b.get(t, nil, "/api/v1/whoami", http.Header{"X-Forwarded-User": {"ada"}}), http.StatusUnauthorized)
	}
	require.Equal(t, 1, strings.Count(logs.String(), "add the proxy's address to console.trusted_proxies"), logs.String())
	require.Contains(t, logs.String(), "proxy=127.0.0.1")
}

// del sends DELETE path.
func (b *testBundle) del(t *testing.T, c *http.Client, path string, header http.Header) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodDelete, b.srv.URL+path, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	return b.site().Do(t, c, req)
}

// TestOwnTokens: everyone mints and revokes their own tokens with an
// expiry; nobody, not an admin either, mints someone else's; an admin
// revokes anyone's.
func TestOwnTokens(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ann, admin := b.login(t, "ann"), b.login(t, "ada")

	page := b.get(t, ann, "/account", http.Header{"Accept-Language": {"zh-CN"}})
	require.Equal(t, http.StatusOK, page.Status)
	require.Contains(t, page.Body, "我的账户")
	require.Contains(t, page.Body, `action="/users/ann/tokens"`)

	a := b.post(t, ann, "/users/ann/tokens", url.Values{"expires_days": {"7"}}, nil)
	require.Equal(t, http.StatusOK, a.Status, a.Body)
	i := strings.Index(a.Body, auth.TokenPrefix)
	require.Positive(t, i)
	secret := a.Body[i : i+len(auth.TokenPrefix)+43]
	require.JSONEq(t, `{"name":"ann","role":"analyst"}`, b.get(t, nil, "/api/v1/whoami", bearer(secret)).Body)
	tokens, err := b.auth.Tokens(context.Background(), "ann")
	require.NoError(t, err)
	require.Len(t, tokens, 1)
	require.Equal(t, tokens[0].CreatedAt.Add(7*24*time.Hour), tokens[0].ExpiresAt)
	require.Equal(t, http.StatusBadRequest, b.post(t, ann, "/users/ann/tokens", url.Values{"expires_days": {"9999"}}, nil).Status)

	for _, tc := range []struct {
		who  *http.Client
		user string
	}{{admin, "ann"}, {admin, "otto"}, {ann, "otto"}, {ann, "ada"}} {
		a := b.post(t, tc.who, "/users/"+tc.user+"/tokens", nil, nil)
		require.Equal(t, http.StatusForbidden, a.Status, tc.user)
		require.NotRegexp(t, auth.TokenPrefix+`[A-Za-z0-9_-]{43}`, a.Body, "no secret shown")
		someoneElse := "ada"
		if tc.user == "ada" {
			someoneElse = "otto"
		}
		a = b.post(t, nil, "/users/"+tc.user+"/tokens", nil, bearer(b.token(t, someoneElse)))
		require.Equal(t, http.StatusForbidden, a.Status, "with a bearer token too")
	}
	require.Len(t, mustTokens(t, b, "ann"), 1, "none minted for her by others")

	revoke := fmt.Sprintf("/users/ann/tokens/%d/revoke", tokens[0].ID)
	require.Equal(t, http.StatusForbidden, b.post(t, b.login(t, "otto"), revoke, nil, nil).Status)
	a = b.post(t, admin, revoke, nil, nil)
	require.Equal(t, http.StatusSeeOther, a.Status, "an admin revokes anyone's")
	requireJSONError(t, b.get(t, nil, "/api/v1/whoami", bearer(secret)), http.StatusUnauthorized)

	got := b.auditActions(t)
	require.Equal(t, 8, got["token_create:denied"])
	require.Equal(t, 1, got["token_revoke:ok"])
}

func mustTokens(t *testing.T, b *testBundle, user string) []auth.Token {
	t.Helper()
	tokens, err := b.auth.Tokens(context.Background(), user)
	require.NoError(t, err)
	return tokens
}

// TestChangePasswordAndSignOut: a person changes their own password (the
// current one first), which ends their other sessions; "sign out
// everywhere" ends all of them, from the console or the API.
func TestChangePasswordAndSignOut(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const newPassword = "a much better passphrase"
	here, there := b.login(t, "ann"), b.login(t, "ann")

	change := func(current, next, again string) answer {
		return b.post(t, here, "/account/password", url.Values{"current_password": {current}, "new_password": {next},
			"new_password_again": {again}}, http.Header{"Accept-Language": {"zh-CN"}})
	}
	a := change(password, newPassword, newPassword+"x")
	require.Equal(t, http.StatusBadRequest, a.Status)
	require.Contains(t, a.Body, "两次输入的新密码不一致")
	a = change("wrong password", newPassword, newPassword)
	require.Equal(t, http.StatusForbidden, a.Status)
	require.Contains(t, a.Body, "当前密码不正确")
	a = change(password, "short", "short")
	require.Equal(t, http.StatusBadRequest, a.Status)
	a = change(password, newPassword, newPassword)
	require.Equal(t, http.StatusSeeOther, a.Status, a.Body)
	require.Equal(t, http.StatusOK, b.get(t, here, "/account", nil).Status, "this session stays")
	require.Equal(t, http.StatusSeeOther, b.get(t, there, "/account", nil).Status, "the other one ended")
	a = b.post(t, nil, "/login", url.Values{"username": {"ann"}, "password": {password}}, nil)
	require.Equal(t, http.StatusUnauthorized, a.Status)
	other := b.site().Login(t, "ann", newPassword)

	// Sign out everywhere: every session ends, this one too.
	a = b.post(t, here, "/account/sign-out-everywhere", nil, nil)
	require.Equal(t, http.StatusSeeOther, a.Status)
	require.Equal(t, "/login", a.Header.Get("Location"))
	for _, c := range []*http.Client{here, other} {
		requireJSONError(t, b.get(t, c, "/api/v1/whoami", nil), http.StatusUnauthorized)
	}

	// The same from the API, with a token: sessions end, the token stays.
	c := b.site().Login(t, "otto", password)
	tok := b.token(t, "otto")
	a = b.del(t, nil, "/api/v1/sessions", bearer(tok))
	require.Equal(t, http.StatusOK, a.Status, a.Body)
	require.JSONEq(t, `{"sessions_ended":1}`, a.Body)
	requireJSONError(t, b.get(t, c, "/api/v1/whoami", nil), http.StatusUnauthorized)
	require.Equal(t, http.StatusOK, b.get(t, nil, "/api/v1/whoami", bearer(tok)).Status)
	// ... and never from another origin with a cookie.
	c = b.site().Login(t, "otto", password)
	a = b.del(t, c, "/api/v1/sessions", http.Header{"Origin": {"https://evil.example"}})
	require.Equal(t, http.StatusForbidden, a.Status)
	require.Equal(t, http.StatusOK, b.get(t, c, "/api/v1/whoami", nil).Status)

	got := b.auditActions(t)
	require.Equal(t, 1, got["user_password:ok"])
	require.Equal(t, 2, got["sessions_end:ok"])
}

// TestRoleChange: an admin changes a role from the users page; it applies
// to the account's next request; the last admin keeps the role.
func TestRoleChange(t *testing.T) {
	t.Parallel()
	b := setup(t)
	admin, ann := b.login(t, "ada"), b.login(t, "ann")
	page := b.get(t, admin, "/users", nil)
	require.Contains(t, page.Body, `action="/users/ann/role"`)

	a := b.post(t, admin, "/users/ann/role", url.Values{"role": {"operator"}}, nil)
	require.Equal(t, http.StatusSeeOther, a.Status, a.Body)
	require.JSONEq(t, `{"name":"ann","role":"operator"}`, b.get(t, ann, "/api/v1/whoami", nil).Body)
	require.Equal(t, http.StatusForbidden, b.post(t, ann, "/users/otto/role", url.Values{"role": {"admin"}}, nil).Status)
	require.Equal(t, http.StatusBadRequest, b.post(t, admin, "/users/ann/role", url.Values{"role": {"root"}}, nil).Status)

	a = b.post(t, admin, "/users/ada/role", url.Values{"role": {"analyst"}}, http.Header{"Accept-Language": {"zh-CN"}})
	require.Equal(t, http.StatusConflict, a.Status)
	require.Contains(t, a.Body, "最后一个启用的管理员")
	require.Equal(t, http.StatusConflict, b.post(t, admin, "/users/ada/disable", nil, nil).Status)
	require.JSONEq(t, `{"name":"ada","role":"admin"}`, b.get(t, admin, "/api/v1/whoami", nil).Body)
	require.Equal(t, 1, b.auditActions(t)["user_role:ok"])
}
