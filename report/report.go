package report

import (
	"context"
	"errors"
	"fmt"
	"io"
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

// Options scope a report.
type Options struct {
	// StockID limits a reconciliation report to one stock.
	StockID string
	// AsOf (YYYY-MM-DD) counts only rows first seen in files fetched for
	// that day or before; "" counts every row.
	AsOf string
	// Location gives the days of the daily redemptions and the times shown;
	// an IANA zone (time.Local counts as UTC). Default Asia/Shanghai.
	Location *time.Location
	// MaxProblems bounds the problems listed (all are counted); default
	// 100000.
	MaxProblems int
}

// Line is the figures of one batch, or of the coupons of a stock that no
// batch issued (BatchID 0). Amounts are in fen.
type Line struct {
	BatchID        int64
	BatchName      string
	StockID        string
	Recipients     int
	Issued         int
	Used           int // coupons with a use in the use-flow
	Refunded       int // used coupons with a refund in the refund-flow
	NetUsed        int // coupons used more often than refunded
	UsedAmount     int64
	RefundedAmount int64
	Orders         int // distinct payment transactions
	OrderAmount    int64
	// Problems counted on this line.
	UnknownCoupons    int
	RefundsWithoutUse int
	UsedBeforeIssue   int
	CallbackOnly      int // COUPON.USE callbacks without a use in the file
	FileOnly          int // uses in the file without a callback
}

// NetUsedAmount is the discount used, less what refunds gave back.
func (l Line) NetUsedAmount() int64 { return l.UsedAmount - l.RefundedAmount }

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
	Key   string // used, refunded, unused, issued, pending, review, failed:<outcome>
	Label string // 已核销, 已退款, …
	Count int
}

// classOrder and labels of the classes; failed:<outcome> classes follow.
var classOrder = []struct{ key, label string }{
	{"used", "已核销 used"},
	{"refunded", "已退款 refunded"},
	{"unused", "未使用 unused"},
	{"issued", "已发放 issued"},
	{"pending", "待发放 pending"},
	{"review", "待复核 review"},
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
	Kind     string     `db:"kind"`
	StockID  string     `db:"stock_id"`
	BatchID  *int64     `db:"batch_id"`
	CouponID string     `db:"coupon_id"`
	OpenID   string     `db:"openid"`
	At       *time.Time `db:"at"`
	Amount   *int64     `db:"amount"` // fen
	Detail   string     `db:"detail"`
}

// Problem kinds, in the order reports list them.
var problemKinds = []string{"footer_mismatch", "file_rejected", "unknown_coupon", "refund_without_use",
	"used_before_issue", "callback_not_in_file", "use_without_callback", "review"}

// Report is a batch or reconciliation report, ready to write.
type Report struct {
	Title    string
	Batch    *queue.Batch // the batch of a batch report
	Stocks   []string
	AsOf     string // "" for every row
	Location *time.Location
	Lines    []Line
	Classes  []Class
	Days     []Day
	Files    []File
	Problems []Problem
	// ProblemCounts counts every problem by kind, listed or not.
	ProblemCounts map[string]int

	db          *sqlx.DB
	scope       scope
	maxProblems int
}

// ProblemsTotal counts every problem.
func (r *Report) ProblemsTotal() int {
	n := 0
	for _, c := range r.ProblemCounts {
		n += c
	}
	return n
}

// scope is what a report's queries take: $1 stocks, $2 as-of day, $3 batch
// (0 for every favor batch of the stocks), $4 time zone.
type scope struct {
	stocks []string
	asOf   string
	batch  int64
	tz     string
}

func (s scope) args() []any { return []any{pq.Array(s.stocks), s.asOf, s.batch, s.tz} }

