package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/issuer-dev/issuer/internal/excelcsv"
)

// Batch statuses.
const (
	BatchPending = "pending"
	// BatchAwaitingApproval is never claimed until an operator other than
	// its uploader approves it.
	BatchAwaitingApproval = "awaiting_approval"
	BatchRunning          = "running"
	BatchPaused           = "paused"
	BatchHalted           = "halted"
	BatchCompleted        = "completed"
	BatchCancelled        = "cancelled"
	// BatchRejected was refused at approval; nothing of it was sent.
	BatchRejected = "rejected"
)

// Recipient statuses.
const (
	StatusPending  = "pending"
	StatusInFlight = "in_flight"
	StatusIssued   = "issued"
	StatusFailed   = "failed"
	StatusReview   = "review"
	// StatusCancelled is a row of a cancelled batch that WeChat Pay never
	// issued (never sent, refused, or confirmed not issued by a query).
	StatusCancelled = "cancelled"
)

// RecipientStatuses lists every recipient status in lifecycle order.
var RecipientStatuses = []string{StatusPending, StatusInFlight, StatusIssued, StatusFailed, StatusReview, StatusCancelled}

// Batch is one imported recipient list for one stock.
type Batch struct {
	ID                int64          `db:"id" json:"id"`
	Name              string         `db:"name" json:"name"`
	StockID           string         `db:"stock_id" json:"stock_id"`
	Kind              string         `db:"kind" json:"kind"`
	MchID             string         `db:"mchid" json:"mchid"`
	AppID             string         `db:"appid" json:"appid"`
	StockCreatorMchID string         `db:"stock_creator_mchid" json:"stock_creator_mchid"`
	Status            string         `db:"status" json:"status"`
	HaltReason        *string        `db:"halt_reason" json:"halt_reason,omitempty"`
	SourceFile        string         `db:"source_file" json:"source_file"`
	SourceSHA256      string         `db:"source_sha256" json:"source_sha256"`
	Lines             int            `db:"lines" json:"lines"`
	Accepted          int            `db:"accepted" json:"accepted"`
	Duplicates        int            `db:"duplicates" json:"duplicates"`
	Rejected          int            `db:"rejected" json:"rejected"`
	Blank             int            `db:"blank" json:"blank"`
	CreatedAt         time.Time      `db:"created_at" json:"created_at"`
	UpdatedAt         time.Time      `db:"updated_at" json:"updated_at"`
	Counts            map[string]int `db:"-" json:"counts"`
	Repeats           int            `db:"repeats" json:"repeats"`
	Guards
	// InDoubt counts rows in doubt (a send got an answer that did not say
	// what happened, unsettled since):
	// WeChat Pay may have issued them. They are pending (retried with the
	// same out_request_no) or in review (settled by query), never "not
	// issued".
	InDoubt int `db:"-" json:"in_doubt"`
	// PendingInDoubt is the part of InDoubt still pending (the rest is in
	// review), for pages that draw the two apart.
	PendingInDoubt int `db:"-" json:"-"`
}

// ErrNotFound is returned for an unknown batch.
var ErrNotFound = errors.New("not found")

// ErrState is returned for an action the batch's status does not allow.
var ErrState = errors.New("not allowed in this state")

// Store runs queue operations on a database.
type Store struct {
	db *sqlx.DB
	// record, when set, runs in the transaction of a change an operator
	// makes, just before it commits (Recording).
	record func(ctx context.Context, tx *sqlx.Tx) error
}

// Recording returns a Store that runs record in the transaction of each
// change an operator makes to a batch — Approve, Reject, SetPriority,
// SetGuards, and SetBatchStatus's pause and resume — just before it
// commits: a change whose record fails does not happen. package ops
// writes the act's audit row this way.
func (s *Store) Recording(record func(ctx context.Context, tx *sqlx.Tx) error) *Store {
	c := *s
	c.record = record
	return &c
}

