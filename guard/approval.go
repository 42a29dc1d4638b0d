package guard

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/issuer-dev/issuer/internal/money"
)

// Approval holds a batch for an operator other than its uploader when it
// reaches a threshold: MinCoupons recipients or MinAmountFen of face value
// in the batch, or DailyCoupons or DailyAmountFen with the stock's other
// batches created the same day (rejected ones aside), so a list split
// under the per-batch thresholds still needs an approver. 0 turns a
// threshold off. Who may approve is queue.Approve's (maker-checker) and
// auth's table.
type Approval struct {
	MinCoupons     int
	MinAmountFen   int64
	DailyCoupons   int
	DailyAmountFen int64
}

// Day is what the stock's other batches of the day hold.
type Day struct {
	Date    string // YYYY-MM-DD in the configured zone
	Coupons int64  `db:"coupons"`
	Fen     int64  `db:"fen"`
}

// daySQL is the day's total of stock $1's batches created since $3, but
// batch $2 and rejected ones.
const daySQL = `SELECT coalesce(sum(accepted), 0) AS coupons, coalesce(sum(amount_fen), 0) AS fen
	FROM batches WHERE stock_id = $1 AND id <> $2 AND created_at >= $3 AND status <> 'rejected'`

// Reason says why the batch, worth fen with b.Accepted recipients, must
// wait for approval, or "" when no threshold is reached. The day's total
// is read only when a daily threshold is set.
func (a Approval) Reason(ctx context.Context, tx *sqlx.Tx, b Batch, fen int64) (string, error) {
	d, err := a.Decide(ctx, tx, b, fen)
	return d.Reason, err
}

// The thresholds a batch can reach (Decision.Rule).
const (
	RuleMinCoupons   = "min_coupons"
	RuleMinAmount    = "min_amount"
	RuleDailyCoupons = "daily_coupons"
	RuleDailyAmount  = "daily_amount"
)

// Decision is what the approval thresholds say of a batch: why it waits
// ("" when it does not), the threshold's name (Rule) and, when a daily
// threshold was looked at, the stock's other batches of the day.
type Decision struct {
	Reason, Rule string
	Day          Day
}

// Decide is Reason with the threshold's name and the day's total, for
// the pages that show them.
func (a Approval) Decide(ctx context.Context, tx *sqlx.Tx, b Batch, fen int64) (Decision, error) {
	if why := a.batchReason(b.Accepted, fen); why != "" || !a.daily() {
		rule := ""
		switch {
		case why == "":
		case a.MinCoupons > 0 && b.Accepted >= a.MinCoupons:
			rule = RuleMinCoupons
		default:
			rule = RuleMinAmount
		}
		return Decision{Reason: why, Rule: rule}, nil
	}
	now := b.Now
	if now.IsZero() {
		now = time.Now()
	}
	now = now.In(b.Location)
	dayStart := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, b.Location)
	day := Day{Date: dayStart.Format("2006-01-02")}
	if err := tx.GetContext(ctx, &day, daySQL, b.StockID, b.ID, dayStart); err != nil {
		return Decision{}, fmt.Errorf("the stock's day total: %w", err)
	}
	d := Decision{Reason: a.dailyReason(b.StockID, b.Accepted, fen, day), Day: day}
	switch {
	case d.Reason == "":
	case a.DailyCoupons > 0 && day.Coupons+int64(b.Accepted) >= int64(a.DailyCoupons):
		d.Rule = RuleDailyCoupons
	default:
		d.Rule = RuleDailyAmount
	}
	return d, nil
}

func (a Approval) daily() bool { return a.DailyCoupons > 0 || a.DailyAmountFen > 0 }

// batchReason is the per-batch thresholds' reason.
func (a Approval) batchReason(n int, fen int64) string {
	switch {
	case a.MinCoupons > 0 && n >= a.MinCoupons:
		return fmt.Sprintf("%d recipients, at or over approval.min_coupons (%d)", n, a.MinCoupons)
	case a.MinAmountFen > 0 && fen >= a.MinAmountFen:
		return fmt.Sprintf("%s yuan, at or over approval.min_amount_yuan (%s)", money.Yuan(fen), money.Yuan(a.MinAmountFen))
	}
	return ""
}

// dailyReason is the daily thresholds' reason, with day the stock's other
// batches of the day.
func (a Approval) dailyReason(stock string, n int, fen int64, day Day) string {
	switch {
	case a.DailyCoupons > 0 && day.Coupons+int64(n) >= int64(a.DailyCoupons):
		return fmt.Sprintf("stock %s on %s: %d recipients with the day's other batches (%d), at or over approval.daily_coupons (%d)",
			stock, day.Date, day.Coupons+int64(n), day.Coupons, a.DailyCoupons)
	case a.DailyAmountFen > 0 && day.Fen+fen >= a.DailyAmountFen:
		return fmt.Sprintf("stock %s on %s: %s yuan with the day's other batches (%s), at or over approval.daily_amount_yuan (%s)",
			stock, day.Date, money.Yuan(day.Fen+fen), money.Yuan(day.Fen), money.Yuan(a.DailyAmountFen))
	}
	return ""
}
