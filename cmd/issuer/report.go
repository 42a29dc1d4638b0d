package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/issuer-dev/issuer/internal/outfile"
	"github.com/issuer-dev/issuer/report"
)

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
