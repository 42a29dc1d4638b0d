package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/issuer-dev/issuer/alert"
	"github.com/issuer-dev/issuer/app"
	"github.com/issuer-dev/issuer/report"
)

func cmdReportDigest() *command {
	type flags struct {
		date         string
		send, asJSON bool
	}
	const name = "report digest"
	return op[flags, none]{
		name: name, usage: "[--date YYYY-MM-DD] [--send] [--json]", args: noArgs,
		short: "the morning digest: a day's issuing, spend, redemptions, anomalies, approvals, halts and rows to settle",
		flags: func(fs *flag.FlagSet, f *flags) {
			fs.StringVar(&f.date, "date", "", "the day, in the configured timezone (default yesterday)")
			fs.BoolVar(&f.send, "send", false, "also send it to the alert channels (alerts.webhook_url, alerts.channels)")
			fs.BoolVar(&f.asJSON, "json", false, "print the figures as JSON")
		},
		check: func(_ *call, f *flags) error { return checkDate(name, f.date) },
		call: func(c *call, f *flags) (none, error) {
			d, err := c.s.Digest(c.ctx, c.actor, f.date)
			if err != nil {
				return none{}, opsUsage(err)
			}
			if f.asJSON {
				err = c.e.printJSON(d)
			} else {
				err = d.WriteText(c.e.stdout)
			}
			if err != nil || !f.send {
				return none{}, err
			}
			return none{}, c.sendDigest(name, d)
		},
	}.command()
}

// sendDigest sends d to the alert channels.
func (c *call) sendDigest(name string, d *report.Digest) error {
	n, err := c.e.app().Notifier(c.s.Config)
	if err != nil {
		return err
	}
	stop := n.Start(context.WithoutCancel(c.ctx))
	err = app.SendDigest(c.ctx, n, d)
	stop()
	if errors.Is(err, alert.ErrNoChannels) {
		return fmt.Errorf("%s --send: no alert channel takes the digest: configure alerts.webhook_url or alerts.channels", name)
	}
	if err != nil {
		return fmt.Errorf("%s --send: %w", name, err)
	}
	fmt.Fprintf(c.e.stderr, "sent the digest of %s\n", d.Day)
	return nil
}
