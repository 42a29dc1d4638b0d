package main

import (
	"context"
	"fmt"

	"github.com/issuer-dev/issuer/ops"
)

func cmdCallbackShow() *command {
	c := &command{name: "callback show", usage: "[--json]", short: "show the address WeChat Pay sends COUPON.USE notifications to"}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := newFlags(e, c)
		asJSON := fs.Bool("json", false, `print {"notify_url","mchid"} as WeChat Pay returns it`)
		if err := parseNoArgs(e, fs, args); err != nil {
			return err
		}
		return e.withWXService(ctx, func(s *ops.Service) error {
			cb, err := s.NotifyURL(ctx, e.actor())
			if err != nil {
				return err
			}
			if *asJSON {
				return e.printJSON(struct {
					NotifyURL string `json:"notify_url"`
					MchID     string `json:"mchid"`
				}{cb.NotifyURL, cb.MchID})
			}
			fmt.Fprintf(e.stdout, "mchid       %s\nnotify_url  %s\n", cb.MchID, orNone(cb.NotifyURL))
			if p := s.Config.Callbacks.PublicURL; p != "" && p != cb.NotifyURL {
				fmt.Fprintf(e.stderr, "callbacks.public_url is %s: `issuer run` will register it\n", p)
			}
			return nil
		})
	}
	return c
}

func cmdCallbackSet() *command {
	c := &command{name: "callback set", usage: "URL", short: "register the address for COUPON.USE notifications (https, no query)"}
	c.run = func(ctx context.Context, e *env, args []string) error {
		u, err := parseOne(e, newFlags(e, c), args, "URL")
		if err != nil {
			return err
		}
		return e.withWXService(ctx, func(s *ops.Service) error {
			cb, err := s.SetNotifyURL(ctx, e.actor(), u)
			if err != nil {
				return opsUsage(err)
			}
			fmt.Fprintf(e.stdout, "notifications for %s go to %s", cb.MchID, cb.NotifyURL)
			if cb.UpdateTime != "" {
				fmt.Fprintf(e.stdout, " (updated %s)", cb.UpdateTime)
			}
			fmt.Fprintln(e.stdout)
			return nil
		})
	}
	return c
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
