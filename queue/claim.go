package queue

import (
	"context"
	"fmt"
	"time"

	"github.com/issuer-dev/issuer/guard"
)

// Claimed is a recipient leased to one worker, with what a send needs.
type Claimed struct {
	ID                int64   `db:"id"`
	BatchID           int64   `db:"batch_id"`
	Kind              string  `db:"kind"`
	StockID           string  `db:"stock_id"`
	MchID             string  `db:"mchid"`
	AppID             string  `db:"appid"`
	StockCreatorMchID string  `db:"stock_creator_mchid"`
	OpenID            string  `db:"openid"`
	OutRequestNo      string  `db:"out_request_no"`
	CouponValue       *int64  `db:"coupon_value"`
	CouponMinimum     *int64  `db:"coupon_minimum"`
	CouponCode        *string `db:"coupon_code"`
	CouponType        *string `db:"coupon_type"`
	MemberCardID      *string `db:"member_card_id"`
	// Attempts counts this one.
	Attempts int `db:"attempts"`
}

// ClaimOptions selects what Claim may take.
type ClaimOptions struct {
	Owner string        // lease owner: this process and job run
	Limit int           // at most this many: the free worker slots
	Lease time.Duration // how long before another process may rescue the row
	Batch int64         // only this batch; 0 means every runnable batch
	// At is the time start times and send windows are judged at; zero
	// means the database's now (tests inject a clock).
	At time.Time
}

// Claim leases up to Limit due, pending recipients of open batches (the
// schedule guard, guard.OpenSQL: runnable, past its start time, inside
// its send window) with
// FOR UPDATE SKIP LOCKED, so concurrent claimers never get the same row.
// Leasing, counting the attempt, reserving face value against a spend cap
// and marking the batch running happen in the one statement, so a row is
// either claimed with all of that done or not claimed at all.
//
// Higher priority batches are taken first; batches of equal priority take
// turns row by row, so a small urgent list is not stuck behind a huge one.
//
// The spend cap: a row that holds no reservation needs its face value
// reserved on its batch, and the batch row is updated only while reserved
// plus what this claim needs stays within the cap. The update re-checks
// that against the batch as it is when the row lock is granted, so two
// claimers (two instances) can never reserve past the cap together: the
// loser claims nothing of that batch this time and sees the room left on
// its next claim. The same re-check refuses a batch cancelled, paused or
// sent for approval since this statement's snapshot.
func (s *Store) Claim(ctx context.Context, o ClaimOptions) ([]Claimed, error) {
	if o.Limit <= 0 {
		return nil, nil
	}
	var at *time.Time
	if !o.At.IsZero() {
		at = &o.At
	}
	var rows []Claimed
	err := s.db.SelectContext(ctx, &rows, `
		WITH cand AS (
			-- Per open batch, walk its claim index in order: the cost is
			-- batches × limit whatever the table size or its statistics.
			SELECT b.id AS batch_id, b.status AS batch_status, b.priority, c.id, c.rn,
				c.need, sum(c.need) OVER (PARTITION BY b.id ORDER BY c.rn) AS need_so_far,
				b.max_amount_fen - b.reserved_fen AS room
			FROM batches b
			CROSS JOIN LATERAL (
				-- Rows holding a reservation (sent before, in doubt) come
				-- first: behind a cap with no room left they are the only
				-- ones that may go, and must not starve behind rows that
				-- do not fit.
				SELECT x.id, x.need, row_number() OVER (ORDER BY x.arm, x.next_attempt_at, x.id) AS rn FROM (
					SELECT * FROM (SELECT 0 AS arm, r.id, r.next_attempt_at, 0::bigint AS need
					FROM recipients r
					WHERE r.batch_id = b.id AND r.status = 'pending' AND r.reserved_fen > 0 AND r.next_attempt_at <= now()
					ORDER BY r.next_attempt_at, r.id
					LIMIT $2
					FOR UPDATE SKIP LOCKED) held
					UNION ALL
					SELECT * FROM (SELECT 1 AS arm, r.id, r.next_attempt_at,
						-- A row of unknown value never fits under a cap (import
						-- refuses a cap without a face value; this is the backstop).
						CASE WHEN b.max_amount_fen IS NULL THEN 0
							ELSE coalesce(r.coupon_value, b.face_value_fen, b.max_amount_fen + 1) END
					FROM recipients r
					WHERE r.batch_id = b.id AND r.status = 'pending' AND r.reserved_fen = 0 AND r.next_attempt_at <= now()
					ORDER BY r.next_attempt_at, r.id
					LIMIT $2
					FOR UPDATE SKIP LOCKED) fresh
				) x
			) c
			WHERE `+guard.OpenSQL("b", "$5")+` AND ($4 = 0 OR b.id = $4)
		), picked AS (
			-- A row that already holds its reservation (sent before, in
			-- doubt) needs no room; one that needs room is taken while the
			-- rows before it in this batch's order fit.
			SELECT * FROM cand
			WHERE room IS NULL OR need = 0 OR need_so_far <= room
			ORDER BY priority DESC, rn, batch_id
			LIMIT $2
		), per_batch AS (
			SELECT batch_id, min(batch_status) AS batch_status, sum(need) AS need FROM picked GROUP BY batch_id
		), touched AS (
			UPDATE batches b SET status = 'running', reserved_fen = b.reserved_fen + pb.need, updated_at = now()
			FROM per_batch pb
			WHERE b.id = pb.batch_id AND (pb.batch_status = 'pending' OR pb.need > 0)
			  AND b.status IN ('pending', 'running')
			  AND (b.max_amount_fen IS NULL OR b.reserved_fen + pb.need <= b.max_amount_fen)
			RETURNING b.id
		), claimable AS (
			SELECT p.id, p.need FROM picked p JOIN per_batch pb USING (batch_id)
			WHERE p.batch_id IN (SELECT id FROM touched) OR (pb.batch_status = 'running' AND pb.need = 0)
		)
		UPDATE recipients r SET status = 'in_flight', lease_owner = $1,
			lease_expires_at = now() + $3 * interval '1 millisecond',
			attempts = r.attempts + 1, last_attempt_at = now(),
			first_attempt_at = coalesce(r.first_attempt_at, now()),
			reserved_fen = r.reserved_fen + claimable.need, updated_at = now()
		FROM claimable, batches b
		WHERE r.id = claimable.id AND b.id = r.batch_id
		RETURNING r.id, r.batch_id, b.kind, b.stock_id, r.mchid, b.appid, b.stock_creator_mchid,
			r.openid, r.out_request_no, r.coupon_value, r.coupon_minimum, r.coupon_code,
			r.coupon_type, r.member_card_id, r.attempts`,
		o.Owner, o.Limit, o.Lease.Milliseconds(), o.Batch, at)
	if err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	return rows, nil
}

