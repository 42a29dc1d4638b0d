package guard

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// DuplicateFile refuses a file whose SHA-256 matches a live batch (not
// cancelled or rejected) of the same stock, unless Allow.
type DuplicateFile struct{ Allow bool }

// duplicateSQL finds the first live batch of stock $1 with the file $2,
// other than $3.
const duplicateSQL = `SELECT id, status FROM batches WHERE stock_id = $1 AND source_sha256 = $2 AND id <> $3
	AND status NOT IN ('cancelled', 'rejected') ORDER BY id LIMIT 1`

// Check returns a *DuplicateFileError when the file is already a live
// batch of the stock.
func (d DuplicateFile) Check(ctx context.Context, tx *sqlx.Tx, b Batch) error {
	if d.Allow {
		return nil
	}
	var dup struct {
		ID     int64  `db:"id"`
		Status string `db:"status"`
	}
	err := tx.GetContext(ctx, &dup, duplicateSQL, b.StockID, b.SHA256, b.ID)
	switch {
	case err == nil:
		return &DuplicateFileError{Source: b.Source, BatchID: dup.ID, Status: dup.Status}
	case errors.Is(err, sql.ErrNoRows):
		return nil
	}
	return fmt.Errorf("duplicate check: %w", err)
}

// DuplicateFileError: the same file (by SHA-256) is already a live batch
// of the stock.
type DuplicateFileError struct {
	Source  string
	BatchID int64
	Status  string
}

func (e *DuplicateFileError) Error() string {
	return fmt.Sprintf("%s: the same file (SHA-256) is already batch %d of this stock (%s); nothing stored. "+
		"Import it again only on purpose, with --allow-duplicate", e.Source, e.BatchID, e.Status)
}

// ErrDuplicateFile matches a *DuplicateFileError.
var ErrDuplicateFile = errors.New("duplicate file")

func (e *DuplicateFileError) Is(target error) bool { return target == ErrDuplicateFile }
