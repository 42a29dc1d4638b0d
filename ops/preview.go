package ops

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/intake"
	"github.com/issuer-dev/issuer/wxpay"
)

// ErrStockStopped: the stock is stopped (or its coupons' validity is over),
// for good: a batch of it would only halt, so none is created.
var ErrStockStopped = errors.New("the stock is stopped")

// ImportPreview is what a dry run tells a person before the batch is
// created: every line accounted for, the money, the stock as WeChat Pay
// has it, and what creating would meet (refusal, warnings, approval).
type ImportPreview struct {
	Report *ImportAnswer
	// Stock is the stock as WeChat Pay answered (nil for a 商品券 batch or
	// when it could not be asked: StockErr says why).
	Stock    *StockLeft
	StockErr error
	// Approval are the configured thresholds (approval.*); the report's
	// ApprovalRule says which one this batch reaches, if any.
	Approval ApprovalRules
	// Checks are what a person should know, most serious first.
	Checks []Check
}

// Blocked reports whether creating the batch would be refused.
func (p *ImportPreview) Blocked() bool {
	for _, c := range p.Checks {
		if c.Severity == SeverityBlock {
			return true
		}
	}
	return false
}

// ApprovalRules are approval.* from the configuration, amounts in fen.
type ApprovalRules struct {
	MinCoupons     int
	MinAmountFen   int64
	DailyCoupons   int
	DailyAmountFen int64
}

// StockLeft is a 代金券 stock's state and what is left of its budget.
type StockLeft struct {
	ID, Name, Status   string
	FaceValueFen       int64 // 0 when not a fixed face value
	MaxAmountFen       int64 // the stock's budget
	MaxCoupons         int64
	DistributedCoupons int64
	// RemainingFen is the budget WeChat Pay has not issued yet, and
	// RemainingCoupons the coupons; QueuedFen what this merchant's other
	// batches of the stock have still to send (pending, in flight, in
	// doubt, awaiting approval), which the remaining budget must cover
	// before this batch.
	RemainingFen     int64
	RemainingCoupons int64
	QueuedFen        int64
	AvailableEnd     time.Time // zero when unknown
}

// Running reports whether WeChat Pay issues from the stock now.
func (b *StockLeft) Running() bool { return b.Status == wxpay.StockRunning }

// Check severities.
const (
	SeverityBlock = "block" // creating is refused
	SeverityWarn  = "warn"  // the batch would halt or fall short
	SeverityInfo  = "info"  // worth knowing (approval)
)

// Check codes, for the pages' texts.
const (
	CheckStockStopped    = "stock_stopped"     // stopped for good: refused
	CheckStockExpired    = "stock_expired"     // validity over: sends fail
	CheckStockNotRunning = "stock_not_running" // paused, not started, in audit: the batch halts until it runs
	CheckStockUnknown    = "stock_unknown"     // WeChat Pay could not be asked
	CheckOverBudget      = "over_budget"       // the batch is worth more than the budget left
	CheckOverQueued      = "over_queued"       // with the stock's queued batches, more than the budget left
	CheckOverCoupons     = "over_coupons"      // more recipients than coupons left
	CheckUnvalued        = "unvalued"          // rows whose value is unknown
	CheckApproval        = "approval"          // an approver other than the uploader must approve
	CheckTooManyRejects  = "too_many_rejects"  // more rejected lines than allowed
	CheckDuplicateFile   = "duplicate_file"    // the same file is a live batch of the stock
)

// Check is one thing the dry run found, with its numbers.
type Check struct {
	Code     string
	Severity string
	// BatchID is the batch a duplicate file already is.
	BatchID int64
}

// PreviewImport is a dry run as the console shows it: the import checked
// and counted line by line, nothing stored, and the stock's state and
// budget asked of WeChat Pay once. A duplicate file and too many rejected
// lines are checks, not errors, so the page can say what would work.
func (s *Service) PreviewImport(ctx context.Context, a auth.Actor, req ImportRequest) (*ImportPreview, error) {
	if err := s.authorize(ctx, a, auth.ActImport, target{stock: req.StockID}); err != nil {
		return nil, err
	}
	cfg := s.Config.Approval
	pv := &ImportPreview{Approval: ApprovalRules{MinCoupons: cfg.MinCoupons, MinAmountFen: cfg.MinAmountFen(),
		DailyCoupons: cfg.DailyCoupons, DailyAmountFen: cfg.DailyAmountFen()}}
	if req.Kind == "" || req.Kind == intake.KindFavor {
		st, err := s.queryStock(ctx, req.StockID, req.CreatorMchID)
		if err != nil {
			pv.StockErr = err
		} else {
			req.stock = st
			pv.Stock = s.stockBudget(ctx, st)
		}
	}
	req.DryRun, req.preview = true, true
	rep, err := s.Import(ctx, a, req)
	pv.Report = rep
	var dup *intake.DuplicateFileError
	switch {
	case errors.As(err, &dup):
		pv.Checks = append(pv.Checks, Check{Code: CheckDuplicateFile, Severity: SeverityBlock, BatchID: dup.BatchID})
	case errors.Is(err, intake.ErrTooManyRejects):
		pv.Checks = append(pv.Checks, Check{Code: CheckTooManyRejects, Severity: SeverityWarn})
	case errors.Is(err, ErrStockStopped):
		// Checked below from the stock itself.
	case err != nil:
		return pv, err
	}
	pv.Checks = append(pv.Checks, pv.moneyChecks(time.Now())...)
	sortChecks(pv.Checks)
	return pv, nil
}

