package wxsim_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/internal/testutil"
	"github.com/issuer-dev/issuer/wxpay"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

func TestFavorReplay(t *testing.T) {
	t.Parallel()
	b := setup(t, wxsim.Options{Stocks: []wxsim.StockSpec{{ID: "F1", Budget: 10}}})

	first := b.sendFavor(t, "F1", "u1", "ORN-1")
	b.verified(t, first)
	id := couponID(t, first)

	replay := b.sendFavor(t, "F1", "u1", "ORN-1")
	b.verified(t, replay)
	require.Equal(t, id, couponID(t, replay), "a replay answers the same coupon_id")

	ledger := b.sim.Ledger("F1")
	require.Len(t, ledger, 1)
	require.Equal(t, wxsim.Coupon{
		CouponID: id, Kind: wxsim.KindFavor, StockID: "F1", OpenID: "u1", OutRequestNo: "ORN-1",
		MchID: b.keys.MchID, AppID: b.keys.AppID, IssuedAt: ledger[0].IssuedAt, CouponAmount: 100,
		CouponMinimum: 101, Status: "SENDED",
	}, ledger[0])

	other := b.sendFavor(t, "F1", "u2", "ORN-1")
	require.Equal(t, http.StatusBadRequest, other.status, "an out_request_no reused for another user is refused")
	require.Len(t, b.sim.Ledger(""), 1)

	st := b.sim.Stats()
	require.EqualValues(t, 1, st.Issued)
	require.EqualValues(t, 1, st.Replayed)

	// Through the client: the replay classifies as issued, with the id.
	res, err := b.client.SendFavor(context.Background(), wxpay.FavorSendRequest{OpenID: "u1", StockID: "F1", OutRequestNo: "ORN-1"})
	require.NoError(t, err)
	require.Equal(t, id, res.CouponID)
	require.Equal(t, wxpay.OutcomeIssued, wxpay.Classify(res, err))
}

func TestProductReplay(t *testing.T) {
	t.Parallel()
	b := setup(t, wxsim.Options{Stocks: []wxsim.StockSpec{{ID: "P1", Kind: wxsim.KindProduct, Budget: 10}}})

	first := b.sendProduct(t, "P1", "u1", "ORN-1")
	require.Equal(t, http.StatusOK, first.status, "%s", first.body)
	b.verified(t, first)
	var out struct {
		Result struct {
			StockID      string `json:"stock_id"`
			OutRequestNo string `json:"out_request_no"`
			CouponCode   string `json:"coupon_code"`
		} `json:"send_coupon_result"`
	}
	first.decode(t, &out)
	require.Equal(t, "P1", out.Result.StockID)
	require.Equal(t, "ORN-1", out.Result.OutRequestNo)
	require.NotEmpty(t, out.Result.CouponCode)

	replay := b.sendProduct(t, "P1", "u1", "ORN-1")
	require.Equal(t, http.StatusBadRequest, replay.status)
	b.verified(t, replay)
	code, msg, _ := replay.errorBody(t)
	require.Equal(t, "RESOURCE_ALREADY_EXISTS", code)
	require.Equal(t, "发券凭证已存在", msg)
	require.Len(t, b.sim.Ledger(""), 1)

	res, err := b.send(context.Background(), wxsim.KindProduct, "P1", "u1", "ORN-1")
	require.Equal(t, wxpay.OutcomeAlreadyIssued, wxpay.Classify(res, err))
}

