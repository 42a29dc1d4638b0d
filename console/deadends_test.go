package console_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/console"
)

// TestNoDeadEnds: an address that only takes a form's POST, reloaded or
// bookmarked, leads to the page the form is on; another method a route
// does not take, and an address no route takes, are pages in Chinese.
func TestNoDeadEnds(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ada, otto := b.login(t, "ada"), b.login(t, "otto")
	zh := http.Header{"Accept-Language": {"zh-CN"}}

	for _, tc := range []struct {
		c          *http.Client
		path, want string
	}{
		{ada, "/users/otto/tokens", "/users"},
		{ada, "/users/otto/disable", "/users"},
		{ada, "/users/otto/tokens/3/revoke", "/users"},
		{otto, "/users/otto/tokens", "/account"}, // not an admin: the tokens are on the account page
		{otto, "/account/password", "/account"},
		{otto, "/account/sign-out-everywhere", "/account"},
		{otto, "/logout", "/"},
	} {
		a := b.get(t, tc.c, tc.path, zh)
		require.Equal(t, http.StatusSeeOther, a.Status, tc.path)
		require.Equal(t, tc.want, a.Header.Get("Location"), tc.path)
	}

	a := b.get(t, ada, "/no-such-page", zh)
	require.Equal(t, http.StatusNotFound, a.Status)
	require.Contains(t, a.Body, "没有这个页面或记录")
	require.Contains(t, a.Header.Get("Content-Type"), "text/html")

	a = b.post(t, ada, "/audit", nil, zh)
	require.Equal(t, http.StatusMethodNotAllowed, a.Status)
	require.Contains(t, a.Body, "此地址不接受 POST 请求")
	require.Equal(t, "GET", a.Header.Get("Allow"))

	// The API keeps its JSON answers.
	requireJSONError(t, b.get(t, ada, "/api/v1/no-such-route", nil), http.StatusNotFound)

	// A role that may not: the reason in Chinese, with the roles' names.
	a = b.get(t, otto, "/users", zh)
	require.Equal(t, http.StatusForbidden, a.Status)
	require.Contains(t, a.Body, "不允许：操作员角色不能管理用户（需要管理员角色）")
}

// TestLastAdmin: the only enabled admin can neither disable nor demote
// herself, however asked; the page offers neither.
func TestLastAdmin(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ada := b.login(t, "ada")
	zh := http.Header{"Accept-Language": {"zh-CN"}}

	page := b.get(t, ada, "/users", zh)
	require.Equal(t, http.StatusOK, page.Status)
	require.NotContains(t, page.Body, `action="/users/ada/disable"`)
	require.NotContains(t, page.Body, `action="/users/ada/role"`)
	require.Contains(t, page.Body, "唯一的管理员")
	require.Contains(t, page.Body, `action="/users/otto/disable"`)

	for _, act := range []struct {
		path string
		form map[string][]string
	}{{"/users/ada/disable", nil}, {"/users/ada/role", map[string][]string{"role": {"operator"}}}} {
		a := b.post(t, ada, act.path, act.form, zh)
		require.Equal(t, http.StatusConflict, a.Status, act.path)
		require.Contains(t, a.Body, "最后一个启用的管理员不能被降级或停用")
	}
	users, err := b.auth.Users(context.Background())
	require.NoError(t, err)
	for _, u := range users {
		if u.Name == "ada" {
			require.False(t, u.Disabled)
			require.Equal(t, auth.RoleAdmin, u.Role)
		}
	}

	// With a second admin, either may go.
	require.NoError(t, b.auth.SetRole(context.Background(), b.cli, "otto", auth.RoleAdmin))
	page = b.get(t, ada, "/users", zh)
	require.Contains(t, page.Body, `action="/users/ada/disable"`)
}

// TestOneClock: the console shows times in its zone (Asia/Shanghai by
// default) and says which.
func TestOneClock(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ada := b.login(t, "ada")
	page := b.get(t, ada, "/audit?lang=zh", nil)
	require.Contains(t, page.Body, "(Asia/Shanghai)")
	loc, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	entries := b.auditActions(t)
	require.Positive(t, entries["login:ok"])
	require.Contains(t, page.Body, b.clock.Now().In(loc).Format(console.TimeLayout))

	// The lockout's time too.
	for range 3 {
		b.post(t, nil, "/login", map[string][]string{"username": {"ann"}, "password": {"wrong password"}}, nil)
	}
	a := b.post(t, nil, "/login?lang=zh", map[string][]string{"username": {"ann"}, "password": {password}}, nil)
	require.Equal(t, http.StatusTooManyRequests, a.Status)
	require.Contains(t, a.Body, b.clock.Now().Add(time.Minute).In(loc).Format(console.TimeLayout)+" (Asia/Shanghai)")
	require.True(t, strings.Contains(a.Body, "登录失败次数过多"), a.Body)
}
