package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/issuer-dev/issuer/alert"
	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/queue"
)

// InstanceTTL is how old a heartbeat may be for the instance to count as
// live on the operations page (three of daemon.Instances' default beats).
const InstanceTTL = 15 * time.Second

// Instance is an issuer process as its heartbeat recorded it.
type Instance struct {
	ID          string    `db:"id" json:"id"`
	MchID       string    `db:"mchid" json:"mchid"`
	Hostname    string    `db:"hostname" json:"hostname"`
	PID         int       `db:"pid" json:"pid"`
	Version     string    `db:"version" json:"version"`
	StartedAt   time.Time `db:"started_at" json:"started_at"`
	HeartbeatAt time.Time `db:"heartbeat_at" json:"heartbeat_at"`
	Live        bool      `db:"live" json:"live"`
}

// JobRun is one run of a scheduled job.
type JobRun struct {
	ID           int64           `db:"id" json:"id"`
	Job          string          `db:"job" json:"job"`
	Instance     string          `db:"instance" json:"instance"`
	ScheduledFor time.Time       `db:"scheduled_for" json:"scheduled_for"`
	CatchUp      bool            `db:"catch_up" json:"catch_up"`
	StartedAt    time.Time       `db:"started_at" json:"started_at"`
	FinishedAt   *time.Time      `db:"finished_at" json:"finished_at"`
	Result       string          `db:"result" json:"result"`
	Counts       json.RawMessage `db:"counts" json:"counts"`
	Error        string          `db:"error" json:"error"`
}

// Overview is what the operations page shows: the processes, the recent
// job runs, the recent alerts and the rows waiting for a person. Limiter
// rates live in each process's memory (see /metrics), not in the
// database, so they are not here.
type Overview struct {
	// Alerts are the newest alerts the daemons raised (alert_history).
	Alerts    []alert.Kept      `json:"alerts"`
	Instances []Instance        `json:"instances"`
	Runs      []JobRun          `json:"job_runs"`
	Unsettled *queue.Unsettled  `json:"unsettled"`
	Review    []queue.ReviewRow `json:"review"`
	// ReviewTotal counts every row in review; Review lists the first.
	ReviewTotal int `json:"review_total"`
}

// Operations returns the overview, with at most runs job runs and review
// rows in review listed.
func (s *Service) Operations(ctx context.Context, a auth.Actor, runs, review int) (*Overview, error) {
	if err := s.read(ctx, a, auth.ActRead, target{}); err != nil {
		return nil, err
	}
	o := &Overview{Instances: []Instance{}, Runs: []JobRun{}}
	err := s.DB.SelectContext(ctx, &o.Instances, `SELECT id, mchid, hostname, pid, version, started_at, heartbeat_at,
			heartbeat_at > now() - $1 * interval '1 millisecond' AS live
		FROM instances ORDER BY live DESC, heartbeat_at DESC LIMIT 100`, InstanceTTL.Milliseconds())
	if err != nil {
		return nil, fmt.Errorf("instances: %w", err)
	}
	err = s.DB.SelectContext(ctx, &o.Runs, `SELECT id, job, instance, scheduled_for, catch_up, started_at, finished_at,
			result, counts, coalesce(error, '') AS error
		FROM job_runs ORDER BY started_at DESC, id DESC LIMIT $1`, runs)
	if err != nil {
		return nil, fmt.Errorf("job runs: %w", err)
	}
	if o.Alerts, err = alert.NewHistoryStore(s.DB).Recent(ctx, runs); err != nil {
		return nil, err
	}
	if o.Unsettled, err = s.Queue.Unsettled(ctx); err != nil {
		return nil, err
	}
	o.ReviewTotal = int(o.Unsettled.Review)
	if o.Review, err = s.Queue.Review(ctx, queue.ReviewFilter{Limit: review}); err != nil {
		return nil, err
	}
	return o, nil
}
