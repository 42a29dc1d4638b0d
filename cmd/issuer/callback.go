package main

import (
	"fmt"

	"github.com/issuer-dev/issuer/wxpay"
)

func cmdCallbackShow() *command {
	return op[none, *wxpay.CallbackSetting]{
		name: "callback show", usage: "[--json]", short: "show the address WeChat Pay sends COUPON.USE notifications to",
		args: noArgs, on: onWX, json: `print {"notify_url","mchid"} as WeChat Pay returns it`,
		call: func(c *call, _ *none) (*wxpay.CallbackSetting, error) { return c.s.NotifyURL(c.ctx, c.actor) },
		asJSON: func(cb *wxpay.CallbackSetting) any {
			return struct {
				NotifyURL string `json:"notify_url"`
				MchID     string `json:"mchid"`
			}{cb.NotifyURL, cb.MchID}
		},
		text: func(c *call, _ *none, cb *wxpay.CallbackSetting) {
			c.printf("mchid       %s\nnotify_url  %s\n", cb.MchID, orNone(cb.NotifyURL))
			if p := c.s.Config.Callbacks.PublicURL; p != "" && p != cb.NotifyURL {
				fmt.Fprintf(c.e.stderr, "callbacks.public_url is %s: `issuer run` will register it\n", p)
			}
		},
	}.command()
}

func cmdCallbackSet() *command {
	return op[none, *wxpay.CallbackSetting]{
		name: "callback set", usage: "URL", short: "register the address for COUPON.USE notifications (https, no query)",
		args: oneArg, what: "URL", on: onWX, errs: asUsage,
		call: func(c *call, _ *none) (*wxpay.CallbackSetting, error) { return c.s.SetNotifyURL(c.ctx, c.actor, c.arg) },
		text: func(c *call, _ *none, cb *wxpay.CallbackSetting) {
			c.printf("notifications for %s go to %s", cb.MchID, cb.NotifyURL)
			if cb.UpdateTime != "" {
				c.printf(" (updated %s)", cb.UpdateTime)
			}
			c.printf("\n")
		},
	}.command()
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
