package report

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/issuer-dev/issuer/queue"
)

// Format is a report's output format.
type Format string

// Formats.
const (
	Text Format = "text"
	CSV  Format = "csv"
	XLSX Format = "xlsx"
)

// ParseFormat accepts text, csv and xlsx.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case Text, CSV, XLSX:
		return f, nil
	}
	return "", fmt.Errorf("format %q: want text, csv or xlsx", s)
}

// FormatFor is the format a report written to the file out takes: the
// format asked for when given, else the one out's extension names, else
// text. An extension that names no format (report.pdf) is refused rather
// than filled with text under a misleading name.
func FormatFor(asked, out string) (Format, error) {
	if asked != "" {
		return ParseFormat(asked)
	}
	switch ext := strings.ToLower(filepath.Ext(out)); ext {
	case ".xlsx":
		return XLSX, nil
	case ".csv":
		return CSV, nil
	case "", ".txt", ".text":
		return Text, nil
	default:
		return "", fmt.Errorf("-o %s: issuer writes no %s files; use a .txt, .csv or .xlsx name, or give --format", out, ext)
	}
}

// Usage sources: where a stock's "used" figures come from.
const (
	// UsageFlowFiles: a use-flow file is loaded for the stock; its rows are
	// authoritative, and stored callbacks are only checked against them.
	UsageFlowFiles = "flow_files"
	// UsageCallbacks: no use-flow file is loaded for the stock yet (the
	// campaign is running); usage so far is what stored COUPON.USE
	// callbacks report. Refunds and order amounts are only in the files.
	UsageCallbacks = "callbacks"
)

// Options scope a report.
type Options struct {
	// StockID limits a reconciliation report to one stock.
	StockID string
	// AsOf (YYYY-MM-DD) counts only rows first seen in files fetched for
	// that day or before, and callbacks received by the end of that day;
	// "" counts every row.
	AsOf string
	// Location gives the days of the daily redemptions and the times shown;
	// an IANA zone (time.Local counts as UTC). Default Asia/Shanghai.
	Location *time.Location
	// MaxProblems bounds the problems listed (all are counted); default
	// 100000.
	MaxProblems int
	// Progress, when set, is told how many recipients the Excel file's
	// recipient sheet holds so far, every progressEvery rows and at its
	// end.
	Progress func(rows int)
}

// progressEvery is how often Options.Progress hears of the rows written.
const progressEvery = 1000

// Line is the figures of one batch, or of the coupons of a stock that no
// batch issued (BatchID 0). Amounts are in fen.
type Line struct {
	BatchID    int64
	BatchName  string
	StockID    string
	Recipients int
	Issued     int
	// UsageSource says where Used, UsedAmount and Orders come from:
	// UsageFlowFiles, or UsageCallbacks (used so far).
	UsageSource    string
	Used           int // coupons with a use
	Refunded       int // used coupons with a refund in the refund-flow
	NetUsed        int // coupons used more often than refunded
	UsedAmount     int64
	RefundedAmount int64
	Orders         int   // distinct payment transactions
	OrderAmount    int64 // only known from the use-flow: see OrderAmountKnown
	// Recipients that are not issued: in doubt (WeChat Pay may have issued
	// them: pending or in review), in review for another reason, pending
	// (not sent yet, or refused with a retryable answer), failed, and
	// cancelled (never issued, terminal).
	InDoubt   int
	Review    int
	Pending   int
	Failed    int
	Cancelled int
	// Problems counted on this line.
	UnknownCoupons    int
	RefundsWithoutUse int
	UsedBeforeIssue   int
	CallbackOnly      int // COUPON.USE callbacks without a use in the file
	FileOnly          int // uses in the file without a callback
}

// NetUsedAmount is the discount used, less what refunds gave back.
func (l Line) NetUsedAmount() int64 { return l.UsedAmount - l.RefundedAmount }

// OrderAmountKnown says whether OrderAmount is a figure: callbacks carry
// no order amount.
func (l Line) OrderAmountKnown() bool { return l.UsageSource != UsageCallbacks }

// add sums o into l, for stock totals.
func (l *Line) add(o Line) {
	l.Recipients += o.Recipients
	l.Issued += o.Issued
	l.Used += o.Used
	l.Refunded += o.Refunded
	l.NetUsed += o.NetUsed
	l.UsedAmount += o.UsedAmount
	l.RefundedAmount += o.RefundedAmount
	l.Orders += o.Orders
	l.OrderAmount += o.OrderAmount
	l.InDoubt += o.InDoubt
	l.Review += o.Review
	l.Pending += o.Pending
	l.Failed += o.Failed
	l.Cancelled += o.Cancelled
	l.UnknownCoupons += o.UnknownCoupons
	l.RefundsWithoutUse += o.RefundsWithoutUse
	l.UsedBeforeIssue += o.UsedBeforeIssue
	l.CallbackOnly += o.CallbackOnly
	l.FileOnly += o.FileOnly
}

// UseRate is Used ÷ Issued with 4 decimals, rounded half up, computed
// exactly ("0.3000"); "" when nothing was issued.
func (l Line) UseRate() string { return ratio(l.Used, l.Issued, 4) }

// UseRatePercent is the use rate as a percentage with 2 decimals ("30.00%").
func (l Line) UseRatePercent() string { return percent(l.Used, l.Issued) }

// percent renders num/den as a percentage with 2 decimals, "-" for 0/0.
func percent(num, den int) string {
	r := ratio(num, den, 4)
	if r == "" {
		return "-"
	}
	// 0.3012 → 30.12%
	whole, frac, _ := strings.Cut(r, ".")
	w, _ := strconv.Atoi(whole)
	return fmt.Sprintf("%d.%s%%", w*100+int(frac[0]-'0')*10+int(frac[1]-'0'), frac[2:])
}

// ratio renders num/den with the given decimals, rounded half up, in
// integer arithmetic.
func ratio(num, den, decimals int) string {
	if den <= 0 {
		return ""
	}
	scale := int64(1)
	for range decimals {
		scale *= 10
	}
	q := (int64(num)*scale*2 + int64(den)) / (int64(den) * 2)
	return fmt.Sprintf("%d.%0*d", q/scale, decimals, q%scale)
}

