package intake

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// Blocks of sequence values a direct import reserves at a time: small
// first, so that a short file burns few numbers, doubling up to the
// largest.
const (
	firstBlock = 256
	maxBlock   = 64 * 1024
)

// reserver hands out recipient ids and out_request_no sequence numbers
// from ranges of recipients_id_seq and out_request_seq reserved in bulk,
// instead of one nextval per row (which costs the server about a
// microsecond a row per sequence, a tenth of the whole import).
//
// A range is reserved in a short transaction of its own on another
// connection: it must not wait for the import's transaction, and it holds
// the sequences' lock only for a few milliseconds. Values are never given
// back: a rolled-back import leaves a gap, as nextval would.
type reserver struct {
	db             *sqlx.DB
	block          int64
	nextID, nextNo int64 // next values to hand out
	left           int64 // left in the current range
}

// next returns the next id and out_request_no number.
func (r *reserver) next(ctx context.Context) (id, no int64, err error) {
	if r.left == 0 {
		r.block = min(max(2*r.block, firstBlock), maxBlock)
		if r.nextID, r.nextNo, err = r.reserve(ctx, r.block); err != nil {
			return 0, 0, err
		}
		r.left = r.block
	}
	id, no = r.nextID, r.nextNo
	r.nextID++
	r.nextNo++
	r.left--
	return id, no, nil
}

// reserve takes n consecutive values of both sequences and returns the
// first of each.
//
// ALTER SEQUENCE … INCREMENT BY n takes a lock that nextval waits for
// until this transaction ends, so nobody else can take a value between
// ours; one nextval then moves the sequence past the whole range.
func (r *reserver) reserve(ctx context.Context, n int64) (firstID, firstNo int64, err error) {
	tx, err := r.db.BeginTxx(ctx, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("import: reserve numbers: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	for i, seq := range []string{"recipients_id_seq", "out_request_seq"} {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`ALTER SEQUENCE %s INCREMENT BY %d`, seq, n)); err != nil {
			return 0, 0, fmt.Errorf("import: reserve numbers: %w", err)
		}
		// A sequence never used yet returns its start value first, not
		// start + n: take that one and burn it.
		var called bool
		if err := tx.GetContext(ctx, &called, `SELECT is_called FROM `+seq); err != nil {
			return 0, 0, fmt.Errorf("import: reserve numbers: %w", err)
		}
		if !called {
			if _, err := tx.ExecContext(ctx, `SELECT nextval($1)`, seq); err != nil {
				return 0, 0, fmt.Errorf("import: reserve numbers: %w", err)
			}
		}
		var last int64
		if err := tx.GetContext(ctx, &last, `SELECT nextval($1)`, seq); err != nil {
			return 0, 0, fmt.Errorf("import: reserve numbers: %w", err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`ALTER SEQUENCE %s INCREMENT BY 1`, seq)); err != nil {
			return 0, 0, fmt.Errorf("import: reserve numbers: %w", err)
		}
		if i == 0 {
			firstID = last - n + 1
		} else {
			firstNo = last - n + 1
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, fmt.Errorf("import: reserve numbers: %w", err)
	}
	return firstID, firstNo, nil
}
