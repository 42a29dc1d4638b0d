package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The partition of a batch's rows that a page shows: every row is in
// exactly one part, so the parts' counts add up to the batch's rows and
// their face values to its amount (where the face value is known).
const (
	PartIssued    = StatusIssued
	PartInFlight  = StatusInFlight
	PartPending   = StatusPending // pending and not in doubt: still to send
	PartInDoubt   = "in_doubt"    // pending or in review, in doubt
	PartReview    = StatusReview  // in review, not in doubt
	PartFailed    = StatusFailed
	PartCancelled = StatusCancelled
)

// PartKeys are the parts in the order pages show them.
var PartKeys = []string{PartIssued, PartInFlight, PartPending, PartInDoubt, PartReview, PartFailed, PartCancelled}

// Part is one part of a batch's rows: how many and their face value in
// fen (rows without a coupon_value at the stock's face value, 0 when
// unknown).
type Part struct {
	Key   string `json:"key"`
	Count int    `json:"count"`
	Fen   int64  `json:"fen"`
}

// BatchView is a batch and its rows' counts read from one snapshot.
type BatchView struct {
	Batch *Batch
	// Parts partition the rows, in PartKeys order, zeros included.
	Parts []Part
	// Outcomes counts the rows by the outcome of their last answer ("" for
	// rows never answered).
	Outcomes map[string]int
}

// Part returns the part named key.
func (v *BatchView) Part(key string) Part {
	for _, p := range v.Parts {
		if p.Key == key {
			return p
		}
	}
	return Part{Key: key}
}

// BatchView reads a batch, its counts by status, its partition and its
// outcomes in one read-only REPEATABLE READ transaction: the numbers of a
// page agree with each other, also while the batch sends.
func (s *Store) BatchView(ctx context.Context, id int64) (*BatchView, error) {
	tx, err := s.db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("batch %d: %w", id, err)
	}
	defer tx.Rollback() //nolint:errcheck // read only
	var b Batch
	err = tx.GetContext(ctx, &b, `SELECT `+batchColumns+` FROM batches WHERE id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("batch %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get batch %d: %w", id, err)
	}
	b.fillGuards(time.Now())
	b.Counts = map[string]int{}
	for _, st := range RecipientStatuses {
		b.Counts[st] = 0
	}
	face := int64(0)
	if b.FaceValueFen != nil {
		face = *b.FaceValueFen
	}
	rows, err := tx.QueryContext(ctx, `SELECT status, outcome, doubt, n, fen + unvalued * $2 FROM batch_outcome_counts
		WHERE batch_id = $1 AND n <> 0`, id, face)
	if err != nil {
		return nil, fmt.Errorf("batch %d counts: %w", id, err)
	}
	defer rows.Close()
	v := &BatchView{Batch: &b, Outcomes: map[string]int{}}
	parts := map[string]*Part{}
	for _, k := range PartKeys {
		v.Parts = append(v.Parts, Part{Key: k})
	}
	for i := range v.Parts {
		parts[v.Parts[i].Key] = &v.Parts[i]
	}
	for rows.Next() {
		var st, outcome string
		var doubt bool
		var n int
		var fen int64
		if err := rows.Scan(&st, &outcome, &doubt, &n, &fen); err != nil {
			return nil, fmt.Errorf("batch %d counts: %w", id, err)
		}
		b.Counts[st] += n
		if outcome != "" {
			v.Outcomes[outcome] += n
		}
		key := st
		if doubt {
			key = PartInDoubt
			b.InDoubt += n
			if st == StatusPending {
				b.PendingInDoubt += n
			}
		}
		if p, ok := parts[key]; ok {
			p.Count += n
			p.Fen += fen
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("batch %d counts: %w", id, err)
	}
	return v, nil
}

// StockQueuedFen is the face value a stock's batches that may still send have
// not issued yet: pending, in flight or in doubt, batches awaiting
// approval included. It is what the stock's budget must still cover.
func (s *Store) StockQueuedFen(ctx context.Context, stockID string) (int64, error) {
	var fen int64
	err := s.db.GetContext(ctx, &fen, `SELECT coalesce(sum(c.fen + c.unvalued * coalesce(b.face_value_fen, 0)), 0)::bigint
		FROM batches b JOIN batch_outcome_counts c ON c.batch_id = b.id
		WHERE b.stock_id = $1 AND b.status IN ('pending', 'awaiting_approval', 'running', 'paused', 'halted')
			AND (c.status IN ('pending', 'in_flight') OR c.doubt)`, stockID)
	if err != nil {
		return 0, fmt.Errorf("stock %s queued amount: %w", stockID, err)
	}
	return fen, nil
}
