package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/issuer-dev/issuer/alert"
	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/daemon"
	"github.com/issuer-dev/issuer/ops"
	"github.com/issuer-dev/issuer/report"
)

// jobDigest sends the morning digest; one instance per activation, so
// the channels get it once however many instances run.
const jobDigest = "digest"

// singletonJobs are the daemon's jobs that run on one instance per
// activation.
func singletonJobs() map[string]bool {
	return map[string]bool{jobReconcile: true, jobHousekeeping: true, jobDigest: true}
}

// scheduleActor reads for the daemon's schedule; reads are not audited.
var scheduleActor = auth.Actor{Name: "schedule", Role: auth.RoleAnalyst, Source: "issuer run"}

// digestJob sends the digest of the day before each activation (in the
// configured zone), so that a catch-up run sends the day it missed.
func digestJob(svc *ops.Service, n *alert.Notifier, log *slog.Logger) daemon.RunFunc {
	return func(ctx context.Context, scheduled time.Time) (map[string]int64, error) {
		d, err := svc.Digest(ctx, scheduleActor, ops.Yesterday(scheduled, orUTC(svc.Config.Location)))
		if err != nil {
			return nil, err
		}
		counts := map[string]int64{"batches": int64(len(d.Batches)), "issued": int64(d.Total.Issued),
			"halts": int64(len(d.Halts)), "awaiting_approval": int64(len(d.AwaitingApproval)), "review": int64(d.Review.Review)}
		err = sendDigest(ctx, n, d)
		if errors.Is(err, alert.ErrNoChannels) {
			// Not a failure: no channel is configured to take it.
			log.Info("digest not sent: no alert channel takes it (alerts.webhook_url, alerts.channels)", "day", d.Day)
			counts["sent"] = 0
			return counts, nil
		}
		if err != nil {
			return counts, err
		}
		counts["sent"] = 1
		return counts, nil
	}
}

// sendDigest sends d to every alert channel that takes it: as a warning
// when something waits for a person, so that channels kept for warnings
// get it on the days it matters.
func sendDigest(ctx context.Context, n *alert.Notifier, d *report.Digest) error {
	title, md := d.Markdown()
	sev := alert.SeverityInfo
	if d.NeedsAttention() {
		sev = alert.SeverityWarning
	}
	return n.Send(ctx, alert.Message{Title: title, Markdown: md, Severity: sev})
}

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
		pos, err := parseFlags(e, fs, args)
		if err != nil {
			return err
		}
		if len(pos) > 0 {
			return usagef("%s: unexpected argument %q", c.name, pos[0])
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
			ac, err := alertConfig(s.Config)
			if err != nil {
				return err
			}
			ac.Logger, ac.Source = e.logger, "cli"
			if host, herr := os.Hostname(); herr == nil {
				ac.Source = "cli@" + host
			}
			n := alert.New(ac)
			stop := n.Start(context.WithoutCancel(ctx))
			err = sendDigest(ctx, n, d)
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