// Batch builds the report of one batch.
func Batch(ctx context.Context, db *sqlx.DB, id int64, opts Options) (*Report, error) {
	b, err := queue.NewStore(db).Batch(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("report batch %d: %w", id, err)
	}
	r, err := newReport(db, []string{b.StockID}, id, opts)
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

// ErrNoData is returned for a stock with neither batches nor flow files.
var ErrNoData = errors.New("no 代金券 batches and no flow files")

// Reconciliation builds the report of every 代金券 stock issuer issued from
// or fetched files for, or of Options.StockID.
func Reconciliation(ctx context.Context, db *sqlx.DB, opts Options) (*Report, error) {
	var stocks []string
	err := db.SelectContext(ctx, &stocks, `
		SELECT stock_id FROM batches WHERE kind = 'favor' AND ($1 = '' OR stock_id = $1)
		UNION
		SELECT stock_id FROM flow_files WHERE $1 = '' OR stock_id = $1
		ORDER BY 1`, opts.StockID)
	if err != nil {
		return nil, fmt.Errorf("report reconcile: %w", err)
	}
	if opts.StockID != "" && len(stocks) == 0 {
		return nil, fmt.Errorf("report reconcile: stock %s: %w", opts.StockID, ErrNoData)
	}
	r, err := newReport(db, stocks, 0, opts)
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

func newReport(db *sqlx.DB, stocks []string, batch int64, opts Options) (*Report, error) {
	loc := opts.Location
	if loc == nil {
		var err error
		if loc, err = time.LoadLocation("Asia/Shanghai"); err != nil {
			loc = time.FixedZone("Asia/Shanghai", 8*3600)
		}
	}
	if loc.String() == "Local" { // not a name PostgreSQL knows
		loc = time.UTC
	}
	asOf := "9999-12-31"
	if opts.AsOf != "" {
		if _, err := time.Parse(time.DateOnly, opts.AsOf); err != nil {
			return nil, fmt.Errorf("report: date %q is not YYYY-MM-DD", opts.AsOf)
		}
		asOf = opts.AsOf
	}
	if stocks == nil {
		stocks = []string{}
	}
	maxProblems := opts.MaxProblems
	if maxProblems <= 0 {
		maxProblems = 100000
	}
	return &Report{
		Stocks: stocks, AsOf: opts.AsOf, Location: loc, ProblemCounts: map[string]int{}, db: db,
		scope: scope{stocks: stocks, asOf: asOf, batch: batch, tz: loc.String()}, maxProblems: maxProblems,
	}, nil
}

// baseCTE defines, for the scope: u and f, the uses and refunds per coupon
// as of the day; rc, the recipients; c, each recipient with its coupon's
// uses, refunds and class.
const baseCTE = `
WITH p AS (SELECT $1::text[] AS stocks, $2::date AS asof, $3::bigint AS batch, $4::text AS tz),
u AS (
	SELECT stock_id, coupon_id, count(*) AS n, sum(amount) AS amount, min(used_at) AS first_at
	FROM flow_uses WHERE stock_id = ANY($1::text[]) AND first_date <= $2::date
	GROUP BY stock_id, coupon_id),
f AS (
	SELECT stock_id, coupon_id, count(*) AS n, sum(amount) AS amount, min(refunded_at) AS first_at, max(refunded_at) AS last_at
	FROM flow_refunds WHERE stock_id = ANY($1::text[]) AND first_date <= $2::date
	GROUP BY stock_id, coupon_id),
rc AS (
	SELECT r.id, r.batch_id, b.stock_id, b.kind, r.openid, r.out_request_no, r.status, r.outcome, r.coupon_id,
	       r.issued_at, r.last_attempt_at, r.wx_code, r.wx_message
	FROM recipients r JOIN batches b ON b.id = r.batch_id
	WHERE b.stock_id = ANY($1::text[])
	  AND CASE WHEN $3::bigint = 0 THEN b.kind = 'favor' ELSE b.id = $3::bigint END),
c AS (
	SELECT rc.*, coalesce(u.n, 0) AS uses, coalesce(u.amount, 0) AS used_amount, u.first_at AS used_at,
	       coalesce(f.n, 0) AS refunds, coalesce(f.amount, 0) AS refunded_amount, f.last_at AS refunded_at,
	       CASE
	         WHEN rc.status = 'issued' AND rc.kind = 'product' THEN 'issued'
	         WHEN rc.status = 'issued' AND coalesce(u.n, 0) > coalesce(f.n, 0) THEN 'used'
	         WHEN rc.status = 'issued' AND u.n > 0 THEN 'refunded'
	         WHEN rc.status = 'issued' THEN 'unused'
	         WHEN rc.status IN ('pending', 'in_flight') THEN 'pending'
	         WHEN rc.status = 'review' THEN 'review'
	         ELSE 'failed:' || coalesce(rc.outcome, 'unknown')
	       END AS class
	FROM rc
	LEFT JOIN u ON u.stock_id = rc.stock_id AND u.coupon_id = rc.coupon_id
	LEFT JOIN f ON f.stock_id = rc.stock_id AND f.coupon_id = rc.coupon_id),
k AS (SELECT stock_id, coupon_id FROM u UNION SELECT stock_id, coupon_id FROM f),
unk AS (
	SELECT k.stock_id, k.coupon_id FROM k
	WHERE NOT EXISTS (SELECT 1 FROM recipients r JOIN batches b ON b.id = r.batch_id
	                  WHERE r.coupon_id = k.coupon_id AND b.stock_id = k.stock_id)),
lastfile AS (
	SELECT stock_id, max(downloaded_at) AS at FROM flow_files
	WHERE kind = 'use' AND status = 'loaded' AND stock_id = ANY($1::text[]) AND file_date <= $2::date
	GROUP BY stock_id),
cb AS (
	SELECT stock_id, coupon_id, min(consume_time) AS consume_time, min(received_at) AS received_at,
	       min(notification_id) AS id
	FROM coupon_use_callbacks WHERE stock_id = ANY($1::text[])
	GROUP BY stock_id, coupon_id),
cbfirst AS (
	SELECT stock_id, min(coalesce(consume_time, received_at)) AS at FROM coupon_use_callbacks
	WHERE stock_id = ANY($1::text[]) GROUP BY stock_id),
problems AS (
	SELECT 1 AS ord, CASE WHEN ff.error LIKE '%总条数%' THEN 'footer_mismatch' ELSE 'file_rejected' END AS kind,
	       ff.stock_id, NULL::bigint AS batch_id, '' AS coupon_id, '' AS openid, ff.downloaded_at AS at,
	       NULL::bigint AS amount,
	       ff.kind || '-flow of ' || to_char(ff.file_date, 'YYYY-MM-DD') || ' rejected, nothing loaded: ' || ff.error ||
	       ' (sha1 ' || ff.sha1 || ', kept at ' || ff.path || ')' AS detail
	FROM flow_files ff WHERE ff.status = 'rejected' AND ff.stock_id = ANY($1::text[]) AND ff.file_date <= $2::date
	  AND NOT EXISTS (SELECT 1 FROM flow_files g  -- a good file fetched since replaces it
	                  WHERE g.stock_id = ff.stock_id AND g.kind = ff.kind AND g.status = 'loaded'
	                    AND g.file_date <= $2::date AND g.downloaded_at > ff.downloaded_at)
	UNION ALL
	SELECT 2, 'unknown_coupon', unk.stock_id, NULL, unk.coupon_id, '', coalesce(u.first_at, f.first_at),
	       coalesce(u.amount, f.amount),
	       CASE WHEN u.coupon_id IS NULL THEN 'in the refund-flow; issuer never issued it'
	            ELSE 'in the use-flow; issuer never issued it' END
	FROM unk LEFT JOIN u USING (stock_id, coupon_id) LEFT JOIN f USING (stock_id, coupon_id)
	WHERE $3::bigint = 0
	UNION ALL
	SELECT 3, 'refund_without_use', f.stock_id, rc.batch_id, f.coupon_id, coalesce(rc.openid, ''), f.first_at, f.amount,
	       'refunded; the use-flow has no use of it'
	FROM f LEFT JOIN u USING (stock_id, coupon_id)
	LEFT JOIN rc ON rc.stock_id = f.stock_id AND rc.coupon_id = f.coupon_id
	WHERE u.coupon_id IS NULL AND ($3::bigint = 0 OR rc.id IS NOT NULL)
	UNION ALL
	SELECT 4, 'used_before_issue', c.stock_id, c.batch_id, c.coupon_id, c.openid, c.used_at, c.used_amount,
	       'used ' || to_char(c.used_at AT TIME ZONE $4::text, 'YYYY-MM-DD HH24:MI:SS') || ', issued ' ||
	       to_char(c.issued_at AT TIME ZONE $4::text, 'YYYY-MM-DD HH24:MI:SS')
	FROM c WHERE c.used_at < date_trunc('second', c.issued_at)
	UNION ALL
	SELECT 5, 'callback_not_in_file', cb.stock_id, rc.batch_id, cb.coupon_id, coalesce(rc.openid, ''), cb.consume_time,
	       NULL::bigint, 'COUPON.USE callback ' || cb.id || ' reports a use; the use-flow has none'
	FROM cb JOIN lastfile lf ON lf.stock_id = cb.stock_id AND cb.received_at <= lf.at
	LEFT JOIN u ON u.stock_id = cb.stock_id AND u.coupon_id = cb.coupon_id
	LEFT JOIN rc ON rc.stock_id = cb.stock_id AND rc.coupon_id = cb.coupon_id
	WHERE u.coupon_id IS NULL AND ($3::bigint = 0 OR rc.id IS NOT NULL)
	UNION ALL
	SELECT 6, 'use_without_callback', u.stock_id, rc.batch_id, u.coupon_id, coalesce(rc.openid, ''), u.first_at, u.amount,
	       'in the use-flow; no COUPON.USE callback stored for it'
	FROM u JOIN cbfirst cf ON cf.stock_id = u.stock_id AND u.first_at >= cf.at
	LEFT JOIN cb ON cb.stock_id = u.stock_id AND cb.coupon_id = u.coupon_id
	LEFT JOIN rc ON rc.stock_id = u.stock_id AND rc.coupon_id = u.coupon_id
	WHERE cb.coupon_id IS NULL AND ($3::bigint = 0 OR rc.id IS NOT NULL)
	UNION ALL
	SELECT 7, 'review', c.stock_id, c.batch_id, coalesce(c.coupon_id, ''), c.openid, c.last_attempt_at, NULL::bigint,
	       'sent to review after ' || coalesce(c.outcome, 'no outcome') ||
	       coalesce(': ' || nullif(trim(coalesce(c.wx_code, '') || ' ' || coalesce(c.wx_message, '')), ''), '')
	FROM c WHERE c.status = 'review')
`

func (r *Report) load(ctx context.Context) error {
	for _, step := range []func(context.Context) error{r.loadLines, r.loadClasses, r.loadDays, r.loadFiles, r.loadProblems} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (r *Report) query(ctx context.Context, sql string, fn func(*sqlx.Rows) error) error {
	rows, err := r.db.QueryxContext(ctx, baseCTE+sql, r.scope.args()...)
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

func (r *Report) loadLines(ctx context.Context) error {
	byKey := map[string]*Line{}
	key := func(batch int64, stock string) string { return strconv.FormatInt(batch, 10) + "/" + stock }
	get := func(batch int64, stock string) *Line {
		k := key(batch, stock)
		if l, ok := byKey[k]; ok {
			return l
		}
		l := &Line{BatchID: batch, StockID: stock}
		byKey[k] = l
		return l
	}
	err := r.query(ctx, `
		SELECT c.batch_id, c.stock_id, count(*), count(*) FILTER (WHERE c.status = 'issued'),
		       count(*) FILTER (WHERE c.uses > 0), count(*) FILTER (WHERE c.uses > 0 AND c.refunds > 0),
		       count(*) FILTER (WHERE c.uses > c.refunds), sum(c.used_amount),
		       coalesce(sum(c.refunded_amount) FILTER (WHERE c.uses > 0), 0)
		FROM c GROUP BY c.batch_id, c.stock_id
		UNION ALL
		SELECT 0, unk.stock_id, 0, 0, count(u.coupon_id), count(u.coupon_id) FILTER (WHERE f.coupon_id IS NOT NULL),
		       count(*) FILTER (WHERE coalesce(u.n, 0) > coalesce(f.n, 0)), coalesce(sum(u.amount), 0),
		       coalesce(sum(f.amount) FILTER (WHERE u.coupon_id IS NOT NULL), 0)
		FROM unk LEFT JOIN u USING (stock_id, coupon_id) LEFT JOIN f USING (stock_id, coupon_id)
		WHERE $3::bigint = 0
		GROUP BY unk.stock_id`, func(rows *sqlx.Rows) error {
		var batch int64
		var stock string
		var l Line
		if err := rows.Scan(&batch, &stock, &l.Recipients, &l.Issued, &l.Used, &l.Refunded, &l.NetUsed, &l.UsedAmount, &l.RefundedAmount); err != nil {
			return err
		}
		*get(batch, stock) = Line{BatchID: batch, StockID: stock, Recipients: l.Recipients, Issued: l.Issued, Used: l.Used,
			Refunded: l.Refunded, NetUsed: l.NetUsed, UsedAmount: l.UsedAmount, RefundedAmount: l.RefundedAmount}
		return nil
	})
	if err != nil {
		return fmt.Errorf("lines: %w", err)
	}
	err = r.query(ctx, `
		SELECT batch_id, stock_id, count(*), coalesce(sum(order_amount), 0) FROM (
			SELECT DISTINCT ON (rc.batch_id, fu.transaction_id) rc.batch_id, rc.stock_id, fu.order_amount
			FROM rc JOIN flow_uses fu ON fu.stock_id = rc.stock_id AND fu.coupon_id = rc.coupon_id
			WHERE fu.first_date <= $2::date
			ORDER BY rc.batch_id, fu.transaction_id, fu.used_at) o
		GROUP BY batch_id, stock_id
		UNION ALL
		SELECT 0, stock_id, count(*), coalesce(sum(order_amount), 0) FROM (
			SELECT DISTINCT ON (fu.stock_id, fu.transaction_id) fu.stock_id, fu.order_amount
			FROM unk JOIN flow_uses fu USING (stock_id, coupon_id)
			WHERE fu.first_date <= $2::date AND $3::bigint = 0
			ORDER BY fu.stock_id, fu.transaction_id, fu.used_at) o
		GROUP BY stock_id`, func(rows *sqlx.Rows) error {
		var batch int64
		var stock string
		var n int
		var amount int64
		if err := rows.Scan(&batch, &stock, &n, &amount); err != nil {
			return err
		}
		l := get(batch, stock)
		l.Orders, l.OrderAmount = n, amount
		return nil
	})
	if err != nil {
		return fmt.Errorf("orders: %w", err)
	}
	err = r.query(ctx, `SELECT kind, stock_id, coalesce(batch_id, 0), count(*) FROM problems
		WHERE kind IN ('unknown_coupon', 'refund_without_use', 'used_before_issue', 'callback_not_in_file', 'use_without_callback')
		GROUP BY 1, 2, 3`, func(rows *sqlx.Rows) error {
		var kind, stock string
		var batch int64
		var n int
		if err := rows.Scan(&kind, &stock, &batch, &n); err != nil {
			return err
		}
		l := get(batch, stock)
		switch kind {
		case "unknown_coupon":
			l.UnknownCoupons += n
		case "refund_without_use":
			l.RefundsWithoutUse += n
		case "used_before_issue":
			l.UsedBeforeIssue += n
		case "callback_not_in_file":
			l.CallbackOnly += n
		case "use_without_callback":
			l.FileOnly += n
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("problem counts: %w", err)
	}
	names := map[int64]string{}
	var ids []int64
	for _, l := range byKey {
		if l.BatchID != 0 {
			ids = append(ids, l.BatchID)
		}
	}
	if len(ids) > 0 {
		var bs []struct {
			ID   int64  `db:"id"`
			Name string `db:"name"`
		}
		if err := r.db.SelectContext(ctx, &bs, `SELECT id, name FROM batches WHERE id = ANY($1)`, pq.Array(ids)); err != nil {
			return fmt.Errorf("batch names: %w", err)
		}
		for _, b := range bs {
			names[b.ID] = b.Name
		}
	}
	for _, l := range byKey {
		l.BatchName = names[l.BatchID]
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

func (r *Report) loadClasses(ctx context.Context) error {
	counts := map[string]int{}
	err := r.query(ctx, `SELECT class, count(*) FROM c GROUP BY class`, func(rows *sqlx.Rows) error {
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
			FROM flow_uses x WHERE x.stock_id = ANY($1::text[]) AND x.first_date <= $2::date
			  AND ($3::bigint = 0 OR EXISTS (SELECT 1 FROM rc WHERE rc.stock_id = x.stock_id AND rc.coupon_id = x.coupon_id))
			UNION ALL
			SELECT (x.refunded_at AT TIME ZONE $4::text)::date, 0, 0, 1, x.amount
			FROM flow_refunds x WHERE x.stock_id = ANY($1::text[]) AND x.first_date <= $2::date
			  AND ($3::bigint = 0 OR EXISTS (SELECT 1 FROM rc WHERE rc.stock_id = x.stock_id AND rc.coupon_id = x.coupon_id))
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
	err := r.db.SelectContext(ctx, &r.Files, `
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

func (r *Report) loadProblems(ctx context.Context) error {
	err := r.query(ctx, `SELECT kind, count(*) FROM problems GROUP BY kind`, func(rows *sqlx.Rows) error {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return err
		}
		r.ProblemCounts[k] = n
		return nil
	})
	if err != nil {
		return fmt.Errorf("problems: %w", err)
	}
	err = r.query(ctx, `SELECT kind, stock_id, batch_id, coupon_id, openid, at, amount, detail FROM problems
		ORDER BY ord, stock_id, batch_id NULLS FIRST, coupon_id, at, detail LIMIT `+strconv.Itoa(r.maxProblems), func(rows *sqlx.Rows) error {
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
	BatchID        int64      `db:"batch_id"`
	OpenID         string     `db:"openid"`
	OutRequestNo   string     `db:"out_request_no"`
	Status         string     `db:"status"`
	Outcome        string     `db:"outcome"`
	CouponID       string     `db:"coupon_id"`
	IssuedAt       *time.Time `db:"issued_at"`
	Class          string     `db:"class"`
	Uses           int        `db:"uses"`
	UsedAt         *time.Time `db:"used_at"` // the first use
	UsedAmount     int64      `db:"used_amount"`
	OrderAmount    *int64     `db:"order_amount"` // of the first use's order
	TransactionID  string     `db:"transaction_id"`
	ConsumeMchID   string     `db:"consume_mchid"`
	Refunds        int        `db:"refunds"`
	RefundedAt     *time.Time `db:"refunded_at"` // the last refund
	RefundedAmount int64      `db:"refunded_amount"`
	CallbackAt     *time.Time `db:"callback_at"` // consume time of a stored COUPON.USE
}

// EachRecipient streams the recipients of the report's batches, batch by
// batch in import order, to fn.
func (r *Report) EachRecipient(ctx context.Context, fn func(*Recipient) error) error {
	err := r.query(ctx, `,
		fu AS (
			SELECT DISTINCT ON (stock_id, coupon_id) stock_id, coupon_id, order_amount, transaction_id, consume_mchid
			FROM flow_uses WHERE stock_id = ANY($1::text[]) AND first_date <= $2::date
			ORDER BY stock_id, coupon_id, used_at)
		SELECT c.batch_id, c.openid, c.out_request_no, c.status, coalesce(c.outcome, '') AS outcome,
		       coalesce(c.coupon_id, '') AS coupon_id, c.issued_at, c.class, c.uses, c.used_at, c.used_amount,
		       fu.order_amount, coalesce(fu.transaction_id, '') AS transaction_id,
		       coalesce(fu.consume_mchid, '') AS consume_mchid, c.refunds, c.refunded_at, c.refunded_amount,
		       cb.consume_time AS callback_at
		FROM c
		LEFT JOIN fu ON fu.stock_id = c.stock_id AND fu.coupon_id = c.coupon_id
		LEFT JOIN cb ON cb.stock_id = c.stock_id AND cb.coupon_id = c.coupon_id
		ORDER BY c.batch_id, c.id`, func(rows *sqlx.Rows) error {
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
