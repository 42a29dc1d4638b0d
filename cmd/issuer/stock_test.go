package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/internal/simtest"
	"github.com/issuer-dev/issuer/wxpay"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

// unreachableDB is a valid database_url nothing listens on: stock and
// plugin commands must work without a database.
const unreachableDB = "postgres://issuer@127.0.0.1:1/unused?sslmode=disable&connect_timeout=1"

// stockSetup starts a simulator and returns a bundle whose environment makes
// issuer its merchant.
func stockSetup(t *testing.T, opts wxsim.Options) (*testBundle, *simtest.Sim) {
	t.Helper()
	sim := simtest.Start(t, opts)
	b := &testBundle{dir: t.TempDir(), env: map[string]string{"ISSUER_DATABASE_URL": unreachableDB}}
	maps.Copy(b.env, sim.Env())
	return b, sim
}

func (b *testBundle) stockJSON(t *testing.T, id string) map[string]any {
	t.Helper()
	r := b.issuer(t, "", "stock", "show", id, "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var v map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &v), r.stdout)
	return v
}

func TestStockLifecycle(t *testing.T) {
	t.Parallel()
	b, sim := stockSetup(t, wxsim.Options{})
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	start := time.Now().Add(time.Hour).Truncate(time.Second)
	endDay := time.Now().In(shanghai).AddDate(0, 0, 10).Format("2006-01-02")

	create := []string{"stock", "create", "--name", "春节满减", "--budget-yuan", "100", "--coupon-value", "500",
		"--minimum", "1000", "--start", start.Format(time.RFC3339), "--end", endDay, "--max-per-user", "2", "--comment", "ops test"}
	r := b.issuer(t, "", append(create, "--json")...)
	require.Equal(t, 0, r.code, r.stderr)
	var created map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &created), r.stdout)
	require.ElementsMatch(t, []string{"stock_id", "create_time", "out_request_no"}, slices.Collect(maps.Keys(created)))
	id, orn := created["stock_id"].(string), created["out_request_no"].(string)
	require.NotEmpty(t, id)
	require.Regexp(t, `^`+sim.Keys.MchID+`\d{8}\d{10}$`, orn)
	require.Contains(t, r.stderr, "out_request_no "+orn, "printed before the call, for a lost answer")

	// The same out_request_no again is the same stock, not a second one.
	r = b.issuer(t, "", append(create, "--out-request-no", orn)...)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "created stock "+id+` "春节满减": 20 coupons of 5.00 yuan (orders from 10.00 yuan), budget 100.00 yuan, 2 per user`)
	require.Contains(t, r.stdout, "issuer stock start "+id)

	s := b.stockJSON(t, id)
	require.Equal(t, "unactivated", s["status"])
	require.Equal(t, "春节满减", s["stock_name"])
	require.Equal(t, "ops test", s["description"])
	rule := s["stock_use_rule"].(map[string]any)
	require.Equal(t, 20.0, rule["max_coupons"])
	require.Equal(t, 10000.0, rule["max_amount"])
	require.Equal(t, 2.0, rule["max_coupons_per_user"])
	require.Equal(t, map[string]any{"coupon_amount": 500.0, "transaction_minimum": 1000.0}, rule["fixed_normal_coupon"])
	begin, err := time.Parse(time.RFC3339, s["available_begin_time"].(string))
	require.NoError(t, err)
	require.True(t, begin.Equal(start), "begin %v, want %v", begin, start)
	end, err := time.Parse(time.RFC3339, s["available_end_time"].(string))
	require.NoError(t, err)
	require.Equal(t, endDay+" 23:59:59", end.In(shanghai).Format(time.DateTime), "a bare --end date means its last second")

	for _, step := range []struct{ action, said, status string }{
		{"start", "started", "running"},
		{"pause", "paused", "paused"},
		{"restart", "restarted", "running"},
	} {
		r = b.issuer(t, "", "stock", step.action, id)
		require.Equal(t, 0, r.code, r.stderr)
		require.Regexp(t, `^stock `+id+` `+step.said+` at \S+\n$`, r.stdout)
		require.Equal(t, step.status, b.stockJSON(t, id)["status"], step.action)
	}

	r = b.issuer(t, "", "stock", "show", id)
	require.Equal(t, 0, r.code, r.stderr)
	for _, line := range []string{
		"stock        " + id + "  春节满减\n",
		"status       running\n",
		"coupon       5.00 yuan off orders from 10.00 yuan\n",
		"budget       20 coupons, 100.00 yuan; 0 distributed, 20 left\n",
		"per user     2\n",
		"available    " + start.In(shanghai).Format(time.DateTime) + " to " + endDay + " 23:59:59 (Asia/Shanghai)\n",
		"description  ops test\n",
	} {
		require.Contains(t, r.stdout, line)
	}

	r = b.issuer(t, "", "stock", "list", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var list []map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &list))
	require.Len(t, list, 1)
	require.Equal(t, id, list[0]["stock_id"])

	r = b.issuer(t, "", "stock", "list")
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `(?m)^ID +NAME +STATUS +VALUE +MINIMUM +MAX_COUPONS +DISTRIBUTED +PER_USER +BEGIN +END\s*$`, r.stdout)
	require.Regexp(t, `(?m)^`+id+` +春节满减 +running +5\.00 +10\.00 +20 +0 +2 `, r.stdout)
}

