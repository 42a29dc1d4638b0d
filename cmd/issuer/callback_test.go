package main

import (
	"testing"

	"github.com/issuer-dev/issuer/wxpay/wxsim"
	"github.com/stretchr/testify/require"
)

func TestCallbackCommands(t *testing.T) {
	t.Parallel()
	b, sim := stockSetup(t, wxsim.Options{})
	r := b.issuer(t, "", "callback", "show")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "mchid       "+sim.Keys.MchID+"\nnotify_url  (none)\n", r.stdout)

	r = b.issuer(t, "", "callback", "set", "https://issuer.example.com/callbacks/wxpay")
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `^notifications for `+sim.Keys.MchID+` go to https://issuer\.example\.com/callbacks/wxpay \(updated \S+\)\n$`, r.stdout)
	require.Equal(t, "https://issuer.example.com/callbacks/wxpay", sim.Server.CallbackURL())

	r = b.issuer(t, "", "callback", "show", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	require.JSONEq(t, `{"notify_url":"https://issuer.example.com/callbacks/wxpay","mchid":"`+sim.Keys.MchID+`"}`, r.stdout)

	b.env["ISSUER_CALLBACKS_PUBLIC_URL"] = "https://issuer.example.com/new"
	r = b.issuer(t, "", "callback", "show")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stderr, "callbacks.public_url is https://issuer.example.com/new")

	for _, bad := range []string{"http://issuer.example.com/cb", "https://issuer.example.com/cb?a=1"} {
		r = b.issuer(t, "", "callback", "set", bad)
		require.Equal(t, 2, r.code, bad)
		require.Contains(t, r.stderr, "notify_url")
	}
	require.Equal(t, "https://issuer.example.com/callbacks/wxpay", sim.Server.CallbackURL(), "nothing sent")
}