// moneyChecks judges the stock and the batch's amount.
func (pv *ImportPreview) moneyChecks(now time.Time) []Check {
	var out []Check
	add := func(code, sev string) { out = append(out, Check{Code: code, Severity: sev}) }
	rep, st := pv.Report, pv.Stock
	switch {
	case st == nil && pv.StockErr != nil:
		add(CheckStockUnknown, SeverityWarn)
	case st == nil:
	case st.Status == wxpay.StockStopped:
		add(CheckStockStopped, SeverityBlock)
	case !st.AvailableEnd.IsZero() && now.After(st.AvailableEnd):
		add(CheckStockExpired, SeverityWarn)
	case !st.Running():
		add(CheckStockNotRunning, SeverityWarn)
	}
	if rep == nil {
		return out
	}
	if st != nil && st.MaxAmountFen > 0 {
		switch {
		case rep.AmountFen > st.RemainingFen:
			add(CheckOverBudget, SeverityWarn)
		case rep.AmountFen+st.QueuedFen > st.RemainingFen:
			add(CheckOverQueued, SeverityWarn)
		}
	}
	if st != nil && st.MaxCoupons > 0 && int64(rep.Accepted) > st.RemainingCoupons {
		add(CheckOverCoupons, SeverityWarn)
	}
	if rep.Unvalued > 0 {
		add(CheckUnvalued, SeverityWarn)
	}
	if rep.ApprovalRule != "" {
		add(CheckApproval, SeverityInfo)
	}
	return out
}

func sortChecks(cs []Check) {
	rank := map[string]int{SeverityBlock: 0, SeverityWarn: 1, SeverityInfo: 2}
	for i := 1; i < len(cs); i++ {
		for j := i; j > 0 && rank[cs[j].Severity] < rank[cs[j-1].Severity]; j-- {
			cs[j], cs[j-1] = cs[j-1], cs[j]
		}
	}
}

// queryStock asks WeChat Pay for a 代金券 stock ("" creator: the
// merchant's own).
func (s *Service) queryStock(ctx context.Context, id, creator string) (*wxpay.Stock, error) {
	if s.WX == nil {
		return nil, ErrNoWX
	}
	wx, err := s.WX()
	if err != nil {
		return nil, err
	}
	defer wx.Close()
	st, err := wx.QueryStock(ctx, id, creator)
	if err != nil {
		return nil, wxErr("stock show "+id, err)
	}
	return st, nil
}

// stockBudget is what is left of st's budget, with what the merchant's
// batches of it have queued.
func (s *Service) stockBudget(ctx context.Context, st *wxpay.Stock) *StockLeft {
	b := &StockLeft{ID: st.StockID, Name: st.StockName, Status: st.Status, DistributedCoupons: st.DistributedCoupons}
	if r := st.StockUseRule; r != nil {
		b.MaxAmountFen, b.MaxCoupons = r.MaxAmount, r.MaxCoupons
		if r.FixedNormalCoupon != nil {
			b.FaceValueFen = r.FixedNormalCoupon.CouponAmount
		}
	}
	b.RemainingCoupons = max(0, b.MaxCoupons-st.DistributedCoupons)
	b.RemainingFen = max(0, b.MaxAmountFen-st.DistributedCoupons*b.FaceValueFen)
	if t, err := time.Parse(time.RFC3339, st.AvailableEndTime); err == nil {
		b.AvailableEnd = t
	}
	if q, err := s.Queue.StockQueuedFen(ctx, st.StockID); err == nil {
		b.QueuedFen = q
	} else {
		s.Logger.Warn("preview: the stock's queued amount", "stock", st.StockID, "err", err)
	}
	return b
}

// stockStopped refuses an import into a stock WeChat Pay has stopped.
func stockStopped(st *wxpay.Stock) error {
	if st != nil && st.Status == wxpay.StockStopped {
		return &Error{Code: EINVALID, Err: ErrStockStopped, Message: fmt.Sprintf(
			"import: stock %s is stopped (WeChat Pay status %q) and issues no more coupons; nothing stored", st.StockID, st.Status)}
	}
	return nil
}

// BatchStockBudget is the state and budget of a 代金券 batch's stock, for
// an approver's summary (nil for a 商品券 batch).
func (s *Service) BatchStockBudget(ctx context.Context, a auth.Actor, id int64) (*StockLeft, error) {
	if err := s.read(ctx, a, auth.ActRead, target{batch: id}); err != nil {
		return nil, err
	}
	b, err := s.Queue.Batch(ctx, id)
	if err != nil {
		return nil, err
	}
	if b.Kind != intake.KindFavor {
		return nil, nil //nolint:nilnil // no stock budget for a 商品券 batch
	}
	creator := b.StockCreatorMchID
	if s.Config != nil && creator == s.Config.WXPay.MchID {
		creator = ""
	}
	st, err := s.queryStock(ctx, b.StockID, creator)
	if err != nil {
		return nil, err
	}
	return s.stockBudget(ctx, st), nil
}
