package app

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/issuer-dev/issuer/alert"
	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/daemon"
	"github.com/issuer-dev/issuer/ops"
	"github.com/issuer-dev/issuer/report"
)

// SingletonJobs are the daemon's jobs that run on one instance per
// activation: the digest, for one, reaches the channels once however many
// instances run.
func SingletonJobs() map[string]bool {
	return map[string]bool{JobReconcile: true, JobHousekeeping: true, JobDigest: true}
}

// scheduleActor reads for the daemon's schedule; reads are not audited.
var scheduleActor = auth.Actor{Name: "schedule", Role: auth.RoleAnalyst, Source: "issuer run"}

// DigestJob sends the digest of the day before each activation (in the
// configured zone), so that a catch-up run sends the day it missed.
func DigestJob(svc *ops.Service, n *alert.Notifier, log *slog.Logger) daemon.RunFunc {
	return func(ctx context.Context, scheduled time.Time) (map[string]int64, error) {
		d, err := svc.Digest(ctx, scheduleActor, ops.Yesterday(scheduled, orUTC(svc.Config.Location)))
		if err != nil {
			return nil, err
		}
		counts := map[string]int64{"batches": int64(len(d.Batches)), "issued": int64(d.Total.Issued),
			"halts": int64(len(d.Halts)), "awaiting_approval": int64(len(d.AwaitingApproval)), "review": int64(d.Review.Review)}
		err = SendDigest(ctx, n, d)
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

// SendDigest sends d to every alert channel that takes it: as a warning
// when something waits for a person, so that channels kept for warnings
// get it on the days it matters.
func SendDigest(ctx context.Context, n *alert.Notifier, d *report.Digest) error {
	title, md := d.Markdown()
	sev := alert.SeverityInfo
	if d.NeedsAttention() {
		sev = alert.SeverityWarning
	}
	return n.Send(ctx, alert.Message{Title: title, Markdown: md, Severity: sev})
}

func orUTC(loc *time.Location) *time.Location {
	if loc == nil {
		return time.UTC
	}
	return loc
}
