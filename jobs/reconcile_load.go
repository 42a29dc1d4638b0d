package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/issuer-dev/issuer/wxpay"
)

// FlowFile is one downloaded flow file and what loading it did.
type FlowFile struct {
	ID           int64          `db:"id"`
	StockID      string         `db:"stock_id"`
	Kind         wxpay.FlowKind `db:"kind"`
	Date         string         `db:"file_date"` // YYYY-MM-DD, the day it was fetched for
	SHA1         string         `db:"sha1"`      // lower-case hex, verified
	Path         string         `db:"path"`
	Bytes        int64          `db:"bytes"`
	DownloadedAt time.Time      `db:"downloaded_at"`
	Rows         int            `db:"rows"`     // data rows in the file
	NewRows      int            `db:"new_rows"` // rows not loaded from an earlier file
	Status       string         `db:"status"`   // loaded or rejected
	Error        string         `db:"error"`    // why it was rejected
}

// Flow file statuses.
const (
	FileLoaded   = "loaded"
	FileRejected = "rejected"
)

// FlowFileError is a verified file that cannot be loaded as it is: a
// 总条数 footer that disagrees with the rows, a truncated file, a row that
// does not parse. It is recorded as rejected, and no row of it is loaded.
type FlowFileError struct {
	Path string
	Err  error
}

func (e *FlowFileError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *FlowFileError) Unwrap() error { return e.Err }

// flowTable is where rows of one kind go.
type flowTable struct {
	name    string
	timeCol string
}

func tableFor(k wxpay.FlowKind) (flowTable, error) {
	switch k {
	case wxpay.FlowUse:
		return flowTable{"flow_uses", "used_at"}, nil
	case wxpay.FlowRefund:
		return flowTable{"flow_refunds", "refunded_at"}, nil
	}
	return flowTable{}, fmt.Errorf("flow kind %q", k)
}

func (t flowTable) columns() []string {
	return []string{"stock_id", "coupon_id", "transaction_id", t.timeCol, "coupon_type", "amount", "order_amount",
		"trade_type", "consume_mchid", "device_no", "bank_serial_no", "goods_info", "file_id", "line", "first_date"}
}

func (t flowTable) key() string { return "stock_id, coupon_id, transaction_id, " + t.timeCol }

// LoadFlowFile records f — a file whose SHA1 was verified, with StockID,
// Kind, Date, SHA1, Path, Bytes and DownloadedAt set — and loads its rows,
// all in one transaction. It fills in the rest of f and reports whether the
// tables changed.
//
// Loading is idempotent: a file already recorded for the same stock, kind,
// day and SHA1 changes nothing, and rows already loaded from an earlier
// file (files are cumulative) are skipped by their key. The file is parsed
// as it streams into COPY, in constant memory. A malformed file is recorded
// as rejected, with no rows, and the error is a *FlowFileError.
func LoadFlowFile(ctx context.Context, db *sqlx.DB, f *FlowFile) (changed bool, err error) {
	return NewFlowStore(db).Load(ctx, f)
}

