package report

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// The morning digest: what happened to the coupons on one day and what is
// waiting for a person, for the alert channels and the terminal.
//
// Its definitions of "on the day" (the day's midnight to the next, in
// Options.Location):
//
//   - issued: issued_at on the day (a row confirmed by query counts on the
//     day it was confirmed when it had no issued_at before);
//   - failed: status failed and updated_at on the day, which is when its
//     final refusal was recorded (a failed row is never updated again);
//   - in doubt: in doubt now and last_attempt_at on the day: sent that day
//     and no answer yet said whether WeChat Pay issued it;
//   - spend: the face value of the coupons issued on the day,
//     coalesce(recipients.coupon_value, batches.face_value_fen).
//
// Redemptions, anomalies and the usage source are the reconciliation
// report's as of the day (Options.AsOf): flow files fetched for the day or
// before and callbacks received by its end. Approvals, halts and rows in
// review are as they stand when the digest is built.

// DigestBatch is one batch's day, or the day's totals (BatchID 0).
type DigestBatch struct {
	BatchID int64  `db:"id" json:"batch_id,omitempty"`
	Name    string `db:"name" json:"name,omitempty"`
	StockID string `db:"stock_id" json:"stock_id,omitempty"`
	Status  string `db:"status" json:"status,omitempty"`
	Issued  int    `db:"issued" json:"issued"`
	// IssuedFen is the face value issued; UnknownValue counts issued rows
	// whose face value neither the row nor the batch records.
	IssuedFen    int64 `db:"issued_fen" json:"issued_fen"`
	UnknownValue int   `db:"unknown_value" json:"unknown_value,omitempty"`
	Failed       int   `db:"failed" json:"failed"`
	InDoubt      int   `db:"in_doubt" json:"in_doubt"`
	InDoubtFen   int64 `db:"in_doubt_fen" json:"in_doubt_fen"`
}

// DigestStock is a stock's redemptions so far.
type DigestStock struct {
	StockID     string `json:"stock_id"`
	UsageSource string `json:"usage_source"` // UsageFlowFiles or UsageCallbacks
	Issued      int    `json:"issued"`
	Used        int    `json:"used"`
	UsedFen     int64  `json:"used_fen"`
	Refunded    int    `json:"refunded"`
	RefundedFen int64  `json:"refunded_fen"`
	NetUsed     int    `json:"net_used"`
	// UsedOfIssued is the part of Used that issuer issued: Used also
	// counts uses of the stock's coupons that issuer never issued.
	UsedOfIssued int `json:"used_of_issued"`
}

// UseRatePercent is the use rate of what issuer issued, UsedOfIssued ÷
// Issued, as a percentage ("25.00%", "-" for none issued): the
// reconciliation report's stock total.
func (s DigestStock) UseRatePercent() string { return percent(s.UsedOfIssued, s.Issued) }

// DigestApproval is a batch waiting for an operator's approval.
type DigestApproval struct {
	BatchID    int64     `db:"id" json:"batch_id"`
	Name       string    `db:"name" json:"name"`
	StockID    string    `db:"stock_id" json:"stock_id"`
	Accepted   int       `db:"accepted" json:"accepted"`
	AmountFen  int64     `db:"amount_fen" json:"amount_fen"`
	UploadedBy string    `db:"uploaded_by" json:"uploaded_by"`
	CreatedAt  time.Time `db:"created_at" json:"created_at"`
}

// DigestHalt is a halted batch and what is left of it.
type DigestHalt struct {
	BatchID    int64     `db:"id" json:"batch_id"`
	Name       string    `db:"name" json:"name"`
	StockID    string    `db:"stock_id" json:"stock_id"`
	Reason     string    `db:"halt_reason" json:"halt_reason"`
	Since      time.Time `db:"updated_at" json:"since"`
	Pending    int       `db:"pending" json:"pending"`
	PendingFen int64     `db:"pending_fen" json:"pending_fen"`
}

// DigestReview is the rows waiting to be settled, over every batch.
type DigestReview struct {
	Review     int        `db:"review" json:"review"`
	InDoubt    int        `db:"in_doubt" json:"in_doubt"`
	InDoubtFen int64      `db:"in_doubt_fen" json:"in_doubt_fen"`
	Oldest     *time.Time `db:"oldest" json:"oldest,omitempty"`
	// ByBatch lists the batches with rows in review, most first.
	ByBatch []DigestReviewBatch `json:"by_batch"`
}