// TestStockRules covers budget, per-user limit, status and unknown stocks
// for both kinds, through the client and its classification.
func TestStockRules(t *testing.T) {
	t.Parallel()
	type want struct {
		status  int
		code    string
		message string
		outcome wxpay.Outcome
	}
	tests := []struct {
		name           string
		stock          wxsim.StockSpec // Kind is set per kind
		prepare        func(t *testing.T, b *testBundle, kind wxsim.Kind)
		openid         string
		stockID        string
		favor, product want
	}{
		{
			name:  "budget exhausted",
			stock: wxsim.StockSpec{ID: "S", Budget: 1},
			prepare: func(t *testing.T, b *testBundle, kind wxsim.Kind) {
				_, err := b.send(context.Background(), kind, "S", "first", "ORN-first")
				require.NoError(t, err)
			},
			favor:   want{403, "NOT_ENOUGH", "批次预算不足", wxpay.OutcomeBudgetExhausted},
			product: want{400, "STOCK_INSUFFICIENT", "批次库存不足", wxpay.OutcomeBudgetExhausted},
		},
		{
			name:    "empty budget",
			stock:   wxsim.StockSpec{ID: "S", Budget: 0},
			favor:   want{403, "NOT_ENOUGH", "批次预算不足", wxpay.OutcomeBudgetExhausted},
			product: want{400, "STOCK_INSUFFICIENT", "批次库存不足", wxpay.OutcomeBudgetExhausted},
		},
		{
			name:  "per-user limit",
			stock: wxsim.StockSpec{ID: "S", Budget: 10, PerUser: 1},
			prepare: func(t *testing.T, b *testBundle, kind wxsim.Kind) {
				_, err := b.send(context.Background(), kind, "S", "u", "ORN-first")
				require.NoError(t, err)
			},
			openid:  "u",
			favor:   want{403, "REQUEST_BLOCKED", "用户被限领拦截", wxpay.OutcomeUserLimited},
			product: want{400, "USER_RECEIVE_LIMIT", "用户领取限制", wxpay.OutcomeUserLimited},
		},
		{
			name:    "paused",
			stock:   wxsim.StockSpec{ID: "S", Budget: 10, Status: wxsim.StatusPaused},
			favor:   want{400, "INVALID_REQUEST", "活动已结束或未激活", wxpay.OutcomeStockUnavailable},
			product: want{400, "STOCK_STATE_ERROR", "批次状态错误", wxpay.OutcomeStockUnavailable},
		},
		{
			name:    "unactivated",
			stock:   wxsim.StockSpec{ID: "S", Budget: 10, Status: wxsim.StatusUnactivated},
			favor:   want{400, "INVALID_REQUEST", "活动已结束或未激活", wxpay.OutcomeStockUnavailable},
			product: want{400, "STOCK_STATE_ERROR", "批次状态错误", wxpay.OutcomeStockUnavailable},
		},
		{
			name:  "expired by the admin API",
			stock: wxsim.StockSpec{ID: "S", Budget: 10},
			prepare: func(t *testing.T, b *testBundle, _ wxsim.Kind) {
				require.NoError(t, b.admin.ExpireStock(context.Background(), "S"))
			},
			favor:   want{400, "INVALID_REQUEST", "活动已结束或未激活", wxpay.OutcomeStockUnavailable},
			product: want{400, "STOCK_EXPIRED", "批次已过期", wxpay.OutcomeStockUnavailable},
		},
		{
			name:    "unknown stock",
			stock:   wxsim.StockSpec{ID: "S", Budget: 10},
			stockID: "NOPE",
			favor:   want{404, "RESOURCE_NOT_EXISTS", "批次不存在", wxpay.OutcomeStockUnavailable},
			product: want{400, "STOCK_NOT_EXISTS", "批次不存在", wxpay.OutcomeStockUnavailable},
		},
		{
			name:    "another merchant's stock",
			stock:   wxsim.StockSpec{ID: "S", Budget: 10, CreatorMchID: "1900000999"},
			favor:   want{403, "REQUEST_BLOCKED", "商户无权发券", wxpay.OutcomeConfigError},
			product: want{403, "NO_AUTH", "无权限", wxpay.OutcomeConfigError},
		},
	}
	for _, tt := range tests {
		for _, kind := range []wxsim.Kind{wxsim.KindFavor, wxsim.KindProduct} {
			t.Run(fmt.Sprintf("%s/%s", tt.name, kind), func(t *testing.T) {
				t.Parallel()
				spec := tt.stock
				spec.Kind = kind
				b := setup(t, wxsim.Options{Stocks: []wxsim.StockSpec{spec}})
				if tt.prepare != nil {
					tt.prepare(t, b, kind)
				}
				openid, stockID := tt.openid, tt.stockID
				if openid == "" {
					openid = "someone"
				}
				if stockID == "" {
					stockID = "S"
				}
				w := tt.favor
				if kind == wxsim.KindProduct {
					w = tt.product
				}
				before := len(b.sim.Ledger(""))
				res, err := b.send(context.Background(), kind, stockID, openid, "ORN-test")
				var apiErr *wxpay.APIError
				require.ErrorAs(t, err, &apiErr)
				require.Equal(t, w.status, apiErr.Status)
				require.Equal(t, w.code, apiErr.Code)
				require.Equal(t, w.message, apiErr.Message)
				require.Equal(t, w.outcome, wxpay.Classify(res, err))
				require.Len(t, b.sim.Ledger(""), before, "a refused send issues nothing")
			})
		}
	}
}

