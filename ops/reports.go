package ops

import (
	"context"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/report"
)

// BatchReport opens a batch's report (one snapshot); the caller writes it
// and must Close it. Downloading a report is an export.
func (s *Service) BatchReport(ctx context.Context, a auth.Actor, id int64, opts report.Options) (*report.Report, error) {
	if err := s.read(ctx, a, auth.ActExport, target{batch: id}); err != nil {
		return nil, err
	}
	if opts.Location == nil {
		opts.Location = s.Config.Location
	}
	return report.Batch(ctx, s.DB, id, opts)
}

// ReconcileReport opens the reconciliation report of every stock, or of
// opts.StockID; the caller must Close it. Reading it on a page is a read;
// downloading it is an export (ReconcileReportDownload).
func (s *Service) ReconcileReport(ctx context.Context, a auth.Actor, opts report.Options) (*report.Report, error) {
	return s.reconcileReport(ctx, a, auth.ActRead, opts)
}

// ReconcileReportDownload is ReconcileReport for a download.
func (s *Service) ReconcileReportDownload(ctx context.Context, a auth.Actor, opts report.Options) (*report.Report, error) {
	return s.reconcileReport(ctx, a, auth.ActExport, opts)
}

func (s *Service) reconcileReport(ctx context.Context, a auth.Actor, act auth.Action, opts report.Options) (*report.Report, error) {
	if err := s.read(ctx, a, act, target{stock: opts.StockID}); err != nil {
		return nil, err
	}
	if opts.Location == nil {
		opts.Location = s.Config.Location
	}
	return report.Reconciliation(ctx, s.DB, opts)
}
