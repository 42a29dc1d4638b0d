package jobs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/issuer-dev/issuer/wxpay"
)

// Execer runs a statement: *sqlx.DB, *sql.DB and their transactions.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// StoreCouponUse stores an authenticated, decrypted COUPON.USE callback
// (see wxpay.ParseNotification) in coupon_use_callbacks, once per
// notification id: WeChat Pay repeats deliveries, and a repeat reports
// inserted false and no error, so the caller can acknowledge it again.
// The reports compare these callbacks with the use-flow files.
func StoreCouponUse(ctx context.Context, db Execer, n *wxpay.Notification, use *wxpay.CouponUse) (inserted bool, err error) {
	switch {
	case n == nil || use == nil:
		return false, errors.New("store coupon use: no notification")
	case n.ID == "":
		return false, errors.New("store coupon use: notification without id")
	case use.CouponID == "" || use.StockID == "":
		return false, fmt.Errorf("store coupon use: notification %s: coupon without coupon_id or stock_id", n.ID)
	}
	raw, err := json.Marshal(use)
	if err != nil {
		return false, fmt.Errorf("store coupon use: %w", err)
	}
	var amount, minimum *int64
	if nc := use.NormalCouponInformation; nc != nil {
		amount, minimum = &nc.CouponAmount, &nc.TransactionMinimum
	}
	var consumeTime *time.Time
	var consumeMchID, txn string
	if ci := use.ConsumeInformation; ci != nil {
		consumeTime, consumeMchID, txn = wireTime(ci.ConsumeTime), ci.ConsumeMchID, ci.TransactionID
	}
	res, err := db.ExecContext(ctx, `INSERT INTO coupon_use_callbacks
		(notification_id, event_type, event_time, summary, stock_id, coupon_id, stock_creator_mchid, coupon_name,
		 status, coupon_type, no_cash, coupon_amount, transaction_minimum, coupon_created_at, consume_time,
		 consume_mchid, transaction_id, coupon)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
		ON CONFLICT (notification_id) DO NOTHING`,
		n.ID, n.EventType, wireTime(n.CreateTime), n.Summary, use.StockID, use.CouponID, use.StockCreatorMchID,
		use.CouponName, use.Status, use.CouponType, use.NoCash, amount, minimum, wireTime(use.CreateTime),
		consumeTime, consumeMchID, txn, raw)
	if err != nil {
		return false, fmt.Errorf("store coupon use %s: %w", n.ID, err)
	}
	k, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store coupon use %s: %w", n.ID, err)
	}
	return k == 1, nil
}

// wireTime parses WeChat Pay's RFC 3339 times; a missing or odd value is
// stored as NULL (the raw coupon keeps it).
func wireTime(s string) *time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil
	}
	return &t
}
