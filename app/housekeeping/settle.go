package housekeeping

import (
	"context"

	"github.com/issuer-dev/issuer/jobs"
)

// Settler settles the rows in review of a batch (0: every batch) by asking
// WeChat Pay; jobs.Settle is one.
type Settler interface {
	Run(ctx context.Context, batch int64) (jobs.SettleSummary, error)
}

// Settle asks WeChat Pay about every row in review whose last send is old
// enough, and lets the queue decide each (issued, not issued, or still in
// doubt for a person). It never sends a coupon.
type Settle struct {
	Settler Settler
}

func (*Settle) Name() string { return "settle" }

func (s *Settle) Run(ctx context.Context) (map[string]int64, error) {
	sum, err := s.Settler.Run(ctx, 0)
	return map[string]int64{"settle_checked": int64(sum.Checked), "settle_issued": int64(sum.Issued),
		"settle_not_issued": int64(sum.NotIssued), "settle_still_in_doubt": int64(sum.StillInDoubt)}, err
}
