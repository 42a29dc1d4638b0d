package ops

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/jobs"
	"github.com/issuer-dev/issuer/queue"
	"github.com/issuer-dev/issuer/wxpay"
)

// ReconcileRequest scopes a reconciliation run started by a person.
type ReconcileRequest struct {
	jobs.ReconcileOptions
	// Logger is the job's log; default the service's.
	Logger *slog.Logger
}

// Reconcile fetches, verifies and loads the flow files that are due now —
// with StockID, that stock's files whatever the schedule. The summary
// accounts for every file, also when the error names some that failed.
func (s *Service) Reconcile(ctx context.Context, a auth.Actor, req ReconcileRequest) (*jobs.ReconcileSummary, error) {
	if req.Date != "" {
		if _, err := time.Parse(jobs.DateLayout, req.Date); err != nil {
			return nil, invalidf("reconcile: --date %q is not YYYY-MM-DD", req.Date)
		}
	}
	if req.StockID != "" {
		if err := ValidStockID("reconcile --stock", req.StockID); err != nil {
			return nil, err
		}
	}
	if s.WX == nil {
		return nil, fmt.Errorf("reconcile asks WeChat Pay: %w", ErrNoWX)
	}
	var sum *jobs.ReconcileSummary
	err := s.act(ctx, a, auth.ActReconcile, &target{stock: req.StockID}, func() (string, error) {
		wx, err := s.WX()
		if err != nil {
			return "", err
		}
		defer wx.Close()
		job := NewReconcile(s, wx)
		if req.Logger != nil {
			job.Logger = req.Logger
		}
		sum, err = job.Run(ctx, req.ReconcileOptions)
		if sum == nil {
			return "", err
		}
		if err == nil && req.StockID != "" && allNotYet(sum) {
			err = stockExists(ctx, wx, req.StockID)
		}
		return fmt.Sprintf("flow files for %s: %d loaded, %d unchanged, %d not yet, %d failed or rejected",
			sum.Date, sum.Count(jobs.FlowLoaded), sum.Count(jobs.FlowUnchanged), sum.Count(jobs.FlowNotYet), sum.Failures()), err
	})
	return sum, err
}

// allNotYet reports whether WeChat Pay had no file for any result: the
// files are not published yet, or the stock does not exist.
func allNotYet(sum *jobs.ReconcileSummary) bool {
	return len(sum.Results) > 0 && sum.Count(jobs.FlowNotYet) == len(sum.Results)
}

// stockExists tells a stock WeChat Pay does not know (a mistyped --stock)
// from one whose files are simply not published yet: both answer 404 for
// the files.
func stockExists(ctx context.Context, wx WXClient, id string) error {
	_, err := wx.QueryStock(ctx, id, "")
	if wxpay.IsNotFound(err) {
		return fmt.Errorf("reconcile: stock %s does not exist for this merchant (WeChat Pay knows no such stock): check --stock: %w", id, queue.ErrNotFound)
	}
	// Any other answer (the stock exists, or the query failed) leaves the
	// files' "not yet" as it is.
	return nil
}

// NewReconcile is the reconciliation job as every caller configures it
// (the daemon's schedule and Reconcile).
func NewReconcile(s *Service, src jobs.FlowSource) *jobs.Reconcile {
	return &jobs.Reconcile{DB: s.DB, Source: src, Dir: s.Config.Reconcile.Dir, Location: s.Config.Location, Logger: s.Logger}
}
