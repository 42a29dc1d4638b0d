package main

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"text/tabwriter"
	"time"

	"github.com/issuer-dev/issuer/jobs"
	"github.com/issuer-dev/issuer/ops"
	"github.com/issuer-dev/issuer/wxpay"
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
		if err := parseNoArgs(e, fs, args); err != nil {
			return err
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
				printReconcile(e, sum, s.Config.Location)
			}
			return opsUsage(err)
		})
	}
	return c
}

// untilBeijing is the end of a stock's life as the reconcile job words
// it, in Beijing time (WeChat Pay's) without saying so.
var untilBeijing = regexp.MustCompile(`until (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)$`)

// inZone restates a not_due reason's time in the configured zone, named.
func inZone(reason string, loc *time.Location) string {
	m := untilBeijing.FindStringSubmatchIndex(reason)
	if m == nil || loc == nil {
		return reason
	}
	t, err := time.ParseInLocation(time.DateTime, reason[m[2]:m[3]], wxpay.Beijing())
	if err != nil {
		return reason
	}
	return reason[:m[2]] + humanTime(t, loc)
}

// humanTime is a time for a person: in the configured zone, which it names.
func humanTime(t time.Time, loc *time.Location) string {
	loc = orUTC(loc)
	return t.In(loc).Format(time.DateTime) + " " + zoneName(loc)
}

// zoneName names loc as configured (Asia/Shanghai), not by its
// abbreviation (CST is also a US zone).
func zoneName(loc *time.Location) string {
	if n := loc.String(); n != "" && n != "Local" {
		return n
	}
	return time.Now().In(loc).Format("-07:00")
}

func printReconcile(e *env, sum *jobs.ReconcileSummary, loc *time.Location) {
	if len(sum.Results) == 0 {
		fmt.Fprintln(e.stdout, "no 代金券 stock issued from yet: nothing to reconcile")
		return
	}
	fmt.Fprintf(e.stdout, "flow files for %s\n", sum.Date)
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STOCK\tFILE\tOUTCOME\tROWS\tNEW\tSHA1\tDETAIL")
	for _, r := range sum.Results {
		rows, added, sha, detail := "", "", "", inZone(r.Reason, loc)
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
