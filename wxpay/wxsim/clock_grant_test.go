package wxsim_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/wxpay"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

func TestAdminClockAndGrant(t *testing.T) {
	t.Parallel()
	b := setup(t, wxsim.Options{Stocks: []wxsim.StockSpec{{ID: "F", Budget: 3, PerUser: 2}}, ClockOffset: time.Hour})
	ctx := context.Background()

	d, err := b.admin.ClockOffset(ctx)
	require.NoError(t, err)
	require.Equal(t, time.Hour, d)
	require.NoError(t, b.admin.SetClockOffset(ctx, 36*time.Hour))
	require.Equal(t, 36*time.Hour, b.sim.ClockOffset())

	// A coupon from another channel: in the ledger with its openid and
	// time, no out_request_no, and counted against the per-user limit.
	at := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	id, err := b.admin.GrantCoupon(ctx, "F", "u1", at)
	require.NoError(t, err)
	res, err := b.send(ctx, wxsim.KindFavor, "F", "u1", "ORN-1")
	require.NoError(t, err)
	ledger, err := b.admin.Ledger(ctx, "F")
	require.NoError(t, err)
	require.Len(t, ledger, 2)
	require.Equal(t, id, ledger[0].CouponID)
	require.Equal(t, "u1", ledger[0].OpenID)
	require.Empty(t, ledger[0].OutRequestNo)
	require.True(t, at.Equal(ledger[0].IssuedAt))
	require.Equal(t, res.CouponID, ledger[1].CouponID)
	require.Equal(t, "ORN-1", ledger[1].OutRequestNo)
	require.WithinDuration(t, time.Now().Add(36*time.Hour), ledger[1].IssuedAt, time.Hour, "issued on the simulator's calendar")

	res, err = b.send(ctx, wxsim.KindFavor, "F", "u1", "ORN-2")
	require.Equal(t, wxpay.OutcomeUserLimited, wxpay.Classify(res, err), "the granted coupon counts")
	// Zero time: now on the simulator's calendar.
	_, err = b.admin.GrantCoupon(ctx, "F", "u2", time.Time{})
	require.NoError(t, err)
	_, err = b.admin.GrantCoupon(ctx, "NOPE", "u2", time.Time{})
	require.ErrorContains(t, err, "404")

	// Stopping (admin expire) never lets a send through again.
	require.NoError(t, b.admin.ExpireStock(ctx, "F"))
	res, err = b.send(ctx, wxsim.KindFavor, "F", "u3", "ORN-3")
	require.Equal(t, wxpay.OutcomeStockUnavailable, wxpay.Classify(res, err))
}
