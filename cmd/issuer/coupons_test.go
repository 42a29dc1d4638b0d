package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/issuer-dev/issuer/wxpay/wxsim"
	"github.com/stretchr/testify/require"
)

func TestCouponsCommand(t *testing.T) {
	t.Parallel()
	b, sim := stockSetup(t, wxsim.Options{Stocks: []wxsim.StockSpec{
		{ID: "9856000", Budget: 50, CouponValue: 500, CouponMinimum: 1000},
		{ID: "9856001", Budget: 50},
	}})
	created := time.Date(2025, 3, 1, 2, 4, 5, 0, time.UTC)
	var ids []string
	for range 23 { // two pages of WeChat Pay's default 20
		id, err := sim.Server.GrantCoupon("9856000", "o_user", created)
		require.NoError(t, err)
		ids = append(ids, id)
	}
	other, err := sim.Server.GrantCoupon("9856001", "o_user", created)
	require.NoError(t, err)

	r := b.issuer(t, "", "coupons", "--openid", "o_user", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var list []map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &list), r.stdout)
	require.Len(t, list, 24)
	require.Equal(t, ids[0], list[0]["coupon_id"])
	require.Equal(t, "2025-03-01T10:04:05+08:00", list[0]["create_time"])
	require.Equal(t, "SENDED", list[0]["status"])
	require.Equal(t, sim.Keys.MchID, list[0]["stock_creator_mchid"])

	r = b.issuer(t, "", "coupons", "--openid", "o_user", "--stock", "9856001")
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `^ID +STOCK +STATUS +VALUE +CREATED\n`+other+` +9856001 +SENDED +1\.00 +2025-03-01 10:04:05\n$`, r.stdout)

	r = b.issuer(t, "", "coupons", "--openid", "o_nobody", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "[]\n", r.stdout, "an empty list is [] for scripts")

	for _, args := range [][]string{{"coupons"}, {"coupons", "--openid", "o", "--stock", "x1"}, {"coupons", "--openid", "o", "extra"}} {
		r = b.issuer(t, "", args...)
		require.Equal(t, 2, r.code, "%v: %s", args, r.stderr)
	}
}
