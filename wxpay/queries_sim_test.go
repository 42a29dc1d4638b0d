package wxpay_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/wxpay"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

func TestSimUserCoupons(t *testing.T) {
	t.Parallel()
	b := simSetup(t, func(so *wxsim.Options, _ *wxpay.Options) {
		so.Stocks = []wxsim.StockSpec{
			{ID: "9856000", Budget: 100},
			{ID: "9856001", Budget: 100, Merchants: []string{"1900000200"}},
		}
	})
	ctx := context.Background()
	// 45 coupons of 9856000 for one user: 25 sent by us, 20 from another
	// channel; and 3 of 9856001.
	var sent []string
	for i := range 25 {
		res, err := b.client.SendFavor(ctx, wxpay.FavorSendRequest{OpenID: "o_many", StockID: "9856000", OutRequestNo: fmt.Sprint("r", i)})
		require.NoError(t, err)
		sent = append(sent, res.CouponID)
	}
	granted := time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)
	for range 20 {
		_, err := b.sim.GrantCoupon("9856000", "o_many", granted)
		require.NoError(t, err)
	}
	for i := range 3 {
		_, err := b.client.SendFavor(ctx, wxpay.FavorSendRequest{OpenID: "o_many", StockID: "9856001", OutRequestNo: fmt.Sprint("s", i)})
		require.NoError(t, err)
	}
	used, err := b.sim.Redeem("9856001", 1.0/3)
	require.NoError(t, err)
	require.Equal(t, 1, used)

	byCreator := wxpay.UserCouponsRequest{OpenID: "o_many", StockID: "9856000", CreatorMchID: testMchID}
	page, err := b.client.UserCoupons(ctx, byCreator)
	require.NoError(t, err)
	require.Equal(t, 45, page.TotalCount)
	require.Len(t, page.Data, wxpay.DefaultUserCouponsLimit)
	require.Equal(t, 0, page.Offset)
	require.Equal(t, sent[0], page.Data[0].CouponID, "issue order")
	cp := page.Data[0]
	require.Equal(t, "9856000", cp.StockID)
	require.Equal(t, testMchID, cp.StockCreatorMchID)
	require.Equal(t, wxpay.CouponSended, cp.Status)
	require.Equal(t, "NORMAL", cp.CouponType)
	require.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$`, cp.CreateTime)
	require.Equal(t, int64(100), cp.NormalCouponInformation.CouponAmount)

	byCreator.Offset = 2 // the third page of 20: 5 left
	page, err = b.client.UserCoupons(ctx, byCreator)
	require.NoError(t, err)
	require.Len(t, page.Data, 5)
	require.Equal(t, "2025-03-01T17:30:00+08:00", page.Data[4].CreateTime, "granted at the time given")

	byCreator.Offset = 0
	all, err := b.client.AllUserCoupons(ctx, byCreator)
	require.NoError(t, err)
	require.Len(t, all, 45)
	ids := map[string]bool{}
	for _, c := range all {
		ids[c.CouponID] = true
	}
	require.Len(t, ids, 45, "each coupon once")
	for _, id := range sent {
		require.True(t, ids[id])
	}

	// Without stock_id: both stocks. Status SENDED leaves out the used one;
	// USED is documented as usable and used.
	for status, want := range map[string]int{"": 48, wxpay.CouponSended: 47, wxpay.CouponUsed: 48} {
		all, err := b.client.AllUserCoupons(ctx, wxpay.UserCouponsRequest{OpenID: "o_many", CreatorMchID: testMchID, Status: status, Limit: 7})
		require.NoError(t, err)
		require.Len(t, all, want, "status %q", status)
	}

	// available_mchid: stock_id, status and paging are ignored, used
	// coupons left out; 9856001 is usable at 1900000200 only.
	page, err = b.client.UserCoupons(ctx, wxpay.UserCouponsRequest{OpenID: "o_many", AvailableMchID: "1900000200", StockID: "9856000", Limit: 1, Offset: 3})
	require.NoError(t, err)
	require.Len(t, page.Data, 2)
	for _, c := range page.Data {
		require.Equal(t, "9856001", c.StockID)
		require.Equal(t, wxpay.CouponSended, c.Status)
	}
	all, err = b.client.AllUserCoupons(ctx, wxpay.UserCouponsRequest{OpenID: "o_many", AvailableMchID: testMchID})
	require.NoError(t, err)
	require.Len(t, all, 45)

	// Another user, another appid: nothing.
	page, err = b.client.UserCoupons(ctx, wxpay.UserCouponsRequest{OpenID: "o_none", CreatorMchID: testMchID})
	require.NoError(t, err)
	require.Empty(t, page.Data)
	require.NotNil(t, page.Data)
	page, err = b.client.UserCoupons(ctx, wxpay.UserCouponsRequest{OpenID: "o_many", AppID: "wx_other", CreatorMchID: testMchID})
	require.NoError(t, err)
	require.Zero(t, page.TotalCount)

	// The filters are checked before anything is sent.
	for name, req := range map[string]wxpay.UserCouponsRequest{
		"no merchant":   {OpenID: "o"},
		"two merchants": {OpenID: "o", CreatorMchID: testMchID, AvailableMchID: testMchID},
		"no openid":     {CreatorMchID: testMchID},
		"bad status":    {OpenID: "o", CreatorMchID: testMchID, Status: "EXPIRED"},
	} {
		_, err := b.client.UserCoupons(ctx, req)
		require.ErrorIs(t, err, wxpay.ErrInvalidRequest, name)
	}
	// Another creator's coupons are not ours to list.
	_, err = b.client.UserCoupons(ctx, wxpay.UserCouponsRequest{OpenID: "o_many", CreatorMchID: "1900000200"})
	var apiErr *wxpay.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, "NO_AUTH", apiErr.Code)
}

func TestSimStopStock(t *testing.T) {
	t.Parallel()
	b := simSetup(t, nil)
	ctx := context.Background()
	c := b.client
	res, err := c.SendFavor(ctx, favor("o_before", "r-before"))
	require.NoError(t, err)

	stopped, err := c.StopStock(ctx, "9856000", "")
	require.NoError(t, err)
	require.Equal(t, "9856000", stopped.StockID)
	require.NotEmpty(t, stopped.Time)
	again, err := c.StopStock(ctx, "9856000", "")
	require.NoError(t, err, "stopping a stopped stock is a repeat")
	require.Equal(t, stopped.Time, again.Time)

	st, err := c.QueryStock(ctx, "9856000", "")
	require.NoError(t, err)
	require.Equal(t, wxpay.StockStopped, st.Status)
	require.Equal(t, stopped.Time, st.StopTime)

	_, err = c.RestartStock(ctx, "9856000", "")
	var apiErr *wxpay.APIError
	require.ErrorAs(t, err, &apiErr, "a stopped stock is never restarted")
	require.Equal(t, "INVALID_REQUEST", apiErr.Code)
	_, err = c.StartStock(ctx, "9856000", "")
	require.ErrorAs(t, err, &apiErr)

	res2, err := c.SendFavor(ctx, favor("o_after", "r-after"))
	require.Equal(t, wxpay.OutcomeStockUnavailable, wxpay.Classify(res2, err))
	// A replay of a coupon sent before the stop still answers its id.
	res3, err := c.SendFavor(ctx, favor("o_before", "r-before"))
	require.NoError(t, err)
	require.Equal(t, res.CouponID, res3.CouponID)

	_, err = c.StopStock(ctx, "1234", "")
	require.True(t, wxpay.IsNotFound(err), "%v", err)
}

func TestSimStockListCreateTime(t *testing.T) {
	t.Parallel()
	b := simSetup(t, func(so *wxsim.Options, _ *wxpay.Options) { so.Stocks = nil })
	// Created a day apart on the simulator's calendar.
	base := time.Now()
	for i := range 3 {
		b.sim.SetClockOffset(time.Duration(i) * 24 * time.Hour)
		require.NoError(t, b.sim.AddStock(wxsim.StockSpec{ID: fmt.Sprint(9856100 + i), Budget: 1}))
	}
	ctx := context.Background()
	list := func(start, end time.Time) []string {
		t.Helper()
		req := wxpay.ListStocksRequest{}
		if !start.IsZero() {
			req.CreateStartTime = wxpay.FormatTime(start)
		}
		if !end.IsZero() {
			req.CreateEndTime = wxpay.FormatTime(end)
		}
		l, err := b.client.ListStocks(ctx, req)
		require.NoError(t, err)
		var ids []string
		for _, s := range l.Data {
			ids = append(ids, s.StockID)
		}
		require.Equal(t, len(ids), l.TotalCount)
		return ids
	}
	day := 24 * time.Hour
	require.Equal(t, []string{"9856100", "9856101", "9856102"}, list(time.Time{}, time.Time{}))
	require.Equal(t, []string{"9856101", "9856102"}, list(base.Add(day/2), time.Time{}))
	require.Equal(t, []string{"9856100", "9856101"}, list(time.Time{}, base.Add(day+day/2)))
	require.Equal(t, []string{"9856101"}, list(base.Add(day/2), base.Add(day+day/2)))
	require.Empty(t, list(base.Add(3*day), time.Time{}))
}

func TestSimStockScope(t *testing.T) {
	t.Parallel()
	var items []string
	for i := range 230 {
		items = append(items, fmt.Sprint("sku", 1000+i))
	}
	b := simSetup(t, func(so *wxsim.Options, _ *wxpay.Options) {
		so.Stocks = []wxsim.StockSpec{
			{ID: "9856000", Budget: 1},
			{ID: "9856001", Budget: 1, Merchants: []string{"1900000109", "1900000200"}, Items: items},
		}
	})
	ctx := context.Background()
	m, err := b.client.StockMerchants(ctx, "9856000", "", 0, 10)
	require.NoError(t, err)
	require.Equal(t, &wxpay.StockScope{TotalCount: 1, Data: []string{testMchID}, Offset: 0, Limit: 10, StockID: "9856000"}, m, "default: the creator")
	it, err := b.client.StockItems(ctx, "9856000", "", 0, 0)
	require.NoError(t, err)
	require.Equal(t, 0, it.TotalCount)
	require.Equal(t, []string{}, it.Data)

	m, err = b.client.AllStockMerchants(ctx, "9856001", "")
	require.NoError(t, err)
	require.Equal(t, []string{"1900000109", "1900000200"}, m.Data)
	it, err = b.client.StockItems(ctx, "9856001", "", 2, 100) // offset is a page number
	require.NoError(t, err)
	require.Equal(t, 230, it.TotalCount)
	require.Equal(t, items[200:], it.Data)
	all, err := b.client.AllStockItems(ctx, "9856001", "")
	require.NoError(t, err)
	require.Equal(t, items, all.Data)
	require.Equal(t, 230, all.TotalCount)

	_, err = b.client.StockItems(ctx, "9856001", "", 0, 101)
	require.ErrorIs(t, err, wxpay.ErrInvalidRequest)
	_, err = b.client.StockMerchants(ctx, "1234", "", 0, 10)
	require.True(t, wxpay.IsNotFound(err), "%v", err)
}

func TestSimCallbackURL(t *testing.T) {
	t.Parallel()
	b := simSetup(t, nil)
	ctx := context.Background()
	got, err := b.client.Callback(ctx, "")
	require.NoError(t, err)
	require.Equal(t, &wxpay.CallbackSetting{MchID: testMchID}, got, "none registered")

	set, err := b.client.SetCallback(ctx, wxpay.CallbackRequest{NotifyURL: "https://pay.example.com/callbacks/wxpay"})
	require.NoError(t, err)
	require.Equal(t, "https://pay.example.com/callbacks/wxpay", set.NotifyURL)
	require.Regexp(t, `\+08:00$`, set.UpdateTime)
	require.Equal(t, "https://pay.example.com/callbacks/wxpay", b.sim.CallbackURL(), "COUPON.USE goes there")
	got, err = b.client.Callback(ctx, "")
	require.NoError(t, err)
	require.Equal(t, &wxpay.CallbackSetting{MchID: testMchID, NotifyURL: "https://pay.example.com/callbacks/wxpay"}, got)

	// The admin API and the API share one address.
	b.sim.SetCallbackURL("http://127.0.0.1:9/cb")
	got, err = b.client.Callback(ctx, "")
	require.NoError(t, err)
	require.Equal(t, "http://127.0.0.1:9/cb", got.NotifyURL)

	n := len(b.sim.Ledger(""))
	for _, bad := range []string{"http://pay.example.com/cb", "https://pay.example.com/cb?x=1", "/cb", "https://pay.example.com/cb#f", "ftp://h/cb"} {
		_, err := b.client.SetCallback(ctx, wxpay.CallbackRequest{NotifyURL: bad})
		require.ErrorIs(t, err, wxpay.ErrInvalidRequest, bad)
	}
	require.Equal(t, "http://127.0.0.1:9/cb", b.sim.CallbackURL())
	require.Len(t, b.sim.Ledger(""), n)
	for _, good := range []string{"https://h/cb", "http://localhost:8080/callbacks/wxpay", "http://[::1]/cb"} {
		require.NoError(t, wxpay.ValidNotifyURL(good), good)
	}
}

// TestSimFlowAvailability: files exist from 10:00 Beijing time the day
// after the stock ends; the metadata answer is unsigned and accepted; the
// download url names the configured base url.
func TestSimFlowAvailability(t *testing.T) {
	t.Parallel()
	b := simSetup(t, nil)
	ctx := context.Background()
	_, err := b.client.SendFavor(ctx, favor("o_1", "r-1"))
	require.NoError(t, err)
	_, err = b.sim.Redeem("9856000", 1)
	require.NoError(t, err)

	_, err = b.client.UseFlow(ctx, "9856000")
	require.True(t, wxpay.IsNotFound(err), "running: %v", err)
	var apiErr *wxpay.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, "账单文件不存在", apiErr.Message)

	require.NoError(t, b.sim.SetStockStatus("9856000", wxsim.StatusExpired))
	st, err := b.client.QueryStock(ctx, "9856000", "")
	require.NoError(t, err)
	end, err := time.Parse(time.RFC3339, st.StopTime)
	require.NoError(t, err)
	due := wxsim.FlowsAvailable(end)
	require.Equal(t, 10, due.Hour())
	require.Equal(t, end.In(due.Location()).AddDate(0, 0, 1).Format(time.DateOnly), due.Format(time.DateOnly))

	b.sim.SetClockOffset(time.Until(due) - time.Minute)
	_, err = b.client.UseFlow(ctx, "9856000")
	require.True(t, wxpay.IsNotFound(err), "a minute before 10:00: %v", err)
	b.sim.SetClockOffset(time.Until(due) + time.Minute)
	meta, err := b.client.UseFlow(ctx, "9856000")
	require.NoError(t, err, "unsigned metadata is accepted on this endpoint")
	u, err := url.Parse(meta.URL)
	require.NoError(t, err)
	require.Equal(t, b.url, u.Scheme+"://"+u.Host)
	_, err = b.client.RefundFlow(ctx, "9856000")
	require.True(t, wxpay.IsNotFound(err), "nothing refunded: %v", err)

	// Behind a proxy: the url names the base url the simulator was given.
	p := simSetup(t, func(so *wxsim.Options, _ *wxpay.Options) {
		so.BaseURL = "https://wx-proxy.example.com:8443/"
		so.EarlyFlows = true
	})
	_, err = p.client.SendFavor(ctx, favor("o_1", "r-1"))
	require.NoError(t, err)
	_, err = p.sim.Redeem("9856000", 1)
	require.NoError(t, err)
	meta, err = p.client.UseFlow(ctx, "9856000")
	require.NoError(t, err)
	require.Regexp(t, `^https://wx-proxy\.example\.com:8443/v3/billdownload/file\?token=\w+$`, meta.URL)
}

