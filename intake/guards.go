package intake

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/issuer-dev/issuer/internal/money"
	"github.com/issuer-dev/issuer/queue"
)

// Guards are the money guards an import gives its batch. They are stored
// on the batch and enforced where issuing happens: the claim and the
// queue's state changes (package queue).
type Guards struct {
	UploadedBy string // the account (or cli:<os user>) that imports
	// Approval: a batch at or over either threshold waits for an operator
	// other than the uploader (0 turns a threshold off).
	ApprovalMinCoupons   int
	ApprovalMinAmountFen int64
	// The daily thresholds count the stock's batches created the same day
	// (in Options.Location) with this one, rejected ones aside: a batch
	// that brings the day's total to either waits too, so a list split
	// under the per-batch thresholds still needs an approver.
	ApprovalDailyCoupons   int
	ApprovalDailyAmountFen int64
	// FaceValueFen is the stock's face value, for rows without a
	// coupon_value; 0 when unknown.
	FaceValueFen int64
	MaxAmountFen int64     // spend cap; 0 for none
	Paused       bool      // created paused
	StartAt      time.Time // not claimed before; zero for now
	Window       *queue.Window
	Priority     int
	// AllowDuplicate stores a file whose SHA-256 matches a live batch of
	// the same stock; AllowRepeats keeps openids that already have a
	// coupon of the stock issued or on its way.
	AllowDuplicate bool
	AllowRepeats   bool
}

// DuplicateFileError: the same file (by SHA-256) is already a live batch
// of the stock.
type DuplicateFileError struct {
	Source  string
	BatchID int64
	Status  string
}

func (e *DuplicateFileError) Error() string {
	return fmt.Sprintf("%s: the same file (SHA-256) is already batch %d of this stock (%s); nothing stored. "+
		"Import it again only on purpose, with --allow-duplicate", e.Source, e.BatchID, e.Status)
}

// ErrDuplicateFile matches a *DuplicateFileError.
var ErrDuplicateFile = errors.New("duplicate file")

func (e *DuplicateFileError) Is(target error) bool { return target == ErrDuplicateFile }

