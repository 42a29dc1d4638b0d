package queue

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/lib/pq"
)

// Result is what became of one claimed row.
type Result struct {
	ID     int64
	Status string // pending (retry), issued, failed or review
	// Answered is false when the row is released unsent (shutdown,
	// halt): outcome and wx fields then stay as they were.
	Answered   bool
	Outcome    string
	CouponID   string // 代金券 coupon_id
	CouponCode string // 商品券 coupon_code
	WxCode     string
	WxMessage  string
	// NextAttemptAt is when a pending row is due again (zero: now).
	NextAttemptAt time.Time
	// Uncount takes back the attempt Claim counted: the answer (throttled,
	// a halt, a release) says nothing about this row.
	Uncount bool
}

// recordSQL applies a completer's results; see Record.
//
// The row's state machine (ARCHITECTURE.md, "A recipient row"):
// doubt_since is set by the first answer that does not say what
// happened and cleared only by one that names the coupon; a throttle,
// halt, release or refusal leaves it as it was, because it says nothing
// about an earlier send. A refusal of a row in doubt (the earlier send
// may be why the user is now at the limit) goes to review, to be
// settled by query, never to failed. A definite "not issued" of a row
// not in doubt gives its reservation back to the batch's spend cap;
// issued keeps it (it is spend), and so does a row in doubt.
const recordSQL = `
	WITH a AS (
		SELECT a.*, CASE WHEN a.answered THEN a.outcome ELSE r.outcome END AS new_outcome,
			CASE WHEN a.status = 'issued' THEN NULL
				WHEN a.answered AND a.outcome IN ('unknown', 'unclassified') THEN coalesce(r.doubt_since, now())
				ELSE r.doubt_since END AS new_doubt
		FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::int[], $10::text[], $11::bool[])
			AS a(id, status, outcome, coupon_id, coupon_code, wx_code, wx_message, uncount, next_at, answered)
		JOIN recipients r ON r.id = a.id
	), u AS (
		SELECT a.*, CASE WHEN a.status = 'failed' AND a.new_doubt IS NOT NULL THEN 'review' ELSE a.status END AS new_status
		FROM a
	), upd AS (
		UPDATE recipients r SET
			status = u.new_status,
			outcome = u.new_outcome,
			doubt_since = u.new_doubt,
			note = CASE WHEN u.new_status <> u.status
				THEN 'WeChat Pay refused a later send of this row (' || u.new_outcome ||
					') after an earlier answer left it in doubt: the earlier send may have issued the coupon; settled by query'
				ELSE r.note END,
			coupon_id = coalesce(u.coupon_id, r.coupon_id),
			coupon_code = coalesce(u.coupon_code, r.coupon_code),
			wx_code = CASE WHEN u.answered THEN u.wx_code ELSE r.wx_code END,
			wx_message = CASE WHEN u.answered THEN u.wx_message ELSE r.wx_message END,
			attempts = r.attempts - u.uncount,
			next_attempt_at = coalesce(u.next_at::timestamptz, now()),
			issued_at = CASE WHEN u.new_status = 'issued' THEN coalesce(r.issued_at, now()) ELSE r.issued_at END,
			reserved_fen = CASE WHEN u.new_status <> 'issued' AND u.new_doubt IS NULL THEN 0 ELSE r.reserved_fen END,
			lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
		FROM u, recipients old
		WHERE r.id = u.id AND old.id = u.id AND r.status = 'in_flight' AND r.lease_owner = $1
		RETURNING r.batch_id, old.reserved_fen - r.reserved_fen AS released
	), released AS (
		UPDATE batches b SET reserved_fen = b.reserved_fen - x.fen
		FROM (SELECT batch_id, sum(released) AS fen FROM upd GROUP BY batch_id HAVING sum(released) > 0) x
		WHERE b.id = x.batch_id
	)
	SELECT batch_id FROM upd`

