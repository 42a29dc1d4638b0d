package ops

import (
	"context"
	"fmt"
	"io"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/intake"
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
	// OnReject sees each rejected line as it is found (streamed, never
	// all held); OnProgress the bytes read so far.
	OnReject   func(intake.Reject)
	OnProgress func(n int64)
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
	var rep *intake.Report
	run := func() (string, error) {
		var err error
		rep, err = intake.Import(ctx, s.DB, req.Reader, intake.Options{
			StockID: req.StockID, Kind: req.Kind, Name: req.Name, MchID: s.Config.WXPay.MchID, AppID: s.Config.WXPay.AppID,
			CreatorMchID: req.CreatorMchID, Encoding: req.Encoding, MaxRejects: req.MaxRejects, Source: req.Source,
			Location: s.Config.Location, DryRun: req.DryRun, OnReject: req.OnReject, OnProgress: req.OnProgress,
		})
		if rep == nil {
			return "", err
		}
		return fmt.Sprintf("%s: lines %d = accepted %d + duplicates %d + rejected %d + blank %d (sha256 %s)",
			req.Source, rep.Lines, rep.Accepted, rep.Duplicates, rep.Rejected, rep.Blank, rep.SHA256), err
	}
	if req.DryRun {
		// A dry run stores nothing: authorized, not audited.
		if err := s.read(ctx, a, auth.ActImport, target{stock: req.StockID}); err != nil {
			return nil, err
		}
		_, err := run()
		return rep, err
	}
	t := &target{stock: req.StockID}
	err := s.act(ctx, a, auth.ActImport, t, func() (string, error) {
		d, err := run()
		if rep != nil {
			t.batch = rep.BatchID
		}
		return d, err
	})
	return rep, err
}