// commit runs the record, if any, and commits tx.
func (s *Store) commit(ctx context.Context, tx *sqlx.Tx) error {
	if s.record != nil {
		if err := s.record(ctx, tx); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// inTx runs fn in a transaction that commits through commit.
func (s *Store) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	if err := fn(tx); err != nil {
		return err
	}
	return s.commit(ctx, tx)
}

// NewStore returns a Store on db.
func NewStore(db *sqlx.DB) *Store { return &Store{db: db} }

// DB returns the underlying pool.
func (s *Store) DB() *sqlx.DB { return s.db }

const batchColumns = `id, name, stock_id, kind, mchid, appid, stock_creator_mchid, status, halt_reason,
	source_file, source_sha256, lines, accepted, duplicates, rejected, blank, created_at, updated_at, repeats,
	uploaded_by, amount_fen, face_value_fen, approved_by, approved_at, approved_amount_fen, rejected_by, rejected_at,
	reject_reason, max_amount_fen, reserved_fen, start_at, window_start, window_end, window_tz, priority, approve_comment, start_paused`

// Guards are a batch's money guards and who passed them; in JSON only
// those that are set.
type Guards struct {
	UploadedBy        string     `db:"uploaded_by" json:"uploaded_by,omitempty"`
	AmountFen         int64      `db:"amount_fen" json:"amount_fen"`                   // face value of the accepted rows
	FaceValueFen      *int64     `db:"face_value_fen" json:"face_value_fen,omitempty"` // the stock's, for rows without coupon_value
	ApprovedBy        *string    `db:"approved_by" json:"approved_by,omitempty"`
	ApprovedAt        *time.Time `db:"approved_at" json:"approved_at,omitempty"`
	ApprovedAmountFen *int64     `db:"approved_amount_fen" json:"approved_amount_fen,omitempty"` // what the approver saw
	ApproveComment    *string    `db:"approve_comment" json:"approve_comment,omitempty"`         // the approver's note
	RejectedBy        *string    `db:"rejected_by" json:"rejected_by,omitempty"`
	RejectedAt        *time.Time `db:"rejected_at" json:"rejected_at,omitempty"`
	RejectReason      *string    `db:"reject_reason" json:"reject_reason,omitempty"`
	MaxAmountFen      *int64     `db:"max_amount_fen" json:"max_amount_fen,omitempty"` // spend cap
	ReservedFen       int64      `db:"reserved_fen" json:"reserved_fen"`               // in flight, in doubt or issued, against the cap
	StartAt           *time.Time `db:"start_at" json:"start_at,omitempty"`
	WindowStart       *int       `db:"window_start" json:"-"`
	WindowEnd         *int       `db:"window_end" json:"-"`
	WindowTZ          *string    `db:"window_tz" json:"window_tz,omitempty"`
	Window            string     `db:"-" json:"window,omitempty"` // HH:MM-HH:MM
	Priority          int        `db:"priority" json:"priority"`
	// StartPaused: the batch becomes paused, not pending, when approved.
	StartPaused bool `db:"start_paused" json:"start_paused,omitempty"`
	// NextSendAt is when the batch will next be claimable judging by its
	// status, start time and window (not by its rows); nil when it will not
	// send without an operator (paused, halted, awaiting approval, ended).
	NextSendAt *time.Time `db:"-" json:"next_send_at,omitempty"`
}

// BatchFilter selects and pages batches, newest first unless Sort says
// otherwise.
type BatchFilter struct {
	Status        string    // one batch status; "" for all
	StockID       string    // "" for all
	CreatedFrom   time.Time // created at or after; zero for no bound
	CreatedBefore time.Time // created before; zero for no bound
	BeforeID      int64     // paging: only batches with a smaller id; 0 for the newest
	Limit         int       // 0 for all
	// Name selects the batches whose name holds it, ignoring case; "" for
	// all.
	Name string
	// Has selects the batches holding rows in review (HasReview) or in
	// doubt (HasInDoubt); "" for all.
	Has string
	// Sort orders by one of SortColumns ("" is by id); Asc turns the order
	// around (newest, largest or last first otherwise). A sort other than
	// by id pages with Offset, not BeforeID.
	Sort   string
	Asc    bool
	Offset int
}

// What BatchFilter.Has selects.
const (
	HasReview  = "review"
	HasInDoubt = "in_doubt"
)

// sortColumns are BatchFilter.Sort's values and the columns they order by.
var sortColumns = map[string]string{"id": "id", "name": "name", "status": "status", "stock": "stock_id",
	"created": "created_at", "amount": "amount_fen", "priority": "priority"}

// SortColumns lists BatchFilter.Sort's values.
func SortColumns() []string {
	return []string{"id", "name", "status", "stock", "created", "amount", "priority"}
}

// likePattern is a LIKE pattern matching s anywhere, s's own wildcards
// taken literally.
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// Batches lists the batches f selects, newest first, with recipient
// counts by status.
func (s *Store) Batches(ctx context.Context, f BatchFilter) ([]*Batch, error) {
	var from, before *time.Time
	if !f.CreatedFrom.IsZero() {
		from = &f.CreatedFrom
	}
	if !f.CreatedBefore.IsZero() {
		before = &f.CreatedBefore
	}
	var limit *int
	if f.Limit > 0 {
		limit = &f.Limit
	}
	col := "id"
	if f.Sort != "" {
		c, ok := sortColumns[f.Sort]
		if !ok {
			return nil, fmt.Errorf("list batches: unknown sort %q", f.Sort)
		}
		col = c
	}
	dir := "DESC"
	if f.Asc {
		dir = "ASC"
	}
	order := col + " " + dir
	if col != "id" {
		order += ", id DESC"
	}
	has := ""
	switch f.Has {
	case "":
	case HasReview:
		has = ` AND EXISTS (SELECT 1 FROM batch_outcome_counts c WHERE c.batch_id = batches.id AND c.status = 'review' AND c.n <> 0)`
	case HasInDoubt:
		has = ` AND EXISTS (SELECT 1 FROM batch_outcome_counts c WHERE c.batch_id = batches.id AND c.doubt AND c.n <> 0)`
	default:
		return nil, fmt.Errorf("list batches: unknown has %q", f.Has)
	}
	name := ""
	if f.Name != "" {
		name = likePattern(f.Name)
	}
	var out []*Batch
	err := s.db.SelectContext(ctx, &out, `SELECT `+batchColumns+` FROM batches
		WHERE ($1 = '' OR status = $1) AND ($2 = '' OR stock_id = $2)
		  AND ($3::timestamptz IS NULL OR created_at >= $3) AND ($4::timestamptz IS NULL OR created_at < $4)
		  AND ($5 = 0 OR id < $5) AND ($7 = '' OR name ILIKE $7)`+has+`
		ORDER BY `+order+` LIMIT $6 OFFSET $8`, f.Status, f.StockID, from, before, f.BeforeID, limit, name, max(f.Offset, 0))
	if err != nil {
		return nil, fmt.Errorf("list batches: %w", err)
	}
	if err := s.fillCounts(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// Batch returns one batch with its counts.
func (s *Store) Batch(ctx context.Context, id int64) (*Batch, error) {
	var b Batch
	err := s.db.GetContext(ctx, &b, `SELECT `+batchColumns+` FROM batches WHERE id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("batch %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get batch %d: %w", id, err)
	}
	if err := s.fillCounts(ctx, []*Batch{&b}); err != nil {
		return nil, err
	}
	return &b, nil
}

func (s *Store) fillCounts(ctx context.Context, batches []*Batch) error {
	if len(batches) == 0 {
		return nil
	}
	byID := map[int64]*Batch{}
	ids := make([]int64, 0, len(batches))
	now := time.Now()
	for _, b := range batches {
		b.fillGuards(now)
		b.Counts = map[string]int{}
		for _, st := range RecipientStatuses {
			b.Counts[st] = 0
		}
		byID[b.ID] = b
		ids = append(ids, b.ID)
	}
	// The counters (schema: batch_counts), never a count over recipients:
	// pages list thousands of batches of millions of rows.
	rows, err := s.db.QueryContext(ctx, `SELECT batch_id, status, n, in_doubt FROM batch_counts
		WHERE batch_id = ANY($1)`, int64Array(ids))
	if err != nil {
		return fmt.Errorf("count recipients: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var st string
		var n, doubt int
		if err := rows.Scan(&id, &st, &n, &doubt); err != nil {
			return fmt.Errorf("count recipients: %w", err)
		}
		byID[id].Counts[st] = n
		byID[id].InDoubt += doubt
		if st == StatusPending {
			byID[id].PendingInDoubt = doubt
		}
	}
	return rows.Err()
}

// transitions says which batch statuses each operator action applies to.
var transitions = map[string]struct {
	from []string
	to   string
}{
	"pause":  {from: []string{BatchPending, BatchRunning}, to: BatchPaused},
	"resume": {from: []string{BatchPaused, BatchHalted}, to: BatchPending},
	"cancel": {from: []string{BatchPending, BatchRunning, BatchPaused, BatchHalted}, to: BatchCancelled},
}

// SetBatchStatus applies an operator action (pause, resume, cancel).
// Cancelling leaves issued rows as they are and seals the pending ones
// (see Cancel); in-flight rows finish their current call and record.
func (s *Store) SetBatchStatus(ctx context.Context, id int64, action string) (*Batch, error) {
	if action == "cancel" {
		if _, err := s.Cancel(ctx, id); err != nil {
			return nil, err
		}
		return s.Batch(ctx, id)
	}
	tr, ok := transitions[action]
	if !ok {
		return nil, fmt.Errorf("unknown batch action %q", action)
	}
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		var status string
		return tx.GetContext(ctx, &status, `UPDATE batches SET status = $2, halt_reason = NULL, updated_at = now()
			WHERE id = $1 AND status = ANY($3) RETURNING status`, id, tr.to, stringArray(tr.from))
	})
	if errors.Is(err, sql.ErrNoRows) {
		b, gerr := s.Batch(ctx, id)
		if gerr != nil {
			return nil, gerr
		}
		return nil, fmt.Errorf("batch %d is %s; %s applies to %v batches: %w", id, b.Status, action, tr.from, ErrState)
	}
	if err != nil {
		return nil, fmt.Errorf("%s batch %d: %w", action, id, err)
	}
	return s.Batch(ctx, id)
}

// ExportHeader is the contract's header for `batch export`.
var ExportHeader = []string{"openid", "out_request_no", "status", "outcome", "coupon_id", "wx_code", "wx_message", "attempts", "last_attempt_at"}

// Export writes the batch's recipients as CSV in import order, streaming,
// with times in UTC; ExportIn writes them in a zone.
func (s *Store) Export(ctx context.Context, id int64, w io.Writer) error {
	return s.ExportIn(ctx, id, w, time.UTC)
}

// ExportIn writes the batch's recipients as CSV in import order, streaming;
// last_attempt_at is RFC 3339 in loc, its offset naming the zone.
// For product coupons coupon_id holds the coupon code WeChat assigned. A
// cell a spreadsheet would run as a formula gets a quote in front
// (excelcsv.Writer).
func (s *Store) ExportIn(ctx context.Context, id int64, w io.Writer, loc *time.Location) error {
	if _, err := s.Batch(ctx, id); err != nil {
		return err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT openid, out_request_no, status, coalesce(outcome, ''),
		coalesce(coupon_id, coupon_code, ''), coalesce(wx_code, ''), coalesce(wx_message, ''), attempts, last_attempt_at
		FROM recipients WHERE batch_id = $1 ORDER BY source_line`, id)
	if err != nil {
		return fmt.Errorf("export batch %d: %w", id, err)
	}
	defer rows.Close()
	cw := excelcsv.NewWriter(w)
	if err := cw.Write(ExportHeader); err != nil {
		return err
	}
	rec := make([]string, len(ExportHeader))
	for rows.Next() {
		var attempts int
		var last sql.NullTime
		if err := rows.Scan(&rec[0], &rec[1], &rec[2], &rec[3], &rec[4], &rec[5], &rec[6], &attempts, &last); err != nil {
			return fmt.Errorf("export batch %d: %w", id, err)
		}
		rec[7] = strconv.Itoa(attempts)
		rec[8] = ""
		if last.Valid {
			rec[8] = last.Time.In(loc).Format(time.RFC3339)
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("export batch %d: %w", id, err)
	}
	cw.Flush()
	return cw.Error()
}

// StatusCounts counts recipients by status over all batches.
func (s *Store) StatusCounts(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT status, sum(n) FROM batch_counts GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("count by status: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("count by status: %w", err)
		}
		out[st] = n
	}
	return out, rows.Err()
}

// CountDrift compares the counters with a count of the rows themselves
// and returns the (batch, status) pairs that disagree, as "batch/status:
// counted n, rows m". It reads every row: for tests and for housekeeping's
// check, never for a page.
func (s *Store) CountDrift(ctx context.Context) ([]string, error) {
	var drift []string
	err := s.db.SelectContext(ctx, &drift, `
		SELECT format('%s/%s: counted %s (%s in doubt), rows %s (%s in doubt)', coalesce(c.batch_id, r.batch_id),
			coalesce(c.status, r.status), coalesce(c.n, 0), coalesce(c.in_doubt, 0), coalesce(r.n, 0), coalesce(r.in_doubt, 0))
		FROM batch_counts c
		FULL JOIN (SELECT batch_id, status, count(*) AS n, count(*) FILTER (WHERE in_doubt) AS in_doubt
			FROM recipients GROUP BY 1, 2) r ON r.batch_id = c.batch_id AND r.status = c.status
		WHERE coalesce(c.n, 0) <> coalesce(r.n, 0) OR coalesce(c.in_doubt, 0) <> coalesce(r.in_doubt, 0)
		ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("check counters: %w", err)
	}
	return drift, nil
}