// guard applies the guards to the batch being imported, in its
// transaction: refuses a duplicate file, skips repeats, computes the
// amount and decides the batch's status. Imports of one stock take turns
// here, so two imports of the same file or the same openids cannot both
// pass.
func (imp *importer) guard(ctx context.Context, tx *sqlx.Tx) error {
	o, g, rep := imp.opts, imp.opts.Guards, imp.rep
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('import ' || $1, 0))`, o.StockID); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if !g.AllowDuplicate {
		var dup struct {
			ID     int64  `db:"id"`
			Status string `db:"status"`
		}
		err := tx.GetContext(ctx, &dup, `SELECT id, status FROM batches WHERE stock_id = $1 AND source_sha256 = $2 AND id <> $3
			AND status NOT IN ('cancelled', 'rejected') ORDER BY id LIMIT 1`, o.StockID, rep.SHA256, rep.BatchID)
		if err == nil {
			return &DuplicateFileError{Source: o.Source, BatchID: dup.ID, Status: dup.Status}
		}
		if !isNoRows(err) {
			return fmt.Errorf("import: duplicate check: %w", err)
		}
	}
	if !g.AllowRepeats {
		// Another batch of the stock has the openid issued, on its way or
		// possibly issued (review): a second coupon would be a repeat.
		res, err := tx.ExecContext(ctx, `DELETE FROM recipients n USING (
				SELECT DISTINCT r.openid FROM recipients r JOIN batches b ON b.id = r.batch_id
				WHERE b.stock_id = $1 AND r.batch_id <> $2 AND r.status IN ('pending', 'in_flight', 'issued', 'review')
			) o
			WHERE n.batch_id = $2 AND n.openid = o.openid`, o.StockID, rep.BatchID)
		if err != nil {
			return fmt.Errorf("import: repeats: %w", err)
		}
		n, _ := res.RowsAffected()
		rep.Repeats = int(n)
		rep.Accepted -= rep.Repeats
	}
	var amount struct {
		Fen     int64 `db:"fen"`
		Unknown int64 `db:"unknown"`
	}
	var face *int64
	if g.FaceValueFen > 0 {
		face = &g.FaceValueFen
	}
	if err := tx.GetContext(ctx, &amount, `SELECT coalesce(sum(coalesce(coupon_value, $2)), 0) AS fen,
			count(*) FILTER (WHERE coupon_value IS NULL AND $2::bigint IS NULL) AS unknown
		FROM recipients WHERE batch_id = $1`, rep.BatchID, face); err != nil {
		return fmt.Errorf("import: amount: %w", err)
	}
	if amount.Unknown > 0 && (g.MaxAmountFen > 0 || g.ApprovalMinAmountFen > 0 || g.ApprovalDailyAmountFen > 0) {
		return &FatalError{Source: o.Source, Msg: fmt.Sprintf("%d rows have no coupon_value and the stock's face value is unknown: "+
			"the batch's amount, which the spend cap and approval need, cannot be known; nothing stored", amount.Unknown)}
	}
	why, rule, err := imp.approvalReason(ctx, tx, amount.Fen)
	if err != nil {
		return err
	}
	status := queue.BatchPending
	switch {
	case why != "":
		status = queue.BatchAwaitingApproval
	case g.Paused:
		status = queue.BatchPaused
	}
	rep.Status, rep.ApprovalReason, rep.ApprovalRule = status, why, rule
	rep.AmountFen, rep.Unvalued = amount.Fen, amount.Unknown
	var maxFen *int64
	if g.MaxAmountFen > 0 {
		maxFen = &g.MaxAmountFen
	}
	var startAt *time.Time
	if !g.StartAt.IsZero() {
		startAt = &g.StartAt
	}
	var wStart, wEnd *int
	var wTZ *string
	if w := g.Window; w != nil {
		tz := w.Loc.String()
		wStart, wEnd, wTZ = &w.Start, &w.End, &tz
	}
	_, err = tx.ExecContext(ctx, `UPDATE batches SET status = $2, uploaded_by = $3, amount_fen = $4, face_value_fen = $5,
			max_amount_fen = $6, start_at = $7, window_start = $8, window_end = $9, window_tz = $10, priority = $11,
			repeats = $12, start_paused = $13, accepted = $14
		WHERE id = $1`, rep.BatchID, status, g.UploadedBy, amount.Fen, face, maxFen, startAt, wStart, wEnd, wTZ, g.Priority,
		rep.Repeats, g.Paused, rep.Accepted)
	if err != nil {
		return fmt.Errorf("import: guards: %w", err)
	}
	return nil
}

// approvalReason says why the batch, worth fen, must wait for approval,
// and the threshold's name (ApprovalRule), or "" when no threshold is
// reached. The stock's imports take turns (guard's lock), so two batches
// of a day cannot both slip under a daily threshold.
func (imp *importer) approvalReason(ctx context.Context, tx *sqlx.Tx, fen int64) (why, rule string, _ error) {
	g, n := imp.opts.Guards, imp.rep.Accepted
	switch {
	case g.ApprovalMinCoupons > 0 && n >= g.ApprovalMinCoupons:
		return fmt.Sprintf("%d recipients, at or over approval.min_coupons (%d)", n, g.ApprovalMinCoupons), RuleMinCoupons, nil
	case g.ApprovalMinAmountFen > 0 && fen >= g.ApprovalMinAmountFen:
		return fmt.Sprintf("%s yuan, at or over approval.min_amount_yuan (%s)", money.Yuan(fen), money.Yuan(g.ApprovalMinAmountFen)),
			RuleMinAmount, nil
	case g.ApprovalDailyCoupons <= 0 && g.ApprovalDailyAmountFen <= 0:
		return "", "", nil
	}
	loc := imp.opts.Location
	now := time.Now().In(loc)
	dayStart := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	var day struct {
		Coupons int64 `db:"coupons"`
		Fen     int64 `db:"fen"`
	}
	if err := tx.GetContext(ctx, &day, `SELECT coalesce(sum(accepted), 0) AS coupons, coalesce(sum(amount_fen), 0) AS fen
		FROM batches WHERE stock_id = $1 AND id <> $2 AND created_at >= $3 AND status <> 'rejected'`,
		imp.opts.StockID, imp.rep.BatchID, dayStart); err != nil {
		return "", "", fmt.Errorf("import: the stock's day total: %w", err)
	}
	imp.rep.DayCoupons, imp.rep.DayAmountFen = day.Coupons, day.Fen
	date := dayStart.Format("2006-01-02")
	switch {
	case g.ApprovalDailyCoupons > 0 && day.Coupons+int64(n) >= int64(g.ApprovalDailyCoupons):
		return fmt.Sprintf("stock %s on %s: %d recipients with the day's other batches (%d), at or over approval.daily_coupons (%d)",
			imp.opts.StockID, date, day.Coupons+int64(n), day.Coupons, g.ApprovalDailyCoupons), RuleDailyCoupons, nil
	case g.ApprovalDailyAmountFen > 0 && day.Fen+fen >= g.ApprovalDailyAmountFen:
		return fmt.Sprintf("stock %s on %s: %s yuan with the day's other batches (%s), at or over approval.daily_amount_yuan (%s)",
			imp.opts.StockID, date, money.Yuan(day.Fen+fen), money.Yuan(day.Fen), money.Yuan(g.ApprovalDailyAmountFen)), RuleDailyAmount, nil
	}
	return "", "", nil
}

// The approval thresholds a batch can reach (Report.ApprovalRule).
const (
	RuleMinCoupons   = "min_coupons"
	RuleMinAmount    = "min_amount"
	RuleDailyCoupons = "daily_coupons"
	RuleDailyAmount  = "daily_amount"
)

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
