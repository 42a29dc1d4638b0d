package wxsim_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/wxpay"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

func createRequest(name, outRequestNo string, now time.Time) wxpay.CreateStockRequest {
	return wxpay.CreateStockRequest{
		StockName:          name,
		AvailableBeginTime: wxpay.FormatTime(now.Add(time.Hour)),
		AvailableEndTime:   wxpay.FormatTime(now.Add(30 * 24 * time.Hour)),
		StockUseRule: wxpay.StockUseRule{
			MaxCoupons: 2, MaxAmount: 2 * 1000, MaxCouponsPerUser: 1,
		},
		CouponUseRule: wxpay.CouponUseRule{
			FixedNormalCoupon: &wxpay.FixedNormalCoupon{CouponAmount: 1000, TransactionMinimum: 5000},
		},
		OutRequestNo: outRequestNo,
	}
}

func TestStockLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t, wxsim.Options{})
	ctx := context.Background()
	c := b.client

	created, err := c.CreateStock(ctx, createRequest("满50减10", "CREATE-1", b.now()))
	require.NoError(t, err)
	again, err := c.CreateStock(ctx, createRequest("满50减10", "CREATE-1", b.now()))
	require.NoError(t, err)
	require.Equal(t, created.StockID, again.StockID, "create is idempotent on out_request_no")

	st, err := c.QueryStock(ctx, created.StockID, "")
	require.NoError(t, err)
	require.Equal(t, wxpay.StockUnactivated, st.Status)
	require.Equal(t, "满50减10", st.StockName)
	require.Equal(t, b.keys.MchID, st.StockCreatorMchID)
	require.EqualValues(t, 2, st.StockUseRule.MaxCoupons)
	require.Equal(t, &wxpay.FixedNormalCoupon{CouponAmount: 1000, TransactionMinimum: 5000}, st.StockUseRule.FixedNormalCoupon)

	res, err := b.send(ctx, wxsim.KindFavor, created.StockID, "u1", "ORN-1")
	require.Equal(t, wxpay.OutcomeStockUnavailable, wxpay.Classify(res, err), "not started yet")

	started, err := c.StartStock(ctx, created.StockID, "")
	require.NoError(t, err)
	require.Equal(t, created.StockID, started.StockID)
	require.NotEmpty(t, started.Time)

	_, err = b.send(ctx, wxsim.KindFavor, created.StockID, "u1", "ORN-1")
	require.NoError(t, err)
	res, err = b.send(ctx, wxsim.KindFavor, created.StockID, "u1", "ORN-1b")
	require.Equal(t, wxpay.OutcomeUserLimited, wxpay.Classify(res, err), "max_coupons_per_user 1")

	_, err = c.PauseStock(ctx, created.StockID, "")
	require.NoError(t, err)
	st, err = c.QueryStock(ctx, created.StockID, "")
	require.NoError(t, err)
	require.Equal(t, wxpay.StockPaused, st.Status)
	require.EqualValues(t, 1, st.DistributedCoupons)
	res, err = b.send(ctx, wxsim.KindFavor, created.StockID, "u2", "ORN-2")
	require.Equal(t, wxpay.OutcomeStockUnavailable, wxpay.Classify(res, err))

	_, err = c.StartStock(ctx, created.StockID, "")
	var apiErr *wxpay.APIError
	require.ErrorAs(t, err, &apiErr, "a paused stock cannot be started")
	require.Equal(t, http.StatusBadRequest, apiErr.Status)

	_, err = c.RestartStock(ctx, created.StockID, "")
	require.NoError(t, err)
	_, err = b.send(ctx, wxsim.KindFavor, created.StockID, "u2", "ORN-2")
	require.NoError(t, err)
	res, err = b.send(ctx, wxsim.KindFavor, created.StockID, "u3", "ORN-3")
	require.Equal(t, wxpay.OutcomeBudgetExhausted, wxpay.Classify(res, err), "max_coupons 2")

	require.NoError(t, b.admin.ExpireStock(ctx, created.StockID))
	st, err = c.QueryStock(ctx, created.StockID, "")
	require.NoError(t, err)
	require.Equal(t, wxpay.StockStopped, st.Status)
	require.NotEmpty(t, st.StopTime)

	_, err = c.QueryStock(ctx, "404404", "")
	require.True(t, wxpay.IsNotFound(err))
}

