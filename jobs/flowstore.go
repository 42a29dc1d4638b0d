package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/issuer-dev/issuer/wxpay"
)

// FlowStore owns the tables reconciliation fills: flow_files, flow_uses
// and flow_refunds, loaded from verified flow files (Load), and
// coupon_use_callbacks, the COUPON.USE notifications (StoreCouponUse).
// Every write to them goes through it; reports only read them.
type FlowStore struct {
	DB *sqlx.DB
}

// NewFlowStore returns the store on db.
func NewFlowStore(db *sqlx.DB) *FlowStore { return &FlowStore{DB: db} }

// StoreCouponUse stores a COUPON.USE callback (see StoreCouponUse).
func (s *FlowStore) StoreCouponUse(ctx context.Context, n *wxpay.Notification, use *wxpay.CouponUse) (inserted bool, err error) {
	return StoreCouponUse(ctx, s.DB, n, use)
}

// UseFlowLoadedSince reports whether a use-flow of the stock downloaded
// at or after since is loaded: the final one, once files are due.
func (s *FlowStore) UseFlowLoadedSince(ctx context.Context, stockID string, since time.Time) (bool, error) {
	var loaded bool
	err := s.DB.GetContext(ctx, &loaded, `SELECT EXISTS (SELECT 1 FROM flow_files
		WHERE stock_id = $1 AND kind = 'use' AND status = 'loaded' AND downloaded_at >= $2)`, stockID, since)
	if err != nil {
		return false, fmt.Errorf("flow files: %w", err)
	}
	return loaded, nil
}

// RefundFlowLoadedFor reports whether the stock's refund-flow is loaded
// for the day (YYYY-MM-DD).
func (s *FlowStore) RefundFlowLoadedFor(ctx context.Context, stockID, date string) (bool, error) {
	var loaded bool
	err := s.DB.GetContext(ctx, &loaded, `SELECT EXISTS (SELECT 1 FROM flow_files
		WHERE stock_id = $1 AND kind = 'refund' AND status = 'loaded' AND file_date = $2)`, stockID, date)
	if err != nil {
		return false, fmt.Errorf("flow files: %w", err)
	}
	return loaded, nil
}
