package queue

import (
	"context"
	"fmt"
	"time"
)

// OpenIDRow is one batch's row for an openid, with what the batch is.
type OpenIDRow struct {
	BatchID      int64      `db:"batch_id" json:"batch_id"`
	BatchName    string     `db:"batch_name" json:"batch_name"`
	BatchStatus  string     `db:"batch_status" json:"batch_status"`
	StockID      string     `db:"stock_id" json:"stock_id"`
	OutRequestNo string     `db:"out_request_no" json:"out_request_no"`
	Status       string     `db:"status" json:"status"`
	Outcome      string     `db:"outcome" json:"outcome"`
	InDoubt      bool       `db:"in_doubt" json:"in_doubt"`
	CouponID     string     `db:"coupon_id" json:"coupon_id"`
	Attempts     int        `db:"attempts" json:"attempts"`
	LastAttempt  *time.Time `db:"last_attempt_at" json:"last_attempt_at"`
	IssuedAt     *time.Time `db:"issued_at" json:"issued_at"`
}

// FindOpenID lists the rows of openid in every batch, newest batch first,
// at most limit. recipients has no index on openid alone (an import
// deduplicates openids by an in-memory fingerprint, never stored), so each
// batch is probed through recipients_batch_openid_key (batch_id, openid):
// one index probe a batch, whatever the batches hold.
func (s *Store) FindOpenID(ctx context.Context, openid string, limit int) ([]OpenIDRow, error) {
	out := []OpenIDRow{}
	err := s.db.SelectContext(ctx, &out, `SELECT b.id AS batch_id, b.name AS batch_name, b.status AS batch_status, b.stock_id,
			r.out_request_no, r.status, coalesce(r.outcome, '') AS outcome, r.in_doubt,
			coalesce(r.coupon_id, r.coupon_code, '') AS coupon_id, r.attempts, r.last_attempt_at, r.issued_at
		FROM batches b CROSS JOIN LATERAL (
			SELECT * FROM recipients WHERE batch_id = b.id AND openid = $1) r
		ORDER BY b.id DESC LIMIT $2`, openid, limit)
	if err != nil {
		return nil, fmt.Errorf("find openid: %w", err)
	}
	return out, nil
}