func TestStockListPages(t *testing.T) {
	t.Parallel()
	// 23 stocks: three pages of WeChat Pay's at most 10, whose offset is a
	// page index.
	var specs []wxsim.StockSpec
	for i := range 23 {
		st := wxsim.StatusRunning
		if i%4 == 0 {
			st = wxsim.StatusPaused
		}
		specs = append(specs, wxsim.StockSpec{ID: fmt.Sprint(9856000 + i), Budget: 10, Status: st})
	}
	b, _ := stockSetup(t, wxsim.Options{Stocks: specs})

	ids := func(args ...string) ([]string, result) {
		t.Helper()
		r := b.issuer(t, "", append([]string{"stock", "list", "--json"}, args...)...)
		require.Equal(t, 0, r.code, r.stderr)
		var list []map[string]any
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &list), r.stdout)
		var out []string
		for _, s := range list {
			out = append(out, s["stock_id"].(string))
		}
		return out, r
	}
	all, _ := ids()
	require.Len(t, all, 23)
	seen := map[string]bool{}
	for _, id := range all {
		require.False(t, seen[id], "stock %s listed twice", id)
		seen[id] = true
	}
	require.True(t, seen["9856000"] && seen["9856022"])

	paused, _ := ids("--status", "paused")
	require.Equal(t, []string{"9856000", "9856004", "9856008", "9856012", "9856016", "9856020"}, paused)

	some, r := ids("--limit", "12")
	require.Equal(t, all[:12], some)
	require.Contains(t, r.stderr, "showing 12 of 23 stocks")

	none, _ := ids("--status", "stopped")
	require.Empty(t, none)
	r = b.issuer(t, "", "stock", "list", "--status", "stopped", "--json")
	require.Equal(t, "[]\n", r.stdout, "an empty list is [] for scripts")
}

