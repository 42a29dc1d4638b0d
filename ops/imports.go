package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/guard"
	"github.com/issuer-dev/issuer/intake"
	"github.com/issuer-dev/issuer/wxpay"
)

// Kinds of coupon a batch issues, and how an import reads its file.
const (
	KindFavor    = intake.KindFavor   // 代金券
	KindProduct  = intake.KindProduct // 商品券
	EncodingAuto = intake.EncodingAuto
)

// ImportRequest is one recipient list to import as a new batch.
type ImportRequest struct {
	Reader       io.Reader
	Source       string // the file's name, for FILE:LINE messages
	StockID      string
	Kind         string // favor or product
	Name         string // default: the file's base name
	Encoding     string // auto, utf-8 or gbk
	CreatorMchID string // default wxpay.mchid
	MaxRejects   int
	// DryRun checks and counts every line and stores nothing.
	DryRun bool

	// Guards are the money guards as people type them; Import parses
	// them the same way for every front end (package guard).
	Guards ImportGuards
	// OnReject sees each rejected line as it is found (streamed, never
	// all held); OnProgress the bytes read so far.
	OnReject   func(Reject)
	OnProgress func(n int64)

	stock   *wxpay.Stock // asked already (PreviewImport)
	preview bool         // a dry run that reports a stopped stock as a check
}

// ErrTooManyRejects: the file had more rejected lines than the request
// allows; nothing was stored, and the answer still accounts for every
// line (code EUNPROCESSABLE).
var ErrTooManyRejects = intake.ErrTooManyRejects

// ImportGuards are an import's money guards as typed (guard.Request).
type ImportGuards = guard.Request

// GuardFields returns the guards an import takes, as the upload form's and
// the API's fields and the import command's flags (guard.Fields).
func GuardFields() []guard.Field { return guard.Fields() }

// Reject is one rejected input line: its number, its text and why.
type Reject = intake.Reject

// RejectLine is a rejected line as an answer lists it.
type RejectLine struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// ImportAnswer is what an import did, in the one JSON shape of the
// command line's import --json and the API's POST /api/v1/batches (the
// contract's keys, and more). It accounts for every line: Lines =
// Accepted + Duplicates + Repeats + Rejected + Blank.
type ImportAnswer struct {
	// BatchID is the new batch; 0, in JSON null, when nothing was stored
	// (a dry run, or too many rejected lines).
	BatchID    int64 `json:"batch_id"`
	Lines      int   `json:"lines"`
	Accepted   int   `json:"accepted"`
	Duplicates int   `json:"duplicates"`
	Repeats    int   `json:"repeats"`
	Rejected   int   `json:"rejected"`
	Blank      int   `json:"blank"`
	// Status is the new batch's status, only once it is stored.
	Status string `json:"status,omitempty"`
	// ApprovalReason says which approval threshold the batch reached when
	// it awaits approval.
	ApprovalReason string `json:"approval_reason,omitempty"`
	// ApprovalRule names the threshold reached (min_coupons, min_amount,
	// daily_coupons, daily_amount); DayCoupons and DayAmountFen are the
	// stock's other batches of the day when a daily threshold was looked at.
	ApprovalRule string `json:"approval_rule,omitempty"`
	DayCoupons   int64  `json:"-"`
	DayAmountFen int64  `json:"-"`
	// AmountFen is the face value of the accepted rows in fen (rows
	// without a coupon_value at the stock's face value); Unvalued counts
	// the rows whose value is unknown, which AmountFen leaves out. Both are
	// known once the guards ran: not with too many rejected lines.
	AmountFen int64  `json:"amount_fen,omitempty"`
	Unvalued  int64  `json:"unvalued,omitempty"`
	Encoding  string `json:"encoding"`
	SHA256    string `json:"sha256"`
	// Rejects are the first rejected lines, when the front end keeps them
	// (the API's 422 answer lists them).
	Rejects []RejectLine `json:"rejects,omitempty"`
	// Error is why nothing was stored, on an answer that reports it with
	// the counts (the API's 422).
	Error string `json:"error,omitempty"`
}

