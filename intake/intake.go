// Package intake turns an analyst's CSV recipient list into a batch of
// pending recipients in the queue, all or nothing.
//
// Every input line is accounted for: accepted, duplicate (the same openid
// again in the file), rejected (with its line number and why) or blank, so
// lines = accepted + duplicates + rejected + blank. The file is streamed:
// rows are checked in Go and COPYed inside the transaction that creates the
// batch, so either the batch and all its rows commit, or nothing does.
//
// A file without an out_request_no column (the usual case) is COPYed
// straight into recipients: openids are deduplicated in Go by fingerprint
// and ids and out_request_no come from sequence ranges reserved in bulk
// (see direct.go). A file that supplies out_request_no goes through a
// temporary staging table instead, where clashes with earlier lines and
// stored rows are found in SQL and rejected line by line.
package intake

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Kinds of stock a batch issues.
const (
	KindFavor   = "favor"   // 代金券
	KindProduct = "product" // 商品券
)

// Options describe one import.
type Options struct {
	StockID      string
	Kind         string // favor or product
	Name         string // batch name; default the file's base name
	MchID        string // the issuing merchant: prefix of generated out_request_no
	AppID        string
	CreatorMchID string // stock_creator_mchid; default MchID
	Encoding     string // auto, utf-8 or gbk
	MaxRejects   int    // more rejected lines than this store nothing
	Source       string // file name used in FILE:LINE messages and kept on the batch
	Location     *time.Location
	// DryRun checks and accounts for every line exactly as an import
	// would, then stores nothing (the report's BatchID is 0).
	DryRun bool
	// Guards are the batch's money guards, applied in the importing
	// transaction (see guards.go).
	Guards Guards

	// OnReject is called for each rejected line as it is found, so the
	// caller can print and save them without the import holding them all.
	OnReject func(Reject)
	// OnProgress is called now and then with the bytes read so far.
	OnProgress func(n int64)
	// BeforeCommit, when set, runs in the import's transaction once the
	// batch and its rows are in place, just before it commits (never in a
	// dry run): an error stores nothing. ops writes the import's audit
	// row this way.
	BeforeCommit func(ctx context.Context, tx *sqlx.Tx, rep *Report) error
}

// Reject is one rejected input line.
type Reject struct {
	Line   int    `json:"line"`
	Raw    string `json:"raw"`
	Reason string `json:"reason"`
}

// Report accounts for every line of the input.
type Report struct {
	BatchID    int64 `json:"batch_id"`
	Lines      int   `json:"lines"`
	Accepted   int   `json:"accepted"`
	Duplicates int   `json:"duplicates"`
	Rejected   int   `json:"rejected"`
	Blank      int   `json:"blank"`
	// Repeats are openids that already have a coupon of the stock issued
	// or on its way in another batch: skipped (Guards.AllowRepeats keeps
	// them).
	Repeats int    `json:"repeats"`
	Status  string `json:"status"` // the new batch's status
	// ApprovalReason says which approval threshold the batch reached when
	// it awaits approval.
	ApprovalReason string `json:"approval_reason,omitempty"`
	// ApprovalRule names the threshold reached (RuleMinCoupons, …), and
	// DayCoupons and DayAmountFen are the stock's other batches of the day
	// when a daily threshold was looked at.
	ApprovalRule string `json:"approval_rule,omitempty"`
	DayCoupons   int64  `json:"-"`
	DayAmountFen int64  `json:"-"`
	// AmountFen is the face value of the accepted rows in fen (rows
	// without a coupon_value at the stock's face value); Unvalued counts
	// the rows whose value is unknown (no coupon_value, face value not
	// known), which AmountFen leaves out.
	AmountFen int64  `json:"amount_fen"`
	Unvalued  int64  `json:"unvalued,omitempty"`
	Encoding  string `json:"encoding"`
	SHA256    string `json:"sha256"`
}

// ErrTooManyRejects means the file had more rejected lines than allowed;
// nothing was stored. The Report still accounts for every line.
var ErrTooManyRejects = errors.New("too many rejected lines")

// FatalError is a problem with the file as a whole (no header, an unknown
// column, unreadable bytes); nothing was stored.
type FatalError struct {
	Source string
	Line   int
	Msg    string
}

func (e *FatalError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.Source, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Source, e.Msg)
}

// Import reads a CSV from r and stores it as a new batch. On any error
// nothing is stored. The returned report is complete also when the error is
// ErrTooManyRejects.
//
// Import uses a second connection from db, briefly, to reserve sequence
// numbers outside the import's transaction.
func Import(ctx context.Context, db *sqlx.DB, r io.Reader, opts Options) (*Report, error) {
	return importWith(ctx, db, r, opts, newFingerprints())
}

