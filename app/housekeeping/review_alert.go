package housekeeping

import (
	"context"
	"fmt"

	"github.com/issuer-dev/issuer/alert"
	"github.com/issuer-dev/issuer/queue"
)

// ReviewAlert reminds the team, once per run, of the rows that wait in
// review for a person: WeChat Pay may or may not have issued them.
type ReviewAlert struct {
	Store  *queue.Store
	Notify func(alert.Alert)
	MchID  string
}

func (*ReviewAlert) Name() string { return "review_alert" }

func (r *ReviewAlert) Run(ctx context.Context) (map[string]int64, error) {
	counts, err := r.Store.StatusCounts(ctx)
	if err != nil {
		return nil, err
	}
	n := counts[queue.StatusReview]
	if n > 0 {
		r.Notify(alert.Alert{Kind: alert.KindReview, Severity: alert.SeverityWarning, MchID: r.MchID,
			Message: fmt.Sprintf("%d recipients need review: they may or may not have been issued (batch export shows them)", n)})
	}
	return map[string]int64{"in_review": int64(n)}, nil
}