// MarshalJSON writes batch_id null when no batch was stored.
func (a ImportAnswer) MarshalJSON() ([]byte, error) {
	type plain ImportAnswer
	var id *int64
	if a.BatchID != 0 {
		id = &a.BatchID
	}
	return json.Marshal(struct {
		BatchID *int64 `json:"batch_id"`
		plain
	}{id, plain(a)})
}

func importAnswer(rep *intake.Report) *ImportAnswer {
	if rep == nil {
		return nil
	}
	a := &ImportAnswer{BatchID: rep.BatchID, Lines: rep.Lines, Accepted: rep.Accepted, Duplicates: rep.Duplicates,
		Repeats: rep.Repeats, Rejected: rep.Rejected, Blank: rep.Blank, ApprovalReason: rep.ApprovalReason,
		ApprovalRule: rep.ApprovalRule, DayCoupons: rep.DayCoupons, DayAmountFen: rep.DayAmountFen,
		AmountFen: rep.AmountFen, Unvalued: rep.Unvalued, Encoding: rep.Encoding, SHA256: rep.SHA256}
	if rep.BatchID != 0 {
		a.Status = rep.Status
	}
	return a
}

// Import stores a recipient list as a new batch, all or nothing: with
// more rejected lines than MaxRejects, or any problem with the file as a
// whole, nothing is stored. The answer accounts for every line, also when
// there are too many rejected lines (EUNPROCESSABLE, matching
// intake.ErrTooManyRejects).
func (s *Service) Import(ctx context.Context, a auth.Actor, req ImportRequest) (*ImportAnswer, error) {
	rep, err := s.importReport(ctx, a, req)
	return importAnswer(rep), err
}

func (s *Service) importReport(ctx context.Context, a auth.Actor, req ImportRequest) (*intake.Report, error) {
	if err := s.Config.Require("wxpay.mchid", "wxpay.appid"); err != nil {
		return nil, err
	}
	if req.Kind == "" {
		req.Kind = intake.KindFavor
	}
	if req.StockID == "" {
		return nil, invalidf("import: the stock id is required")
	}
	if req.Kind != intake.KindFavor && req.Kind != intake.KindProduct {
		return nil, invalidf("import: kind must be favor or product, got %q", req.Kind)
	}
	// The name's rule is intake's; checked here too so that a bad name is
	// refused before WeChat Pay is asked for the stock's face value.
	if req.Name != "" {
		if err := intake.CheckName(req.Name); err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
	}
	// Authorized before anything is asked of WeChat Pay.
	if err := s.authorize(ctx, a, auth.ActImport, target{stock: req.StockID}); err != nil {
		return nil, err
	}
	g, err := s.importGuards(ctx, a, req)
	if err != nil {
		return nil, err
	}
	var rep *intake.Report
	run := func(beforeCommit func(context.Context, *sqlx.Tx, *intake.Report) error) (string, error) {
		var err error
		rep, err = intake.Import(ctx, s.DB, req.Reader, intake.Options{
			StockID: req.StockID, Kind: req.Kind, Name: req.Name, MchID: s.Config.WXPay.MchID, AppID: s.Config.WXPay.AppID,
			CreatorMchID: req.CreatorMchID, Encoding: req.Encoding, MaxRejects: req.MaxRejects, Source: req.Source,
			Location: s.Config.Location, DryRun: req.DryRun, OnReject: req.OnReject, OnProgress: req.OnProgress, Guards: g,
			BeforeCommit: beforeCommit,
		})
		if rep == nil {
			return "", err
		}
		return importDetail(req.Source, rep, g), err
	}
	if req.DryRun {
		// A dry run stores nothing: not audited.
		_, err := run(nil)
		return rep, err
	}
	t := &target{stock: req.StockID}
	err = s.moneyAct(ctx, a, auth.ActImport, t, func(rec *recorder) (string, error) {
		d, err := run(func(ctx context.Context, tx *sqlx.Tx, rep *intake.Report) error {
			t.batch, rec.detail = rep.BatchID, importDetail(req.Source, rep, g)
			return rec.record(ctx, tx)
		})
		if rep != nil {
			t.batch = rep.BatchID // 0: nothing stored
		}
		return d, err
	})
	return rep, err
}

