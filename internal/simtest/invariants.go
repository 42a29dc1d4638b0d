package simtest

import (
	"context"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/queue"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

// IssuedRow is a recipient as the exactly-once check sees it.
type IssuedRow struct {
	OpenID       string  `db:"openid"`
	OutRequestNo string  `db:"out_request_no"`
	Status       string  `db:"status"`
	CouponID     *string `db:"coupon"`
	Outcome      *string `db:"outcome"`
}

// CheckExactlyOnce proves, for stock, that the simulator's ledger and the
// queue agree: every coupon issued matches exactly one issued row with the
// same out_request_no, openid and coupon id; no openid got two coupons; and
// every issued row has its coupon in the ledger. It returns the rows.
func (s *Sim) CheckExactlyOnce(tb testing.TB, db *sqlx.DB, stock string) []IssuedRow {
	tb.Helper()
	var rows []IssuedRow
	require.NoError(tb, db.Select(&rows, `SELECT r.openid, r.out_request_no, r.status, r.outcome, coalesce(r.coupon_id, r.coupon_code) AS coupon
		FROM recipients r JOIN batches b ON b.id = r.batch_id WHERE b.stock_id = $1`, stock))
	byNo := map[string]IssuedRow{}
	for _, r := range rows {
		byNo[r.OutRequestNo] = r
	}
	ledger := s.Ledger(stock)
	perOpenID := map[string]int{}
	seenNo := map[string]bool{}
	for _, c := range ledger {
		require.False(tb, seenNo[c.OutRequestNo], "ledger has out_request_no %s twice", c.OutRequestNo)
		seenNo[c.OutRequestNo] = true
		perOpenID[c.OpenID]++
		require.Equal(tb, 1, perOpenID[c.OpenID], "openid %s got two coupons of stock %s", c.OpenID, stock)
		r, ok := byNo[c.OutRequestNo]
		require.True(tb, ok, "coupon %s (out_request_no %s) issued for no recipient", c.CouponID, c.OutRequestNo)
		require.Equal(tb, c.OpenID, r.OpenID)
		require.Equal(tb, "issued", r.Status, "out_request_no %s has a coupon but its row is %s", c.OutRequestNo, r.Status)
		if r.CouponID == nil {
			// A 商品券 replay (RESOURCE_ALREADY_EXISTS) confirms the coupon
			// but does not repeat its code.
			require.Equal(tb, wxsim.KindProduct, c.Kind, "out_request_no %s issued without a coupon id recorded", c.OutRequestNo)
			require.Equal(tb, "already_issued", *r.Outcome)
			continue
		}
		want := c.CouponID
		if c.Kind == wxsim.KindProduct {
			want = c.CouponCode
		}
		require.Equal(tb, want, *r.CouponID)
	}
	for _, r := range rows {
		if r.Status == "issued" {
			require.True(tb, seenNo[r.OutRequestNo], "row %s is issued but the ledger has no coupon for it", r.OutRequestNo)
		}
	}
	// The per-batch counters agree with the rows.
	drift, err := queue.NewStore(db).CountDrift(context.Background())
	require.NoError(tb, err)
	require.Empty(tb, drift, "batch counters drifted from the rows")
	return rows
}
