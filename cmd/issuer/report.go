package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/issuer-dev/issuer/internal/outfile"
	"github.com/issuer-dev/issuer/ops"
	"github.com/issuer-dev/issuer/report"
)

func cmdReportBatch() *command {
	c := &command{
		name:  "report batch",
		usage: "ID [--date YYYY-MM-DD] [--format text|csv|xlsx] [-o FILE] [--plain]",
		short: "report one batch: issued, used, refunded, by class and by day, and its problems",
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		return runReport(ctx, e, c, args, true)
	}
	return c
}

func cmdReportReconcile() *command {
	c := &command{
		name:  "report reconcile",
		usage: "[--stock ID] [--date YYYY-MM-DD] [--format text|csv|xlsx] [-o FILE] [--plain]",
		short: "report the reconciliation of 代金券 stocks against their flow files, per batch",
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		return runReport(ctx, e, c, args, false)
	}
	return c
}

func runReport(ctx context.Context, e *env, c *command, args []string, batch bool) error {
	fs := newFlags(e, c)
	var stock *string
	if !batch {
		stock = fs.String("stock", "", "only this stock")
	}
	date := fs.String("date", "", "count only rows from flow files fetched for this day or before (default: all)")
	format := fs.String("format", "", "text, csv or xlsx (default: from -o's extension, else text)")
	out := fs.String("o", "", "write to `FILE` instead of standard output (mode 0640; .txt, .csv or .xlsx)")
	plain := fs.Bool("plain", false, "csv for scripts: no UTF-8 byte-order mark, and long ids without the tab that keeps them text in Excel")
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	var id int64
	if batch {
		if id, err = batchID(c.name, pos); err != nil {
			return err
		}
	} else if len(pos) > 0 {
		return usagef("%s: unexpected argument %q", c.name, pos[0])
	}
	if *date != "" {
		if _, err := time.Parse(time.DateOnly, *date); err != nil {
			return usagef("%s: --date %q is not YYYY-MM-DD", c.name, *date)
		}
	}
	f, err := reportFormat(*format, *out)
	if err != nil {
		return usagef("%s: %v", c.name, err)
	}
	if f == report.XLSX && *out == "" {
		if file, ok := e.stdout.(*os.File); ok && term.IsTerminal(int(file.Fd())) {
			return usagef("%s: an xlsx report is binary: give -o FILE", c.name)
		}
	}
	return e.withService(ctx, func(s *ops.Service) error {
		opts := report.Options{AsOf: *date}
		var rep *report.Report
		var err error
		if batch {
			rep, err = s.BatchReport(ctx, e.actor(), id, opts)
		} else {
			opts.StockID = *stock
			rep, err = s.ReconcileReportDownload(ctx, e.actor(), opts)
		}
		if err != nil {
			return err
		}
		// The report holds its snapshot open while it writes.
		defer rep.Close()
		return e.writeReport(ctx, c, rep, f, *out, *plain)
	})
}

// writeReport writes rep in format f to out, or to standard output.
func (e *env) writeReport(ctx context.Context, c *command, rep *report.Report, f report.Format, out string, plain bool) error {
	write := func(w io.Writer) error {
		if f == report.CSV && plain {
			return rep.WritePlainCSV(ctx, w)
		}
		return rep.Write(ctx, w, f)
	}
	if out == "" {
		return write(e.stdout)
	}
	if err := outfile.Write(out, write); err != nil {
		return fmt.Errorf("%s: %w", c.name, err)
	}
	fmt.Fprintf(e.stderr, "wrote %s\n", out)
	return nil
}

// reportFormat is --format, or else the output file's extension, or text.
// An extension that names no format issuer writes (report.pdf) is refused
// rather than filled with text under a misleading name.
func reportFormat(flag, out string) (report.Format, error) {
	if flag != "" {
		return report.ParseFormat(flag)
	}
	switch ext := strings.ToLower(filepath.Ext(out)); ext {
	case ".xlsx":
		return report.XLSX, nil
	case ".csv":
		return report.CSV, nil
	case "", ".txt", ".text":
		return report.Text, nil
	default:
		return "", fmt.Errorf("-o %s: issuer writes no %s files; use a .txt, .csv or .xlsx name, or give --format", out, ext)
	}
}