// TestUnsignedAnswersOnlyOnFlowMetadata: the two flow-metadata endpoints
// accept an unsigned 2xx; every other endpoint refuses it.
func TestUnsignedAnswersOnlyOnFlowMetadata(t *testing.T) {
	t.Parallel()
	const meta = `{"url":"https://api.mch.weixin.qq.com/v3/billdownload/file?token=xx","hash_type":"SHA1","hash_value":"8ae9f9ce1ad2fd6ba5e8b1f0d0d0e9e2b5d3a1c9"}`
	b := setup(t, func(r *http.Request, _ []byte) fakeReply {
		switch r.URL.Path {
		case "/v3/marketing/favor/stocks/9865000/use-flow", "/v3/marketing/favor/stocks/9865000/refund-flow":
			return fakeReply{body: meta, unsigned: true}
		case "/v3/marketing/favor/users/o/coupons":
			return fakeReply{body: `{"data":[],"total_count":0,"limit":20,"offset":0}`, unsigned: true}
		case "/v3/marketing/favor/callbacks":
			return fakeReply{body: `{"notify_url":"https://h/cb","mchid":"1900000109"}`, unsigned: true}
		}
		return fakeReply{body: `{"stock_id":"9865000","total_count":0,"data":[],"offset":0,"limit":10}`, unsigned: true}
	})
	ctx := context.Background()
	_, err := b.client.UseFlow(ctx, "9865000")
	require.NoError(t, err)
	_, err = b.client.RefundFlow(ctx, "9865000")
	require.NoError(t, err)
	for name, call := range map[string]func() error{
		"user coupons": func() error {
			_, err := b.client.UserCoupons(ctx, wxpay.UserCouponsRequest{OpenID: "o", CreatorMchID: testMchID})
			return err
		},
		"callback": func() error { _, err := b.client.Callback(ctx, ""); return err },
		"set callback": func() error {
			_, err := b.client.SetCallback(ctx, wxpay.CallbackRequest{NotifyURL: "https://h/cb"})
			return err
		},
		"merchants": func() error { _, err := b.client.StockMerchants(ctx, "9865000", "", 0, 10); return err },
		"items":     func() error { _, err := b.client.StockItems(ctx, "9865000", "", 0, 10); return err },
		"stop":      func() error { _, err := b.client.StopStock(ctx, "9865000", ""); return err },
	} {
		require.ErrorIs(t, call(), wxpay.ErrSignature, name)
	}
}
