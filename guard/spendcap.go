package guard

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// SpendCap is the most face value a batch may issue, in fen (0: no cap).
// The claim reserves each row's face value against it in the claiming
// statement (queue.Claim), so rows issued, in flight and in doubt never
// exceed it; the batches_cap_check constraint holds it when it is changed
// later. FaceValueFen is the stock's face value, what a row without a
// coupon_value is worth (0: unknown).
type SpendCap struct {
	MaxFen       int64
	FaceValueFen int64
}

// amountSQL is batch $1's face value, with $2 for rows without a
// coupon_value, and how many rows are of unknown value.
const amountSQL = `SELECT coalesce(sum(coalesce(coupon_value, $2)), 0) AS fen,
		count(*) FILTER (WHERE coupon_value IS NULL AND $2::bigint IS NULL) AS unknown
	FROM recipients WHERE batch_id = $1`

// Amount is the batch's face value. When needed (a cap or an amount
// threshold) and some rows' value is unknown, it is an
// *UnknownAmountError.
func (c SpendCap) Amount(ctx context.Context, tx *sqlx.Tx, batch int64, needed bool) (int64, error) {
	fen, _, err := c.AmountUnvalued(ctx, tx, batch, needed)
	return fen, err
}

// AmountUnvalued is Amount with the rows whose value is unknown (no
// coupon_value and no face value), which the amount leaves out.
func (c SpendCap) AmountUnvalued(ctx context.Context, tx *sqlx.Tx, batch int64, needed bool) (fen, unvalued int64, _ error) {
	var amount struct {
		Fen     int64 `db:"fen"`
		Unknown int64 `db:"unknown"`
	}
	if err := tx.GetContext(ctx, &amount, amountSQL, batch, nullFen(c.FaceValueFen)); err != nil {
		return 0, 0, fmt.Errorf("amount: %w", err)
	}
	if amount.Unknown > 0 && needed {
		return 0, 0, &UnknownAmountError{Rows: amount.Unknown}
	}
	return amount.Fen, amount.Unknown, nil
}

// store sets the cap's columns.
func (c SpendCap) store(cols *columns) {
	cols.set("face_value_fen", nullFen(c.FaceValueFen))
	cols.set("max_amount_fen", nullFen(c.MaxFen))
}

// UnknownAmountError: rows without a coupon_value and no face value of
// the stock, while a guard needs the batch's amount.
type UnknownAmountError struct{ Rows int64 }

func (e *UnknownAmountError) Error() string {
	return fmt.Sprintf("%d rows have no coupon_value and the stock's face value is unknown: "+
		"the batch's amount, which the spend cap and approval need, cannot be known; nothing stored", e.Rows)
}
