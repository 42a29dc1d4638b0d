package intake

import (
	"bufio"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// directColumns are the recipients columns the direct path COPYs; the rest
// take their defaults (pending, due now).
var directColumns = []string{"id", "batch_id", "mchid", "openid", "out_request_no", "source_line",
	"coupon_value", "coupon_minimum", "coupon_code", "coupon_type", "member_card_id"}

// spilled is a row whose openid may repeat an earlier line's: kept aside
// on disk until the COPY is over, then settled in SQL.
type spilled struct {
	Line          int
	OpenID        string
	CouponValue   *int64
	CouponMinimum *int64
	CouponCode    *string
	CouponType    *string
	MemberCardID  *string
}

// direct is the path for files without an out_request_no column: every
// number is generated, so nothing needs checking in SQL and rows are
// COPYed straight into recipients, as fast as COPY into the table itself.
//
// Each openid's first line goes in; the id and out_request_no come from
// ranges of both sequences reserved in bulk (see reserver). Openids are
// deduplicated in Go by a set of 32-bit fingerprints (4 bytes a row, not
// the openids themselves). A line whose fingerprint was seen before is
// probably a duplicate but, fingerprints being short, not certainly: it is
// written to a temporary file, and after the COPY those lines are matched
// against the stored openids exactly; the few that are not duplicates go in
// then. The batch row is created first and its accounting filled in last,
// all in tx, so that either everything commits or nothing does.
func (imp *importer) direct(ctx context.Context, db *sqlx.DB, tx *sqlx.Tx, lr *lineReader, cols columns, sum func() string) error {
	o := imp.opts
	if err := imp.createBatch(ctx, tx); err != nil {
		return err
	}
	prefix := o.MchID + time.Now().In(o.Location).Format("20060102")
	res := &reserver{db: db}
	var spill spillFile
	defer spill.remove()
	stmt, err := tx.PrepareContext(ctx, "COPY recipients ("+strings.Join(directColumns, ", ")+") FROM STDIN")
	if err != nil {
		return fmt.Errorf("import: copy: %w", err)
	}
	defer stmt.Close()
	var orn []byte
	err = imp.rows(ctx, lr, cols, func(n int, row *row) error {
		if !imp.seen.add(row.openid) {
			return spill.add(spilled{Line: n, OpenID: row.openid, CouponValue: row.couponValue,
				CouponMinimum: row.couponMinimum, CouponCode: row.couponCode, CouponType: row.couponType, MemberCardID: row.memberCardID})
		}
		id, no, err := res.next(ctx)
		if err != nil {
			return err
		}
		orn = appendOutRequestNo(append(orn[:0], prefix...), no)
		if _, err := stmt.ExecContext(ctx, id, imp.rep.BatchID, o.MchID, row.openid, string(orn), n,
			row.couponValue, row.couponMinimum, row.couponCode, row.couponType, row.memberCardID); err != nil {
			return fmt.Errorf("import: copy line %d: %w", n, err)
		}
		imp.rep.Accepted++
		return nil
	})
	if err != nil {
		return err
	}
	if _, err := stmt.ExecContext(ctx); err != nil {
		var pqErr *pq.Error
		if errors.As(err, &pqErr) && pqErr.Constraint == "recipients_out_request_no_key" {
			return fmt.Errorf("import: a generated out_request_no collides with one already stored (%s); nothing stored", pqErr.Detail)
		}
		return fmt.Errorf("import: copy: %w", err)
	}
	if spill.rows > 0 {
		dec, err := spill.rewind()
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		added, err := imp.settle(ctx, tx, res, dec, prefix)
		if err != nil {
			return err
		}
		imp.rep.Accepted += added
		imp.rep.Duplicates = spill.rows - added
	}
	imp.rep.SHA256 = sum()
	return imp.finish(ctx, tx)
}

// createBatch inserts the batch row the import fills.
func (imp *importer) createBatch(ctx context.Context, tx *sqlx.Tx) error {
	o := imp.opts
	err := tx.GetContext(ctx, &imp.rep.BatchID, `
		INSERT INTO batches (name, stock_id, kind, mchid, appid, stock_creator_mchid, source_file, encoding)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		o.Name, o.StockID, o.Kind, o.MchID, o.AppID, o.CreatorMchID, o.Source, imp.enc)
	if err != nil {
		return fmt.Errorf("import: create batch: %w", err)
	}
	return nil
}

// spillFile holds the lines set aside as probable duplicates in a
// temporary file, made at the first one, so that memory stays constant.
type spillFile struct {
	f    *os.File
	w    *bufio.Writer
	enc  *gob.Encoder
	rows int
}

func (s *spillFile) add(l spilled) error {
	if s.f == nil {
		f, err := os.CreateTemp("", "issuer-import-*.spill")
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		s.f, s.w = f, bufio.NewWriter(f)
		s.enc = gob.NewEncoder(s.w)
	}
	s.rows++
	return s.enc.Encode(l)
}

// rewind flushes what was set aside and reads it again from the start.
func (s *spillFile) rewind() (*gob.Decoder, error) {
	if err := s.w.Flush(); err != nil {
		return nil, err
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return gob.NewDecoder(bufio.NewReader(s.f)), nil
}

func (s *spillFile) remove() {
	if s.f != nil {
		s.f.Close()
		os.Remove(s.f.Name())
	}
}

// settle loads the lines set aside as probable duplicates and inserts
// those whose openid is not stored after all (a fingerprint collision),
// first line first. It returns how many went in.
func (imp *importer) settle(ctx context.Context, tx *sqlx.Tx, res *reserver, dec *gob.Decoder, prefix string) (int, error) {
	if _, err := tx.ExecContext(ctx, stageDDL); err != nil {
		return 0, fmt.Errorf("import: staging table: %w", err)
	}
	stmt, err := tx.PrepareContext(ctx, "COPY import_stage ("+strings.Join(stageColumns, ", ")+") FROM STDIN")
	if err != nil {
		return 0, fmt.Errorf("import: copy: %w", err)
	}
	defer stmt.Close()
	for {
		var s spilled
		if err := dec.Decode(&s); err == io.EOF {
			break
		} else if err != nil {
			return 0, fmt.Errorf("import: read back duplicates: %w", err)
		}
		if _, err := stmt.ExecContext(ctx, s.Line, s.OpenID, nil, s.CouponValue, s.CouponMinimum,
			s.CouponCode, s.CouponType, s.MemberCardID); err != nil {
			return 0, fmt.Errorf("import: copy line %d: %w", s.Line, err)
		}
	}
	if _, err := stmt.ExecContext(ctx); err != nil {
		return 0, fmt.Errorf("import: copy: %w", err)
	}
	const firsts = `SELECT DISTINCT ON (openid) * FROM import_stage s
		WHERE NOT EXISTS (SELECT 1 FROM recipients r WHERE r.batch_id = $1 AND r.openid = s.openid)
		ORDER BY openid, line`
	var n int
	if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM (`+firsts+`) f`, imp.rep.BatchID); err != nil {
		return 0, fmt.Errorf("import: match duplicates: %w", err)
	}
	if n == 0 {
		return 0, nil
	}
	idBase, noBase, err := res.reserve(ctx, int64(n))
	if err != nil {
		return 0, err
	}
	r, err := tx.ExecContext(ctx, `
		INSERT INTO recipients (id, batch_id, mchid, openid, out_request_no, source_line,
			coupon_value, coupon_minimum, coupon_code, coupon_type, member_card_id)
		SELECT $3 + k - 1, $1, $2, openid, $5 || lpad(($4 + k - 1)::text, greatest(10, length(($4 + k - 1)::text)), '0'), line,
			coupon_value, coupon_minimum, coupon_code, coupon_type, member_card_id
		FROM (SELECT f.*, row_number() OVER (ORDER BY line) AS k FROM (`+firsts+`) f) x`,
		imp.rep.BatchID, imp.opts.MchID, idBase, noBase, prefix)
	if err != nil {
		return 0, fmt.Errorf("import: insert recipients: %w", err)
	}
	added, err := r.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("import: insert recipients: %w", err)
	}
	return int(added), nil
}

// appendOutRequestNo appends n zero-padded to ten digits, as the SQL path
// generates it (lpad), but never truncated.
func appendOutRequestNo(b []byte, n int64) []byte {
	var d [20]byte
	s := strconv.AppendInt(d[:0], n, 10)
	for i := len(s); i < 10; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}