func TestStockErrors(t *testing.T) {
	t.Parallel()
	b, _ := stockSetup(t, wxsim.Options{Stocks: []wxsim.StockSpec{{ID: "9856000", Budget: 1, Status: wxsim.StatusUnactivated}}})
	requestID := `request id \S+`

	r := b.issuer(t, "", "stock", "show", "1234567")
	require.Equal(t, 1, r.code)
	require.Regexp(t, `issuer: stock show 1234567: RESOURCE_NOT_EXISTS: \S+ \(HTTP 404, `+requestID+`\)`, r.stderr)

	r = b.issuer(t, "", "stock", "pause", "9856000")
	require.Equal(t, 1, r.code)
	require.Regexp(t, `issuer: stock pause 9856000: INVALID_REQUEST: \S+ \(HTTP 400, `+requestID+`\) detail \{"status":"unactivated"\}`, r.stderr)

	// WeChat Pay's own validation, shown with the field it names.
	r = b.issuer(t, "", "stock", "create", "--name", strings.Repeat("长", 21), "--max-coupons", "5", "--coupon-value", "100",
		"--minimum", "200", "--start", "2030-01-01", "--end", "2030-01-31")
	require.Equal(t, 1, r.code)
	require.Regexp(t, `issuer: stock create \(out_request_no \d+\): PARAM_ERROR: \S+ \(HTTP 400, `+requestID+`\) detail .*"field":"stock_name"`, r.stderr)
	require.NotContains(t, r.stderr, "may have been created", "a 4xx is a definite refusal")

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"show"}, "want exactly one stock ID"},
		{[]string{"start", "98x"}, `"98x" is not a stock ID`},
		{[]string{"list", "--status", "bogus"}, `--status "bogus": want one of`},
		{[]string{"create", "--max-coupons", "5", "--coupon-value", "100", "--minimum", "200", "--start", "2030-01-01", "--end", "2030-01-31"}, "--name is required"},
		{[]string{"create", "--name", "n", "--max-coupons", "5", "--coupon-value", "100", "--minimum", "100", "--start", "2030-01-01", "--end", "2030-01-31"}, "must exceed --coupon-value"},
		{[]string{"create", "--name", "n", "--budget-yuan", "10.00", "--coupon-value", "100", "--minimum", "200", "--start", "2030-01-01", "--end", "2030-01-31"}, ""},
		{[]string{"create", "--name", "n", "--budget-yuan", "10.55", "--coupon-value", "100", "--minimum", "200", "--start", "2030-01-01", "--end", "2030-01-31"}, "not a whole number of 1.00-yuan coupons"},
		{[]string{"create", "--name", "n", "--budget-yuan", "10", "--max-coupons", "3", "--coupon-value", "100", "--minimum", "200", "--start", "2030-01-01", "--end", "2030-01-31"}, "buys 10 coupons of 1.00 yuan, not --max-coupons 3"},
		{[]string{"create", "--name", "n", "--coupon-value", "100", "--minimum", "200", "--start", "2030-01-01", "--end", "2030-01-31"}, "give --max-coupons N or --budget-yuan Y"},
		{[]string{"create", "--name", "n", "--max-coupons", "5", "--coupon-value", "100", "--minimum", "200", "--start", "2030-01-01", "--end", "2030-06-01"}, "longer than WeChat Pay's 90 days"},
		{[]string{"create", "--name", "n", "--max-coupons", "5", "--coupon-value", "100", "--minimum", "200", "--start", "next week", "--end", "2030-06-01"}, `--start: "next week" is not a time`},
		{[]string{"create", "--name", "n", "--max-coupons", "5", "--coupon-value", "100", "--minimum", "200", "--start", "2030-01-02", "--end", "2030-01-01"}, "is not after --start"},
	} {
		r := b.issuer(t, "", append([]string{"stock"}, tc.args...)...)
		if tc.want == "" {
			require.Equal(t, 0, r.code, "%v: %s", tc.args, r.stderr)
			require.Contains(t, r.stdout, "10 coupons of 1.00 yuan", tc.args)
			continue
		}
		require.Equal(t, 2, r.code, "%v: %s", tc.args, r.stderr)
		require.Contains(t, r.stderr, tc.want, tc.args)
	}
}

// TestStockCreateLostAnswer: when the create call may have reached WeChat
// Pay but no answer came back, the operator is told how to find out without
// creating a second stock.
func TestStockCreateLostAnswer(t *testing.T) {
	t.Parallel()
	b, _ := stockSetup(t, wxsim.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // listener closed at cleanup
			}
			buf := make([]byte, 4096)
			_, _ = c.Read(buf) // take the request, then hang up without answering
			c.Close()
		}
	}()
	b.env["ISSUER_WXPAY_BASE_URL"] = "http://" + ln.Addr().String()

	r := b.issuer(t, "", "stock", "create", "--name", "n", "--max-coupons", "5", "--coupon-value", "100", "--minimum", "200",
		"--start", "2030-01-01", "--end", "2030-01-31")
	require.Equal(t, 1, r.code)
	m := regexp.MustCompile(`stock create: out_request_no (\d+)\n`).FindStringSubmatch(r.stderr)
	require.NotNil(t, m, r.stderr)
	require.Contains(t, r.stderr, "issuer: stock create (out_request_no "+m[1]+"): wxpay: transport")
	require.Contains(t, r.stderr, "the stock may have been created: rerun with --out-request-no "+m[1])
}

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
