package housekeeping

import (
	"context"
	"time"
)

// Pruner deletes what is older than a duration and says how much;
// daemon.Instances and daemon.Runs are pruners.
type Pruner interface {
	Prune(ctx context.Context, olderThan time.Duration) (int64, error)
}

// Prune drops stopped instances' heartbeats, old job runs and old alerts.
type Prune struct {
	Instances     Pruner
	InstancesKept time.Duration
	Runs          Pruner
	RunsKept      time.Duration
	Alerts        Pruner // nil: alerts are not kept
	AlertsKept    time.Duration
}

func (*Prune) Name() string { return "prune" }

func (p *Prune) Run(ctx context.Context) (map[string]int64, error) {
	counts := map[string]int64{}
	n, err := p.Instances.Prune(ctx, p.InstancesKept)
	counts["instances_pruned"] = n
	if err != nil {
		return counts, err
	}
	n, err = p.Runs.Prune(ctx, p.RunsKept)
	counts["job_runs_pruned"] = n
	if err != nil || p.Alerts == nil {
		return counts, err
	}
	n, err = p.Alerts.Prune(ctx, p.AlertsKept)
	counts["alerts_pruned"] = n
	return counts, err
}
