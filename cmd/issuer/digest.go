package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/issuer-dev/issuer/alert"
	"github.com/issuer-dev/issuer/app"
	"github.com/issuer-dev/issuer/ops"
)

func cmdReportDigest() *command {
	c := &command{
		name:  "report digest",
		usage: "[--date YYYY-MM-DD] [--send] [--json]",
		short: "the morning digest: a day's issuing, spend, redemptions, anomalies, approvals, halts and rows to settle",
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := newFlags(e, c)
		date := fs.String("date", "", "the day, in the configured timezone (default yesterday)")
		send := fs.Bool("send", false, "also send it to the alert channels (alerts.webhook_url, alerts.channels)")
		asJSON := fs.Bool("json", false, "print the figures as JSON")
		if err := parseNoArgs(e, fs, args); err != nil {
			return err
		}
		if *date != "" {
			if _, err := time.Parse(time.DateOnly, *date); err != nil {
				return usagef("%s: --date %q is not YYYY-MM-DD", c.name, *date)
			}
		}
		return e.withService(ctx, func(s *ops.Service) error {
			d, err := s.Digest(ctx, e.actor(), *date)
			if err != nil {
				return opsUsage(err)
			}
			if *asJSON {
				err = e.printJSON(d)
			} else {
				err = d.WriteText(e.stdout)
			}
			if err != nil || !*send {
				return err
			}
			n, err := e.app().Notifier(s.Config)
			if err != nil {
				return err
			}
			stop := n.Start(context.WithoutCancel(ctx))
			err = app.SendDigest(ctx, n, d)
			stop()
			if errors.Is(err, alert.ErrNoChannels) {
				return fmt.Errorf("%s --send: no alert channel takes the digest: configure alerts.webhook_url or alerts.channels", c.name)
			}
			if err != nil {
				return fmt.Errorf("%s --send: %w", c.name, err)
			}
			fmt.Fprintf(e.stderr, "sent the digest of %s\n", d.Day)
			return nil
		})
	}
	return c
}