// DigestReviewBatch is one batch's rows in review.
type DigestReviewBatch struct {
	BatchID int64 `db:"batch_id" json:"batch_id"`
	Review  int   `db:"review" json:"review"`
	InDoubt int   `db:"in_doubt" json:"in_doubt"`
}

// Digest is the morning digest of one day.
type Digest struct {
	Day      string         `json:"day"` // YYYY-MM-DD in Location
	Location *time.Location `json:"-"`
	From     time.Time      `json:"from"` // the day's first instant
	To       time.Time      `json:"to"`   // the next day's
	// Batches are the batches that issued, failed or left rows in doubt on
	// the day, by id; Total sums them.
	Batches []DigestBatch `json:"batches"`
	Total   DigestBatch   `json:"total"`
	// Stocks are the redemptions so far per stock, as of the day.
	Stocks []DigestStock `json:"stocks"`
	// Anomalies counts the reconciliation's problems by kind (recipients in
	// doubt or in review are in Review instead), non-zero only.
	Anomalies        map[string]int   `json:"anomalies"`
	AwaitingApproval []DigestApproval `json:"awaiting_approval"`
	Halts            []DigestHalt     `json:"halts"`
	Review           DigestReview     `json:"review"`
}

// DigestOptions scope a digest.
type DigestOptions struct {
	Day      string         // YYYY-MM-DD; required
	Location *time.Location // default Asia/Shanghai, as for reports
}

// AnomaliesTotal counts the anomalies.
func (d *Digest) AnomaliesTotal() int {
	n := 0
	for _, c := range d.Anomalies {
		n += c
	}
	return n
}

// NeedsAttention says whether anything in the digest waits for a person:
// halts, approvals, rows in doubt or in review, anomalies.
func (d *Digest) NeedsAttention() bool {
	return len(d.Halts) > 0 || len(d.AwaitingApproval) > 0 || d.Review.Review > 0 || d.Review.InDoubt > 0 ||
		d.AnomaliesTotal() > 0
}