// Record applies results in one statement. A result applies only while
// the row is still in flight under owner's lease; rows whose lease was lost
// (rescued and re-claimed elsewhere) are left to their new owner, which
// resends the same out_request_no. It returns the ids of the batches
// touched and how many results did not apply.
func (s *Store) Record(ctx context.Context, owner string, results []Result) (batches []int64, stale int, err error) {
	if len(results) == 0 {
		return nil, 0, nil
	}
	n := len(results)
	ids := make([]int64, n)
	statuses := make([]string, n)
	outcomes := make([]sql.NullString, n)
	couponIDs := make([]sql.NullString, n)
	couponCodes := make([]sql.NullString, n)
	codes := make([]sql.NullString, n)
	messages := make([]sql.NullString, n)
	uncount := make([]int64, n)
	nextAt := make([]sql.NullString, n)
	answered := make([]bool, n)
	for i, r := range results {
		ids[i] = r.ID
		statuses[i] = r.Status
		outcomes[i] = nullString(r.Outcome)
		couponIDs[i] = nullString(r.CouponID)
		couponCodes[i] = nullString(r.CouponCode)
		codes[i] = nullString(r.WxCode)
		messages[i] = nullString(r.WxMessage)
		if r.Uncount {
			uncount[i] = 1
		}
		if !r.NextAttemptAt.IsZero() {
			nextAt[i] = nullString(r.NextAttemptAt.UTC().Format(time.RFC3339Nano))
		}
		answered[i] = r.Answered
	}
	rows, err := s.db.QueryContext(ctx, recordSQL,
		owner, pq.Array(ids), pq.Array(statuses), pq.Array(outcomes), pq.Array(couponIDs), pq.Array(couponCodes),
		pq.Array(codes), pq.Array(messages), pq.Array(uncount), pq.Array(nextAt), pq.Array(answered))
	if err != nil {
		return nil, 0, fmt.Errorf("record outcomes: %w", err)
	}
	defer rows.Close()
	seen := map[int64]bool{}
	applied := 0
	for rows.Next() {
		var b int64
		if err := rows.Scan(&b); err != nil {
			return nil, 0, fmt.Errorf("record outcomes: %w", err)
		}
		applied++
		if !seen[b] {
			seen[b] = true
			batches = append(batches, b)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("record outcomes: %w", err)
	}
	return batches, n - applied, nil
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// Halt stops claiming a batch, keeping its remaining rows pending, and
// stores why. It returns false when the batch was not pending or running
// (already halted by another worker, paused or cancelled).
func (s *Store) Halt(ctx context.Context, batch int64, reason string) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE batches SET status = 'halted', halt_reason = $2, updated_at = now()
		WHERE id = $1 AND status IN ('pending', 'running')`, batch, reason)
	if err != nil {
		return false, fmt.Errorf("halt batch %d: %w", batch, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// HaltMerchant halts every runnable batch issued by mchid: a configuration
// error (bad key, no permission) fails all of them alike.
func (s *Store) HaltMerchant(ctx context.Context, mchid, reason string) ([]int64, error) {
	var ids []int64
	err := s.db.SelectContext(ctx, &ids, `UPDATE batches SET status = 'halted', halt_reason = $2, updated_at = now()
		WHERE mchid = $1 AND status IN ('pending', 'running') RETURNING id`, mchid, reason)
	if err != nil {
		return nil, fmt.Errorf("halt merchant %s: %w", mchid, err)
	}
	return ids, nil
}

// CompleteFinished marks as completed those of the given batches that
// have no pending or in-flight rows left, returning their ids.
func (s *Store) CompleteFinished(ctx context.Context, batches []int64) ([]int64, error) {
	if len(batches) == 0 {
		return nil, nil
	}
	var ids []int64
	err := s.db.SelectContext(ctx, &ids, `UPDATE batches b SET status = 'completed', updated_at = now()
		WHERE b.id = ANY($1) AND b.status IN ('pending', 'running')
		  AND NOT EXISTS (SELECT 1 FROM recipients r WHERE r.batch_id = b.id AND r.status IN ('pending', 'in_flight'))
		RETURNING b.id`, int64Array(batches))
	if err != nil {
		return nil, fmt.Errorf("complete batches: %w", err)
	}
	return ids, nil
}

// Remaining counts rows still to do (pending or in flight) in runnable
// batches, or in batch when not 0.
func (s *Store) Remaining(ctx context.Context, batch int64) (int, error) {
	var n int
	err := s.db.GetContext(ctx, &n, `SELECT coalesce(sum(c.n), 0) FROM batch_counts c JOIN batches b ON b.id = c.batch_id
		WHERE c.status IN ('pending', 'in_flight') AND b.status IN ('pending', 'running') AND ($1 = 0 OR c.batch_id = $1)`, batch)
	if err != nil {
		return 0, fmt.Errorf("count remaining: %w", err)
	}
	return n, nil
}
