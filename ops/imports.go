package ops

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/intake"
	"github.com/issuer-dev/issuer/internal/money"
	"github.com/issuer-dev/issuer/queue"
	"github.com/issuer-dev/issuer/wxpay"
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

	// The money guards, as people type them; Import parses them the same
	// way for every front end.
	Paused         bool   // created paused
	StartAt        string // not claimed before: RFC 3339, or YYYY-MM-DD HH:MM[:SS] in the configured time zone
	Window         string // claimed only inside HH:MM-HH:MM daily, in the configured time zone
	MaxAmountYuan  string // spend cap in yuan (face value issued, in flight or in doubt)
	Priority       int    // higher is claimed first
	AllowDuplicate bool   // store a file already imported as a live batch of the stock
	AllowRepeats   bool   // keep openids that already have a coupon of the stock
	// OnReject sees each rejected line as it is found (streamed, never
	// all held); OnProgress the bytes read so far.
	OnReject   func(intake.Reject)
	OnProgress func(n int64)

	stock   *wxpay.Stock // asked already (PreviewImport)
	preview bool         // a dry run that reports a stopped stock as a check
}

// Import stores a recipient list as a new batch, all or nothing: with
// more rejected lines than MaxRejects, or any problem with the file as a
// whole, nothing is stored. The report accounts for every line, also on
// intake.ErrTooManyRejects.
func (s *Service) Import(ctx context.Context, a auth.Actor, req ImportRequest) (*intake.Report, error) {
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
	run := func() (string, error) {
		var err error
		rep, err = intake.Import(ctx, s.DB, req.Reader, intake.Options{
			StockID: req.StockID, Kind: req.Kind, Name: req.Name, MchID: s.Config.WXPay.MchID, AppID: s.Config.WXPay.AppID,
			CreatorMchID: req.CreatorMchID, Encoding: req.Encoding, MaxRejects: req.MaxRejects, Source: req.Source,
			Location: s.Config.Location, DryRun: req.DryRun, OnReject: req.OnReject, OnProgress: req.OnProgress, Guards: g,
		})
		if rep == nil {
			return "", err
		}
		status := rep.Status
		if rep.ApprovalReason != "" {
			status += " (" + rep.ApprovalReason + ")"
		}
		return fmt.Sprintf("%s: lines %d = accepted %d + duplicates %d + repeats %d + rejected %d + blank %d (sha256 %s); status %s%s",
			req.Source, rep.Lines, rep.Accepted, rep.Duplicates, rep.Repeats, rep.Rejected, rep.Blank, rep.SHA256, status,
			guardNote(g)), err
	}
	if req.DryRun {
		// A dry run stores nothing: not audited.
		_, err := run()
		return rep, err
	}
	t := &target{stock: req.StockID}
	err = s.act(ctx, a, auth.ActImport, t, func() (string, error) {
		d, err := run()
		if rep != nil {
			t.batch = rep.BatchID
		}
		return d, err
	})
	return rep, err
}

// importGuards parses the request's guards and fills in what the batch's
// amount needs: the stock's face value, asked of WeChat Pay once, when a
// spend cap or an approval amount depends on it.
func (s *Service) importGuards(ctx context.Context, a auth.Actor, req ImportRequest) (intake.Guards, error) {
	g := intake.Guards{UploadedBy: a.Name, Paused: req.Paused, Priority: req.Priority,
		AllowDuplicate: req.AllowDuplicate, AllowRepeats: req.AllowRepeats,
		ApprovalMinCoupons: s.Config.Approval.MinCoupons, ApprovalMinAmountFen: s.Config.Approval.MinAmountFen(),
		ApprovalDailyCoupons: s.Config.Approval.DailyCoupons, ApprovalDailyAmountFen: s.Config.Approval.DailyAmountFen()}
	loc := s.Config.Location
	if req.StartAt != "" {
		t, err := ParseTime(req.StartAt, loc)
		if err != nil {
			return g, invalidf("start at: %v", err)
		}
		g.StartAt = t
	}
	if req.Window != "" {
		w, err := queue.ParseWindow(req.Window, loc)
		if err != nil {
			return g, invalidf("%v", err)
		}
		g.Window = &w
	}
	if req.MaxAmountYuan != "" {
		fen, err := money.ParseYuan(req.MaxAmountYuan)
		if err != nil {
			return g, invalidf("max amount: %v", err)
		}
		g.MaxAmountFen = fen
	}
	// The stock's face value, asked once: it is what rows without a
	// coupon_value are worth. A cap or an amount threshold cannot do
	// without it; otherwise the batch's amount is only shown, and the
	// import goes on without it when WeChat Pay cannot be asked.
	needed := g.MaxAmountFen > 0 || g.ApprovalMinAmountFen > 0 || g.ApprovalDailyAmountFen > 0
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

func guardNote(g intake.Guards) string {
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

// ParseTime reads a time as people give it: RFC 3339, or YYYY-MM-DD HH:MM,
// YYYY-MM-DD HH:MM:SS or YYYY-MM-DD in loc.
func ParseTime(s string, loc *time.Location) (time.Time, error) {
	if t, ok := parseLocal(s, loc, "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"); ok {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q: want RFC 3339 or YYYY-MM-DD HH:MM in %s", s, loc)
}

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
