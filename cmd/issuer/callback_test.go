package main

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/issuer-dev/issuer/alert"
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

func TestSyncCallbackURL(t *testing.T) {
	t.Parallel()
	_, sim := stockSetup(t, wxsim.Options{})
	client := sim.Client(t, 1)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var alerts []alert.Alert
	notify := func(a alert.Alert) { alerts = append(alerts, a) }
	ctx := context.Background()

	syncCallbackURL(ctx, client, "", notify, log)
	require.Empty(t, sim.Server.CallbackURL(), "not configured: nothing done")

	const want = "http://127.0.0.1:8080/callbacks/wxpay"
	syncCallbackURL(ctx, client, want, notify, log)
	require.Equal(t, want, sim.Server.CallbackURL())
	require.Len(t, alerts, 1)
	require.Equal(t, alert.SeverityWarning, alerts[0].Severity)
	require.Equal(t, "notification address changed from (none) to "+want, alerts[0].Message)

	syncCallbackURL(ctx, client, want, notify, log)
	require.Len(t, alerts, 1, "already registered: no alert")

	sim.Server.SetCallbackURL("https://elsewhere.example.com/cb")
	syncCallbackURL(ctx, client, want, notify, log)
	require.Equal(t, want, sim.Server.CallbackURL())
	require.Len(t, alerts, 2)
	require.Equal(t, "notification address changed from https://elsewhere.example.com/cb to "+want, alerts[1].Message)
}