// Class is how many recipients ended one way.
type Class struct {
	Key   string // used, refunded, unused, issued, in_doubt, review, pending, cancelled, failed:<outcome>
	Label string // 已核销, 已退款, …
	Count int
}

// classOrder and labels of the classes; failed:<outcome> classes follow.
var classOrder = []struct{ key, label string }{
	{"used", "已核销 used"},
	{"refunded", "已退款 refunded"},
	{"unused", "未使用 unused"},
	{"issued", "已发放 issued"},
	{"in_doubt", "待确认 in doubt"},
	{"review", "待复核 review"},
	{"pending", "待发放 pending"},
	{"cancelled", "已取消 cancelled"},
}

func classLabel(key string) string {
	for _, c := range classOrder {
		if c.key == key {
			return c.label
		}
	}
	if o, ok := strings.CutPrefix(key, "failed:"); ok {
		return "发放失败 " + o
	}
	return key
}

// Day is one day's redemptions and refunds. Amounts are in fen.
type Day struct {
	Date           time.Time // midnight UTC of the day in Options.Location
	Uses           int
	UsedAmount     int64
	Refunds        int
	RefundedAmount int64
}

// File is a flow file fetched for the report's stocks.
type File struct {
	StockID      string    `db:"stock_id"`
	Kind         string    `db:"kind"`
	Date         string    `db:"file_date"`
	SHA1         string    `db:"sha1"`
	Path         string    `db:"path"`
	Bytes        int64     `db:"bytes"`
	Rows         int       `db:"rows"`
	NewRows      int       `db:"new_rows"`
	Status       string    `db:"status"`
	Error        string    `db:"error"`
	DownloadedAt time.Time `db:"downloaded_at"`
}

// Problem is one thing for an analyst to review.
type Problem struct {
	Kind         string     `db:"kind"`
	StockID      string     `db:"stock_id"`
	BatchID      *int64     `db:"batch_id"`
	CouponID     string     `db:"coupon_id"`
	OpenID       string     `db:"openid"`
	OutRequestNo string     `db:"out_request_no"` // of a recipient in doubt or in review
	At           *time.Time `db:"at"`
	Amount       *int64     `db:"amount"` // fen
	Detail       string     `db:"detail"`
	// Note is the recipient's note: settlement evidence, or why a person
	// must look.
	Note string `db:"note"`
}

// Problem kinds, in the order reports list them. The recipients kinds come
// first: rows WeChat Pay may have issued, which no figure counts as "not
// issued".
var (
	recipientKinds = []string{"in_doubt", "review"}
	otherKinds     = []string{"footer_mismatch", "file_rejected", "unknown_coupon", "refund_without_use",
		"used_before_issue", "callback_not_in_file", "use_without_callback"}
	problemKinds = append(slices.Clone(recipientKinds), otherKinds...)
)

// IsRecipientProblem says whether a problem kind is a recipient in doubt or
// in review, the first section of the problems.
func IsRecipientProblem(kind string) bool { return slices.Contains(recipientKinds, kind) }

// Report is a batch or reconciliation report, ready to write. Every figure
// and row in it, and every recipient EachRecipient streams, comes from one
// snapshot of the database (a read-only REPEATABLE READ transaction), so
// its formats and the sheets of one workbook agree with each other while
// issuing and callbacks go on. Close releases the snapshot.
type Report struct {
	Title    string
	Batch    *queue.Batch // the batch of a batch report, its counts from the snapshot
	Stocks   []string
	AsOf     string // "" for every row
	Location *time.Location
	// Usage is each stock's usage source, UsageFlowFiles or UsageCallbacks.
	Usage    map[string]string
	Lines    []Line
	Classes  []Class
	Days     []Day
	Files    []File
	Problems []Problem // listed, at most Options.MaxProblems, recipients kinds first
	// ProblemCounts counts every problem by kind, listed or not.
	ProblemCounts map[string]int

	tx          *sqlx.Tx
	scope       scope
	maxProblems int
	progress    func(rows int)
}

// Close ends the report's snapshot. A closed report still writes text, and
// the reconciliation CSV; the rest stream recipients from the snapshot.
func (r *Report) Close() error {
	if r.tx == nil {
		return nil
	}
	err := r.tx.Rollback()
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}

// ProblemsTotal counts every problem.
func (r *Report) ProblemsTotal() int {
	n := 0
	for _, c := range r.ProblemCounts {
		n += c
	}
	return n
}

// Section is the problems of one section: recipients in doubt or in review,
// or the others.
type Section struct {
	Kinds  []string
	Listed []Problem
	Total  int // listed or not
}

// Unlisted counts the section's problems not in Listed.
func (s Section) Unlisted() int { return s.Total - len(s.Listed) }

// RecipientProblems is the first section: recipients in doubt or in review.
func (r *Report) RecipientProblems() Section { return r.section(recipientKinds) }

// OtherProblems is the second section: files, coupons and callbacks.
func (r *Report) OtherProblems() Section { return r.section(otherKinds) }

func (r *Report) section(kinds []string) Section {
	s := Section{Kinds: kinds}
	for _, p := range r.Problems {
		if slices.Contains(kinds, p.Kind) {
			s.Listed = append(s.Listed, p)
		}
	}
	for _, k := range kinds {
		s.Total += r.ProblemCounts[k]
	}
	return s
}

// scope is what a report's queries take: $1 stocks, $2 as-of day, $3 batch
// (0 for every favor batch of the stocks), $4 time zone, $5 the end of the
// as-of day (NULL without one), callbacks received before it count.
type scope struct {
	stocks   []string
	asOf     string
	batch    int64
	tz       string
	received *time.Time
}

func (s scope) args() []any {
	return []any{pq.Array(s.stocks), s.asOf, s.batch, s.tz, s.received}
}

// snapshot begins the read-only transaction every query of a report runs
// in: REPEATABLE READ, so they all see the database as of the first one.
func snapshot(ctx context.Context, db *sqlx.DB) (*sqlx.Tx, error) {
	return db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
}

