package queue

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// Overview is the state of every batch at one moment, for the console's
// home page: what waits for a person, what was issued today, the sending
// rate and the money still to send by stock.
type Overview struct {
	At time.Time // the snapshot's time (the database's clock)
	// Batches by status, and those awaiting approval that Me did not
	// upload (the ones Me may approve, role permitting).
	AwaitingApproval    int
	AwaitingNotUploader int
	Halted              int
	Paused              int
	Open                int // pending or running
	// Rows over all batches, and how many batches hold such rows.
	Review         int64
	ReviewBatches  int
	InDoubt        int64
	InDoubtBatches int
	// IssuedToday and IssuedTodayFen are the coupons issued since DayStart
	// and their face value (by when each row became issued: a row a
	// settlement found issued counts on the day it was found).
	IssuedToday    int64
	IssuedTodayFen int64
	// Answers is how many rows got an answer in the RateWindow before At.
	Answers int64
	// Stocks are the stocks of the batches not yet ended, by stock id.
	Stocks []StockQueue
}

// StockQueue is the money a stock's unfinished batches still hold, in fen:
// rows to send (pending and in flight, not in doubt) of batches approved
// or needing none, and the rows of batches awaiting approval.
type StockQueue struct {
	StockID     string
	Batches     int
	QueuedFen   int64
	AwaitingFen int64
	// Unvalued counts rows whose face value is not known (no coupon_value
	// and no face value of the batch): they are in no sum.
	Unvalued int64
}

// OverviewQuery says whose overview it is and which day and window count.
type OverviewQuery struct {
	Me         string    // the account looking: its own uploads are not its to approve
	DayStart   time.Time // start of today in the configured zone
	RateWindow time.Duration
}

// Overview reads the overview in one read-only REPEATABLE READ snapshot,
// from the batches and their counters; only today's sends and the rate read
// recipients, through each batch's index of last attempts.
func (s *Store) Overview(ctx context.Context, q OverviewQuery) (*Overview, error) {
	tx, err := s.db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("overview: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	o := &Overview{}
	if err := overviewBatches(ctx, tx, q, o); err != nil {
		return nil, err
	}
	if err := overviewRows(ctx, tx, q, o); err != nil {
		return nil, err
	}
	if err := overviewStocks(ctx, tx, o); err != nil {
		return nil, err
	}
	return o, nil
}

func overviewBatches(ctx context.Context, tx *sqlx.Tx, q OverviewQuery, o *Overview) error {
	err := tx.QueryRowContext(ctx, `SELECT now(),
			count(*) FILTER (WHERE status = 'awaiting_approval'),
			count(*) FILTER (WHERE status = 'awaiting_approval' AND uploaded_by <> $1),
			count(*) FILTER (WHERE status = 'halted'),
			count(*) FILTER (WHERE status = 'paused'),
			count(*) FILTER (WHERE status IN ('pending', 'running'))
		FROM batches`, q.Me).Scan(&o.At, &o.AwaitingApproval, &o.AwaitingNotUploader, &o.Halted, &o.Paused, &o.Open)
	if err != nil {
		return fmt.Errorf("overview: batches: %w", err)
	}
	err = tx.QueryRowContext(ctx, `SELECT
			coalesce(sum(n) FILTER (WHERE status = 'review'), 0)::bigint,
			count(DISTINCT batch_id) FILTER (WHERE status = 'review'),
			coalesce(sum(n) FILTER (WHERE doubt), 0)::bigint,
			count(DISTINCT batch_id) FILTER (WHERE doubt)
		FROM batch_outcome_counts WHERE n <> 0 AND (status = 'review' OR doubt)`).
		Scan(&o.Review, &o.ReviewBatches, &o.InDoubt, &o.InDoubtBatches)
	if err != nil {
		return fmt.Errorf("overview: rows to settle: %w", err)
	}
	return nil
}

// overviewRows counts today's issues and the recent answers. The issues
// are read from recipients_issued_at (issued_at, with batch_id and
// coupon_value included) alone; the answers from recipients_batch_attempt
// (batch_id, last_attempt_at) of the batches that can have sent in the
// window: not ended, or whose status changed since (ending, completing or
// cancelling stamps updated_at). Neither reads the whole table.
func overviewRows(ctx context.Context, tx *sqlx.Tx, q OverviewQuery, o *Overview) error {
	err := tx.QueryRowContext(ctx, `SELECT coalesce(sum(t.n), 0)::bigint,
			coalesce(sum(t.fen + t.unvalued * coalesce(b.face_value_fen, 0)), 0)::bigint
		FROM (SELECT batch_id, count(*) AS n, coalesce(sum(coupon_value), 0) AS fen, count(*) FILTER (WHERE coupon_value IS NULL) AS unvalued
			FROM recipients WHERE issued_at >= $1 AND issued_at IS NOT NULL GROUP BY batch_id) t
		JOIN batches b ON b.id = t.batch_id`, q.DayStart).Scan(&o.IssuedToday, &o.IssuedTodayFen)
	if err != nil {
		return fmt.Errorf("overview: today's issues: %w", err)
	}
	from := o.At.Add(-q.RateWindow)
	err = tx.QueryRowContext(ctx, `SELECT coalesce(sum(t.n), 0)::bigint
		FROM batches b CROSS JOIN LATERAL (
			SELECT count(*) AS n FROM recipients r
			WHERE r.batch_id = b.id AND r.last_attempt_at >= $1 AND r.last_attempt_at IS NOT NULL) t
		WHERE b.status IN ('pending', 'running', 'paused', 'halted') OR b.updated_at >= $1`, from).Scan(&o.Answers)
	if err != nil {
		return fmt.Errorf("overview: recent answers: %w", err)
	}
	return nil
}

func overviewStocks(ctx context.Context, tx *sqlx.Tx, o *Overview) error {
	rows, err := tx.QueryContext(ctx, `SELECT b.stock_id, count(DISTINCT b.id),
			coalesce(sum(c.fen + c.unvalued * coalesce(b.face_value_fen, 0))
				FILTER (WHERE b.status <> 'awaiting_approval' AND c.status IN ('pending', 'in_flight') AND NOT c.doubt), 0)::bigint,
			coalesce(sum(c.fen + c.unvalued * coalesce(b.face_value_fen, 0))
				FILTER (WHERE b.status = 'awaiting_approval' AND c.status = 'pending'), 0)::bigint,
			coalesce(sum(c.unvalued) FILTER (WHERE b.face_value_fen IS NULL AND c.status IN ('pending', 'in_flight')), 0)::bigint
		FROM batches b LEFT JOIN batch_outcome_counts c ON c.batch_id = b.id AND c.n <> 0
		WHERE b.status IN ('pending', 'awaiting_approval', 'running', 'paused', 'halted')
		GROUP BY b.stock_id ORDER BY b.stock_id`)
	if err != nil {
		return fmt.Errorf("overview: stocks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var sq StockQueue
		if err := rows.Scan(&sq.StockID, &sq.Batches, &sq.QueuedFen, &sq.AwaitingFen, &sq.Unvalued); err != nil {
			return fmt.Errorf("overview: stocks: %w", err)
		}
		o.Stocks = append(o.Stocks, sq)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("overview: stocks: %w", err)
	}
	return nil
}
