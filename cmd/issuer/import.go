package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/issuer-dev/issuer/internal/cmdline"
	"github.com/issuer-dev/issuer/internal/excelcsv"
	"github.com/issuer-dev/issuer/internal/outfile"
	"github.com/issuer-dev/issuer/ops"
)

func cmdImport() *command {
	c := &command{
		name: "import",
		usage: "--stock ID [--kind favor|product] [--name N] [--encoding auto|utf-8|gbk] [--max-rejects N] [--rejects FILE] [--json] " +
			"[--paused] [--start-at T] [--window HH:MM-HH:MM] [--max-amount-yuan Y] [--priority N] [--allow-duplicate] [--allow-repeats] [--as NAME] [--token-file F] FILE|-",
		short: "import a CSV recipient list as a new batch, all or nothing",
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		a, err := parseImport(e, c, args)
		if err != nil {
			return err
		}
		return a.run(ctx, e)
	}
	return c
}

// importArgs are the import command's flags and file.
type importArgs struct {
	req         ops.ImportRequest
	path        string
	rejectsFile string
	plain       bool
	asJSON      bool
	who         identity
}

func parseImport(e *env, c *command, args []string) (*importArgs, error) {
	a := &importArgs{}
	fs := newFlags(e, c)
	fs.StringVar(&a.req.StockID, "stock", "", "stock id (批次号) the batch issues; required")
	fs.StringVar(&a.req.Kind, "kind", ops.KindFavor, "favor (代金券) or product (商品券)")
	fs.StringVar(&a.req.Name, "name", "", "batch name (default: the file name)")
	fs.StringVar(&a.req.Encoding, "encoding", ops.EncodingAuto, "auto, utf-8 or gbk")
	fs.IntVar(&a.req.MaxRejects, "max-rejects", 0, "store the batch even with up to N rejected lines")
	fs.StringVar(&a.rejectsFile, "rejects", "", "write rejected lines (line, raw, reason) as CSV to `FILE` (mode 0640, with a UTF-8 byte-order mark for Excel)")
	fs.BoolVar(&a.plain, "plain", false, "write the --rejects file without the byte-order mark")
	fs.StringVar(&a.req.CreatorMchID, "creator-mchid", "", "stock_creator_mchid when the stock belongs to another merchant (default wxpay.mchid)")
	fs.BoolVar(&a.asJSON, "json", false, "print the accounting as one JSON object")
	// The money guards, passed through as typed (ops parses them).
	for _, g := range ops.GuardFields() {
		fs.Var(guardFlag{req: &a.req.Guards, name: g.Name, bool: g.Bool}, g.Flag, g.Help)
	}
	a.who = identityFlags(fs)
	pos, err := cmdline.Parse(fs, args, e.stdout, e.stderr)
	if err != nil {
		return nil, err
	}
	switch {
	case len(pos) != 1:
		return nil, usagef("import: want exactly one FILE (or - for standard input), got %d", len(pos))
	case a.req.StockID == "":
		return nil, usagef("import: --stock is required")
	case a.req.Kind != ops.KindFavor && a.req.Kind != ops.KindProduct:
		return nil, usagef("import: --kind must be favor or product, got %q", a.req.Kind)
	}
	a.path = pos[0]
	return a, nil
}

// guardFlag is one guard of an import request as a flag.
type guardFlag struct {
	req  *ops.ImportGuards
	name string
	bool bool
}

func (f guardFlag) String() string { return "" } // no default

func (f guardFlag) Set(v string) error {
	if err := f.req.Set(f.name, v); err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), f.name+" "))
	}
	return nil
}

func (f guardFlag) IsBoolFlag() bool { return f.bool }

// run imports the file, printing rejected lines as they are found, and
// prints the accounting.
func (a *importArgs) run(ctx context.Context, e *env) error {
	in, size, closeIn, err := a.open(e)
	if err != nil {
		return err
	}
	defer closeIn()
	var rejects *rejectsWriter
	if a.rejectsFile != "" {
		if rejects, err = newRejectsWriter(a.rejectsFile, a.plain); err != nil {
			return fmt.Errorf("import: --rejects: %w", err)
		}
		defer rejects.abort()
	}
	var bar *progressbar.ProgressBar
	if f, ok := e.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) && size > 0 && !a.asJSON {
		bar = progressbar.DefaultBytes(size, "importing")
	}
	req := a.req
	req.Reader = in
	req.OnReject = func(r ops.Reject) {
		fmt.Fprintf(e.stderr, "%s:%d: %s\n", req.Source, r.Line, r.Reason)
		rejects.add(r)
	}
	req.OnProgress = func(n int64) {
		if bar != nil {
			_ = bar.Set64(n)
		}
	}
	var rep *ops.ImportAnswer
	c := &call{ctx: ctx, e: e}
	err = c.open(onDB, &a.who, func() error {
		var err error
		rep, err = c.s.Import(ctx, c.actor, req)
		return err
	})
	if bar != nil {
		_ = bar.Finish()
		fmt.Fprintln(e.stderr)
	}
	if rejects != nil {
		// A rejects file that could not be written in full is an error
		// even when the import succeeded: it must not look complete.
		if werr := rejects.close(); werr != nil {
			return errors.Join(err, fmt.Errorf("import: rejects file %s: %w", a.rejectsFile, werr))
		}
	}
	if rep != nil && (err == nil || errors.Is(err, ops.ErrTooManyRejects)) {
		if perr := a.print(e, rep); perr != nil {
			return perr
		}
	}
	return err
}

// open opens the file to import (standard input for -), names its source
// and batch, and returns its size (-1 when unknown).
func (a *importArgs) open(e *env) (io.Reader, int64, func(), error) {
	a.req.Source = "-"
	if a.req.Name == "" {
		defer func() { a.req.Name = filepath.Base(a.req.Source) }()
	}
	if a.path == "-" {
		return e.stdin, -1, func() {}, nil
	}
	f, err := os.Open(a.path)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("import: %w", err)
	}
	var size int64 = -1
	if st, err := f.Stat(); err == nil {
		size = st.Size()
	}
	a.req.Source = a.path
	return f, size, func() { f.Close() }, nil
}

// print prints the import's accounting: the contract's JSON object with
// --json (ops.ImportAnswer, as the API answers it), else for a person.
func (a *importArgs) print(e *env, rep *ops.ImportAnswer) error {
	if a.asJSON {
		return e.printJSON(rep)
	}
	if rep.BatchID != 0 {
		fmt.Fprintf(e.stdout, "batch %d (%s, stock %s, %s) is %s\n", rep.BatchID, a.req.Name, a.req.StockID, rep.Encoding, rep.Status)
	}
	fmt.Fprintf(e.stdout, "lines %d = accepted %d + duplicates %d + repeats %d + rejected %d + blank %d\n",
		rep.Lines, rep.Accepted, rep.Duplicates, rep.Repeats, rep.Rejected, rep.Blank)
	if rep.Status == ops.BatchAwaitingApproval {
		fmt.Fprintf(e.stdout, "it waits for approval (%s) by an operator other than its uploader: issuer batch approve %d --as NAME\n",
			rep.ApprovalReason, rep.BatchID)
	}
	return nil
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

func (r *rejectsWriter) add(rej ops.Reject) {
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