// Batch builds the report of one batch. Close the report when written.
func Batch(ctx context.Context, db *sqlx.DB, id int64, opts Options) (_ *Report, err error) {
	tx, err := snapshot(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("report batch %d: %w", id, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	b, err := batchOf(ctx, tx, id)
	if err != nil {
		return nil, fmt.Errorf("report batch %d: %w", id, err)
	}
	r, err := newReport(tx, []string{b.StockID}, id, opts)
	if err != nil {
		return nil, err
	}
	r.Batch = b
	r.Title = fmt.Sprintf("Batch %d %q — stock %s (%s), %s", b.ID, b.Name, b.StockID, b.Kind, b.Status)
	if err := r.load(ctx); err != nil {
		return nil, fmt.Errorf("report batch %d: %w", id, err)
	}
	return r, nil
}

// batchOf reads a batch and its counts by status in the snapshot.
func batchOf(ctx context.Context, tx *sqlx.Tx, id int64) (*queue.Batch, error) {
	var b queue.Batch
	err := tx.GetContext(ctx, &b, `SELECT id, name, stock_id, kind, mchid, appid, stock_creator_mchid, status,
		halt_reason, source_file, source_sha256, lines, accepted, duplicates, rejected, blank, created_at, updated_at
		FROM batches WHERE id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("batch %d: %w", id, queue.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	b.Counts = map[string]int{}
	for _, st := range queue.RecipientStatuses {
		b.Counts[st] = 0
	}
	rows, err := tx.QueryContext(ctx, `SELECT status, count(*), count(*) FILTER (WHERE in_doubt)
		FROM recipients WHERE batch_id = $1 GROUP BY status`, id)
	if err != nil {
		return nil, fmt.Errorf("counts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n, doubt int
		if err := rows.Scan(&st, &n, &doubt); err != nil {
			return nil, fmt.Errorf("counts: %w", err)
		}
		b.Counts[st] = n
		b.InDoubt += doubt
	}
	return &b, rows.Err()
}

// ErrNoData is returned for a stock with neither batches nor flow files.
var ErrNoData = errors.New("no 代金券 batches and no flow files")

// Reconciliation builds the report of every 代金券 stock issuer issued from
// or fetched files for, or of Options.StockID. Close the report when
// written.
func Reconciliation(ctx context.Context, db *sqlx.DB, opts Options) (_ *Report, err error) {
	tx, err := snapshot(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("report reconcile: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	stocks, err := reconciledStocks(ctx, tx, opts.StockID)
	if err != nil {
		return nil, fmt.Errorf("report reconcile: %w", err)
	}
	if opts.StockID != "" && len(stocks) == 0 {
		return nil, fmt.Errorf("report reconcile: stock %s: %w", opts.StockID, ErrNoData)
	}
	r, err := newReport(tx, stocks, 0, opts)
	if err != nil {
		return nil, err
	}
	r.Title = "Reconciliation of 代金券 stocks " + strings.Join(stocks, ", ")
	if len(stocks) == 0 {
		r.Title = "Reconciliation: " + ErrNoData.Error() + " yet"
	}
	if err := r.load(ctx); err != nil {
		return nil, fmt.Errorf("report reconcile: %w", err)
	}
	return r, nil
}

// reconciledStocks lists the 代金券 stocks issuer issued from or fetched
// flow files for, or only stock when set.
func reconciledStocks(ctx context.Context, tx *sqlx.Tx, stock string) ([]string, error) {
	var stocks []string
	err := tx.SelectContext(ctx, &stocks, `
		SELECT stock_id FROM batches WHERE kind = 'favor' AND ($1 = '' OR stock_id = $1)
		UNION
		SELECT stock_id FROM flow_files WHERE $1 = '' OR stock_id = $1
		ORDER BY 1`, stock)
	return stocks, err
}

func newReport(tx *sqlx.Tx, stocks []string, batch int64, opts Options) (*Report, error) {
	loc := opts.Location
	if loc == nil {
		// An IANA name, which PostgreSQL knows (not wxpay.Beijing's CST).
		var err error
		if loc, err = time.LoadLocation("Asia/Shanghai"); err != nil {
			loc = time.FixedZone("Asia/Shanghai", 8*3600)
		}
	}
	if loc.String() == "Local" { // not a name PostgreSQL knows
		loc = time.UTC
	}
	asOf := "9999-12-31"
	var received *time.Time
	if opts.AsOf != "" {
		day, err := time.ParseInLocation(time.DateOnly, opts.AsOf, loc)
		if err != nil {
			return nil, fmt.Errorf("report: date %q is not YYYY-MM-DD", opts.AsOf)
		}
		asOf = opts.AsOf
		end := day.AddDate(0, 0, 1)
		received = &end
	}
	if stocks == nil {
		stocks = []string{}
	}
	maxProblems := opts.MaxProblems
	if maxProblems <= 0 {
		maxProblems = 100000
	}
	return &Report{
		Stocks: stocks, AsOf: opts.AsOf, Location: loc, Usage: map[string]string{}, ProblemCounts: map[string]int{},
		tx:    tx,
		scope: scope{stocks: stocks, asOf: asOf, batch: batch, tz: loc.String(), received: received}, maxProblems: maxProblems,
		progress: opts.Progress,
	}, nil
}

// baseCTE names every piece the report's queries share, for the scope:
//
//	last_use_file      per stock, when its last use-flow counted was
//	                   downloaded; a stock without one is still being
//	                   redeemed: its usage so far comes from callbacks
//	callback_rows      the stored COUPON.USE callbacks in scope
//	callback_uses      those callbacks, one per coupon
//	first_callback     per stock, the first use a callback reported
//	file_uses          the uses in the use-flow files, per coupon, as of the day
//	usage              usage per coupon, from its stock's source (files, else callbacks)
//	file_refunds       the refunds in the refund-flow files, per coupon
//	scoped_recipients  the recipients in scope
//	classified         each recipient with its coupon's uses, refunds and class
//	flow_coupons       every coupon the files or callbacks mention
//	unknown_coupons    those of them issuer never issued
//	problems           everything to review, recipients in doubt or in review first
const baseCTE = `
WITH last_use_file AS (
	SELECT stock_id, max(downloaded_at) AS at FROM flow_files
	WHERE kind = 'use' AND status = 'loaded' AND stock_id = ANY($1::text[]) AND file_date <= $2::date
	GROUP BY stock_id),
callback_rows AS (
	SELECT stock_id, coupon_id, notification_id, consume_time, received_at, coupon_amount, transaction_id, consume_mchid
	FROM coupon_use_callbacks
	WHERE stock_id = ANY($1::text[]) AND ($5::timestamptz IS NULL OR received_at < $5::timestamptz)),
callback_uses AS (
	SELECT stock_id, coupon_id, min(consume_time) AS consume_time, min(received_at) AS received_at,
	       min(notification_id) AS id, min(coupon_amount) AS amount, min(transaction_id) AS transaction_id,
	       min(consume_mchid) AS consume_mchid
	FROM callback_rows GROUP BY stock_id, coupon_id),
first_callback AS (
	SELECT stock_id, min(coalesce(consume_time, received_at)) AS at FROM callback_rows GROUP BY stock_id),
file_uses AS (
	SELECT stock_id, coupon_id, count(*) AS n, sum(amount) AS amount, min(used_at) AS first_at
	FROM flow_uses WHERE stock_id = ANY($1::text[]) AND first_date <= $2::date
	GROUP BY stock_id, coupon_id),
usage AS (
	SELECT file_uses.*, 'flow_files' AS src FROM file_uses WHERE EXISTS (SELECT 1 FROM last_use_file lf WHERE lf.stock_id = file_uses.stock_id)
	UNION ALL
	SELECT callback_uses.stock_id, callback_uses.coupon_id, 1, coalesce(callback_uses.amount, 0), coalesce(callback_uses.consume_time, callback_uses.received_at), 'callbacks'
	FROM callback_uses WHERE NOT EXISTS (SELECT 1 FROM last_use_file lf WHERE lf.stock_id = callback_uses.stock_id)),
file_refunds AS (
	SELECT stock_id, coupon_id, count(*) AS n, sum(amount) AS amount, min(refunded_at) AS first_at, max(refunded_at) AS last_at
	FROM flow_refunds WHERE stock_id = ANY($1::text[]) AND first_date <= $2::date
	GROUP BY stock_id, coupon_id),
scoped_recipients AS (
	SELECT r.id, r.batch_id, b.stock_id, b.kind, r.openid, r.out_request_no, r.status, r.outcome, r.coupon_id,
	       r.issued_at, r.last_attempt_at, r.attempts, r.wx_code, r.wx_message, r.in_doubt, r.note
	FROM recipients r JOIN batches b ON b.id = r.batch_id
	WHERE b.stock_id = ANY($1::text[])
	  AND CASE WHEN $3::bigint = 0 THEN b.kind = 'favor' ELSE b.id = $3::bigint END),
classified AS (
	SELECT scoped_recipients.*, coalesce(usage.n, 0) AS uses, coalesce(usage.amount, 0) AS used_amount, usage.first_at AS used_at,
	       coalesce(file_refunds.n, 0) AS refunds, coalesce(file_refunds.amount, 0) AS refunded_amount, file_refunds.last_at AS refunded_at,
	       CASE
	         WHEN scoped_recipients.status = 'issued' AND scoped_recipients.kind = 'product' THEN 'issued'
	         WHEN scoped_recipients.status = 'issued' AND coalesce(usage.n, 0) > coalesce(file_refunds.n, 0) THEN 'used'
	         WHEN scoped_recipients.status = 'issued' AND usage.n > 0 THEN 'refunded'
	         WHEN scoped_recipients.status = 'issued' THEN 'unused'
	         WHEN scoped_recipients.in_doubt THEN 'in_doubt'
	         WHEN scoped_recipients.status = 'review' THEN 'review'
	         WHEN scoped_recipients.status IN ('pending', 'in_flight') THEN 'pending'
	         WHEN scoped_recipients.status = 'cancelled' THEN 'cancelled'
	         ELSE 'failed:' || coalesce(scoped_recipients.outcome, 'unknown')
	       END AS class
	FROM scoped_recipients
	LEFT JOIN usage ON usage.stock_id = scoped_recipients.stock_id AND usage.coupon_id = scoped_recipients.coupon_id
	LEFT JOIN file_refunds ON file_refunds.stock_id = scoped_recipients.stock_id AND file_refunds.coupon_id = scoped_recipients.coupon_id),
flow_coupons AS (SELECT stock_id, coupon_id FROM usage UNION SELECT stock_id, coupon_id FROM file_refunds),
unknown_coupons AS (
	SELECT flow_coupons.stock_id, flow_coupons.coupon_id FROM flow_coupons
	WHERE NOT EXISTS (SELECT 1 FROM recipients r JOIN batches b ON b.id = r.batch_id
	                  WHERE r.coupon_id = flow_coupons.coupon_id AND b.stock_id = flow_coupons.stock_id)),
problems AS (
	SELECT CASE WHEN classified.in_doubt THEN 0 ELSE 1 END AS ord, CASE WHEN classified.in_doubt THEN 'in_doubt' ELSE 'review' END AS kind,
	       classified.stock_id, classified.batch_id, coalesce(classified.coupon_id, '') AS coupon_id, classified.openid, classified.out_request_no,
	       classified.last_attempt_at AS at, NULL::bigint AS amount,
	       CASE
	         WHEN classified.in_doubt AND classified.status = 'review' THEN 'in doubt, in review: '
	         WHEN classified.in_doubt THEN 'in doubt, pending (sent again with the same out_request_no): '
	         ELSE 'in review: '
	       END || 'last answer ' || coalesce(classified.outcome, 'none') ||
	       coalesce(' (' || nullif(trim(coalesce(classified.wx_code, '') || ' ' || coalesce(classified.wx_message, '')), '') || ')', '') ||
	       ' after ' || classified.attempts || CASE WHEN classified.attempts = 1 THEN ' attempt' ELSE ' attempts' END ||
	       CASE WHEN classified.in_doubt THEN '; WeChat Pay may have issued it' ELSE '' END AS detail,
	       coalesce(classified.note, '') AS note
	FROM classified WHERE classified.in_doubt OR classified.status = 'review'
	UNION ALL
	SELECT 2, CASE WHEN ff.error LIKE '%总条数%' THEN 'footer_mismatch' ELSE 'file_rejected' END,
	       ff.stock_id, NULL::bigint, '', '', '', ff.downloaded_at, NULL::bigint,
	       ff.kind || '-flow of ' || to_char(ff.file_date, 'YYYY-MM-DD') || ' rejected, nothing loaded: ' || ff.error ||
	       ' (sha1 ' || ff.sha1 || ', kept at ' || ff.path || ')', ''
	FROM flow_files ff WHERE ff.status = 'rejected' AND ff.stock_id = ANY($1::text[]) AND ff.file_date <= $2::date
	  AND NOT EXISTS (SELECT 1 FROM flow_files g  -- a good file fetched since replaces it
	                  WHERE g.stock_id = ff.stock_id AND g.kind = ff.kind AND g.status = 'loaded'
	                    AND g.file_date <= $2::date AND g.downloaded_at > ff.downloaded_at)
	UNION ALL
	SELECT 3, 'unknown_coupon', unknown_coupons.stock_id, NULL, unknown_coupons.coupon_id, '', '', coalesce(usage.first_at, file_refunds.first_at),
	       coalesce(usage.amount, file_refunds.amount),
	       CASE WHEN usage.coupon_id IS NULL THEN 'in the refund-flow; issuer never issued it'
	            WHEN usage.src = 'callbacks' THEN 'a COUPON.USE callback reports its use; issuer never issued it'
	            ELSE 'in the use-flow; issuer never issued it' END, ''
	FROM unknown_coupons LEFT JOIN usage USING (stock_id, coupon_id) LEFT JOIN file_refunds USING (stock_id, coupon_id)
	WHERE $3::bigint = 0
	UNION ALL
	SELECT 4, 'refund_without_use', file_refunds.stock_id, scoped_recipients.batch_id, file_refunds.coupon_id, coalesce(scoped_recipients.openid, ''), '', file_refunds.first_at, file_refunds.amount,
	       CASE WHEN lf.stock_id IS NULL THEN 'refunded; no COUPON.USE callback reports a use of it'
	            ELSE 'refunded; the use-flow has no use of it' END, ''
	FROM file_refunds LEFT JOIN usage USING (stock_id, coupon_id)
	LEFT JOIN last_use_file lf ON lf.stock_id = file_refunds.stock_id
	LEFT JOIN scoped_recipients ON scoped_recipients.stock_id = file_refunds.stock_id AND scoped_recipients.coupon_id = file_refunds.coupon_id
	WHERE usage.coupon_id IS NULL AND ($3::bigint = 0 OR scoped_recipients.id IS NOT NULL)
	UNION ALL
	SELECT 5, 'used_before_issue', classified.stock_id, classified.batch_id, classified.coupon_id, classified.openid, '', classified.used_at, classified.used_amount,
	       'used ' || to_char(classified.used_at AT TIME ZONE $4::text, 'YYYY-MM-DD HH24:MI:SS') || ', issued ' ||
	       to_char(classified.issued_at AT TIME ZONE $4::text, 'YYYY-MM-DD HH24:MI:SS'), ''
	FROM classified WHERE classified.used_at < date_trunc('second', classified.issued_at)
	UNION ALL
	SELECT 6, 'callback_not_in_file', callback_uses.stock_id, scoped_recipients.batch_id, callback_uses.coupon_id, coalesce(scoped_recipients.openid, ''), '', callback_uses.consume_time,
	       NULL::bigint, 'COUPON.USE callback ' || callback_uses.id || ' reports a use; the use-flow has none', ''
	FROM callback_uses JOIN last_use_file lf ON lf.stock_id = callback_uses.stock_id AND callback_uses.received_at <= lf.at
	LEFT JOIN file_uses ON file_uses.stock_id = callback_uses.stock_id AND file_uses.coupon_id = callback_uses.coupon_id
	LEFT JOIN scoped_recipients ON scoped_recipients.stock_id = callback_uses.stock_id AND scoped_recipients.coupon_id = callback_uses.coupon_id
	WHERE file_uses.coupon_id IS NULL AND ($3::bigint = 0 OR scoped_recipients.id IS NOT NULL)
	UNION ALL
	SELECT 7, 'use_without_callback', file_uses.stock_id, scoped_recipients.batch_id, file_uses.coupon_id, coalesce(scoped_recipients.openid, ''), '', file_uses.first_at, file_uses.amount,
	       'in the use-flow; no COUPON.USE callback stored for it', ''
	FROM file_uses JOIN last_use_file lf ON lf.stock_id = file_uses.stock_id
	JOIN first_callback cf ON cf.stock_id = file_uses.stock_id AND file_uses.first_at >= cf.at
	LEFT JOIN callback_uses ON callback_uses.stock_id = file_uses.stock_id AND callback_uses.coupon_id = file_uses.coupon_id
	LEFT JOIN scoped_recipients ON scoped_recipients.stock_id = file_uses.stock_id AND scoped_recipients.coupon_id = file_uses.coupon_id
	WHERE callback_uses.coupon_id IS NULL AND ($3::bigint = 0 OR scoped_recipients.id IS NOT NULL))
`

// load reads the report's figures and listed problems, in the snapshot.
func (r *Report) load(ctx context.Context) error {
	for _, step := range []func(context.Context) error{r.loadUsage, r.loadLines, r.loadClasses, r.loadDays, r.loadFiles, r.loadProblems} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (r *Report) query(ctx context.Context, sql string, fn func(*sqlx.Rows) error) error {
	rows, err := r.tx.QueryxContext(ctx, baseCTE+sql, r.scope.args()...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (r *Report) loadUsage(ctx context.Context) error {
	if !r.reconciled() {
		return nil // 商品券: no usage is reported
	}
	for _, s := range r.Stocks {
		r.Usage[s] = UsageCallbacks
	}
	return r.query(ctx, `SELECT stock_id FROM last_use_file`, func(rows *sqlx.Rows) error {
		var s string
		if err := rows.Scan(&s); err != nil {
			return fmt.Errorf("usage source: %w", err)
		}
		r.Usage[s] = UsageFlowFiles
		return nil
	})
}

// UsageFromCallbacks lists the report's stocks whose usage so far comes from
// callbacks.
func (r *Report) UsageFromCallbacks() []string {
	var out []string
	for _, s := range r.Stocks {
		if r.Usage[s] == UsageCallbacks {
			out = append(out, s)
		}
	}
	return out
}

// lineSet gathers the report's lines by batch and stock while they load.
type lineSet struct {
	byKey map[string]*Line
	usage map[string]string
}

// get is the line of batch (0: coupons issuer did not issue) and stock,
// made when first asked for.
func (ls *lineSet) get(batch int64, stock string) *Line {
	k := strconv.FormatInt(batch, 10) + "/" + stock
	if l, ok := ls.byKey[k]; ok {
		return l
	}
	l := &Line{BatchID: batch, StockID: stock, UsageSource: ls.usage[stock]}
	ls.byKey[k] = l
	return l
}

// loadLines loads the lines per batch and stock: the recipients' counts
// and amounts, the orders, the problems, and the batches' names.
func (r *Report) loadLines(ctx context.Context) error {
	ls := &lineSet{byKey: map[string]*Line{}, usage: r.Usage}
	for _, step := range []struct {
		what string
		load func(context.Context, *lineSet) error
	}{
		{"lines", r.loadLineCounts},
		{"orders", r.loadLineOrders},
		{"problem counts", r.loadLineProblems},
		{"batch names", r.loadLineNames},
	} {
		if err := step.load(ctx, ls); err != nil {
			return fmt.Errorf("%s: %w", step.what, err)
		}
	}
	for _, l := range ls.byKey {
		r.Lines = append(r.Lines, *l)
	}
	// Stocks in order, each stock's batches in order, its unmatched line last.
	sort.Slice(r.Lines, func(i, j int) bool {
		a, b := r.Lines[i], r.Lines[j]
		if a.StockID != b.StockID {
			return a.StockID < b.StockID
		}
		if (a.BatchID == 0) != (b.BatchID == 0) {
			return b.BatchID == 0
		}
		return a.BatchID < b.BatchID
	})
	return nil
}

// loadLineCounts counts the recipients of each line by class, and the
// uses and refunds of coupons issuer did not issue.
func (r *Report) loadLineCounts(ctx context.Context, ls *lineSet) error {
	return r.query(ctx, `
		SELECT classified.batch_id, classified.stock_id, count(*), count(*) FILTER (WHERE classified.status = 'issued'),
		       count(*) FILTER (WHERE classified.uses > 0), count(*) FILTER (WHERE classified.uses > 0 AND classified.refunds > 0),
		       count(*) FILTER (WHERE classified.uses > classified.refunds), sum(classified.used_amount),
		       coalesce(sum(classified.refunded_amount) FILTER (WHERE classified.uses > 0), 0),
		       count(*) FILTER (WHERE classified.class = 'in_doubt'), count(*) FILTER (WHERE classified.class = 'review'),
		       count(*) FILTER (WHERE classified.class = 'pending'), count(*) FILTER (WHERE classified.class LIKE 'failed:%'),
		       count(*) FILTER (WHERE classified.class = 'cancelled')
		FROM classified GROUP BY classified.batch_id, classified.stock_id
		UNION ALL
		SELECT 0, unknown_coupons.stock_id, 0, 0, count(usage.coupon_id), count(usage.coupon_id) FILTER (WHERE file_refunds.coupon_id IS NOT NULL),
		       count(*) FILTER (WHERE coalesce(usage.n, 0) > coalesce(file_refunds.n, 0)), coalesce(sum(usage.amount), 0),
		       coalesce(sum(file_refunds.amount) FILTER (WHERE usage.coupon_id IS NOT NULL), 0), 0, 0, 0, 0, 0
		FROM unknown_coupons LEFT JOIN usage USING (stock_id, coupon_id) LEFT JOIN file_refunds USING (stock_id, coupon_id)
		WHERE $3::bigint = 0
		GROUP BY unknown_coupons.stock_id`, func(rows *sqlx.Rows) error {
		var batch int64
		var stock string
		var l Line
		if err := rows.Scan(&batch, &stock, &l.Recipients, &l.Issued, &l.Used, &l.Refunded, &l.NetUsed, &l.UsedAmount,
			&l.RefundedAmount, &l.InDoubt, &l.Review, &l.Pending, &l.Failed, &l.Cancelled); err != nil {
			return err
		}
		l.BatchID, l.StockID, l.UsageSource = batch, stock, r.Usage[stock]
		*ls.get(batch, stock) = l
		return nil
	})
}

// loadLineOrders counts the orders: distinct payment transactions, from the
// use-flow (with their amounts) or, during the campaign, from the callbacks
// (without).
func (r *Report) loadLineOrders(ctx context.Context, ls *lineSet) error {
	return r.query(ctx, `,
		uses AS (
			SELECT x.stock_id, x.coupon_id, x.transaction_id, x.order_amount, x.used_at
			FROM flow_uses x JOIN last_use_file USING (stock_id)
			WHERE x.stock_id = ANY($1::text[]) AND x.first_date <= $2::date
			UNION ALL
			SELECT x.stock_id, x.coupon_id, x.transaction_id, NULL, coalesce(x.consume_time, x.received_at)
			FROM callback_rows x WHERE x.transaction_id <> '' AND NOT EXISTS (SELECT 1 FROM last_use_file lf WHERE lf.stock_id = x.stock_id))
		SELECT batch_id, stock_id, count(*), coalesce(sum(order_amount), 0) FROM (
			SELECT DISTINCT ON (scoped_recipients.batch_id, x.transaction_id) scoped_recipients.batch_id, scoped_recipients.stock_id, x.order_amount
			FROM scoped_recipients JOIN uses x ON x.stock_id = scoped_recipients.stock_id AND x.coupon_id = scoped_recipients.coupon_id
			ORDER BY scoped_recipients.batch_id, x.transaction_id, x.used_at) o
		GROUP BY batch_id, stock_id
		UNION ALL
		SELECT 0, stock_id, count(*), coalesce(sum(order_amount), 0) FROM (
			SELECT DISTINCT ON (x.stock_id, x.transaction_id) x.stock_id, x.order_amount
			FROM unknown_coupons JOIN uses x USING (stock_id, coupon_id)
			WHERE $3::bigint = 0
			ORDER BY x.stock_id, x.transaction_id, x.used_at) o
		GROUP BY stock_id`, func(rows *sqlx.Rows) error {
		var batch int64
		var stock string
		var n int
		var amount int64
		if err := rows.Scan(&batch, &stock, &n, &amount); err != nil {
			return err
		}
		l := ls.get(batch, stock)
		l.Orders, l.OrderAmount = n, amount
		return nil
	})
}

// loadLineProblems counts every problem once, by kind and line: the
// per-line counts and the report's totals are the same numbers.
func (r *Report) loadLineProblems(ctx context.Context, ls *lineSet) error {
	return r.query(ctx, `SELECT kind, stock_id, coalesce(batch_id, 0), count(*) FROM problems GROUP BY 1, 2, 3`, func(rows *sqlx.Rows) error {
		var kind, stock string
		var batch int64
		var n int
		if err := rows.Scan(&kind, &stock, &batch, &n); err != nil {
			return err
		}
		r.ProblemCounts[kind] += n
		var field *int
		switch kind {
		case "unknown_coupon":
			field = &ls.get(batch, stock).UnknownCoupons
		case "refund_without_use":
			field = &ls.get(batch, stock).RefundsWithoutUse
		case "used_before_issue":
			field = &ls.get(batch, stock).UsedBeforeIssue
		case "callback_not_in_file":
			field = &ls.get(batch, stock).CallbackOnly
		case "use_without_callback":
			field = &ls.get(batch, stock).FileOnly
		default:
			return nil
		}
		*field += n
		return nil
	})
}

// loadLineNames names the lines' batches.
func (r *Report) loadLineNames(ctx context.Context, ls *lineSet) error {
	names := map[int64]string{}
	var ids []int64
	for _, l := range ls.byKey {
		if l.BatchID != 0 {
			ids = append(ids, l.BatchID)
		}
	}
	if len(ids) > 0 {
		var bs []struct {
			ID   int64  `db:"id"`
			Name string `db:"name"`
		}
		if err := r.tx.SelectContext(ctx, &bs, `SELECT id, name FROM batches WHERE id = ANY($1)`, pq.Array(ids)); err != nil {
			return err
		}
		for _, b := range bs {
			names[b.ID] = b.Name
		}
	}
	for _, l := range ls.byKey {
		l.BatchName = names[l.BatchID]
	}
	return nil
}

func (r *Report) loadClasses(ctx context.Context) error {
	counts := map[string]int{}
	err := r.query(ctx, `SELECT class, count(*) FROM classified GROUP BY class`, func(rows *sqlx.Rows) error {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return err
		}
		counts[k] = n
		return nil
	})
	if err != nil {
		return fmt.Errorf("classes: %w", err)
	}
	favor := r.reconciled()
	for _, c := range classOrder {
		// The outcomes of 代金券 always show, so charts of two reports compare.
		if n, ok := counts[c.key]; ok || (favor && (c.key == "used" || c.key == "refunded" || c.key == "unused")) {
			r.Classes = append(r.Classes, Class{Key: c.key, Label: c.label, Count: n})
		}
		delete(counts, c.key)
	}
	rest := make([]string, 0, len(counts))
	for k := range counts {
		rest = append(rest, k)
	}
	slices.Sort(rest)
	for _, k := range rest {
		r.Classes = append(r.Classes, Class{Key: k, Label: classLabel(k), Count: counts[k]})
	}
	return nil
}

func (r *Report) loadDays(ctx context.Context) error {
	err := r.query(ctx, `
		SELECT d, sum(uses)::int, sum(used)::bigint, sum(refunds)::int, sum(refunded)::bigint FROM (
			SELECT (x.used_at AT TIME ZONE $4::text)::date AS d, 1 AS uses, x.amount AS used, 0 AS refunds, 0 AS refunded
			FROM flow_uses x JOIN last_use_file USING (stock_id) WHERE x.stock_id = ANY($1::text[]) AND x.first_date <= $2::date
			  AND ($3::bigint = 0 OR EXISTS (SELECT 1 FROM scoped_recipients WHERE scoped_recipients.stock_id = x.stock_id AND scoped_recipients.coupon_id = x.coupon_id))
			UNION ALL
			SELECT (x.first_at AT TIME ZONE $4::text)::date, 1, x.amount, 0, 0
			FROM usage x WHERE x.src = 'callbacks'
			  AND ($3::bigint = 0 OR EXISTS (SELECT 1 FROM scoped_recipients WHERE scoped_recipients.stock_id = x.stock_id AND scoped_recipients.coupon_id = x.coupon_id))
			UNION ALL
			SELECT (x.refunded_at AT TIME ZONE $4::text)::date, 0, 0, 1, x.amount
			FROM flow_refunds x WHERE x.stock_id = ANY($1::text[]) AND x.first_date <= $2::date
			  AND ($3::bigint = 0 OR EXISTS (SELECT 1 FROM scoped_recipients WHERE scoped_recipients.stock_id = x.stock_id AND scoped_recipients.coupon_id = x.coupon_id))
		) d GROUP BY d ORDER BY d`, func(rows *sqlx.Rows) error {
		var d Day
		if err := rows.Scan(&d.Date, &d.Uses, &d.UsedAmount, &d.Refunds, &d.RefundedAmount); err != nil {
			return err
		}
		y, m, dd := d.Date.Date()
		d.Date = time.Date(y, m, dd, 0, 0, 0, 0, time.UTC)
		r.Days = append(r.Days, d)
		return nil
	})
	if err != nil {
		return fmt.Errorf("days: %w", err)
	}
	return nil
}

func (r *Report) loadFiles(ctx context.Context) error {
	err := r.tx.SelectContext(ctx, &r.Files, `
		SELECT stock_id, kind, to_char(file_date, 'YYYY-MM-DD') AS file_date, sha1, path, bytes, rows, new_rows,
		       status, coalesce(error, '') AS error, downloaded_at
		FROM flow_files WHERE stock_id = ANY($1) AND file_date <= $2
		ORDER BY stock_id, kind DESC, file_date, id`, pq.Array(r.scope.stocks), r.scope.asOf)
	if err != nil {
		return fmt.Errorf("files: %w", err)
	}
	return nil
}

// reconciled says whether the report's coupons appear in flow files:
// 商品券 do not.
func (r *Report) reconciled() bool { return r.Batch == nil || r.Batch.Kind == "favor" }

// LatestFiles is, per stock and kind, the last file loaded, and every
// rejected file.
func (r *Report) LatestFiles() []File {
	var out []File
	for i, f := range r.Files {
		if f.Status != "loaded" {
			out = append(out, f)
			continue
		}
		later := false
		for _, g := range r.Files[i+1:] {
			if g.StockID == f.StockID && g.Kind == f.Kind && g.Status == "loaded" {
				later = true
				break
			}
		}
		if !later {
			out = append(out, f)
		}
	}
	return out
}

// loadProblems lists the problems, up to maxProblems; loadLines counted
// them all.
func (r *Report) loadProblems(ctx context.Context) error {
	err := r.query(ctx, `SELECT kind, stock_id, batch_id, coupon_id, openid, out_request_no, at, amount, detail, note
		FROM problems
		ORDER BY ord, stock_id, batch_id NULLS FIRST, coupon_id, at, openid, out_request_no, detail
		LIMIT `+strconv.Itoa(r.maxProblems), func(rows *sqlx.Rows) error {
		var p Problem
		if err := rows.StructScan(&p); err != nil {
			return err
		}
		r.Problems = append(r.Problems, p)
		return nil
	})
	if err != nil {
		return fmt.Errorf("problems: %w", err)
	}
	return nil
}

// Recipient is one recipient of the report's batches and what became of
// its coupon. Amounts are in fen.
type Recipient struct {
	BatchID      int64      `db:"batch_id"`
	OpenID       string     `db:"openid"`
	OutRequestNo string     `db:"out_request_no"`
	Status       string     `db:"status"`
	Outcome      string     `db:"outcome"`
	CouponID     string     `db:"coupon_id"`
	IssuedAt     *time.Time `db:"issued_at"`
	Class        string     `db:"class"`
	// InDoubt: a send got an answer that did not say whether WeChat Pay
	// issued it, and nothing has settled it since.
	InDoubt        bool       `db:"in_doubt"`
	Note           string     `db:"note"`
	UsageSource    string     `db:"usage_source"` // where Uses and UsedAt come from
	Uses           int        `db:"uses"`
	UsedAt         *time.Time `db:"used_at"` // the first use
	UsedAmount     int64      `db:"used_amount"`
	OrderAmount    *int64     `db:"order_amount"` // of the first use's order; only in the use-flow
	TransactionID  string     `db:"transaction_id"`
	ConsumeMchID   string     `db:"consume_mchid"`
	Refunds        int        `db:"refunds"`
	RefundedAt     *time.Time `db:"refunded_at"` // the last refund
	RefundedAmount int64      `db:"refunded_amount"`
	CallbackAt     *time.Time `db:"callback_at"` // consume time of a stored COUPON.USE
}

// EachRecipient streams the recipients of the report's batches, batch by
// batch in import order, to fn, from the report's snapshot.
func (r *Report) EachRecipient(ctx context.Context, fn func(*Recipient) error) error {
	err := r.query(ctx, `,
		fo AS (
			SELECT DISTINCT ON (stock_id, coupon_id) stock_id, coupon_id, order_amount, transaction_id, consume_mchid
			FROM flow_uses WHERE stock_id = ANY($1::text[]) AND first_date <= $2::date
			ORDER BY stock_id, coupon_id, used_at)
		SELECT classified.batch_id, classified.openid, classified.out_request_no, classified.status, coalesce(classified.outcome, '') AS outcome,
		       coalesce(classified.coupon_id, '') AS coupon_id, classified.issued_at, classified.class, classified.in_doubt, coalesce(classified.note, '') AS note,
		       CASE WHEN lf.stock_id IS NULL THEN 'callbacks' ELSE 'flow_files' END AS usage_source,
		       classified.uses, classified.used_at, classified.used_amount,
		       CASE WHEN lf.stock_id IS NOT NULL THEN fo.order_amount END AS order_amount,
		       coalesce(CASE WHEN lf.stock_id IS NULL THEN callback_uses.transaction_id ELSE fo.transaction_id END, '') AS transaction_id,
		       coalesce(CASE WHEN lf.stock_id IS NULL THEN callback_uses.consume_mchid ELSE fo.consume_mchid END, '') AS consume_mchid,
		       classified.refunds, classified.refunded_at, classified.refunded_amount, callback_uses.consume_time AS callback_at
		FROM classified
		LEFT JOIN last_use_file lf ON lf.stock_id = classified.stock_id
		LEFT JOIN fo ON fo.stock_id = classified.stock_id AND fo.coupon_id = classified.coupon_id
		LEFT JOIN callback_uses ON callback_uses.stock_id = classified.stock_id AND callback_uses.coupon_id = classified.coupon_id
		ORDER BY classified.batch_id, classified.id`, func(rows *sqlx.Rows) error {
		var rec Recipient
		if err := rows.StructScan(&rec); err != nil {
			return err
		}
		return fn(&rec)
	})
	if err != nil {
		return fmt.Errorf("recipients: %w", err)
	}
	return nil
}

// Write renders the report in format f.
func (r *Report) Write(ctx context.Context, w io.Writer, f Format) error {
	switch f {
	case Text:
		return r.WriteText(w)
	case CSV:
		return r.WriteCSV(ctx, w)
	case XLSX:
		return r.WriteXLSX(ctx, w)
	}
	return fmt.Errorf("report: format %q", f)
}
