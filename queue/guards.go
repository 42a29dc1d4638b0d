package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/issuer-dev/issuer/internal/money"
)

// ErrSelfApproval: the uploader of a batch may not approve or reject it
// (maker-checker).
var ErrSelfApproval = errors.New("a batch is approved or rejected by someone other than its uploader")

// Approve lets a batch awaiting approval be claimed: it becomes pending
// (paused, if it was imported paused), recording who approved it, when,
// and the amount they approved. approver must not be the uploader.
func (s *Store) Approve(ctx context.Context, id int64, approver string) (*Batch, error) {
	return s.ApproveWithComment(ctx, id, approver, "")
}

// MaxCommentLen bounds an approver's comment, in characters.
const MaxCommentLen = 2000

// ApproveWithComment is Approve with the approver's comment kept on the
// batch ("" for none).
func (s *Store) ApproveWithComment(ctx context.Context, id int64, approver, comment string) (*Batch, error) {
	if n := len([]rune(comment)); n > MaxCommentLen {
		return nil, fmt.Errorf("approve batch %d: the comment has %d characters, at most %d", id, n, MaxCommentLen)
	}
	return s.decide(ctx, id, approver, `UPDATE batches SET
			status = CASE WHEN start_paused THEN 'paused' ELSE 'pending' END,
			approved_by = $2, approved_at = now(), approved_amount_fen = amount_fen, updated_at = now(),
			approve_comment = nullif($3, '')
		WHERE id = $1 AND status = 'awaiting_approval' AND uploaded_by <> $2 RETURNING id`, "approve", comment)
}

