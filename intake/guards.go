package intake

import (
	"context"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/issuer-dev/issuer/guard"
)

// Guards are the money guards an import gives its batch (package guard,
// which owns each rule and its SQL). They are stored on the batch and
// enforced where issuing happens: the claim and the queue's state changes
// (package queue).
type Guards = guard.Import

// DuplicateFileError: the same file (by SHA-256) is already a live batch
// of the stock.
type DuplicateFileError = guard.DuplicateFileError

// ErrDuplicateFile matches a *DuplicateFileError.
var ErrDuplicateFile = guard.ErrDuplicateFile

// guard applies the guards to the batch being imported, in its
// transaction (guard.Import.Apply), and accounts for what they did.
func (imp *importer) guard(ctx context.Context, tx *sqlx.Tx) error {
	o, rep := imp.opts, imp.rep
	out, err := o.Guards.Apply(ctx, tx, guard.Batch{ID: rep.BatchID, StockID: o.StockID, Source: o.Source,
		SHA256: rep.SHA256, Accepted: rep.Accepted, Location: o.Location})
	var dup *DuplicateFileError
	var unknown *guard.UnknownAmountError
	switch {
	case errors.As(err, &dup):
		return err
	case errors.As(err, &unknown):
		return &FatalError{Source: o.Source, Msg: unknown.Error()}
	case err != nil:
		return fmt.Errorf("import: %w", err)
	}
	rep.Repeats, rep.Accepted = out.Repeats, out.Accepted
	rep.Status, rep.ApprovalReason, rep.ApprovalRule = out.Status, out.ApprovalReason, out.ApprovalRule
	rep.AmountFen, rep.Unvalued = out.AmountFen, out.Unvalued
	rep.DayCoupons, rep.DayAmountFen = out.Day.Coupons, out.Day.Fen
	return nil
}

// The approval thresholds a batch can reach (Report.ApprovalRule).
const (
	RuleMinCoupons   = guard.RuleMinCoupons
	RuleMinAmount    = guard.RuleMinAmount
	RuleDailyCoupons = guard.RuleDailyCoupons
	RuleDailyAmount  = guard.RuleDailyAmount
)
