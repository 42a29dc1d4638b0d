package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ErrSelfApproval: the uploader of a batch may not approve or reject it
// (maker-checker).
var ErrSelfApproval = errors.New("a batch is approved or rejected by someone other than its uploader")

// Approve lets a batch awaiting approval be claimed: it becomes pending
// (paused, if it was imported paused), recording who approved it, when,
// and the amount they approved. approver must not be the uploader.
func (s *Store) Approve(ctx context.Context, id int64, approver string) (*Batch, error) {
	return s.decide(ctx, id, approver, `UPDATE batches SET
			status = CASE WHEN start_paused THEN 'paused' ELSE 'pending' END,
			approved_by = $2, approved_at = now(), approved_amount_fen = amount_fen, updated_at = now()
		WHERE id = $1 AND status = 'awaiting_approval' AND uploaded_by <> $2 RETURNING id`, "approve")
}

// Reject ends a batch awaiting approval with a reason: nothing of it was
// sent, and its rows are cancelled.
func (s *Store) Reject(ctx context.Context, id int64, rejecter, reason string) (*Batch, error) {
	if reason == "" {
		return nil, fmt.Errorf("reject batch %d: a reason is required", id)
	}
	return s.decide(ctx, id, rejecter, `WITH b AS (
			UPDATE batches SET status = 'rejected', rejected_by = $2, rejected_at = now(), reject_reason = $3, updated_at = now()
			WHERE id = $1 AND status = 'awaiting_approval' AND uploaded_by <> $2 RETURNING id
		), r AS (
			UPDATE recipients SET status = 'cancelled', updated_at = now()
			WHERE batch_id IN (SELECT id FROM b) AND status = 'pending'
		)
		SELECT id FROM b`, "reject", reason)
}

func (s *Store) decide(ctx context.Context, id int64, who, query, action string, args ...any) (*Batch, error) {
	if who == "" {
		return nil, fmt.Errorf("%s batch %d: who decides is required", action, id)
	}
	var got int64
	err := s.db.GetContext(ctx, &got, query, append([]any{id, who}, args...)...)
	if errors.Is(err, sql.ErrNoRows) {
		b, gerr := s.Batch(ctx, id)
		if gerr != nil {
			return nil, gerr
		}
		if b.Status != BatchAwaitingApproval {
			return nil, fmt.Errorf("batch %d is %s; %s applies to batches awaiting approval: %w", id, b.Status, action, ErrState)
		}
		return nil, fmt.Errorf("batch %d was uploaded by %s, who may not %s it: %w", id, b.UploadedBy, action, ErrSelfApproval)
	}
	if err != nil {
		return nil, fmt.Errorf("%s batch %d: %w", action, id, err)
	}
	return s.Batch(ctx, id)
}

// SetPriority changes which batches are claimed first: higher first,
// equal ones share the rate.
func (s *Store) SetPriority(ctx context.Context, id int64, priority int) (*Batch, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE batches SET priority = $2, updated_at = now() WHERE id = $1`, id, priority)
	if err != nil {
		return nil, fmt.Errorf("set priority of batch %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, fmt.Errorf("batch %d: %w", id, ErrNotFound)
	}
	return s.Batch(ctx, id)
}

// Halted is a batch a guard halted.
type Halted struct {
	ID      int64  `db:"id"`
	StockID string `db:"stock_id"`
	MchID   string `db:"mchid"`
	Reason  string `db:"halt_reason"`
}

// HaltSpendCapped halts the open batches (of batch, or all for 0) whose
// spend cap leaves no room: no row is in flight or holds a reservation
// waiting for a retry, and no pending row's face value fits in what is
// left. Called when a claim comes back short, it is what turns "the cap
// is reached" into a halt an operator sees.
func (s *Store) HaltSpendCapped(ctx context.Context, batch int64) ([]Halted, error) {
	var out []Halted
	err := s.db.SelectContext(ctx, &out, `
		UPDATE batches b SET status = 'halted', updated_at = now(),
			halt_reason = format('spend_cap: %s of the %s yuan cap is issued or in doubt; no remaining recipient fits under it',
				to_char(b.reserved_fen / 100.0, 'FM999999999990.00'), to_char(b.max_amount_fen / 100.0, 'FM999999999990.00'))
		WHERE b.status IN ('pending', 'running') AND b.max_amount_fen IS NOT NULL AND ($1 = 0 OR b.id = $1)
		  AND NOT EXISTS (SELECT 1 FROM recipients r WHERE r.batch_id = b.id AND r.status = 'in_flight')
		  AND NOT EXISTS (SELECT 1 FROM recipients r WHERE r.batch_id = b.id AND r.status = 'pending'
				AND (r.reserved_fen > 0 OR b.reserved_fen + coalesce(r.coupon_value, b.face_value_fen, b.max_amount_fen + 1) <= b.max_amount_fen))
		  AND EXISTS (SELECT 1 FROM recipients r WHERE r.batch_id = b.id AND r.status = 'pending')
		RETURNING b.id, b.stock_id, b.mchid, b.halt_reason`, batch)
	if err != nil {
		return nil, fmt.Errorf("halt spend-capped batches: %w", err)
	}
	return out, nil
}

// StockBatches lists the open batches of each 代金券 stock, for checking
// stocks before claiming for them.
func (s *Store) OpenFavorStocks(ctx context.Context) (map[string][]int64, error) {
	var rows []struct {
		StockID string `db:"stock_id"`
		Creator string `db:"stock_creator_mchid"`
		ID      int64  `db:"id"`
	}
	if err := s.db.SelectContext(ctx, &rows, `SELECT stock_id, stock_creator_mchid, id FROM batches
		WHERE status IN ('pending', 'running') AND kind = 'favor' ORDER BY id`); err != nil {
		return nil, fmt.Errorf("open stocks: %w", err)
	}
	out := map[string][]int64{}
	for _, r := range rows {
		out[r.StockID+"\x00"+r.Creator] = append(out[r.StockID+"\x00"+r.Creator], r.ID)
	}
	return out, nil
}
