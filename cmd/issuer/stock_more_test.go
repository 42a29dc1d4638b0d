package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/alert"
	"github.com/issuer-dev/issuer/wxpay"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

func TestStockStopCommand(t *testing.T) {
	t.Parallel()
	b, sim := stockSetup(t, wxsim.Options{Stocks: []wxsim.StockSpec{{ID: "9856000", Budget: 5}}})
	r := b.issuer(t, "", "stock", "stop", "9856000")
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `^stock 9856000 stopped at \S+\+08:00\n$`, r.stdout)
	require.Equal(t, "stoped", b.stockJSON(t, "9856000")["status"])
	require.Equal(t, wxsim.StatusExpired, sim.Server.Stocks()[0].Status)

	r = b.issuer(t, "", "stock", "restart", "9856000")
	require.Equal(t, 1, r.code)
	require.Regexp(t, `issuer: stock restart 9856000: INVALID_REQUEST: \S+ \(HTTP 400, request id \S+\) detail \{"status":"stoped"\}`, r.stderr)

	r = b.issuer(t, "", "stock", "stop", "1234567")
	require.Equal(t, 1, r.code)
	require.Regexp(t, `issuer: stock stop 1234567: RESOURCE_NOT_EXISTS: \S+ \(HTTP 404, request id \S+\)`, r.stderr)
	r = b.issuer(t, "", "stock", "stop")
	require.Equal(t, 2, r.code)
}

func TestStockScopeCommands(t *testing.T) {
	t.Parallel()
	var items []string
	for i := range 120 {
		items = append(items, fmt.Sprint("sku", 1000+i))
	}
	b, _ := stockSetup(t, wxsim.Options{Stocks: []wxsim.StockSpec{
		{ID: "9856000", Budget: 5, Merchants: []string{"1900000109", "1900000200"}, Items: items},
		{ID: "9856001", Budget: 5},
	}})

	r := b.issuer(t, "", "stock", "merchants", "9856000")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "#  MERCHANT\n1  1900000109\n2  1900000200\n", r.stdout)

	r = b.issuer(t, "", "stock", "items", "9856000", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var got wxpay.StockScope
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &got), r.stdout)
	require.Equal(t, 120, got.TotalCount)
	require.Equal(t, items, got.Data, "every page")
	require.Equal(t, "9856000", got.StockID)
	var raw map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &raw))
	require.ElementsMatch(t, []string{"total_count", "data", "offset", "limit", "stock_id"}, keys(raw))

	r = b.issuer(t, "", "stock", "items", "9856001", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, `"data": []`)
	r = b.issuer(t, "", "stock", "items", "9856001")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "#  ITEM\n", r.stdout)
	require.Contains(t, r.stderr, "no items listed")

	r = b.issuer(t, "", "stock", "merchants", "7777777")
	require.Equal(t, 1, r.code)
	require.Regexp(t, `issuer: stock merchants 7777777: RESOURCE_NOT_EXISTS: \S+ \(HTTP 404, request id \S+\)`, r.stderr)
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

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

func TestCallbackCommands(t *testing.T) {
	t.Parallel()
	b, sim := stockSetup(t, wxsim.Options{})
	r := b.issuer(t, "", "callback", "show")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "mchid       "+sim.Keys.MchID+"\nnotify_url  (none)\n", r.stdout)

	r = b.issuer(t, "", "callback", "set", "https://issuer.example.com/callbacks/wxpay")
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `^notifications for `+sim.Keys.MchID+` go to https://issuer\.example\.com/callbacks/wxpay \(updated \S+\)\n$`, r.stdout)
	require.Equal(t, "https://issuer.example.com/callbacks/wxpay", sim.Server.CallbackURL())

	r = b.issuer(t, "", "callback", "show", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	require.JSONEq(t, `{"notify_url":"https://issuer.example.com/callbacks/wxpay","mchid":"`+sim.Keys.MchID+`"}`, r.stdout)

	b.env["ISSUER_CALLBACKS_PUBLIC_URL"] = "https://issuer.example.com/new"
	r = b.issuer(t, "", "callback", "show")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stderr, "callbacks.public_url is https://issuer.example.com/new")

	for _, bad := range []string{"http://issuer.example.com/cb", "https://issuer.example.com/cb?a=1"} {
		r = b.issuer(t, "", "callback", "set", bad)
		require.Equal(t, 2, r.code, bad)
		require.Contains(t, r.stderr, "notify_url")
	}
	require.Equal(t, "https://issuer.example.com/callbacks/wxpay", sim.Server.CallbackURL(), "nothing sent")
}

func TestNewCommandsHelp(t *testing.T) {
	t.Parallel()
	b := &testBundle{env: map[string]string{}}
	for _, args := range [][]string{
		{"stock", "stop"}, {"stock", "merchants"}, {"stock", "items"}, {"coupons"}, {"callback", "show"}, {"callback", "set"},
	} {
		r := b.issuer(t, "", append(args, "--help")...)
		require.Equal(t, 0, r.code, "%v: %s", args, r.stderr)
		require.Contains(t, r.stdout+r.stderr, "issuer "+strings.Join(args, " "), args)
	}
	r := b.issuer(t, "", "callback", "--help")
	require.Equal(t, 0, r.code)
	require.Contains(t, r.stdout, "callback set")
}

func TestSyncCallbackURL(t *testing.T) {
	t.Parallel()
	_, sim := stockSetup(t, wxsim.Options{})
	client := sim.Client(t, 1)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var alerts []alert.Alert
	notify := func(a alert.Alert) { alerts = append(alerts, a) }
	ctx := context.Background()

	syncCallbackURL(ctx, client, "", notify, log)
	require.Empty(t, sim.Server.CallbackURL(), "not configured: nothing done")

	const want = "http://127.0.0.1:8080/callbacks/wxpay"
	syncCallbackURL(ctx, client, want, notify, log)
	require.Equal(t, want, sim.Server.CallbackURL())
	require.Len(t, alerts, 1)
	require.Equal(t, alert.SeverityWarning, alerts[0].Severity)
	require.Equal(t, "notification address changed from (none) to "+want, alerts[0].Message)

	syncCallbackURL(ctx, client, want, notify, log)
	require.Len(t, alerts, 1, "already registered: no alert")

	sim.Server.SetCallbackURL("https://elsewhere.example.com/cb")
	syncCallbackURL(ctx, client, want, notify, log)
	require.Equal(t, want, sim.Server.CallbackURL())
	require.Len(t, alerts, 2)
	require.Equal(t, "notification address changed from https://elsewhere.example.com/cb to "+want, alerts[1].Message)
}

func TestSimFlagsChecked(t *testing.T) {
	t.Parallel()
	b := &testBundle{env: map[string]string{}}
	r := b.issuer(t, "", "sim", "--keys", t.TempDir(), "--base-url", "ftp://proxy")
	require.Equal(t, 2, r.code, r.stderr)
	require.Contains(t, r.stderr, "--base-url")
	r = b.issuer(t, "", "sim", "--help")
	require.Equal(t, 0, r.code)
	require.Contains(t, r.stdout+r.stderr, "-clock-offset")
}
