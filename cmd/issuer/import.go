package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/intake"
	"github.com/issuer-dev/issuer/internal/excelcsv"
	"github.com/issuer-dev/issuer/internal/outfile"
	"github.com/issuer-dev/issuer/ops"
	"github.com/issuer-dev/issuer/queue"
)

func cmdImport() *command {
	c := &command{
		name: "import",
		usage: "--stock ID [--kind favor|product] [--name N] [--encoding auto|utf-8|gbk] [--max-rejects N] [--rejects FILE] [--json] " +
			"[--paused] [--start-at T] [--window HH:MM-HH:MM] [--max-amount-yuan Y] [--priority N] [--allow-duplicate] [--allow-repeats] [--as NAME] [--token-file F] FILE|-",
		short: "import a CSV recipient list as a new batch, all or nothing",
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := newFlags(e, c)
		stock := fs.String("stock", "", "stock id (批次号) the batch issues; required")
		kind := fs.String("kind", intake.KindFavor, "favor (代金券) or product (商品券)")
		name := fs.String("name", "", "batch name (default: the file name)")
		encoding := fs.String("encoding", intake.EncodingAuto, "auto, utf-8 or gbk")
		maxRejects := fs.Int("max-rejects", 0, "store the batch even with up to N rejected lines")
		rejectsFile := fs.String("rejects", "", "write rejected lines (line, raw, reason) as CSV to `FILE` (mode 0640, with a UTF-8 byte-order mark for Excel)")
		plain := fs.Bool("plain", false, "write the --rejects file without the byte-order mark")
		creator := fs.String("creator-mchid", "", "stock_creator_mchid when the stock belongs to another merchant (default wxpay.mchid)")
		asJSON := fs.Bool("json", false, "print the accounting as one JSON object")
		paused := fs.Bool("paused", false, "create the batch paused (issuer batch resume ID starts it)")
		startAt := fs.String("start-at", "", "do not issue before `T`: RFC 3339, or YYYY-MM-DD HH:MM in the configured timezone")
		window := fs.String("window", "", "issue only inside `HH:MM-HH:MM` each day in the configured timezone (22:00-06:00 spans midnight)")
		maxAmount := fs.String("max-amount-yuan", "", "spend cap: never issue more than `Y` yuan of face value")
		priority := fs.Int("priority", 0, "higher is issued first; equal priorities share the rate")
		allowDup := fs.Bool("allow-duplicate", false, "store a file already imported as a live batch of this stock")
		allowRepeats := fs.Bool("allow-repeats", false, "keep openids that already have a coupon of this stock issued or on its way")
		who := identityFlags(fs)
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

		var rejects *rejectsWriter
		if *rejectsFile != "" {
			if rejects, err = newRejectsWriter(*rejectsFile, *plain); err != nil {
				return fmt.Errorf("import: --rejects: %w", err)
			}
			defer rejects.abort()
		}
		var bar *progressbar.ProgressBar
		if f, ok := e.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) && size > 0 && !*asJSON {
			bar = progressbar.DefaultBytes(size, "importing")
		}

		var rep *intake.Report
		err = e.withActor(ctx, who, func(s *ops.Service, actor auth.Actor) error {
			var err error
			rep, err = s.Import(ctx, actor, ops.ImportRequest{
				Reader: in, Source: source, StockID: *stock, Kind: *kind, Name: batchName, Encoding: *encoding,
				CreatorMchID: *creator, MaxRejects: *maxRejects,
				Paused: *paused, StartAt: *startAt, Window: *window, MaxAmountYuan: *maxAmount, Priority: *priority,
				AllowDuplicate: *allowDup, AllowRepeats: *allowRepeats,
				OnReject: func(r intake.Reject) {
					fmt.Fprintf(e.stderr, "%s:%d: %s\n", source, r.Line, r.Reason)
					rejects.add(r)
				},
				OnProgress: func(n int64) {
					if bar != nil {
						_ = bar.Set64(n)
					}
				},
			})
			return err
		})
		if bar != nil {
			_ = bar.Finish()
			fmt.Fprintln(e.stderr)
		}
		if rejects != nil {
			// A rejects file that could not be written in full is an
			// error even when the import succeeded: it must not look
			// complete.
			if werr := rejects.close(); werr != nil {
				return errors.Join(err, fmt.Errorf("import: rejects file %s: %w", *rejectsFile, werr))
			}
		}
		if rep != nil && (err == nil || errors.Is(err, intake.ErrTooManyRejects)) {
			if *asJSON {
				out := map[string]any{
					"batch_id": nullableID(rep.BatchID), "lines": rep.Lines, "accepted": rep.Accepted,
					"duplicates": rep.Duplicates, "repeats": rep.Repeats, "rejected": rep.Rejected, "blank": rep.Blank,
				}
				if rep.BatchID != 0 {
					out["status"] = rep.Status
				}
				if rep.ApprovalReason != "" {
					out["approval_reason"] = rep.ApprovalReason
				}
				if jerr := e.printJSON(out); jerr != nil {
					return jerr
				}
			} else {
				if rep.BatchID != 0 {
					fmt.Fprintf(e.stdout, "batch %d (%s, stock %s, %s) is %s\n", rep.BatchID, batchName, *stock, rep.Encoding, rep.Status)
				}
				fmt.Fprintf(e.stdout, "lines %d = accepted %d + duplicates %d + repeats %d + rejected %d + blank %d\n",
					rep.Lines, rep.Accepted, rep.Duplicates, rep.Repeats, rep.Rejected, rep.Blank)
				if rep.Status == queue.BatchAwaitingApproval {
					fmt.Fprintf(e.stdout, "it waits for approval (%s) by an operator other than its uploader: issuer batch approve %d --as NAME\n",
						rep.ApprovalReason, rep.BatchID)
				}
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

// rejectsWriter saves rejected lines as CSV (line, raw, reason), keeping
// the first write error so that close can report it.
type rejectsWriter struct {
	f   *os.File
	w   *excelcsv.Writer
	err error
}

func newRejectsWriter(path string, plain bool) (*rejectsWriter, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, excelcsv.FileMode)
	if err != nil {
		return nil, outfile.Error(path, err)
	}
	r := &rejectsWriter{f: f, w: excelcsv.NewWriter(f)}
	r.err = excelcsv.WriteBOM(f, plain)
	r.write([]string{"line", "raw", "reason"})
	return r, nil
}

func (r *rejectsWriter) write(rec []string) {
	if r.err == nil {
		r.err = r.w.Write(rec)
	}
}

func (r *rejectsWriter) add(rej intake.Reject) {
	if r != nil {
		r.write([]string{strconv.Itoa(rej.Line), rej.Raw, rej.Reason})
	}
}

// close flushes and closes, reporting the first error of any write.
func (r *rejectsWriter) close() error {
	r.w.Flush()
	err := errors.Join(r.err, r.w.Error(), r.f.Close())
	r.f = nil
	return err
}

// abort closes the file if close was never reached.
func (r *rejectsWriter) abort() {
	if r.f != nil {
		r.f.Close()
	}
}
