// Package simtest starts the WeChat Pay simulator for tests of other
// packages: fresh merchant and platform keys written in the `sim keys`
// layout, a real HTTP listener on loopback, and the ISSUER_* environment
// that points issuer at both.
package simtest

import (
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/wxpay"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

// Sim is a running simulator.
type Sim struct {
	Server  *wxsim.Server
	URL     string
	Keys    *wxsim.Keys
	KeysDir string
	Admin   *wxsim.AdminClient
}

// Start runs a simulator with opts (Keys is filled in) until the test ends.
func Start(tb testing.TB, opts wxsim.Options) *Sim {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "keys")
	keys, err := wxsim.GenerateKeys(dir)
	require.NoError(tb, err)
	opts.Keys = keys
	srv, err := wxsim.New(opts)
	require.NoError(tb, err)
	hs := httptest.NewServer(srv.Handler())
	tb.Cleanup(func() {
		srv.Close()
		hs.CloseClientConnections()
		hs.Close()
	})
	return &Sim{Server: srv, URL: hs.URL, Keys: keys, KeysDir: dir, Admin: wxsim.NewAdminClient(hs.URL, nil)}
}

// Env returns the ISSUER_* variables that make issuer talk to the
// simulator as its merchant.
func (s *Sim) Env() map[string]string { return s.Keys.IssuerEnv(s.KeysDir, s.URL) }

// Client returns a wxpay client for the simulator's merchant.
func (s *Sim) Client(tb testing.TB, maxConns int) *wxpay.Client {
	tb.Helper()
	o := s.Keys.ClientOptions(s.URL)
	o.MaxConns = maxConns
	c, err := wxpay.New(o)
	require.NoError(tb, err)
	tb.Cleanup(c.Close)
	return c
}

// Ledger returns the coupons the simulator issued for stock.
func (s *Sim) Ledger(stock string) []wxsim.Coupon { return s.Server.Ledger(stock) }
