package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"database/sql/driver"

	"github.com/lib/pq"
)

// Outcomes the queue itself records. unknown and unclassified are the
// values of wxpay.OutcomeUnknown and wxpay.OutcomeUnclassified: an answer
// that did not say what happened.
const (
	OutcomeUnknown      = "unknown"
	OutcomeUnclassified = "unclassified"
	// OutcomeConfirmedByQuery: a row in doubt that WeChat Pay's list of the
	// user's coupons shows was issued.
	OutcomeConfirmedByQuery = "confirmed_by_query"
	// OutcomeNotIssuedByQuery: a row in doubt that the user's coupons show
	// was never issued.
	OutcomeNotIssuedByQuery = "not_issued_by_query"
)

// inDoubtSQL tests the generated column recipients.in_doubt (schema.sql's
// recipient_in_doubt holds the one definition: a send of the row got an
// answer that did not say whether WeChat Pay issued the coupon, and
// neither an answer naming the coupon nor a query has settled it since).
// The alias r must name recipients.
const inDoubtSQL = `r.in_doubt`

// sealSQL moves the pending rows of cancelled batches out of pending, in
// one statement: rows in doubt to review (settled by query), the rest to
// cancelled. UPDATE waits for a concurrent claim's row locks and then
// re-checks status, so a row that claim leased is left to finish its send,
// and no row stays claimable in a cancelled batch.
const sealSQL = `
	UPDATE recipients r SET
		status = CASE WHEN ` + inDoubtSQL + ` THEN 'review' ELSE 'cancelled' END,
		note = CASE WHEN ` + inDoubtSQL + `
			THEN 'batch cancelled while this row was in doubt: WeChat Pay is asked whether it was issued'
			ELSE note END,
		updated_at = now()
	FROM batches b
	WHERE b.id = r.batch_id AND b.status = 'cancelled' AND r.status = 'pending' AND ($1 = 0 OR r.batch_id = $1)`

// sealInCancelSQL is sealSQL inside the cancelling transaction, which holds
// the batch row: it waits for no row, since a row another transaction
// holds (a record putting a sent row back to pending) may be waiting for
// that batch row. Such rows are sealed once the sends in flight have
// finished (SealCancelled).
const sealInCancelSQL = sealSQL + ` AND r.id IN (SELECT id FROM recipients WHERE batch_id = $1 AND status = 'pending' FOR UPDATE SKIP LOCKED)`

type execer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Sealed counts what sealing a cancelled batch did.
type Sealed struct {
	Cancelled int // never issued: now cancelled
	InDoubt   int // in doubt: now in review, to be settled by query
}

func seal(ctx context.Context, q execer, query string, batch int64) (Sealed, error) {
	rows, err := q.QueryContext(ctx, query+"\n\tRETURNING r.status", batch)
	if err != nil {
		return Sealed{}, fmt.Errorf("seal cancelled batch: %w", err)
	}
	defer rows.Close()
	var s Sealed
	for rows.Next() {
		var st string
		if err := rows.Scan(&st); err != nil {
			return Sealed{}, fmt.Errorf("seal cancelled batch: %w", err)
		}
		if st == StatusReview {
			s.InDoubt++
		} else {
			s.Cancelled++
		}
	}
	return s, rows.Err()
}

// Cancel ends a batch for good: no row of it is claimed again. In the same
// transaction its pending rows leave pending (see SealCancelled). Rows in
// flight finish their send and record; SealCancelled then settles the
// pending rows they may leave behind.
//
// Claims and records lock a batch's rows and then its batch row; a cancel
// takes them in the same order (the batch's pending rows first), so it
// never deadlocks with the sends it stops. Should PostgreSQL still choose it
// as a deadlock's victim, it is tried again: an emergency stop must not fail
// because the batch is busy.
func (s *Store) Cancel(ctx context.Context, id int64) (Sealed, error) {
	for attempt := 1; ; attempt++ {
		sealed, err := s.cancel(ctx, id)
		var pqErr *pq.Error
		if attempt < 5 && errors.As(err, &pqErr) && (pqErr.Code == "40P01" || pqErr.Code == "40001") {
			continue
		}
		return sealed, err
	}
}