// Load is LoadFlowFile on the store's database.
func (s *FlowStore) Load(ctx context.Context, f *FlowFile) (changed bool, err error) {
	db := s.DB
	tbl, err := tableFor(f.Kind)
	if err != nil {
		return false, err
	}
	if _, err := time.Parse(DateLayout, f.Date); err != nil {
		return false, fmt.Errorf("load flow file: date %q is not YYYY-MM-DD", f.Date)
	}
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("load flow file: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	// One loader per stock and kind at a time: two would race on the keys.
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`,
		"flow:"+f.StockID+":"+string(f.Kind)); err != nil {
		return false, fmt.Errorf("load flow file: lock: %w", err)
	}
	const cols = `id, stock_id, kind, to_char(file_date, 'YYYY-MM-DD') AS file_date, sha1, path, bytes, downloaded_at,
		rows, new_rows, status, coalesce(error, '') AS error`
	var prev FlowFile
	err = tx.GetContext(ctx, &prev, `SELECT `+cols+` FROM flow_files
		WHERE stock_id = $1 AND kind = $2 AND file_date = $3 AND sha1 = $4`, f.StockID, f.Kind, f.Date, f.SHA1)
	switch {
	case err == nil:
		*f = prev
		if f.Status == FileRejected {
			return false, &FlowFileError{Path: f.Path, Err: errors.New(f.Error)}
		}
		return false, tx.Commit()
	case !errors.Is(err, sql.ErrNoRows):
		return false, fmt.Errorf("load flow file: %w", err)
	}

	// The same content loaded for an earlier day: its rows are all in.
	err = tx.GetContext(ctx, &prev, `SELECT `+cols+` FROM flow_files
		WHERE stock_id = $1 AND kind = $2 AND sha1 = $3 AND status = 'loaded' AND file_date < $4
		ORDER BY file_date LIMIT 1`, f.StockID, f.Kind, f.SHA1, f.Date)
	switch {
	case err == nil:
		f.Rows, f.NewRows, f.Status = prev.Rows, 0, FileLoaded
		if err := insertFile(ctx, tx, f); err != nil {
			return false, err
		}
		return true, tx.Commit()
	case !errors.Is(err, sql.ErrNoRows):
		return false, fmt.Errorf("load flow file: %w", err)
	}

	f.Status = FileLoaded
	if err := insertFile(ctx, tx, f); err != nil {
		return false, err
	}
	rows, inserted, err := loadRows(ctx, tx, tbl, f)
	var bad *FlowFileError
	if errors.As(err, &bad) {
		tx.Rollback() //nolint:errcheck // replaced by the rejection record
		return true, s.recordRejected(ctx, f, bad)
	}
	if err != nil {
		return false, err
	}
	f.Rows, f.NewRows = rows, inserted
	if _, err := tx.ExecContext(ctx, `UPDATE flow_files SET rows = $2, new_rows = $3 WHERE id = $1`, f.ID, f.Rows, f.NewRows); err != nil {
		return false, fmt.Errorf("load flow file: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("load flow file: commit: %w", err)
	}
	return true, nil
}

func insertFile(ctx context.Context, tx *sqlx.Tx, f *FlowFile) error {
	var msg *string
	if f.Error != "" {
		msg = &f.Error
	}
	err := tx.GetContext(ctx, &f.ID, `INSERT INTO flow_files
		(stock_id, kind, file_date, sha1, path, bytes, rows, new_rows, status, error, downloaded_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
		f.StockID, f.Kind, f.Date, f.SHA1, f.Path, f.Bytes, f.Rows, f.NewRows, f.Status, msg, f.DownloadedAt)
	if err != nil {
		return fmt.Errorf("load flow file: record: %w", err)
	}
	return nil
}

// recordRejected records a malformed file, in its own transaction since
// the load's was rolled back, and returns bad.
func (s *FlowStore) recordRejected(ctx context.Context, f *FlowFile, bad *FlowFileError) error {
	f.Status, f.Error, f.Rows, f.NewRows = FileRejected, bad.Err.Error(), 0, 0
	tx, err := s.DB.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("load flow file: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	if err := insertFile(ctx, tx, f); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("load flow file: commit: %w", err)
	}
	return bad
}

// loadRows streams the file's rows into the table. The first file of a
// stock goes straight into the table by COPY; later ones, which repeat
// most rows, go through a staging table and INSERT … ON CONFLICT DO
// NOTHING. It returns the rows in the file and the rows inserted.
func loadRows(ctx context.Context, tx *sqlx.Tx, tbl flowTable, f *FlowFile) (rows, inserted int, err error) {
	var empty bool
	if err := tx.GetContext(ctx, &empty, `SELECT NOT EXISTS (SELECT 1 FROM `+tbl.name+` WHERE stock_id = $1)`, f.StockID); err != nil {
		return 0, 0, fmt.Errorf("load flow file: %w", err)
	}
	if empty {
		if _, err := tx.ExecContext(ctx, `SAVEPOINT direct_copy`); err != nil {
			return 0, 0, fmt.Errorf("load flow file: %w", err)
		}
		rows, err := copyRows(ctx, tx, tbl.name, tbl, f)
		var pqErr *pq.Error
		if !errors.As(err, &pqErr) || pqErr.Code != "23505" { // unique_violation: a line repeats in the file
			return rows, rows, err
		}
		if _, err := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT direct_copy`); err != nil {
			return 0, 0, fmt.Errorf("load flow file: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TEMP TABLE flow_stage (LIKE `+tbl.name+`) ON COMMIT DROP`); err != nil {
		return 0, 0, fmt.Errorf("load flow file: stage: %w", err)
	}
	if rows, err = copyRows(ctx, tx, "flow_stage", tbl, f); err != nil {
		return 0, 0, err
	}
	cols := strings.Join(tbl.columns(), ", ")
	res, err := tx.ExecContext(ctx, `INSERT INTO `+tbl.name+` (`+cols+`) SELECT `+cols+` FROM flow_stage
		ON CONFLICT (`+tbl.key()+`) DO NOTHING`)
	if err != nil {
		return 0, 0, fmt.Errorf("load flow file: insert: %w", err)
	}
	n, _ := res.RowsAffected()
	// A day fetched after later ones (a backfill): its rows were first
	// seen on this day, not the later one.
	_, err = tx.ExecContext(ctx, `UPDATE `+tbl.name+` t SET first_date = s.first_date, file_id = s.file_id, line = s.line
		FROM flow_stage s
		WHERE t.stock_id = $1 AND t.first_date > $2
		  AND (t.stock_id, t.coupon_id, t.transaction_id, t.`+tbl.timeCol+`) = (s.stock_id, s.coupon_id, s.transaction_id, s.`+tbl.timeCol+`)`,
		f.StockID, f.Date)
	if err != nil {
		return 0, 0, fmt.Errorf("load flow file: backfill: %w", err)
	}
	return rows, int(n), nil
}

// copyRows parses the file at f.Path into COPY of table. Parse errors are
// *FlowFileError.
func copyRows(ctx context.Context, tx *sqlx.Tx, table string, tbl flowTable, f *FlowFile) (int, error) {
	file, err := os.Open(f.Path)
	if err != nil {
		return 0, fmt.Errorf("load flow file: %w", err)
	}
	defer file.Close()
	bad := func(err error) error { return &FlowFileError{Path: f.Path, Err: err} }
	fr, err := wxpay.NewFlowReader(file)
	if err != nil {
		return 0, bad(err)
	}
	if fr.Kind() != f.Kind {
		return 0, bad(fmt.Errorf("a %s-flow file was expected, its header is a %s-flow's", f.Kind, fr.Kind()))
	}
	stmt, err := tx.PrepareContext(ctx, `COPY `+table+` (`+strings.Join(tbl.columns(), ", ")+`) FROM STDIN`)
	if err != nil {
		return 0, fmt.Errorf("load flow file: copy: %w", err)
	}
	defer stmt.Close()
	n := 0
	for {
		r, err := fr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return n, bad(err)
		}
		if r.Time.IsZero() {
			return n, bad(fmt.Errorf("line %d: coupon %s has no time", r.Line, r.CouponID))
		}
		// The file is the stock's: its rows are keyed under the stock asked
		// for, whatever its 批次id column shows.
		if _, err := stmt.ExecContext(ctx, f.StockID, r.CouponID, r.TransactionID, r.Time, r.CouponType, r.Amount,
			r.OrderAmount, r.TradeType, r.MchID, r.DeviceNo, r.BankSerialNo, r.GoodsInfo, f.ID, r.Line, f.Date); err != nil {
			return n, fmt.Errorf("load flow file: copy line %d: %w", r.Line, err)
		}
		n++
	}
	if _, err := stmt.ExecContext(ctx); err != nil {
		return n, fmt.Errorf("load flow file: copy: %w", err)
	}
	return n, nil
}
