package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/issuer-dev/issuer/intake"
)

func cmdImport() *command {
	c := &command{
		name:  "import",
		usage: "--stock ID [--kind favor|product] [--name N] [--encoding auto|utf-8|gbk] [--max-rejects N] [--rejects FILE] [--json] FILE|-",
		short: "import a CSV recipient list as a new batch, all or nothing",
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := newFlags(e, c)
		stock := fs.String("stock", "", "stock id (批次号) the batch issues; required")
		kind := fs.String("kind", intake.KindFavor, "favor (代金券) or product (商品券)")
		name := fs.String("name", "", "batch name (default: the file name)")
		encoding := fs.String("encoding", intake.EncodingAuto, "auto, utf-8 or gbk")
		maxRejects := fs.Int("max-rejects", 0, "store the batch even with up to N rejected lines")
		rejectsFile := fs.String("rejects", "", "write rejected lines (line, raw, reason) as CSV to FILE")
		creator := fs.String("creator-mchid", "", "stock_creator_mchid when the stock belongs to another merchant (default wxpay.mchid)")
		asJSON := fs.Bool("json", false, "print the accounting as one JSON object")
		pos, err := parseFlags(e, fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usagef("import: want exactly one FILE (or - for standard input), got %d", len(pos))
		}
		if *stock == "" {
			return usagef("import: --stock is required")
		}
		if *kind != intake.KindFavor && *kind != intake.KindProduct {
			return usagef("import: --kind must be favor or product, got %q", *kind)
		}
		cfg, err := e.loadConfig()
		if err != nil {
			return err
		}
		if err := cfg.Require("wxpay.mchid", "wxpay.appid"); err != nil {
			return err
		}

		path := pos[0]
		var in io.Reader = e.stdin
		var size int64 = -1
		source := "-"
		if path != "-" {
			f, err := os.Open(path)
			if err != nil {
				return fmt.Errorf("import: %w", err)
			}
			defer f.Close()
			if st, err := f.Stat(); err == nil {
				size = st.Size()
			}
			in, source = f, path
		}
		batchName := *name
		if batchName == "" {
			batchName = filepath.Base(source)
		}

		var rw *csv.Writer
		if *rejectsFile != "" {
			f, err := os.Create(*rejectsFile)
			if err != nil {
				return fmt.Errorf("import: rejects file: %w", err)
			}
			defer f.Close()
			rw = csv.NewWriter(f)
			_ = rw.Write([]string{"line", "raw", "reason"})
			defer rw.Flush()
		}
		var bar *progressbar.ProgressBar
		if f, ok := e.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) && size > 0 && !*asJSON {
			bar = progressbar.DefaultBytes(size, "importing")
		}

		db, err := e.openDB(ctx, cfg)
		if err != nil {
			return err
		}
		defer db.Close()
		rep, err := intake.Import(ctx, db, in, intake.Options{
			StockID: *stock, Kind: *kind, Name: batchName, MchID: cfg.WXPay.MchID, AppID: cfg.WXPay.AppID,
			CreatorMchID: *creator, Encoding: *encoding, MaxRejects: *maxRejects, Source: source, Location: cfg.Location,
			OnReject: func(r intake.Reject) {
				fmt.Fprintf(e.stderr, "%s:%d: %s\n", source, r.Line, r.Reason)
				if rw != nil {
					_ = rw.Write([]string{strconv.Itoa(r.Line), r.Raw, r.Reason})
				}
			},
			OnProgress: func(n int64) {
				if bar != nil {
					_ = bar.Set64(n)
				}
			},
		})
		if bar != nil {
			_ = bar.Finish()
			fmt.Fprintln(e.stderr)
		}
		if rep != nil && (err == nil || errors.Is(err, intake.ErrTooManyRejects)) {
			if *asJSON {
				if jerr := e.printJSON(map[string]any{
					"batch_id": nullableID(rep.BatchID), "lines": rep.Lines, "accepted": rep.Accepted,
					"duplicates": rep.Duplicates, "rejected": rep.Rejected, "blank": rep.Blank,
				}); jerr != nil {
					return jerr
				}
			} else {
				if rep.BatchID != 0 {
					fmt.Fprintf(e.stdout, "batch %d (%s, stock %s, %s)\n", rep.BatchID, batchName, *stock, rep.Encoding)
				}
				fmt.Fprintf(e.stdout, "lines %d = accepted %d + duplicates %d + rejected %d + blank %d\n",
					rep.Lines, rep.Accepted, rep.Duplicates, rep.Rejected, rep.Blank)
			}
		}
		return err
	}
	return c
}

// nullableID renders a batch id that was never committed as JSON null.
func nullableID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}
