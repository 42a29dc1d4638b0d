package app

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/alert"
	"github.com/issuer-dev/issuer/internal/simtest"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

// The registered notification address follows callbacks.public_url; a
// change is an alert, and nothing is done when it is unset.
func TestSyncCallbackURL(t *testing.T) {
	t.Parallel()
	sim := simtest.Start(t, wxsim.Options{})
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
