package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/issuer-dev/issuer/app"
	"github.com/issuer-dev/issuer/internal/outfile"
	"github.com/issuer-dev/issuer/ops"
	"github.com/issuer-dev/issuer/report"
)

// The reports (a batch, the reconciliation, the digest) and reconcile,
// which fetches the flow files they count.

func cmdReportBatch() *command {
	return reportCommand(op[reportFlags, none]{
		name:  "report batch",
		usage: "ID [--date YYYY-MM-DD] [--format text|csv|xlsx] [-o FILE] [--plain]",
		short: "report one batch: issued, used, refunded, by class and by day, and its problems",
		args:  batchArg,
	}, func(c *call, opts report.Options) (*report.Report, error) {
		return c.s.BatchReport(c.ctx, c.actor, c.id, opts)
	})
}

func cmdReportReconcile() *command {
	return reportCommand(op[reportFlags, none]{
		name:  "report reconcile",
		usage: "[--stock ID] [--date YYYY-MM-DD] [--format text|csv|xlsx] [-o FILE] [--plain]",
		short: "report the reconciliation of 代金券 stocks against their flow files, per batch",
		args:  noArgs,
	}, func(c *call, opts report.Options) (*report.Report, error) {
		return c.s.ReconcileReportDownload(c.ctx, c.actor, opts)
	})
}

// reportFlags are the flags of the report commands.
type reportFlags struct {
	opts        report.Options
	format, out string
	plain       bool
	f           report.Format
}

// reportCommand is o writing the report that build makes.
func reportCommand(o op[reportFlags, none], build func(*call, report.Options) (*report.Report, error)) *command {
	o.flags = func(fs *flag.FlagSet, f *reportFlags) {
		if o.args == noArgs {
			fs.StringVar(&f.opts.StockID, "stock", "", "only this stock")
		}
		fs.StringVar(&f.opts.AsOf, "date", "", "count only rows from flow files fetched for this day or before (default: all)")
		fs.StringVar(&f.format, "format", "", "text, csv or xlsx (default: from -o's extension, else text)")
		fs.StringVar(&f.out, "o", "", "write to `FILE` instead of standard output (mode 0640; .txt, .csv or .xlsx)")
		fs.BoolVar(&f.plain, "plain", false, "csv for scripts: no UTF-8 byte-order mark, and long ids without the tab that keeps them text in Excel")
	}
	o.check = func(c *call, f *reportFlags) error {
		if err := checkDate(o.name, f.opts.AsOf); err != nil {
			return err
		}
		var err error
		if f.f, err = report.FormatFor(f.format, f.out); err != nil {
			return usagef("%s: %v", o.name, err)
		}
		if file, ok := c.e.stdout.(*os.File); ok && f.f == report.XLSX && f.out == "" && term.IsTerminal(int(file.Fd())) {
			return usagef("%s: an xlsx report is binary: give -o FILE", o.name)
		}
		return nil
	}
	o.call = func(c *call, f *reportFlags) (none, error) {
		rep, err := build(c, f.opts)
		if err != nil {
			return none{}, err
		}
		// The report holds its snapshot open while it writes.
		defer rep.Close()
		return none{}, c.writeReport(o.name, rep, f)
	}
	return o.command()
}

// checkDate is a usage error unless date is empty or YYYY-MM-DD.
func checkDate(cmd, date string) error {
	if _, err := time.Parse(time.DateOnly, date); err != nil && date != "" {
		return usagef("%s: --date %q is not YYYY-MM-DD", cmd, date)
	}
	return nil
}

// writeReport writes rep as f says, to its file or to standard output.
func (c *call) writeReport(cmd string, rep *report.Report, f *reportFlags) error {
	write := func(w io.Writer) error {
		if f.f == report.CSV && f.plain {
			return rep.WritePlainCSV(c.ctx, w)
		}
		return rep.Write(c.ctx, w, f.f)
	}
	if f.out == "" {
		return write(c.e.stdout)
	}
	if err := outfile.Write(f.out, write); err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	fmt.Fprintf(c.e.stderr, "wrote %s\n", f.out)
	return nil
}

func cmdReportDigest() *command {
	type flags struct {
		date         string
		send, asJSON bool
	}
	const name = "report digest"
	return op[flags, none]{
		name: name, usage: "[--date YYYY-MM-DD] [--send] [--json]", args: noArgs,
		short: "the morning digest: a day's issuing, spend, redemptions, anomalies, approvals, halts and rows to settle",
		flags: func(fs *flag.FlagSet, f *flags) {
			fs.StringVar(&f.date, "date", "", "the day, in the configured timezone (default yesterday)")
			fs.BoolVar(&f.send, "send", false, "also send it to the alert channels (alerts.webhook_url, alerts.channels)")
			fs.BoolVar(&f.asJSON, "json", false, "print the figures as JSON")
		},
		check: func(_ *call, f *flags) error { return checkDate(name, f.date) },
		call: func(c *call, f *flags) (none, error) {
			d, err := c.s.Digest(c.ctx, c.actor, f.date)
			if err != nil {
				return none{}, opsUsage(err)
			}
			if f.asJSON {
				err = c.e.printJSON(d)
			} else {
				err = d.WriteText(c.e.stdout)
			}
			if err != nil || !f.send {
				return none{}, err
			}
			return none{}, c.sendDigest(name, d)
		},
	}.command()
}

// sendDigest sends d to the alert channels.
func (c *call) sendDigest(name string, d *report.Digest) error {
	n, err := c.e.app().Notifier(c.s.Config)
	if err != nil {
		return err
	}
	stop := n.Start(context.WithoutCancel(c.ctx))
	err = app.SendDigest(c.ctx, n, d)
	stop()
	if errors.Is(err, ops.ErrNoChannels) {
		return fmt.Errorf("%s --send: no alert channel takes the digest: configure alerts.webhook_url or alerts.channels", name)
	}
	if err != nil {
		return fmt.Errorf("%s --send: %w", name, err)
	}
	fmt.Fprintf(c.e.stderr, "sent the digest of %s\n", d.Day)
	return nil
}

func cmdReconcile() *command {
	return op[ops.ReconcileOptions, none]{
		name:  "reconcile",
		usage: "[--stock ID] [--date YYYY-MM-DD]",
		short: "download, verify and load the 代金券 use-flow and refund-flow files that are due",
		args:  noArgs,
		flags: func(fs *flag.FlagSet, o *ops.ReconcileOptions) {
			fs.StringVar(&o.StockID, "stock", "", "only this stock, fetched now whatever the schedule")
			fs.StringVar(&o.Date, "date", "", "the day the files are recorded under (default: today in the configured timezone)")
		},
		call: func(c *call, o *ops.ReconcileOptions) (none, error) {
			// The table printed below says what the job's info lines would.
			logger := c.e.logger
			if !logger.Enabled(c.ctx, slog.LevelDebug) {
				logger = slog.New(slog.NewTextHandler(c.e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			}
			sum, err := c.s.Reconcile(c.ctx, c.actor, ops.ReconcileRequest{ReconcileOptions: *o, Logger: logger})
			if sum != nil {
				printReconcile(c.e, sum, c.loc())
			}
			return none{}, opsUsage(err)
		},
	}.command()
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
	t, err := time.ParseInLocation(time.DateTime, reason[m[2]:m[3]], ops.Beijing())
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

func printReconcile(e *env, sum *ops.ReconcileSummary, loc *time.Location) {
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
