package housekeeping

import (
	"context"

	"github.com/issuer-dev/issuer/queue"
)

// Rescue returns rows whose lease expired to pending (or review, once their
// attempts are spent). Such a row's last send may have reached WeChat Pay,
// so it is in doubt and is sent again with the same out_request_no.
type Rescue struct {
	Store       *queue.Store
	MaxAttempts int
}

func (*Rescue) Name() string { return "rescue" }

func (r *Rescue) Run(ctx context.Context) (map[string]int64, error) {
	rescued, review, err := r.Store.RescueExpired(ctx, r.MaxAttempts)
	return map[string]int64{"rescued": int64(rescued), "to_review": int64(review)}, err
}