// TestOpenIDPrefixes reaches every classification row by openid prefix.
func TestOpenIDPrefixes(t *testing.T) {
	t.Parallel()
	type want struct {
		status  int
		code    string
		message string
		outcome wxpay.Outcome
	}
	same := func(w want) [2]want { return [2]want{w, w} }
	tests := map[string][2]want{ // [favor, product]
		"abnormal_": same(want{403, "USER_ACCOUNT_ABNORMAL", "用户非法", wxpay.OutcomeUserAbnormal}),
		"badapp_":   same(want{400, "INVALID_REQUEST", "openid与appID不匹配", wxpay.OutcomeInvalidUser}),
		"nouser_":   same(want{404, "USER_NOT_EXISTS", "OpenID不正确", wxpay.OutcomeInvalidUser}),
		"nomember_": same(want{403, "RULE_LIMIT", "用户未开通会员功能", wxpay.OutcomeInvalidUser}),
		"param_":    same(want{400, "PARAM_ERROR", "参数错误", wxpay.OutcomeInvalidRequest}),
		"daylimit_": same(want{403, "DAYLIMIT", "用户达到单天限领", wxpay.OutcomeUserDailyLimit}),
		"limited_": {
			{403, "REQUEST_BLOCKED", "用户被限领拦截", wxpay.OutcomeUserLimited},
			{400, "USER_RECEIVE_LIMIT", "用户领取限制", wxpay.OutcomeUserLimited},
		},
		"received_": same(want{400, "USER_ALREADY_RECEIVED", "用户已领取", wxpay.OutcomeUserLimited}),
		"noauth_": {
			{403, "REQUEST_BLOCKED", "商户无权发券", wxpay.OutcomeConfigError},
			{403, "NO_AUTH", "无权限", wxpay.OutcomeConfigError},
		},
		"noperm_": {
			{403, "REQUEST_BLOCKED", "调用商户无权限", wxpay.OutcomeConfigError},
			{403, "NO_AUTH", "无权限", wxpay.OutcomeConfigError},
		},
		"crossmch_": same(want{403, "REQUEST_BLOCKED", "批次不支持跨商户发券", wxpay.OutcomeConfigError}),
		"badmch_": {
			{400, "INVALID_REQUEST", "非法的商户号", wxpay.OutcomeConfigError},
			{400, "MCH_NOT_EXISTS", "商户号不存在", wxpay.OutcomeConfigError},
		},
		"appmismatch_": {
			{400, "APPID_MCHID_NOT_MATCH", "商户号与appid不匹配", wxpay.OutcomeConfigError},
			{400, "APPID_MCHID_NOT_MATCH", "AppID与请求方商户无关联关系", wxpay.OutcomeConfigError},
		},
		"badmode_": same(want{400, "INVALID_REQUEST", "发券模式不合法", wxpay.OutcomeConfigError}),
		"signerr_": same(want{401, "SIGN_ERROR", "错误的签名,验签失败", wxpay.OutcomeConfigError}),
		"busy_":    same(want{400, "INVALID_REQUEST", "调用频率过高", wxpay.OutcomeThrottled}),
		"throttle_": {
			{429, "FREQUENCY_LIMIT_EXCEED", "接口限频", wxpay.OutcomeThrottled},
			{429, "FREQUENCY_LIMITED", "请求过于频繁", wxpay.OutcomeThrottled},
		},
		"syserr_": same(want{500, "SYSTEM_ERROR", "系统异常,请稍后重试", wxpay.OutcomeUnknown}),
		"nobudget_": {
			{403, "NOT_ENOUGH", "批次预算不足", wxpay.OutcomeBudgetExhausted},
			{400, "STOCK_INSUFFICIENT", "批次库存不足", wxpay.OutcomeBudgetExhausted},
		},
		"notrunning_": {
			{400, "INVALID_REQUEST", "活动已结束或未激活", wxpay.OutcomeStockUnavailable},
			{400, "STOCK_STATE_ERROR", "批次状态错误", wxpay.OutcomeStockUnavailable},
		},
		"expired_": {
			{400, "INVALID_REQUEST", "活动已结束或未激活", wxpay.OutcomeStockUnavailable},
			{400, "STOCK_EXPIRED", "批次已过期", wxpay.OutcomeStockUnavailable},
		},
		"noproduct_": {
			{403, "RULE_LIMIT", "券批次未关联商品信息", wxpay.OutcomeStockUnavailable},
			{400, "STOCK_NO_PRODUCT", "批次未关联商品信息", wxpay.OutcomeStockUnavailable},
		},
		"weird_": same(want{400, "SIM_UNDOCUMENTED", "模拟器返回的未归类错误", wxpay.OutcomeUnclassified}),
	}
	b := setup(t, wxsim.Options{Stocks: []wxsim.StockSpec{
		{ID: "F", Budget: 1000}, {ID: "P", Kind: wxsim.KindProduct, Budget: 1000},
	}})
	for prefix, ws := range tests {
		for i, kind := range []wxsim.Kind{wxsim.KindFavor, wxsim.KindProduct} {
			t.Run(prefix+string(kind), func(t *testing.T) {
				t.Parallel()
				w := ws[i]
				stock := map[wxsim.Kind]string{wxsim.KindFavor: "F", wxsim.KindProduct: "P"}[kind]
				res, err := b.send(context.Background(), kind, stock, prefix+"x", "ORN-"+prefix)
				var apiErr *wxpay.APIError
				require.ErrorAs(t, err, &apiErr)
				require.Equal(t, w.status, apiErr.Status)
				require.Equal(t, w.code, apiErr.Code)
				require.Equal(t, w.message, apiErr.Message)
				require.Equal(t, w.outcome, wxpay.Classify(res, err))
			})
		}
	}
	t.Cleanup(func() { require.Empty(t, b.sim.Ledger(""), "no prefix issues a coupon") })
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		kind          wxsim.Kind
		code, message string
	}{
		{wxsim.KindFavor, "FREQUENCY_LIMIT_EXCEED", "接口限频"},
		{wxsim.KindProduct, "FREQUENCY_LIMITED", "请求过于频繁"},
	} {
		t.Run(string(tt.kind), func(t *testing.T) {
			t.Parallel()
			// A stopped clock never refills the bucket: one token, then 429s.
			clk := testutil.NewClock(time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC))
			b := setup(t, wxsim.Options{
				Stocks: []wxsim.StockSpec{{ID: "S", Kind: tt.kind, Budget: 100}},
				Limit:  1,
				Now:    clk.Now,
			})
			ctx := context.Background()
			_, err := b.send(ctx, tt.kind, "S", "u1", "ORN-1")
			require.NoError(t, err)

			res, err := b.send(ctx, tt.kind, "S", "u2", "ORN-2")
			var apiErr *wxpay.APIError
			require.ErrorAs(t, err, &apiErr)
			require.Equal(t, http.StatusTooManyRequests, apiErr.Status)
			require.Equal(t, tt.code, apiErr.Code)
			require.Equal(t, tt.message, apiErr.Message)
			require.Equal(t, wxpay.OutcomeThrottled, wxpay.Classify(res, err))
			require.Len(t, b.sim.Ledger(""), 1)

			clk.Advance(time.Second) // refills one token
			_, err = b.send(ctx, tt.kind, "S", "u2", "ORN-2")
			require.NoError(t, err)

			require.NoError(t, b.admin.SetLimit(ctx, 0))
			for i := range 5 {
				_, err := b.send(ctx, tt.kind, "S", fmt.Sprint("v", i), fmt.Sprint("ORN-v", i))
				require.NoError(t, err, "limit 0 is off")
			}
			require.NoError(t, b.admin.SetLimit(ctx, 2))
			got, err := b.admin.Limit(ctx)
			require.NoError(t, err)
			require.Equal(t, 2.0, got)

			st, err := b.admin.Stats(ctx)
			require.NoError(t, err)
			require.EqualValues(t, 1, st.Throttled)
			require.EqualValues(t, 7, st.Accepted)
			require.EqualValues(t, 1, st.Errors[tt.code])
			require.Equal(t, []wxsim.SecondStats{
				{Unix: clk.Now().Unix() - 1, Accepted: 1, Throttled: 1, Issued: 1},
				{Unix: clk.Now().Unix(), Accepted: 6, Issued: 6},
			}, st.PerSecond)
		})
	}
}