func importWith(ctx context.Context, db *sqlx.DB, r io.Reader, opts Options, seen *fingerprints) (*Report, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	hasher := sha256.New()
	counter := &countingReader{r: io.TeeReader(r, hasher), progress: opts.OnProgress}
	text, enc, err := decode(counter, opts.Encoding)
	if err != nil {
		return nil, &FatalError{Source: opts.Source, Msg: err.Error()}
	}
	rep := &Report{Encoding: enc}

	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("import: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit

	imp := &importer{opts: opts, rep: rep, enc: enc, seen: seen}
	lr := newLineReader(text)
	cols, err := imp.header(lr)
	if err != nil {
		return rep, err
	}
	sum := func() string { return hex.EncodeToString(hasher.Sum(nil)) }
	if cols.outRequestNo < 0 {
		// Every out_request_no is generated: no clash to look for in SQL,
		// so rows go straight into recipients.
		err = imp.direct(ctx, db, tx, lr, cols, sum)
	} else {
		err = imp.staged(ctx, tx, lr, cols, sum)
	}
	if err != nil {
		return rep, err
	}
	if rep.Rejected > opts.MaxRejects {
		rep.BatchID = 0
		return rep, fmt.Errorf("%w: %d rejected, --max-rejects is %d; nothing stored", ErrTooManyRejects, rep.Rejected, opts.MaxRejects)
	}
	if err := imp.guard(ctx, tx); err != nil {
		rep.BatchID = 0
		return rep, err
	}
	if rep.Accepted == 0 {
		rep.BatchID = 0
		msg := "no recipients in file; nothing stored"
		if rep.Repeats > 0 {
			msg = fmt.Sprintf("every recipient already has a coupon of stock %s issued or on its way in another batch (%d repeats); nothing stored", opts.StockID, rep.Repeats)
		}
		return rep, &FatalError{Source: opts.Source, Msg: msg}
	}
	if opts.DryRun {
		rep.BatchID = 0
		return rep, nil // the deferred rollback stores nothing
	}
	if opts.BeforeCommit != nil {
		if err := opts.BeforeCommit(ctx, tx, rep); err != nil {
			rep.BatchID = 0
			return rep, fmt.Errorf("import: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		rep.BatchID = 0
		return rep, fmt.Errorf("import: commit: %w", err)
	}
	return rep, nil
}

func (o *Options) check() error {
	switch {
	case o.StockID == "":
		return errors.New("import: stock id is required")
	case len(o.StockID) > 128:
		return errors.New("import: stock id longer than 128 characters")
	case o.Kind != KindFavor && o.Kind != KindProduct:
		return fmt.Errorf("import: kind must be favor or product, got %q", o.Kind)
	case o.MchID == "":
		return errors.New("import: merchant id (wxpay.mchid) is required: it prefixes generated out_request_no")
	case o.AppID == "":
		return errors.New("import: appid (wxpay.appid) is required")
	case o.MaxRejects < 0:
		return errors.New("import: max rejects must not be negative")
	}
	if o.CreatorMchID == "" {
		o.CreatorMchID = o.MchID
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Source == "" {
		o.Source = "-"
	}
	if o.Name == "" {
		o.Name = o.Source
	}
	if err := CheckName(o.Name); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	return nil
}

const stageDDL = `CREATE TEMP TABLE import_stage (
	line integer NOT NULL, openid text COLLATE "C" NOT NULL, out_request_no text COLLATE "C",
	coupon_value bigint, coupon_minimum bigint, coupon_code text,
	coupon_type text, member_card_id text
) ON COMMIT DROP`

var stageColumns = []string{"line", "openid", "out_request_no", "coupon_value", "coupon_minimum", "coupon_code", "coupon_type", "member_card_id"}

type importer struct {
	opts Options
	rep  *Report
	enc  string
	seen *fingerprints // openids of the direct path
}

func (imp *importer) reject(line int, raw []byte, reason string) {
	imp.rep.Rejected++
	if imp.opts.OnReject != nil {
		imp.opts.OnReject(Reject{Line: line, Raw: string(raw), Reason: reason})
	}
}

// header reads lines up to the header (the first non-blank line) and
// parses it.
func (imp *importer) header(lr *lineReader) (columns, error) {
	src := imp.opts.Source
	var fields []string
	for {
		line, n, err := lr.read()
		if err == io.EOF {
			return columns{}, &FatalError{Source: src, Msg: "empty file: a header row with an openid column is required"}
		}
		if err != nil {
			return columns{}, imp.readErr(n, err)
		}
		if isBlank(line) {
			imp.rep.Blank++
			imp.rep.Lines++
			continue
		}
		if fields, err = splitFields(fields[:0], line); err != nil {
			return columns{}, &FatalError{Source: src, Line: n, Msg: "header: " + err.Error()}
		}
		cols, err := parseHeader(fields, imp.opts.Kind)
		if err != nil {
			return columns{}, &FatalError{Source: src, Line: n, Msg: err.Error()}
		}
		return cols, nil
	}
}

// rows reads every line after the header, accounts for blank and rejected
// ones and calls fn with each good row and its line number.
func (imp *importer) rows(ctx context.Context, lr *lineReader, cols columns, fn func(n int, r *row) error) error {
	var fields []string
	var row row
	for {
		line, n, err := lr.read()
		if err == io.EOF {
			return nil
		}
		if errors.Is(err, errLineTooLong) {
			imp.rep.Lines++
			imp.reject(n, nil, err.Error())
			continue
		}
		if err != nil {
			return imp.readErr(n, err)
		}
		imp.rep.Lines++
		if isBlank(line) {
			imp.rep.Blank++
			continue
		}
		if imp.enc == EncodingUTF8 && !validUTF8Prefix(line, false) {
			imp.reject(n, line, "not valid UTF-8 (if the file was saved by Excel on Chinese Windows, use --encoding gbk)")
			continue
		}
		fields, err = splitFields(fields[:0], line)
		if err != nil {
			imp.reject(n, line, err.Error())
			continue
		}
		if allEmpty(fields) {
			imp.rep.Blank++ // Excel writes empty rows as ",,"
			continue
		}
		if reason := cols.parseRow(fields, &row); reason != "" {
			imp.reject(n, line, reason)
			continue
		}
		if err := fn(n, &row); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// staged is the path for files with an out_request_no column: rows are
// COPYed into a temporary staging table, where supplied numbers are
// checked for clashes in SQL, and then moved into recipients.
func (imp *importer) staged(ctx context.Context, tx *sqlx.Tx, lr *lineReader, cols columns, sum func() string) error {
	// Room to keep the staging table and the line sort in memory; temp_buffers
	// only takes effect before the session's first temporary table.
	if _, err := tx.ExecContext(ctx, `SET LOCAL temp_buffers = '256MB'; SET LOCAL work_mem = '128MB'`); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if _, err := tx.ExecContext(ctx, stageDDL); err != nil {
		return fmt.Errorf("import: staging table: %w", err)
	}
	stmt, err := tx.PrepareContext(ctx, "COPY import_stage ("+strings.Join(stageColumns, ", ")+") FROM STDIN")
	if err != nil {
		return fmt.Errorf("import: copy: %w", err)
	}
	defer stmt.Close()
	staged, anySupplied := 0, false
	err = imp.rows(ctx, lr, cols, func(n int, row *row) error {
		if row.outRequestNo != nil {
			anySupplied = true
		}
		if _, err := stmt.ExecContext(ctx, n, row.openid, row.outRequestNo, row.couponValue, row.couponMinimum,
			row.couponCode, row.couponType, row.memberCardID); err != nil {
			return fmt.Errorf("import: copy line %d: %w", n, err)
		}
		staged++
		return nil
	})
	if err != nil {
		return err
	}
	if _, err := stmt.ExecContext(ctx); err != nil {
		return fmt.Errorf("import: copy: %w", err)
	}
	imp.rep.SHA256 = sum()
	return imp.load(ctx, tx, staged, anySupplied)
}

func (imp *importer) readErr(line int, err error) error {
	return &FatalError{Source: imp.opts.Source, Line: line, Msg: "read: " + err.Error()}
}

// load creates the batch and moves staged rows into recipients: supplied
// out_request_no are checked for clashes first, then rows go in line order
// so that the first line of each openid wins and the rest, skipped by the
// (batch_id, openid) unique key, count as duplicates.
func (imp *importer) load(ctx context.Context, tx *sqlx.Tx, staged int, anySupplied bool) error {
	o := imp.opts
	rejectedOpenids := []string{} // not nil: a NULL array would match nothing
	if anySupplied {
		var clashes []struct {
			Line         int           `db:"line"`
			OpenID       string        `db:"openid"`
			OutRequestNo string        `db:"out_request_no"`
			FirstLine    int           `db:"first_line"`
			UsedBy       sql.NullInt64 `db:"used_by"`
		}
		// Only each openid's first line can clash: later ones are duplicates.
		err := tx.SelectContext(ctx, &clashes, `
			WITH w AS (
				SELECT DISTINCT ON (openid) line, openid, out_request_no FROM import_stage ORDER BY openid, line
			), c AS (
				SELECT line, openid, out_request_no,
				       first_value(line) OVER (PARTITION BY out_request_no ORDER BY line) AS first_line
				FROM w WHERE out_request_no IS NOT NULL
			)
			SELECT c.line, c.openid, c.out_request_no, c.first_line, r.batch_id AS used_by
			FROM c LEFT JOIN recipients r ON r.mchid = $1 AND r.out_request_no = c.out_request_no
			WHERE c.line <> c.first_line OR r.id IS NOT NULL
			ORDER BY c.line`, o.MchID)
		if err != nil {
			return fmt.Errorf("import: check out_request_no: %w", err)
		}
		for _, c := range clashes {
			reason := fmt.Sprintf("out_request_no %q repeats line %d (it must be unique per merchant)", c.OutRequestNo, c.FirstLine)
			if c.UsedBy.Valid {
				reason = fmt.Sprintf("out_request_no %q is already used by batch %d (it must be unique per merchant)", c.OutRequestNo, c.UsedBy.Int64)
			}
			imp.reject(c.Line, []byte(c.OpenID+","+c.OutRequestNo), reason)
			rejectedOpenids = append(rejectedOpenids, c.OpenID)
		}
	}

	err := tx.GetContext(ctx, &imp.rep.BatchID, `
		INSERT INTO batches (name, stock_id, kind, mchid, appid, stock_creator_mchid, source_file, source_sha256, encoding)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
		o.Name, o.StockID, o.Kind, o.MchID, o.AppID, o.CreatorMchID, o.Source, imp.rep.SHA256, imp.enc)
	if err != nil {
		return fmt.Errorf("import: create batch: %w", err)
	}
	day := time.Now().In(o.Location).Format("20060102")
	res, err := tx.ExecContext(ctx, `
		INSERT INTO recipients (batch_id, mchid, openid, out_request_no, source_line,
			coupon_value, coupon_minimum, coupon_code, coupon_type, member_card_id)
		SELECT $1, $2, openid,
		       coalesce(out_request_no, $2 || $3 || lpad(nextval('out_request_seq')::text, 10, '0')),
		       line, coupon_value, coupon_minimum, coupon_code, coupon_type, member_card_id
		FROM import_stage
		WHERE NOT (openid = ANY($4))
		ORDER BY line
		ON CONFLICT (batch_id, openid) DO NOTHING`,
		imp.rep.BatchID, o.MchID, day, pq.StringArray(rejectedOpenids))
	if err != nil {
		var pqErr *pq.Error
		if errors.As(err, &pqErr) && pqErr.Constraint == "recipients_out_request_no_key" {
			return fmt.Errorf("import: a generated out_request_no collides with one already stored (%s); nothing stored", pqErr.Detail)
		}
		return fmt.Errorf("import: insert recipients: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("import: insert recipients: %w", err)
	}
	imp.rep.Accepted = int(n)
	// Every staged line is accepted, rejected for a clash, or a duplicate
	// (including later lines of an openid whose first line was rejected).
	imp.rep.Duplicates = staged - imp.rep.Accepted - len(rejectedOpenids)
	return imp.finish(ctx, tx)
}

// finish refreshes statistics and stores the accounting on the batch.
func (imp *importer) finish(ctx context.Context, tx *sqlx.Tx) error {
	// Fresh statistics: a large import otherwise leaves the planner
	// believing the table is as small as it was.
	if _, err := tx.ExecContext(ctx, `ANALYZE recipients`); err != nil {
		return fmt.Errorf("import: analyze: %w", err)
	}
	_, err := tx.ExecContext(ctx, `
		UPDATE batches SET lines = $2, accepted = $3, duplicates = $4, rejected = $5, blank = $6, source_sha256 = $7 WHERE id = $1`,
		imp.rep.BatchID, imp.rep.Lines, imp.rep.Accepted, imp.rep.Duplicates, imp.rep.Rejected, imp.rep.Blank, imp.rep.SHA256)
	if err != nil {
		return fmt.Errorf("import: record counts: %w", err)
	}
	return nil
}

func isBlank(line []byte) bool {
	return len(bytes.TrimSpace(line)) == 0
}

func allEmpty(fields []string) bool {
	for _, f := range fields {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

type countingReader struct {
	r        io.Reader
	n        int64
	reported int64
	progress func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.progress != nil && (c.n-c.reported >= 1<<20 || err == io.EOF) {
		c.reported = c.n
		c.progress(c.n)
	}
	return n, err
}
