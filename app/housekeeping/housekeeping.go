// Package housekeeping is the daemon's maintenance: small named tasks that
// the housekeeping job runs in turn on one instance per activation (the way
// River's internal/maintenance services do), each with its own file and
// test:
//
//   - Rescue returns rows whose lease expired (their process died) to
//     pending, in doubt, to be sent again with the same out_request_no.
//   - Seal finishes cancels that were cut short: a cancelled batch keeps no
//     pending row.
//   - Settle asks WeChat Pay about the rows in review (never sends).
//   - Prune drops old heartbeats and job runs.
//   - ReviewAlert reminds the team of rows still waiting for a person.
//
// A task that fails does not keep the others from running: the job's error
// joins the failures, and its counts hold what every task did.
package housekeeping

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"
)

// Task is one piece of housekeeping. Run returns what it did as counts,
// recorded with the job's run (job_runs.counts).
type Task interface {
	Name() string
	Run(ctx context.Context) (map[string]int64, error)
}

// Job runs its tasks in order; it is the daemon's housekeeping job.
type Job struct {
	Tasks []Task
}

// Run runs every task and merges their counts. The scheduled time is not
// used: housekeeping looks at the present.
func (j *Job) Run(ctx context.Context, _ time.Time) (map[string]int64, error) {
	counts := map[string]int64{}
	var errs []error
	for _, t := range j.Tasks {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		c, err := t.Run(ctx)
		maps.Copy(counts, c)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t.Name(), err))
		}
	}
	return counts, errors.Join(errs...)
}