// RescueExpired returns rows whose lease ran out (their worker died or lost
// the database) to pending, due now, so they are sent again with the same
// out_request_no. A rescued row's last send may have reached WeChat Pay:
// it is in doubt (outcome unknown), and one that has used up maxAttempts
// goes to review instead.
func (s *Store) RescueExpired(ctx context.Context, maxAttempts int) (rescued, review int, err error) {
	var res []struct {
		Status string `db:"status"`
	}
	err = s.db.SelectContext(ctx, &res, `
		UPDATE recipients SET
			status = CASE WHEN attempts >= $1 THEN 'review' ELSE 'pending' END,
			outcome = 'unknown', doubt_since = coalesce(doubt_since, now()),
			note = 'the lease expired while this row was being sent: the send may have reached WeChat Pay',
			lease_owner = NULL, lease_expires_at = NULL, next_attempt_at = now(), updated_at = now()
		WHERE status = 'in_flight' AND lease_expires_at < now()
		RETURNING status`, maxAttempts)
	if err != nil {
		return 0, 0, fmt.Errorf("rescue expired leases: %w", err)
	}
	for _, r := range res {
		if r.Status == StatusReview {
			review++
		} else {
			rescued++
		}
	}
	return rescued, review, nil
}

// NextDue returns when the next row of an open batch (or of batch, when
// not 0) can be claimed at at (zero: now): the earliest pending row's next
// attempt, or the earliest lease to expire (its row is then rescued), and
// whether there is one. A batch outside its window or before its start
// time has nothing due.
func (s *Store) NextDue(ctx context.Context, batch int64, at time.Time) (time.Time, bool, error) {
	var atp *time.Time
	if !at.IsZero() {
		atp = &at
	}
	var due *time.Time
	err := s.db.GetContext(ctx, &due, `
		SELECT least(
			(SELECT min(c.next_attempt_at) FROM batches b CROSS JOIN LATERAL (
				SELECT r.next_attempt_at FROM recipients r
				WHERE r.batch_id = b.id AND r.status = 'pending' ORDER BY r.next_attempt_at LIMIT 1) c
			 WHERE `+guard.OpenSQL("b", "$2")+` AND ($1 = 0 OR b.id = $1)),
			(SELECT min(r.lease_expires_at) FROM recipients r
			 WHERE r.status = 'in_flight' AND ($1 = 0 OR r.batch_id = $1)))`, batch, atp)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next due: %w", err)
	}
	if due == nil {
		return time.Time{}, false, nil
	}
	return *due, true, nil
}
