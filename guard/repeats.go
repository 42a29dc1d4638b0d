package guard

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// Repeats skips the openids of the batch that another batch of the stock
// has issued, on its way or possibly issued (review): a second coupon would
// be a repeat. Allow keeps them.
type Repeats struct{ Allow bool }

// repeatsSQL deletes batch $2's rows whose openid another batch of stock
// $1 has issued, pending, in flight or in review.
const repeatsSQL = `DELETE FROM recipients n USING (
		SELECT DISTINCT r.openid FROM recipients r JOIN batches b ON b.id = r.batch_id
		WHERE b.stock_id = $1 AND r.batch_id <> $2 AND r.status IN ('pending', 'in_flight', 'issued', 'review')
	) o
	WHERE n.batch_id = $2 AND n.openid = o.openid`

// Skip removes the repeats from the batch and returns how many there were.
func (r Repeats) Skip(ctx context.Context, tx *sqlx.Tx, b Batch) (int, error) {
	if r.Allow {
		return 0, nil
	}
	res, err := tx.ExecContext(ctx, repeatsSQL, b.StockID, b.ID)
	if err != nil {
		return 0, fmt.Errorf("repeats: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