// BuildDigest computes the digest of opts.Day in one read-only REPEATABLE
// READ snapshot, so its figures agree with each other while issuing goes
// on.
func BuildDigest(ctx context.Context, db *sqlx.DB, opts DigestOptions) (*Digest, error) {
	if opts.Day == "" {
		return nil, fmt.Errorf("digest: the day is required")
	}
	tx, err := snapshot(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("digest: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	stocks, err := reconciledStocks(ctx, tx, "")
	if err != nil {
		return nil, fmt.Errorf("digest: %w", err)
	}
	// The reconciliation as of the day: its usage, lines and problem counts.
	r, err := newReport(tx, stocks, 0, Options{AsOf: opts.Day, Location: opts.Location})
	if err != nil {
		return nil, fmt.Errorf("digest: %w", err)
	}
	day, _ := time.ParseInLocation(time.DateOnly, opts.Day, r.Location) // newReport checked it
	d := &Digest{Day: opts.Day, Location: r.Location, From: day, To: day.AddDate(0, 0, 1),
		Batches: []DigestBatch{}, Stocks: []DigestStock{}, Anomalies: map[string]int{},
		AwaitingApproval: []DigestApproval{}, Halts: []DigestHalt{}}
	for _, step := range []func(context.Context) error{r.loadUsage, r.loadLines} {
		if err := step(ctx); err != nil {
			return nil, fmt.Errorf("digest: reconciliation: %w", err)
		}
	}
	d.redemptions(r)
	for _, step := range []struct {
		name string
		fn   func(context.Context, *Report) error
	}{{"batches", d.loadBatches}, {"approvals", d.loadApprovals}, {"halts", d.loadHalts}, {"review", d.loadReview}} {
		if err := step.fn(ctx, r); err != nil {
			return nil, fmt.Errorf("digest: %s: %w", step.name, err)
		}
	}
	return d, nil
}

func (d *Digest) redemptions(r *Report) {
	// r.Lines is sorted by stock, so each stock's lines are one run.
	var totals []Line
	usedOfIssued := map[string]int{}
	for _, l := range r.Lines {
		if n := len(totals); n == 0 || totals[n-1].StockID != l.StockID {
			totals = append(totals, Line{StockID: l.StockID})
		}
		totals[len(totals)-1].add(l)
		if l.BatchID != 0 {
			usedOfIssued[l.StockID] += l.Used
		}
	}
	for _, t := range totals {
		d.Stocks = append(d.Stocks, DigestStock{StockID: t.StockID, UsageSource: r.Usage[t.StockID], Issued: t.Issued,
			Used: t.Used, UsedFen: t.UsedAmount, Refunded: t.Refunded, RefundedFen: t.RefundedAmount, NetUsed: t.NetUsed,
			UsedOfIssued: usedOfIssued[t.StockID]})
	}
	for _, k := range otherKinds {
		if n := r.ProblemCounts[k]; n > 0 {
			d.Anomalies[k] = n
		}
	}
}

// value is a row's face value in fen, where known.
const value = `coalesce(r.coupon_value, b.face_value_fen)`

func (d *Digest) loadBatches(ctx context.Context, r *Report) error {
	in := func(col string) string { return "r." + col + " >= $1 AND r." + col + " < $2" }
	issued := "r.status = 'issued' AND " + in("issued_at")
	doubt := "r.in_doubt AND " + in("last_attempt_at")
	err := r.tx.SelectContext(ctx, &d.Batches, `
		SELECT b.id, b.name, b.stock_id, b.status,
		       count(*) FILTER (WHERE `+issued+`) AS issued,
		       coalesce(sum(`+value+`) FILTER (WHERE `+issued+`), 0) AS issued_fen,
		       count(*) FILTER (WHERE `+issued+` AND `+value+` IS NULL) AS unknown_value,
		       count(*) FILTER (WHERE r.status = 'failed' AND `+in("updated_at")+`) AS failed,
		       count(*) FILTER (WHERE `+doubt+`) AS in_doubt,
		       coalesce(sum(`+value+`) FILTER (WHERE `+doubt+`), 0) AS in_doubt_fen
		FROM recipients r JOIN batches b ON b.id = r.batch_id
		WHERE `+in("issued_at")+` OR `+in("updated_at")+` OR `+in("last_attempt_at")+`
		GROUP BY b.id
		HAVING count(*) FILTER (WHERE `+issued+` OR (r.status = 'failed' AND `+in("updated_at")+`) OR `+doubt+`) > 0
		ORDER BY b.id`, d.From, d.To)
	if err != nil {
		return err
	}
	for _, b := range d.Batches {
		t := &d.Total
		t.Issued += b.Issued
		t.IssuedFen += b.IssuedFen
		t.UnknownValue += b.UnknownValue
		t.Failed += b.Failed
		t.InDoubt += b.InDoubt
		t.InDoubtFen += b.InDoubtFen
	}
	return nil
}

func (d *Digest) loadApprovals(ctx context.Context, r *Report) error {
	return r.tx.SelectContext(ctx, &d.AwaitingApproval, `SELECT id, name, stock_id, accepted, amount_fen, uploaded_by, created_at
		FROM batches WHERE status = 'awaiting_approval' ORDER BY id`)
}

func (d *Digest) loadHalts(ctx context.Context, r *Report) error {
	return r.tx.SelectContext(ctx, &d.Halts, `
		SELECT b.id, b.name, b.stock_id, coalesce(b.halt_reason, '') AS halt_reason, b.updated_at,
		       count(r.id) FILTER (WHERE r.status = 'pending' AND NOT r.in_doubt) AS pending,
		       coalesce(sum(`+value+`) FILTER (WHERE r.status = 'pending' AND NOT r.in_doubt), 0) AS pending_fen
		FROM batches b LEFT JOIN recipients r ON r.batch_id = b.id
		WHERE b.status = 'halted'
		GROUP BY b.id ORDER BY b.id`)
}

func (d *Digest) loadReview(ctx context.Context, r *Report) error {
	err := r.tx.GetContext(ctx, &d.Review, `
		SELECT count(*) FILTER (WHERE r.status = 'review') AS review,
		       count(*) FILTER (WHERE r.in_doubt) AS in_doubt,
		       coalesce(sum(`+value+`) FILTER (WHERE r.in_doubt), 0) AS in_doubt_fen,
		       min(coalesce(r.last_attempt_at, r.updated_at)) AS oldest
		FROM recipients r JOIN batches b ON b.id = r.batch_id
		WHERE r.status = 'review' OR r.in_doubt`)
	if err != nil {
		return err
	}
	d.Review.ByBatch = []DigestReviewBatch{}
	return r.tx.SelectContext(ctx, &d.Review.ByBatch, `
		SELECT batch_id, count(*) FILTER (WHERE status = 'review') AS review, count(*) FILTER (WHERE in_doubt) AS in_doubt
		FROM recipients WHERE status = 'review' OR in_doubt
		GROUP BY batch_id ORDER BY count(*) FILTER (WHERE status = 'review') DESC, count(*) DESC, batch_id`)
}