func TestSendValidation(t *testing.T) {
	t.Parallel()
	b := setup(t, wxsim.Options{Stocks: []wxsim.StockSpec{{ID: "F", Budget: 10}, {ID: "P", Kind: wxsim.KindProduct, Budget: 10}}})
	tests := []struct {
		name    string
		uri     string
		body    any
		message string
	}{
		{"favor without stock", favorPath("u"), map[string]any{"out_request_no": "a", "appid": b.keys.AppID, "stock_creator_mchid": b.keys.MchID}, "批次号必填"},
		{"favor without appid", favorPath("u"), map[string]any{"stock_id": "F", "out_request_no": "a", "stock_creator_mchid": b.keys.MchID}, "appid必填"},
		{"favor without creator", favorPath("u"), map[string]any{"stock_id": "F", "out_request_no": "a", "appid": b.keys.AppID}, "商户号必填"},
		{"favor bad out_request_no", favorPath("u"), map[string]any{"stock_id": "F", "out_request_no": "a b", "appid": b.keys.AppID, "stock_creator_mchid": b.keys.MchID}, "商户单据号不合法"},
		{"favor bad json", favorPath("u"), []byte(`{"stock_id":`), "请求体不是合法的JSON"},
		{"product without openid", wxpay.PathProductSend, map[string]any{"appid": b.keys.AppID, "stock_id": "P", "out_request_no": "a", "coupon_type": "NORMAL"}, "openid必填"},
		{"product member without card", wxpay.PathProductSend, map[string]any{"openid": "u", "appid": b.keys.AppID, "stock_id": "P", "out_request_no": "a", "coupon_type": "MEMBER"}, "会员券必须填写member_card_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := b.signedCall(t, http.MethodPost, tt.uri, tt.body)
			require.Equal(t, http.StatusBadRequest, a.status, "%s", a.body)
			b.verified(t, a)
			code, msg, _ := a.errorBody(t)
			require.Equal(t, "PARAM_ERROR", code)
			require.Equal(t, tt.message, msg)
		})
	}

	t.Run("foreign appid", func(t *testing.T) {
		t.Parallel()
		a := b.signedCall(t, http.MethodPost, favorPath("u"), map[string]any{
			"stock_id": "F", "out_request_no": "app1", "appid": "wx0000", "stock_creator_mchid": b.keys.MchID,
		})
		require.Equal(t, http.StatusBadRequest, a.status)
		code, _, _ := a.errorBody(t)
		require.Equal(t, "APPID_MCHID_NOT_MATCH", code)
	})
}

// TestConcurrentReplays sends one out_request_no from many goroutines: one
// coupon, one id.
func TestConcurrentReplays(t *testing.T) {
	t.Parallel()
	b := setup(t, wxsim.Options{
		Stocks:     []wxsim.StockSpec{{ID: "F", Budget: 100}},
		LedgerPath: t.TempDir() + "/ledger.jsonl",
	})
	const n = 16
	ids := make(chan string, n)
	errs := make(chan error, n)
	for range n {
		go func() {
			res, err := b.send(context.Background(), wxsim.KindFavor, "F", "same", "ORN-same")
			if err != nil {
				errs <- err
				return
			}
			ids <- res.CouponID
		}()
	}
	var first string
	for range n {
		select {
		case id := <-ids:
			if first == "" {
				first = id
			}
			require.Equal(t, first, id)
		case err := <-errs:
			require.NoError(t, err)
		case <-time.After(30 * time.Second): // deadlock guard
			t.Fatal("sends did not finish")
		}
	}
	require.Len(t, b.sim.Ledger(""), 1)
}
