package housekeeping

import (
	"context"

	"github.com/issuer-dev/issuer/queue"
)

// Seal moves the pending rows of cancelled batches out of pending: a cancel
// cut short (a crash, Ctrl-C), or a send in flight during the cancel that
// came back pending, leaves some. Rows in doubt go to review, the rest to
// cancelled.
type Seal struct {
	Store *queue.Store
}

func (*Seal) Name() string { return "seal" }

func (s *Seal) Run(ctx context.Context) (map[string]int64, error) {
	sealed, err := s.Store.SealCancelled(ctx, 0)
	return map[string]int64{"sealed_cancelled": int64(sealed.Cancelled), "sealed_in_doubt": int64(sealed.InDoubt)}, err
}
