package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/issuer-dev/issuer/alert"
	"github.com/issuer-dev/issuer/wxpay"
)

// callbackClient is what keeping the notification address registered needs.
type callbackClient interface {
	Callback(ctx context.Context, mchid string) (*wxpay.CallbackSetting, error)
	SetCallback(ctx context.Context, req wxpay.CallbackRequest) (*wxpay.CallbackSetting, error)
}

// callbackSyncTimeout bounds the check at start: a slow WeChat Pay must not
// hold up issuing.
const callbackSyncTimeout = 30 * time.Second

// syncCallbackURL makes WeChat Pay's registered notification address
// (§3.2.14) equal to callbacks.public_url, when that is set. A change is an
// alert (warning): someone registered another address, or this is the
// first start with a new one, and COUPON.USE notifications went elsewhere
// until now. Failures are alerts too, never fatal: the flow files still
// reconcile what the notifications would have said.
func syncCallbackURL(ctx context.Context, client callbackClient, want string, notify func(alert.Alert), log *slog.Logger) {
	if want == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, callbackSyncTimeout)
	defer cancel()
	raise := func(msg string) {
		notify(alert.Alert{Kind: alert.KindConfigError, Severity: alert.SeverityWarning, Message: msg})
	}
	cur, err := client.Callback(ctx, "")
	if err != nil {
		log.Warn("callbacks: cannot read the registered notification address", "err", err)
		raise(fmt.Sprintf("cannot read the registered notification address (want %s): %v", want, err))
		return
	}
	if cur.NotifyURL == want {
		log.Info("callbacks: notification address registered", "notify_url", want)
		return
	}
	if _, err := client.SetCallback(ctx, wxpay.CallbackRequest{MchID: cur.MchID, NotifyURL: want}); err != nil {
		log.Warn("callbacks: cannot register the notification address", "notify_url", want, "err", err)
		raise(fmt.Sprintf("notification address is %s, want %s, and setting it failed: %v", orNone(cur.NotifyURL), want, err))
		return
	}
	log.Warn("callbacks: notification address changed", "from", orNone(cur.NotifyURL), "to", want)
	raise(fmt.Sprintf("notification address changed from %s to %s", orNone(cur.NotifyURL), want))
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