// Rename gives a batch awaiting approval a new name (checked by the
// caller): what the approver sees is what is decided. Once decided, a
// batch keeps its name (ErrState).
func (s *Store) Rename(ctx context.Context, id int64, name string) (*Batch, error) {
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		var got int64
		return tx.GetContext(ctx, &got, `UPDATE batches SET name = $2, updated_at = now()
			WHERE id = $1 AND status = 'awaiting_approval' RETURNING id`, id, name)
	})
	if errors.Is(err, sql.ErrNoRows) {
		b, gerr := s.Batch(ctx, id)
		if gerr != nil {
			return nil, gerr
		}
		return nil, fmt.Errorf("batch %d is %s; its name changes only while it awaits approval: %w", id, b.Status, ErrState)
	}
	if err != nil {
		return nil, fmt.Errorf("rename batch %d: %w", id, err)
	}
	return s.Batch(ctx, id)
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
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		var got int64
		return tx.GetContext(ctx, &got, query, append([]any{id, who}, args...)...)
	})
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
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE batches SET priority = $2, updated_at = now() WHERE id = $1`, id, priority)
		if err != nil {
			return fmt.Errorf("set priority of batch %d: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("batch %d: %w", id, ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.Batch(ctx, id)
}

// GuardChange changes some of a batch's money guards. A nil field leaves
// its guard as it is; a Clear flag removes the guard.
type GuardChange struct {
	MaxAmountFen   *int64 // a new spend cap, more than 0
	FaceValueFen   int64  // the stock's face value, for a first cap on a batch with none on record; 0: unknown
	ClearMaxAmount bool
	Window         *Window
	ClearWindow    bool
	StartAt        *time.Time
	ClearStartAt   bool
	Priority       *int
	// StartPaused says whether a batch awaiting approval becomes paused
	// (true) or pending (false) once approved; other batches pause and
	// resume by their own acts (ErrState).
	StartPaused *bool
}

// Empty reports whether c changes nothing.
func (c GuardChange) Empty() bool {
	return c.MaxAmountFen == nil && !c.ClearMaxAmount && c.Window == nil && !c.ClearWindow &&
		c.StartAt == nil && !c.ClearStartAt && c.Priority == nil && c.StartPaused == nil
}

// Loosens reports whether c lets b send more or sooner than its guards do
// now: a higher cap or none, a window removed or changed, a start time
// removed or made earlier, a higher priority.
func (c GuardChange) Loosens(b *Batch) bool {
	switch {
	case c.ClearMaxAmount && b.MaxAmountFen != nil,
		c.MaxAmountFen != nil && b.MaxAmountFen != nil && *c.MaxAmountFen > *b.MaxAmountFen,
		c.ClearWindow && b.WindowStart != nil,
		c.Window != nil && b.WindowStart != nil && c.Window.String() != b.Window,
		c.ClearStartAt && b.StartAt != nil,
		c.StartAt != nil && b.StartAt != nil && c.StartAt.Before(*b.StartAt),
		c.Priority != nil && *c.Priority > b.Priority,
		c.StartPaused != nil && !*c.StartPaused && b.StartPaused:
		return true
	}
	return false
}

// ErrCapBelowReserved: a spend cap below what the batch already has issued,
// in flight or in doubt (its reserved face value). It also matches
// ErrState.
var ErrCapBelowReserved = errors.New("the spend cap would be below what is issued, in flight or in doubt")

// guardStatuses are the batch statuses whose guards may change: those
// that may still send.
var guardStatuses = []string{BatchPending, BatchAwaitingApproval, BatchRunning, BatchPaused, BatchHalted}

// ErrNoFaceValue: a first spend cap needs the value of every coupon the
// batch has sent, and some have neither a coupon_value nor the stock's
// face value on record.
var ErrNoFaceValue = errors.New("the face value of the batch's coupons is unknown")

// SetGuards changes a batch's guards in one transaction, the batch's row
// locked. A cap below the batch's reserved face value (issued, in flight
// or in doubt) is refused by the batches_cap_check constraint, which
// PostgreSQL checks against the row as it is once any claim that holds it
// has committed: a claim and a lower cap never both pass.
//
// A batch without a cap reserves nothing when it claims, so its first cap
// first counts what the batch has on its way: every row issued, in flight,
// or sent before and still pending or in review gets its face value
// reserved (as a claim under a cap would have), and the cap is checked
// against the sum. Claims of a sending batch without a cap do not look at
// its row, so a first cap is set only while no claim can take its rows:
// the batch paused, halted or awaiting approval (ErrState otherwise, with
// what to do). face is the stock's face value for rows without a
// coupon_value when the batch has none on record (0: unknown).
//
// A batch that can no longer send (completed, cancelled, rejected) keeps
// its guards (ErrState).
func (s *Store) SetGuards(ctx context.Context, id int64, c GuardChange) (*Batch, error) {
	if c.MaxAmountFen != nil && *c.MaxAmountFen <= 0 {
		return nil, fmt.Errorf("set guards of batch %d: the spend cap must be more than 0 (clear it instead)", id)
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("set guards of batch %d: %w", id, err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	var cur struct {
		Status string `db:"status"`
		Capped bool   `db:"capped"`
	}
	err = tx.GetContext(ctx, &cur, `SELECT status, max_amount_fen IS NOT NULL AS capped FROM batches WHERE id = $1 FOR UPDATE`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("batch %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("set guards of batch %d: %w", id, err)
	}
	if !slices.Contains(guardStatuses, cur.Status) {
		return nil, fmt.Errorf("batch %d is %s; its guards change only while it may still send: %w", id, cur.Status, ErrState)
	}
	if c.StartPaused != nil && cur.Status != BatchAwaitingApproval {
		return nil, fmt.Errorf("batch %d is %s; paused after approval is set only while it awaits approval (pause or resume it instead): %w",
			id, cur.Status, ErrState)
	}
	firstReserved := int64(-1)
	if c.MaxAmountFen != nil && !cur.Capped {
		if firstReserved, err = firstCap(ctx, tx, id, cur.Status, c.FaceValueFen); err != nil {
			return nil, err
		}
	}
	var wStart, wEnd *int
	var wTZ *string
	if w := c.Window; w != nil {
		tz := w.Loc.String()
		wStart, wEnd, wTZ = &w.Start, &w.End, &tz
	}
	var reserved int64
	err = tx.GetContext(ctx, &reserved, `UPDATE batches SET
			max_amount_fen = CASE WHEN $2 THEN $3::bigint ELSE max_amount_fen END,
			window_start = CASE WHEN $4 THEN $5::smallint ELSE window_start END,
			window_end = CASE WHEN $4 THEN $6::smallint ELSE window_end END,
			window_tz = CASE WHEN $4 THEN $7::text ELSE window_tz END,
			start_at = CASE WHEN $8 THEN $9::timestamptz ELSE start_at END,
			priority = CASE WHEN $10 THEN $11::integer ELSE priority END,
			start_paused = coalesce($12::boolean, start_paused),
			updated_at = now()
		WHERE id = $1 RETURNING reserved_fen`, id,
		c.MaxAmountFen != nil || c.ClearMaxAmount, c.MaxAmountFen,
		c.Window != nil || c.ClearWindow, wStart, wEnd, wTZ,
		c.StartAt != nil || c.ClearStartAt, c.StartAt,
		c.Priority != nil, c.Priority, c.StartPaused)
	if pqErr := (*pq.Error)(nil); errors.As(err, &pqErr) && pqErr.Constraint == "batches_cap_check" {
		_ = tx.Rollback()
		b, gerr := s.Batch(ctx, id)
		if gerr != nil {
			return nil, gerr
		}
		have := b.ReservedFen
		if firstReserved >= 0 {
			have = firstReserved
		}
		return nil, fmt.Errorf("batch %d: a cap of %s yuan is below the %s yuan already issued, in flight or in doubt: %w: %w",
			id, money.Yuan(*c.MaxAmountFen), money.Yuan(have), ErrCapBelowReserved, ErrState)
	}
	if err != nil {
		return nil, fmt.Errorf("set guards of batch %d: %w", id, err)
	}
	if err := s.commit(ctx, tx); err != nil {
		return nil, fmt.Errorf("set guards of batch %d: %w", id, err)
	}
	return s.Batch(ctx, id)
}

// sentBefore selects, of batch $1's rows, those a first cap must count:
// issued, in flight, or sent at least once and still pending or in review
// (in doubt, or waiting for a retry), that hold no reservation yet.
const sentBefore = `r.batch_id = $1 AND r.reserved_fen = 0 AND (r.status IN ('issued', 'in_flight')
	OR (r.status IN ('pending', 'review') AND r.attempts > 0))`

// firstCap reserves, in tx, the face value of every row a batch without a
// cap has on its way, so that the cap about to be set is checked against
// it, and returns the batch's reservation.
func firstCap(ctx context.Context, tx *sqlx.Tx, id int64, status string, face int64) (int64, error) {
	if status == BatchPending || status == BatchRunning {
		return 0, fmt.Errorf("batch %d is %s without a spend cap, and its sends are claimed without a reservation a cap could be checked against; "+
			"pause it first (issuer batch pause %d), set the cap, then resume it (issuer batch resume %d): %w", id, status, id, id, ErrState)
	}
	if face > 0 {
		if _, err := tx.ExecContext(ctx, `UPDATE batches SET face_value_fen = $2 WHERE id = $1 AND face_value_fen IS NULL`, id, face); err != nil {
			return 0, fmt.Errorf("set guards of batch %d: %w", id, err)
		}
	}
	var unknown int
	if err := tx.GetContext(ctx, &unknown, `SELECT count(*) FROM recipients r JOIN batches b ON b.id = r.batch_id
		WHERE `+sentBefore+` AND r.coupon_value IS NULL AND b.face_value_fen IS NULL`, id); err != nil {
		return 0, fmt.Errorf("set guards of batch %d: %w", id, err)
	}
	if unknown > 0 {
		return 0, fmt.Errorf("batch %d: %d coupons sent have no value on record, so a cap cannot count them: %w: %w", id, unknown, ErrNoFaceValue, ErrState)
	}
	var reserved int64
	err := tx.GetContext(ctx, &reserved, `WITH r AS (
			UPDATE recipients r SET reserved_fen = coalesce(r.coupon_value, b.face_value_fen)
			FROM batches b WHERE b.id = r.batch_id AND `+sentBefore+`
			RETURNING r.reserved_fen
		)
		UPDATE batches SET reserved_fen = reserved_fen + (SELECT coalesce(sum(reserved_fen), 0) FROM r) WHERE id = $1
		RETURNING reserved_fen`, id)
	if err != nil {
		return 0, fmt.Errorf("set guards of batch %d: count what it has sent: %w", id, err)
	}
	return reserved, nil
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