func (s *Store) cancel(ctx context.Context, id int64) (Sealed, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return Sealed{}, fmt.Errorf("cancel batch %d: %w", id, err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	if _, err := tx.ExecContext(ctx, `SELECT id FROM recipients WHERE batch_id = $1 AND status = 'pending' ORDER BY id FOR UPDATE`, id); err != nil {
		return Sealed{}, fmt.Errorf("cancel batch %d: %w", id, err)
	}
	tr := transitions["cancel"]
	var status string
	err = tx.GetContext(ctx, &status, `UPDATE batches SET status = 'cancelled', halt_reason = NULL, updated_at = now()
		WHERE id = $1 AND status = ANY($2) RETURNING status`, id, stringArray(tr.from))
	if errors.Is(err, sql.ErrNoRows) {
		_ = tx.Rollback()
		b, gerr := s.Batch(ctx, id)
		if gerr != nil {
			return Sealed{}, gerr
		}
		if b.Status == BatchCancelled {
			// Cancelling again finishes what a cancel cut short.
			return s.SealCancelled(ctx, id)
		}
		return Sealed{}, fmt.Errorf("batch %d is %s; cancel applies to %v batches: %w", id, b.Status, tr.from, ErrState)
	}
	if err != nil {
		return Sealed{}, fmt.Errorf("cancel batch %d: %w", id, err)
	}
	sealed, err := seal(ctx, tx, sealInCancelSQL, id)
	if err != nil {
		return Sealed{}, err
	}
	if err := tx.Commit(); err != nil {
		return Sealed{}, fmt.Errorf("cancel batch %d: %w", id, err)
	}
	return sealed, nil
}

// SealCancelled moves the pending rows of a cancelled batch (or of every
// cancelled batch, for 0) out of pending: rows in doubt to review, the
// rest to cancelled. Sends that were in flight when the batch was
// cancelled may have put rows back to pending; this is what catches them,
// and housekeeping runs it in case a cancel was cut short.
func (s *Store) SealCancelled(ctx context.Context, batch int64) (Sealed, error) {
	return seal(ctx, s.db, sealSQL, batch)
}

// InFlight counts the batch's rows leased to a worker right now.
func (s *Store) InFlight(ctx context.Context, batch int64) (int, error) {
	var n int
	if err := s.db.GetContext(ctx, &n, `SELECT count(*) FROM recipients WHERE batch_id = $1 AND status = 'in_flight'`, batch); err != nil {
		return 0, fmt.Errorf("count in-flight rows: %w", err)
	}
	return n, nil
}

// ReviewRow is a recipient in review, with what settling it needs.
type ReviewRow struct {
	ID                int64      `db:"id" json:"-"`
	BatchID           int64      `db:"batch_id" json:"batch_id"`
	BatchStatus       string     `db:"batch_status" json:"-"`
	Kind              string     `db:"kind" json:"-"`
	StockID           string     `db:"stock_id" json:"stock_id"`
	StockCreatorMchID string     `db:"stock_creator_mchid" json:"-"`
	AppID             string     `db:"appid" json:"-"`
	OpenID            string     `db:"openid" json:"openid"`
	OutRequestNo      string     `db:"out_request_no" json:"out_request_no"`
	Outcome           string     `db:"outcome" json:"outcome"`
	WxCode            string     `db:"wx_code" json:"wx_code"`
	WxMessage         string     `db:"wx_message" json:"wx_message"`
	Attempts          int        `db:"attempts" json:"attempts"`
	FirstAttemptAt    *time.Time `db:"first_attempt_at" json:"first_attempt_at"`
	LastAttemptAt     *time.Time `db:"last_attempt_at" json:"last_attempt_at"`
	Note              string     `db:"note" json:"note"`
}

// ReviewFilter selects review rows.
type ReviewFilter struct {
	Batch int64 // 0: every batch
	// SentBefore, when set, keeps only rows whose last send is older: a
	// request may still be in WeChat Pay's hands for a while after it was
	// sent, and asking too early could miss the coupon it creates.
	SentBefore time.Time
	AfterID    int64 // paging: rows with a greater id
	Limit      int   // 0: 1000
}

// Review lists rows in review in id order.
func (s *Store) Review(ctx context.Context, f ReviewFilter) ([]ReviewRow, error) {
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	var before *time.Time
	if !f.SentBefore.IsZero() {
		before = &f.SentBefore
	}
	var out []ReviewRow
	err := s.db.SelectContext(ctx, &out, `
		SELECT r.id, r.batch_id, b.status AS batch_status, b.kind, b.stock_id, b.stock_creator_mchid, b.appid,
			r.openid, r.out_request_no, coalesce(r.outcome, '') AS outcome, coalesce(r.wx_code, '') AS wx_code,
			coalesce(r.wx_message, '') AS wx_message, r.attempts,
			coalesce(r.first_attempt_at, r.created_at) AS first_attempt_at, r.last_attempt_at, coalesce(r.note, '') AS note
		FROM recipients r JOIN batches b ON b.id = r.batch_id
		WHERE r.status = 'review' AND ($1 = 0 OR r.batch_id = $1)
		  AND ($2::timestamptz IS NULL OR coalesce(r.last_attempt_at, r.created_at) < $2)
		  AND r.id > $3
		ORDER BY r.id LIMIT $4`, f.Batch, before, f.AfterID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list review rows: %w", err)
	}
	return out, nil
}

// Verdict is what settling a row in doubt concluded.
type Verdict string

// Verdicts.
const (
	VerdictIssued    Verdict = "issued"     // the user holds exactly one coupon that can be this row's
	VerdictNotIssued Verdict = "not_issued" // the user holds no coupon that can be this row's
	VerdictInDoubt   Verdict = "in_doubt"   // still open: a person must look (the note says why)
)

// Settlement is the evidence for one row in review: the coupons of its
// stock that the user holds and that were created while the row was being
// sent (the caller applies the time window; Settle removes coupons another
// row already owns).
type Settlement struct {
	Row        ReviewRow
	Candidates []string // coupon ids
	// Created holds each candidate's create_time as WeChat Pay gave it:
	// the evidence a verdict is logged and noted with.
	Created map[string]string
	// Undecidable, when set, keeps the row in review with this note (for
	// example: 商品券 have no query to ask).
	Undecidable string
}

// Settle applies the evidence to a row still in review, atomically: a
// coupon is given to at most one row (settlements of one stock take turns),
// and a row that left review meanwhile is left alone (ok false). One
// candidate not owned by another row: issued with that coupon. None: not
// issued — cancelled in a cancelled batch, otherwise pending again (to be
// sent with the same out_request_no; a completed batch runs again). More
// than one: still in doubt, for a person.
func (s *Store) Settle(ctx context.Context, st Settlement) (v Verdict, note string, ok bool, err error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return "", "", false, fmt.Errorf("settle row %d: %w", st.Row.ID, err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('settle ' || $1, 0))`, st.Row.StockID); err != nil {
		return "", "", false, fmt.Errorf("settle row %d: %w", st.Row.ID, err)
	}
	var owned []string
	if len(st.Candidates) > 0 {
		if err := tx.SelectContext(ctx, &owned, `SELECT coupon_id FROM recipients WHERE coupon_id = ANY($1)`, pq.Array(st.Candidates)); err != nil {
			return "", "", false, fmt.Errorf("settle row %d: %w", st.Row.ID, err)
		}
	}
	var free []string
	for _, c := range st.Candidates {
		if !slices.Contains(owned, c) && !slices.Contains(free, c) {
			free = append(free, c)
		}
	}
	var res sql.Result
	switch {
	case st.Undecidable != "":
		v, note = VerdictInDoubt, st.Undecidable
		res, err = tx.ExecContext(ctx, `UPDATE recipients SET note = $2, updated_at = now() WHERE id = $1 AND status = 'review'`, st.Row.ID, note)
	case len(free) == 1:
		v, note = VerdictIssued, fmt.Sprintf("confirmed by query: the user holds coupon %s of stock %s, created %s, while this row was being sent",
			free[0], st.Row.StockID, st.Created[free[0]])
		res, err = tx.ExecContext(ctx, `UPDATE recipients SET status = 'issued', outcome = $3, coupon_id = $2, note = $4, doubt_since = NULL,
			issued_at = coalesce(issued_at, now()), updated_at = now() WHERE id = $1 AND status = 'review'`,
			st.Row.ID, free[0], OutcomeConfirmedByQuery, note)
	case len(free) == 0:
		v = VerdictNotIssued
		note = fmt.Sprintf("not issued, by query: the user holds no coupon of stock %s that can be this row's", st.Row.StockID)
		if len(owned) > 0 {
			note += fmt.Sprintf(" (coupons %v belong to other rows)", owned)
		}
		// Not issued: its reservation goes back to the batch's spend cap.
		var n int64
		err = tx.GetContext(ctx, &n, `WITH upd AS (
				UPDATE recipients r SET
					status = CASE WHEN b.status = 'cancelled' THEN 'cancelled' ELSE 'pending' END,
					outcome = $2, note = $3, doubt_since = NULL, attempts = CASE WHEN b.status = 'cancelled' THEN r.attempts ELSE 0 END,
					next_attempt_at = now(), reserved_fen = 0, updated_at = now()
				FROM batches b, recipients old
				WHERE b.id = r.batch_id AND old.id = r.id AND r.id = $1 AND r.status = 'review'
				RETURNING r.batch_id, old.reserved_fen AS released
			), released AS (
				UPDATE batches b SET reserved_fen = b.reserved_fen - upd.released FROM upd
				WHERE b.id = upd.batch_id AND upd.released > 0
			)
			SELECT count(*) FROM upd`, st.Row.ID, OutcomeNotIssuedByQuery, note)
		res = driver.RowsAffected(n)
		if err == nil {
			// The row is to be sent again: a batch that had finished runs again.
			_, err = tx.ExecContext(ctx, `UPDATE batches SET status = 'pending', updated_at = now()
				WHERE id = $1 AND status = 'completed'`, st.Row.BatchID)
		}
	default:
		v = VerdictInDoubt
		var ids []string
		for _, c := range free {
			ids = append(ids, fmt.Sprintf("%s created %s", c, st.Created[c]))
		}
		note = fmt.Sprintf("the user holds %d coupons of stock %s created while this row was being sent and owned by no other row (%s): "+
			"check in the merchant platform which one out_request_no %s created", len(free), st.Row.StockID, strings.Join(ids, "; "), st.Row.OutRequestNo)
		res, err = tx.ExecContext(ctx, `UPDATE recipients SET note = $2, updated_at = now() WHERE id = $1 AND status = 'review'`, st.Row.ID, note)
	}
	if err != nil {
		return "", "", false, fmt.Errorf("settle row %d: %w", st.Row.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return v, note, false, nil
	}
	if err := tx.Commit(); err != nil {
		return "", "", false, fmt.Errorf("settle row %d: %w", st.Row.ID, err)
	}
	return v, note, true, nil
}
