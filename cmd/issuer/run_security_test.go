package main

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/internal/testutil"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

// TestRunLoginSecurity drives a real `issuer run` as an attacker would:
// a burst of wrong passwords is counted before any is checked (at most
// console.lockout_after are), password checks past the bound are refused
// at once, nobody mints another's API token, and requests through a proxy
// not in console.trusted_proxies are warned about once.
func TestRunLoginSecurity(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the daemon")
	}
	b := setupDaemon(t, wxsim.Options{Stocks: []wxsim.StockSpec{{ID: "9856000", Kind: wxsim.KindFavor, Budget: 100}}}, 0)
	ada := b.as(t, "ada", "admin")
	b.as(t, "olga", "operator")
	p := b.start(t, "ISSUER_CONSOLE_MAX_CONCURRENT_LOGINS=2", "ISSUER_CONSOLE_MAX_CONCURRENT_LOGINS_PER_ADDRESS=2")
	site := testutil.Site{URL: "http://" + p.addr}

	statuses := make(chan int, 30)
	var wg sync.WaitGroup
	for range 30 {
		wg.Go(func() {
			a := site.Post(t, nil, "/login", url.Values{"username": {"olga"}, "password": {"a wrong guess!"}}, nil)
			statuses <- a.Status
		})
	}
	wg.Wait()
	close(statuses)
	got := map[int]int{}
	for s := range statuses {
		got[s]++
	}
	require.LessOrEqual(t, got[http.StatusUnauthorized], 5, "at most console.lockout_after (5) checked: %v", got)
	require.Equal(t, 30, got[http.StatusUnauthorized]+got[http.StatusTooManyRequests]+got[http.StatusServiceUnavailable], "%v", got)
	var checked int
	require.NoError(t, b.schema.DB.Get(&checked, `SELECT count(*) FROM audit_log WHERE action = 'login_failed' AND message = 'wrong password'`))
	require.Equal(t, got[http.StatusUnauthorized], checked)

	// Tokens are their owner's to mint.
	bearer := testutil.Bearer(ada.env["ISSUER_TOKEN"])
	require.Equal(t, http.StatusForbidden, site.Post(t, nil, "/users/olga/tokens", nil, bearer).Status)
	require.Equal(t, http.StatusOK, site.Post(t, nil, "/users/ada/tokens", nil, bearer).Status)

	// Through a proxy issuer was not told to trust: one warning.
	for range 3 {
		site.Get(t, nil, "/login", http.Header{"X-Forwarded-For": {"203.0.113.5"}})
	}
	require.Equal(t, 1, strings.Count(p.stderr.String(), "console.trusted_proxies does not list"), p.stderr.String())

	_, err := p.stop(t)
	require.NoError(t, err)
}