// importDetail is the audit log's account of an import.
func importDetail(source string, rep *intake.Report, g intake.Guards) string {
	status := rep.Status
	if rep.ApprovalReason != "" {
		status += " (" + rep.ApprovalReason + ")"
	}
	return fmt.Sprintf("%s: lines %d = accepted %d + duplicates %d + repeats %d + rejected %d + blank %d (sha256 %s); status %s%s",
		source, rep.Lines, rep.Accepted, rep.Duplicates, rep.Repeats, rep.Rejected, rep.Blank, rep.SHA256, status, g.Note())
}

// importGuards parses the request's guards and fills in what the batch's
// amount needs: the stock's face value, asked of WeChat Pay once, when a
// spend cap or an approval amount depends on it.
func (s *Service) importGuards(ctx context.Context, a auth.Actor, req ImportRequest) (intake.Guards, error) {
	g, err := req.Guards.Parse(s.location())
	if err != nil {
		return g, invalidf("%v", err)
	}
	g.UploadedBy = a.Name
	g.ApprovalMinCoupons, g.ApprovalMinAmountFen = s.Config.Approval.MinCoupons, s.Config.Approval.MinAmountFen()
	g.ApprovalDailyCoupons, g.ApprovalDailyAmountFen = s.Config.Approval.DailyCoupons, s.Config.Approval.DailyAmountFen()
	// The stock's face value, asked once: it is what rows without a
	// coupon_value are worth. A cap or an amount threshold cannot do
	// without it; otherwise the batch's amount is only shown, and the
	// import goes on without it when WeChat Pay cannot be asked.
	needed := g.NeedsAmount()
	if req.Kind == intake.KindFavor && (s.WX != nil || req.stock != nil) {
		st := req.stock
		var err error
		if st == nil {
			st, err = s.queryStock(ctx, req.StockID, req.CreatorMchID)
		}
		if err := stockStopped(st); err != nil && !req.preview {
			return g, err
		}
		switch {
		case err == nil:
			g.FaceValueFen = stockFace(st)
		case needed:
			return g, fmt.Errorf("import: the face value of stock %s, which the batch's amount needs: %w", req.StockID, err)
		default:
			s.Logger.Warn("import: the stock's face value is unknown; the batch's amount counts only coupon_value", "stock", req.StockID, "err", err)
		}
	}
	return g, nil
}

// faceValue asks WeChat Pay for a 代金券 stock's face value, in fen.
func (s *Service) faceValue(ctx context.Context, req ImportRequest) (int64, error) {
	st, err := s.queryStock(ctx, req.StockID, req.CreatorMchID) // "": the merchant's own
	if err != nil {
		return 0, err
	}
	return stockFace(st), nil
}

// stockFace is a 代金券 stock's fixed face value in fen (0: none).
func stockFace(st *wxpay.Stock) int64 {
	if r := st.StockUseRule; r != nil && r.FixedNormalCoupon != nil {
		return r.FixedNormalCoupon.CouponAmount
	}
	return 0
}

// ParseTime reads a time as people give it: RFC 3339, or YYYY-MM-DD HH:MM,
// YYYY-MM-DD HH:MM:SS or YYYY-MM-DD in loc (guard.ParseTime).
func ParseTime(s string, loc *time.Location) (time.Time, error) { return guard.ParseTime(s, loc) }

// parseLocal reads s as RFC 3339 or as the first of layouts it matches,
// in loc.
func parseLocal(s string, loc *time.Location, layouts ...string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	for _, layout := range layouts {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
