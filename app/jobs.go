package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/issuer-dev/issuer/alert"
	"github.com/issuer-dev/issuer/daemon"
	"github.com/issuer-dev/issuer/jobs"
	"github.com/issuer-dev/issuer/ops"
	"github.com/issuer-dev/issuer/queue"
)

// issue is one issue pass of the schedule, with its answers counted on
// /metrics and its halts raised as alerts with the money at stake.
func (d *Daemon) issue(ctx context.Context, _ time.Time) (map[string]int64, error) {
	job := NewIssueJob(d.cfg, d.store, d.client, d.limiter, d.instance, d.log)
	job.OnAnswer = d.metrics.answer
	job.OnAlert = func(a jobs.Alert) {
		al := alert.Alert{Kind: a.Kind, Severity: alertSeverity(a.Kind), BatchID: a.BatchID, MchID: a.MchID, Message: a.Message}
		if a.Kind == alert.KindBatchHalted && a.BatchID != 0 {
			d.withStakes(ctx, &al)
		}
		d.notifier.Notify(al)
	}
	sum, err := job.Run(ctx, jobs.IssueOptions{})
	counts := map[string]int64{}
	if sum != nil {
		counts["claimed"] = sum.Claimed
		counts["loop_errors"] = sum.LoopErrors
		for o, n := range sum.Outcomes {
			counts[string(o)] = n
		}
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return counts, fmt.Errorf("issue: %w; in-flight calls finished and were recorded", daemon.ErrInterrupted)
	}
	return counts, err
}

func alertSeverity(kind string) string {
	switch kind {
	case alert.KindMerchantHalted, alert.KindConfigError:
		return alert.SeverityCritical
	case alert.KindReview:
		return alert.SeverityWarning
	default:
		return alert.SeverityError
	}
}

func (d *Daemon) reconcile(ctx context.Context, _ time.Time) (map[string]int64, error) {
	job := ops.NewReconcile(d.ops, d.client)
	sum, err := job.Run(ctx, jobs.ReconcileOptions{})
	counts := map[string]int64{}
	if sum != nil {
		for _, r := range sum.Results {
			counts[string(r.Outcome)]++
			if r.Outcome == jobs.FlowFailed || r.Outcome == jobs.FlowRejected {
				d.notifier.Notify(alert.Alert{Kind: alert.KindReconcileAnomaly, Severity: alert.SeverityError, StockID: r.StockID,
					MchID: d.cfg.WXPay.MchID, Message: fmt.Sprintf("%s-flow %s: %v", r.Kind, r.Outcome, r.Err)})
			}
		}
	}
	return counts, err
}

// withStakes adds the batch's stock and money figures to a halt alert: a
// halt happens once per batch, so the short query is affordable, and a
// failure only leaves the figures out.
func (d *Daemon) withStakes(ctx context.Context, a *alert.Alert) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	p, err := d.store.BatchProgress(ctx, a.BatchID)
	if err != nil {
		d.log.Warn("alert without money figures", "batch", a.BatchID, "err", err)
		return
	}
	a.StockID = p.StockID
	a.Stakes = &alert.Stakes{
		IssuedCoupons: p.Counts[queue.StatusIssued], IssuedFen: p.IssuedFen,
		PendingCoupons: p.PendingCoupons, PendingFen: p.PendingFen,
		InDoubtCoupons: p.InDoubt, InDoubtFen: p.InDoubtFen,
	}
}
