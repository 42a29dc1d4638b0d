package main

import (
	"context"
	"fmt"
	"log/slog"
	"text/tabwriter"

	"github.com/issuer-dev/issuer/jobs"
	"github.com/issuer-dev/issuer/ops"
)

func cmdReconcile() *command {
	c := &command{
		name:  "reconcile",
		usage: "[--stock ID] [--date YYYY-MM-DD]",
		short: "download, verify and load the 代金券 use-flow and refund-flow files that are due",
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := newFlags(e, c)
		stock := fs.String("stock", "", "only this stock, fetched now whatever the schedule")
		date := fs.String("date", "", "the day the files are recorded under (default: today in the configured timezone)")
		pos, err := parseFlags(e, fs, args)
		if err != nil {
			return err
		}
		if len(pos) > 0 {
			return usagef("reconcile: unexpected argument %q", pos[0])
		}
		return e.withService(ctx, func(s *ops.Service) error {
			// The table printed below says what the job's info lines would.
			logger := e.logger
			if !logger.Enabled(ctx, slog.LevelDebug) {
				logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			}
			sum, err := s.Reconcile(ctx, e.actor(), ops.ReconcileRequest{
				ReconcileOptions: jobs.ReconcileOptions{StockID: *stock, Date: *date}, Logger: logger})
			if sum != nil {
				printReconcile(e, sum)
			}
			return opsUsage(err)
		})
	}
	return c
}

func printReconcile(e *env, sum *jobs.ReconcileSummary) {
	if len(sum.Results) == 0 {
		fmt.Fprintln(e.stdout, "no 代金券 stock issued from yet: nothing to reconcile")
		return
	}
	fmt.Fprintf(e.stdout, "flow files for %s\n", sum.Date)
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STOCK\tFILE\tOUTCOME\tROWS\tNEW\tSHA1\tDETAIL")
	for _, r := range sum.Results {
		rows, added, sha, detail := "", "", "", r.Reason
		if f := r.File; f != nil {
			rows, added, sha = fmt.Sprint(f.Rows), fmt.Sprint(f.NewRows), shortHash(f.SHA1)
			detail = "kept at " + f.Path
		}
		if r.Err != nil {
			detail = r.Err.Error()
		}
		fmt.Fprintf(tw, "%s\t%s-flow\t%s\t%s\t%s\t%s\t%s\n", r.StockID, r.Kind, r.Outcome, rows, added, sha, detail)
	}
	tw.Flush()
}