func TestStockCreateValidation(t *testing.T) {
	t.Parallel()
	b := setup(t, wxsim.Options{})
	ctx := context.Background()
	for name, mutate := range map[string]func(*wxpay.CreateStockRequest){
		"budget mismatch":   func(r *wxpay.CreateStockRequest) { r.StockUseRule.MaxAmount = 1 },
		"threshold ≤ value": func(r *wxpay.CreateStockRequest) { r.CouponUseRule.FixedNormalCoupon.TransactionMinimum = 1000 },
		"bad time":          func(r *wxpay.CreateStockRequest) { r.AvailableEndTime = "tomorrow" },
		"over 90 days": func(r *wxpay.CreateStockRequest) {
			r.AvailableEndTime = wxpay.FormatTime(b.now().Add(100 * 24 * time.Hour))
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			req := createRequest("bad", "CREATE-"+fmt.Sprint(len(name)), b.now())
			mutate(&req)
			_, err := b.client.CreateStock(ctx, req)
			var apiErr *wxpay.APIError
			require.ErrorAs(t, err, &apiErr)
			require.Equal(t, http.StatusBadRequest, apiErr.Status)
		})
	}
}

func TestStockList(t *testing.T) {
	t.Parallel()
	var stocks []wxsim.StockSpec
	for i := range 13 {
		stocks = append(stocks, wxsim.StockSpec{ID: fmt.Sprint("S", 100+i), Budget: 1})
	}
	stocks[3].Status = wxsim.StatusPaused
	stocks = append(stocks,
		wxsim.StockSpec{ID: "OTHER", Budget: 1, CreatorMchID: "1900000999"},
		wxsim.StockSpec{ID: "PRODUCT", Kind: wxsim.KindProduct, Budget: 1})
	b := setup(t, wxsim.Options{Stocks: stocks})
	ctx := context.Background()

	var ids []string
	for page := 0; ; page++ {
		l, err := b.client.ListStocks(ctx, wxpay.ListStocksRequest{Offset: page, Limit: 5})
		require.NoError(t, err)
		require.Equal(t, 13, l.TotalCount, "only the caller's 代金券 stocks")
		require.Equal(t, page, l.Offset)
		require.Equal(t, 5, l.Limit)
		if len(l.Data) == 0 {
			break
		}
		for _, s := range l.Data {
			ids = append(ids, s.StockID)
		}
	}
	require.Len(t, ids, 13)
	require.Equal(t, "S100", ids[0])
	require.Equal(t, "S112", ids[12])

	l, err := b.client.ListStocks(ctx, wxpay.ListStocksRequest{Status: wxpay.StockPaused})
	require.NoError(t, err)
	require.Equal(t, 1, l.TotalCount)
	require.Equal(t, "S103", l.Data[0].StockID)

	_, err = b.client.ListStocks(ctx, wxpay.ListStocksRequest{Limit: 11})
	var apiErr *wxpay.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, "PARAM_ERROR", apiErr.Code)
	require.Equal(t, "页大小超过阈值", apiErr.Message)
}

func TestCouponQuery(t *testing.T) {
	t.Parallel()
	b := setup(t, wxsim.Options{Stocks: []wxsim.StockSpec{
		{ID: "F", Budget: 10, CouponValue: 200, CouponMinimum: 1000},
		{ID: "P", Kind: wxsim.KindProduct, Budget: 10},
	}})
	ctx := context.Background()
	id := couponID(t, b.sendFavor(t, "F", "u1", "ORN-1"))
	c, err := b.client.QueryCoupon(ctx, "u1", id, "")
	require.NoError(t, err)
	require.Equal(t, id, c.CouponID)
	require.Equal(t, "F", c.StockID)
	require.Equal(t, wxpay.CouponSended, c.Status)
	require.Nil(t, c.ConsumeInformation)
	require.Equal(t, &wxpay.NormalCouponInformation{CouponAmount: 200, TransactionMinimum: 1000}, c.NormalCouponInformation)

	_, err = b.client.QueryCoupon(ctx, "someone-else", id, "")
	require.True(t, wxpay.IsNotFound(err), "a coupon is found only under its owner")

	res, err := b.send(ctx, wxsim.KindProduct, "P", "u1", "ORN-P")
	require.NoError(t, err)
	_, err = b.client.QueryCoupon(ctx, "u1", res.CouponID, "")
	require.True(t, wxpay.IsNotFound(err), "商品券 are not 代金券")
}
