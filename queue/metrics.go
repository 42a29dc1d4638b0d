package queue

import (
	"context"
	"fmt"
	"time"
)

// inDoubt is recipients.in_doubt (see inDoubtSQL): the same rows batch
// show and the reports count.
const inDoubt = inDoubtSQL

// Progress is a batch's recipients by status and what they are worth.
// Face values are in fen: each row's coupon_value, else the batch's face
// value (known when the import asked WeChat Pay for it), else nothing.
type Progress struct {
	BatchID int64
	StockID string
	Status  string           // the batch's status
	Counts  map[string]int64 // recipients by status
	// InDoubt counts rows in doubt: a send got an answer that did not say
	// what happened, and nothing has settled it since.
	InDoubt int64
	// IssuedFen is the face value of the issued coupons: the spend.
	IssuedFen int64
	// PendingCoupons and PendingFen are the rows still to be tried and not
	// in doubt.
	PendingCoupons int64
	PendingFen     int64
	InDoubtFen     int64
}

// Total is the number of recipients.
func (p *Progress) Total() int64 {
	var n int64
	for _, c := range p.Counts {
		n += c
	}
	return n
}

// Unsettled summarizes, over all batches, the rows a person must settle.
type Unsettled struct {
	InDoubt       int64
	OldestInDoubt time.Time // zero when none
	Review        int64
	OldestReview  time.Time // zero when none
}

// LiveProgress returns the progress of the running and halted batches,
// by id. Only those: the metrics it feeds keep one series per batch, and
// finished batches would make that grow without end.
func (s *Store) LiveProgress(ctx context.Context) ([]*Progress, error) {
	return s.progress(ctx, `b.status IN ('running', 'halted')`)
}

// BatchProgress returns one batch's progress, whatever its status; a batch
// with no recipients has empty counts.
func (s *Store) BatchProgress(ctx context.Context, id int64) (*Progress, error) {
	ps, err := s.progress(ctx, `b.id = $1`, id)
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		b, err := s.Batch(ctx, id)
		if err != nil {
			return nil, err
		}
		return &Progress{BatchID: b.ID, StockID: b.StockID, Status: b.Status, Counts: map[string]int64{}}, nil
	}
	return ps[0], nil
}

func (s *Store) progress(ctx context.Context, where string, args ...any) ([]*Progress, error) {
	// The counters (schema: batch_outcome_counts), never a count over
	// recipients; their doubt flag is the rows' in_doubt.
	const doubt = `c.doubt`
	const fen = `(c.fen + c.unvalued * coalesce(b.face_value_fen, 0))`
	rows, err := s.db.QueryContext(ctx, `SELECT b.id, b.stock_id, b.status, c.status, sum(c.n)::bigint,
			coalesce(sum(c.n) FILTER (WHERE `+doubt+`), 0)::bigint,
			coalesce(sum(`+fen+`) FILTER (WHERE c.status = 'issued'), 0)::bigint,
			coalesce(sum(c.n) FILTER (WHERE c.status = 'pending' AND NOT `+doubt+`), 0)::bigint,
			coalesce(sum(`+fen+`) FILTER (WHERE c.status = 'pending' AND NOT `+doubt+`), 0)::bigint,
			coalesce(sum(`+fen+`) FILTER (WHERE `+doubt+`), 0)::bigint
		FROM batches b JOIN batch_outcome_counts c ON c.batch_id = b.id
		WHERE `+where+` AND c.n <> 0
		GROUP BY b.id, b.stock_id, b.status, c.status
		ORDER BY b.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("batch progress: %w", err)
	}
	defer rows.Close()
	var out []*Progress
	for rows.Next() {
		var p Progress
		var status string
		var n, doubt, issuedFen, pending, pendingFen, doubtFen int64
		if err := rows.Scan(&p.BatchID, &p.StockID, &p.Status, &status, &n, &doubt, &issuedFen, &pending, &pendingFen, &doubtFen); err != nil {
			return nil, fmt.Errorf("batch progress: %w", err)
		}
		if len(out) == 0 || out[len(out)-1].BatchID != p.BatchID {
			p.Counts = map[string]int64{}
			out = append(out, &p)
		}
		cur := out[len(out)-1]
		cur.Counts[status] = n
		cur.InDoubt += doubt
		cur.IssuedFen += issuedFen
		cur.PendingCoupons += pending
		cur.PendingFen += pendingFen
		cur.InDoubtFen += doubtFen
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("batch progress: %w", err)
	}
	return out, nil
}

// BatchOutcomes counts a batch's recipients by the outcome of their last
// answer ("" for rows never answered), from the counters.
func (s *Store) BatchOutcomes(ctx context.Context, id int64) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT outcome, sum(n) FROM batch_outcome_counts
		WHERE batch_id = $1 GROUP BY outcome HAVING sum(n) <> 0`, id)
	if err != nil {
		return nil, fmt.Errorf("batch outcomes: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var o string
		var n int
		if err := rows.Scan(&o, &n); err != nil {
			return nil, fmt.Errorf("batch outcomes: %w", err)
		}
		out[o] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("batch outcomes: %w", err)
	}
	return out, nil
}

// Unsettled counts the rows in doubt and in review over all batches, with
// the time of the oldest (its last attempt, else its last change).
func (s *Store) Unsettled(ctx context.Context) (*Unsettled, error) {
	var u Unsettled
	var oldestDoubt, oldestReview *time.Time
	err := s.db.QueryRowContext(ctx, `SELECT
			count(*) FILTER (WHERE `+inDoubt+`),
			min(coalesce(r.last_attempt_at, r.updated_at)) FILTER (WHERE `+inDoubt+`),
			count(*) FILTER (WHERE r.status = 'review'),
			min(coalesce(r.last_attempt_at, r.updated_at)) FILTER (WHERE r.status = 'review')
		FROM recipients r WHERE r.status IN ('in_flight', 'pending', 'review')`).
		Scan(&u.InDoubt, &oldestDoubt, &u.Review, &oldestReview)
	if err != nil {
		return nil, fmt.Errorf("count unsettled rows: %w", err)
	}
	if oldestDoubt != nil {
		u.OldestInDoubt = *oldestDoubt
	}
	if oldestReview != nil {
		u.OldestReview = *oldestReview
	}
	return &u, nil
}
