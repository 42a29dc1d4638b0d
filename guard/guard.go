package guard

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/issuer-dev/issuer/internal/money"
)

// Import is every guard an import gives its batch, parsed (Request.Parse)
// and filled in with what the configuration and WeChat Pay say (the
// approval thresholds, the stock's face value).
type Import struct {
	UploadedBy string // the account (or cli:<os user>) that imports
	// Approval: a batch at or over either threshold waits for an operator
	// other than the uploader (0 turns a threshold off). The daily
	// thresholds count the stock's batches created the same day with this
	// one, rejected ones aside.
	ApprovalMinCoupons     int
	ApprovalMinAmountFen   int64
	ApprovalDailyCoupons   int
	ApprovalDailyAmountFen int64
	// FaceValueFen is the stock's face value, for rows without a
	// coupon_value; 0 when unknown.
	FaceValueFen int64
	MaxAmountFen int64     // spend cap; 0 for none
	Paused       bool      // created paused
	StartAt      time.Time // not claimed before; zero for now
	Window       *Window
	Priority     int
	// AllowDuplicate stores a file whose SHA-256 matches a live batch of
	// the same stock; AllowRepeats keeps openids that already have a
	// coupon of the stock issued or on its way.
	AllowDuplicate bool
	AllowRepeats   bool
}

// The guards of an import, one small type each.
func (g Import) duplicate() DuplicateFile { return DuplicateFile{Allow: g.AllowDuplicate} }
func (g Import) repeats() Repeats         { return Repeats{Allow: g.AllowRepeats} }
func (g Import) spendCap() SpendCap {
	return SpendCap{MaxFen: g.MaxAmountFen, FaceValueFen: g.FaceValueFen}
}
func (g Import) schedule() Schedule { return Schedule{StartAt: g.StartAt, Window: g.Window} }
func (g Import) approval() Approval {
	return Approval{MinCoupons: g.ApprovalMinCoupons, MinAmountFen: g.ApprovalMinAmountFen,
		DailyCoupons: g.ApprovalDailyCoupons, DailyAmountFen: g.ApprovalDailyAmountFen}
}

// Batch is the batch an import is creating, as the guards see it.
type Batch struct {
	ID       int64
	StockID  string
	Source   string // the file's name, for messages
	SHA256   string // the file's
	Accepted int    // rows stored before the guards
	Location *time.Location
	Now      time.Time // the day the daily thresholds count; zero: now
}

// Outcome is what the guards made of the batch.
type Outcome struct {
	Repeats        int    // rows skipped as repeats
	Accepted       int    // rows left
	AmountFen      int64  // the batch's face value
	Status         string // pending, paused or awaiting_approval
	ApprovalReason string // why it awaits approval
	// ApprovalRule names the threshold reached (Rule…), Day is the
	// stock's other batches of the day when a daily threshold was looked
	// at, and Unvalued counts the rows whose value is unknown.
	ApprovalRule string
	Day          Day
	Unvalued     int64
}

// Apply applies the guards to the batch being imported, in its
// transaction: refuses a duplicate file (*DuplicateFileError), skips
// repeats, works out the amount (*UnknownAmountError when a guard needs it
// and it cannot be known), decides the status and stores the guards on
// the batch. Imports of one stock take turns here, so two imports of the
// same file or the same openids cannot both pass, nor two batches of a
// day both slip under a daily threshold.
func (g Import) Apply(ctx context.Context, tx *sqlx.Tx, b Batch) (Outcome, error) {
	out := Outcome{Accepted: b.Accepted}
	if _, err := tx.ExecContext(ctx, lockSQL, b.StockID); err != nil {
		return out, err
	}
	if err := g.duplicate().Check(ctx, tx, b); err != nil {
		return out, err
	}
	n, err := g.repeats().Skip(ctx, tx, b)
	if err != nil {
		return out, err
	}
	out.Repeats, out.Accepted = n, b.Accepted-n
	spend := g.spendCap()
	if out.AmountFen, out.Unvalued, err = spend.AmountUnvalued(ctx, tx, b.ID, g.NeedsAmount()); err != nil {
		return out, err
	}
	b.Accepted = out.Accepted
	d, err := g.approval().Decide(ctx, tx, b, out.AmountFen)
	if err != nil {
		return out, err
	}
	out.ApprovalReason, out.ApprovalRule, out.Day = d.Reason, d.Rule, d.Day
	out.Status = InitialStatus(out.ApprovalReason != "", g.Paused)
	var c columns
	c.set("status", out.Status)
	c.set("uploaded_by", g.UploadedBy)
	c.set("amount_fen", out.AmountFen)
	spend.store(&c)
	g.schedule().store(&c)
	Priority(g.Priority).store(&c)
	c.set("repeats", out.Repeats)
	c.set("start_paused", g.Paused)
	c.set("accepted", out.Accepted)
	if err := c.update(ctx, tx, b.ID); err != nil {
		return out, fmt.Errorf("guards: %w", err)
	}
	return out, nil
}

// NeedsAmount reports whether the spend cap or an amount threshold needs
// the batch's amount known.
func (g Import) NeedsAmount() bool {
	return g.MaxAmountFen > 0 || g.ApprovalMinAmountFen > 0 || g.ApprovalDailyAmountFen > 0
}

// Note says which guards beyond approval the import set, for the audit
// log: "; spend cap 20.00 yuan, window 09:00-21:00", or "" for none.
func (g Import) Note() string {
	var parts []string
	if g.MaxAmountFen > 0 {
		parts = append(parts, "spend cap "+money.Yuan(g.MaxAmountFen)+" yuan")
	}
	if !g.StartAt.IsZero() {
		parts = append(parts, "starts "+g.StartAt.Format(time.RFC3339))
	}
	if g.Window != nil {
		parts = append(parts, "window "+g.Window.String())
	}
	if g.Priority != 0 {
		parts = append(parts, fmt.Sprintf("priority %d", g.Priority))
	}
	if g.AllowDuplicate {
		parts = append(parts, "duplicate file allowed")
	}
	if g.AllowRepeats {
		parts = append(parts, "repeats allowed")
	}
	if len(parts) == 0 {
		return ""
	}
	return "; " + strings.Join(parts, ", ")
}

// lockSQL makes the imports of one stock take turns, until the import's
// transaction ends.
const lockSQL = `SELECT pg_advisory_xact_lock(hashtextextended('import ' || $1, 0))`

// InitialStatus is a new batch's status: awaiting approval when a
// threshold is reached, else paused when asked, else pending.
func InitialStatus(awaitsApproval, paused bool) string {
	switch {
	case awaitsApproval:
		return "awaiting_approval"
	case paused:
		return "paused"
	}
	return "pending"
}

// columns are the batch's columns the guards set, in one UPDATE.
type columns struct {
	names []string
	args  []any
}

func (c *columns) set(name string, v any) {
	c.names = append(c.names, name)
	c.args = append(c.args, v)
}

// sql is the UPDATE of batch $1.
func (c *columns) sql() string {
	sets := make([]string, len(c.names))
	for i, n := range c.names {
		sets[i] = fmt.Sprintf("%s = $%d", n, i+2)
	}
	return "UPDATE batches SET " + strings.Join(sets, ", ") + " WHERE id = $1"
}

func (c *columns) update(ctx context.Context, tx *sqlx.Tx, id int64) error {
	_, err := tx.ExecContext(ctx, c.sql(), append([]any{id}, c.args...)...)
	return err
}

// nullFen is a positive amount, or NULL for 0 (none).
func nullFen(fen int64) *int64 {
	if fen <= 0 {
		return nil
	}
	return &fen
}
