// Package audit owns the audit log: one row for every state-changing act
// (logins, user changes, tokens, batch and stock operations), whoever asked
// and whatever came of it, including refusals and failures.
//
// It only records and lists. It never decides whether an act is allowed
// (package auth's table does) and never changes a row once written.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// Outcome is what came of an act.
type Outcome string

// Outcomes.
const (
	OK     Outcome = "ok"     // done
	Denied Outcome = "denied" // refused: no permission, bad credentials, locked, forbidden state
	Error  Outcome = "error"  // attempted and failed; Message says why
)

// Actions recorded by the accounts code. The ops layer records its own
// actions (auth.Action names such as "pause" or "import") through the same
// Record.
const (
	ActLogin       = "login"
	ActLoginFailed = "login_failed"
	ActLockout     = "lockout"
	ActLogout      = "logout"
	ActUserAdd     = "user_add"
	ActUserDisable = "user_disable"
	ActUserEnable  = "user_enable"
	ActTokenCreate = "token_create"
	ActTokenRevoke = "token_revoke"
	ActPassword    = "user_password" // a password set or changed
	ActUserRole    = "user_role"
	ActSessionsEnd = "sessions_end" // signed out everywhere
)

// Entry is one audit row.
type Entry struct {
	ID      int64     `json:"-"`
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`
	Role    string    `json:"role"`
	Action  string    `json:"action"`
	BatchID *int64    `json:"batch_id"`
	StockID string    `json:"stock_id"`
	Source  string    `json:"source"`
	Outcome Outcome   `json:"outcome"`
	Message string    `json:"message,omitempty"`
	// Detail is JSON: an object, or a string for free text. Record wraps
	// anything that is not valid JSON as a string.
	Detail json.RawMessage `json:"detail"`
}

// Text returns a Detail holding free text.
func Text(s string) json.RawMessage {
	b, _ := json.Marshal(s) // a string always marshals
	return b
}

// Fields returns a Detail holding v as JSON (nil when v cannot be encoded).
func Fields(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

// Filter selects entries for List. Zero fields select everything.
type Filter struct {
	Limit   int // default DefaultLimit, at most MaxLimit
	Offset  int
	Actor   string
	Action  string
	BatchID int64
	Outcome Outcome
	Since   time.Time
	Until   time.Time
}

// Paging bounds.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Store reads and writes the audit_log table.
type Store struct {
	db  *sqlx.DB
	now func() time.Time
}

// NewStore returns a Store on db; now stamps entries without a time
// (nil: time.Now).
func NewStore(db *sqlx.DB, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, now: now}
}

// Record writes e. A missing time is now; a missing outcome is OK.
func (s *Store) Record(ctx context.Context, e Entry) error {
	return s.RecordTx(ctx, s.db, e)
}

// RecordTx writes e through ext (the pool or a transaction), so an act and
// its audit row can commit or roll back together.
func (s *Store) RecordTx(ctx context.Context, ext sqlx.ExecerContext, e Entry) error {
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	if e.Outcome == "" {
		e.Outcome = OK
	}
	if e.Action == "" || e.Actor == "" {
		return fmt.Errorf("audit record: action and actor are required")
	}
	var detail any
	if len(e.Detail) > 0 {
		d := e.Detail
		if !json.Valid(d) {
			d = Text(string(d))
		}
		detail = string(d)
	}
	_, err := ext.ExecContext(ctx, `INSERT INTO audit_log (at, actor, role, action, batch_id, stock_id, source, outcome, message, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		e.Time, e.Actor, e.Role, e.Action, e.BatchID, e.StockID, e.Source, string(e.Outcome), e.Message, detail)
	if err != nil {
		return fmt.Errorf("audit record %s: %w", e.Action, err)
	}
	return nil
}

type row struct {
	ID      int64     `db:"id"`
	At      time.Time `db:"at"`
	Actor   string    `db:"actor"`
	Role    string    `db:"role"`
	Action  string    `db:"action"`
	BatchID *int64    `db:"batch_id"`
	StockID string    `db:"stock_id"`
	Source  string    `db:"source"`
	Outcome string    `db:"outcome"`
	Message string    `db:"message"`
	Detail  *string   `db:"detail"`
}

// List returns the entries f selects, newest first.
func (s *Store) List(ctx context.Context, f Filter) ([]Entry, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Actor != "" {
		where = append(where, "actor = "+arg(f.Actor))
	}
	if f.Action != "" {
		where = append(where, "action = "+arg(f.Action))
	}
	if f.BatchID != 0 {
		where = append(where, "batch_id = "+arg(f.BatchID))
	}
	if f.Outcome != "" {
		where = append(where, "outcome = "+arg(string(f.Outcome)))
	}
	if !f.Since.IsZero() {
		where = append(where, "at >= "+arg(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, "at < "+arg(f.Until))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	q := `SELECT id, at, actor, role, action, batch_id, stock_id, source, outcome, message, detail::text AS detail FROM audit_log`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY at DESC, id DESC LIMIT " + arg(limit) + " OFFSET " + arg(max(f.Offset, 0))
	var rows []row
	if err := s.db.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, fmt.Errorf("audit list: %w", err)
	}
	out := make([]Entry, 0, len(rows))
	for _, r := range rows {
		e := Entry{ID: r.ID, Time: r.At, Actor: r.Actor, Role: r.Role, Action: r.Action, BatchID: r.BatchID,
			StockID: r.StockID, Source: r.Source, Outcome: Outcome(r.Outcome), Message: r.Message}
		if r.Detail != nil {
			e.Detail = json.RawMessage(*r.Detail)
		}
		out = append(out, e)
	}
	return out, nil
}
