package wxpay_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/pem"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/wxpay"
)

type testBundle struct {
	k      testKeys
	wx     *fakeWX
	client *wxpay.Client
}

func setup(t testing.TB, reply func(r *http.Request, body []byte) fakeReply, edit ...func(*wxpay.Options)) *testBundle {
	t.Helper()
	k := loadTestKeys(t)
	wx := newFakeWX(t, k, reply)
	o := wxpay.Options{
		BaseURL:  wx.srv.URL,
		MchID:    testMchID,
		AppID:    testAppID,
		Signer:   k.signer(),
		Verifier: k.verifier(),
		Timeout:  5 * time.Second,
	}
	for _, e := range edit {
		e(&o)
	}
	c, err := wxpay.New(o)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return &testBundle{k: k, wx: wx, client: c}
}

func answer(body string) func(*http.Request, []byte) fakeReply {
	return func(*http.Request, []byte) fakeReply { return fakeReply{body: body} }
}

func TestClientEndpoints(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := []struct {
		name     string
		call     func(c *wxpay.Client) (any, error)
		method   string
		uri      string
		body     string // expected request JSON, "" for none
		answer   string
		expected any
	}{
		{
			name: "send favor",
			call: func(c *wxpay.Client) (any, error) {
				return c.SendFavor(ctx, wxpay.FavorSendRequest{OpenID: "o4GgauInH_RCEdvrrNGrntXDu6D4", StockID: "9856000", OutRequestNo: "89560002019101000121"})
			},
			method: "POST", uri: "/v3/marketing/favor/users/o4GgauInH_RCEdvrrNGrntXDu6D4/coupons",
			body:   `{"stock_id":"9856000","out_request_no":"89560002019101000121","appid":"wx233544546545989","stock_creator_mchid":"1900000109"}`,
			answer: `{"coupon_id":"9867041"}`,
			expected: wxpay.SendResult{Kind: wxpay.KindFavor, StockID: "9856000", OutRequestNo: "89560002019101000121", Status: 200,
				RequestID: "08F78BB5AF0610D302A3F2FE0128B70F00000000", CouponID: "9867041"},
		},
		{
			name: "send favor with face value",
			call: func(c *wxpay.Client) (any, error) {
				return c.SendFavor(ctx, wxpay.FavorSendRequest{OpenID: "o1", StockID: "9856000", OutRequestNo: "r1", AppID: "wxother", StockCreatorMchID: "8956000", CouponValue: 100, CouponMinimum: 100})
			},
			method: "POST", uri: "/v3/marketing/favor/users/o1/coupons",
			body:     `{"stock_id":"9856000","out_request_no":"r1","appid":"wxother","stock_creator_mchid":"8956000","coupon_value":100,"coupon_minimum":100}`,
			answer:   `{"coupon_id":"1"}`,
			expected: wxpay.SendResult{Kind: wxpay.KindFavor, StockID: "9856000", OutRequestNo: "r1", Status: 200, RequestID: "08F78BB5AF0610D302A3F2FE0128B70F00000000", CouponID: "1"},
		},
		{
			name: "send product",
			call: func(c *wxpay.Client) (any, error) {
				return c.SendProduct(ctx, wxpay.ProductSendRequest{OpenID: "xsd3434454567676", StockID: "12312354", OutRequestNo: "2335465"})
			},
			method: "POST", uri: "/v3/marketing/busifavor/product-coupons/send",
			body:   `{"openid":"xsd3434454567676","appid":"wx233544546545989","stock_id":"12312354","out_request_no":"2335465","coupon_type":"NORMAL"}`,
			answer: `{"send_coupon_result":{"stock_id":"12312354","out_request_no":"2335465","coupon_code":"2312323"}}`,
			expected: wxpay.SendResult{Kind: wxpay.KindProduct, StockID: "12312354", OutRequestNo: "2335465", Status: 200,
				RequestID: "08F78BB5AF0610D302A3F2FE0128B70F00000000", CouponID: "2312323"},
		},
		{
			name: "send member product coupon with code",
			call: func(c *wxpay.Client) (any, error) {
				return c.SendProduct(ctx, wxpay.ProductSendRequest{OpenID: "o", StockID: "s", OutRequestNo: "r", CouponCode: "202007019999", CouponType: "MEMBER", MemberCardID: "pbLatjvWOibDc5-TBnbUk1pD12o0"})
			},
			method: "POST", uri: "/v3/marketing/busifavor/product-coupons/send",
			body:   `{"openid":"o","appid":"wx233544546545989","stock_id":"s","out_request_no":"r","coupon_code":"202007019999","coupon_type":"MEMBER","member_card_id":"pbLatjvWOibDc5-TBnbUk1pD12o0"}`,
			answer: `{"send_coupon_result":{"stock_id":"s","out_request_no":"r","coupon_code":"202007019999"}}`,
			expected: wxpay.SendResult{Kind: wxpay.KindProduct, StockID: "s", OutRequestNo: "r", Status: 200,
				RequestID: "08F78BB5AF0610D302A3F2FE0128B70F00000000", CouponID: "202007019999"},
		},
		{
			name: "create stock",
			call: func(c *wxpay.Client) (any, error) {
				return c.CreateStock(ctx, wxpay.CreateStockRequest{
					StockName: "GD测批次4", Comment: "验证活动",
					AvailableBeginTime: "2020-02-13T18:00:00.120+08:00", AvailableEndTime: "2020-02-20T23:59:59.120+08:00",
					StockUseRule:  wxpay.StockUseRule{MaxCoupons: 10, MaxAmount: 100, MaxCouponsPerUser: 10},
					CouponUseRule: wxpay.CouponUseRule{FixedNormalCoupon: &wxpay.FixedNormalCoupon{CouponAmount: 10, TransactionMinimum: 10}, AvailableMerchants: []string{"209784532"}},
					OutRequestNo:  "207662xxxxxx",
				})
			},
			method: "POST", uri: "/v3/marketing/favor/coupon-stocks",
			body:     `{"stock_name":"GD测批次4","comment":"验证活动","belong_merchant":"1900000109","available_begin_time":"2020-02-13T18:00:00.120+08:00","available_end_time":"2020-02-20T23:59:59.120+08:00","stock_use_rule":{"max_coupons":10,"max_amount":100,"max_coupons_per_user":10,"natural_person_limit":false,"prevent_api_abuse":false},"coupon_use_rule":{"fixed_normal_coupon":{"coupon_amount":10,"transaction_minimum":10},"available_merchants":["209784532"]},"no_cash":false,"stock_type":"NORMAL","out_request_no":"207662xxxxxx"}`,
			answer:   `{"stock_id":"9856000","create_time":"2015-05-20T13:29:35.120+08:00"}`,
			expected: &wxpay.CreateStockResult{StockID: "9856000", CreateTime: "2015-05-20T13:29:35.120+08:00"},
		},
		{
			name:   "start stock",
			call:   func(c *wxpay.Client) (any, error) { return c.StartStock(ctx, "9856000", "8956000") },
			method: "POST", uri: "/v3/marketing/favor/stocks/9856000/start",
			body:     `{"stock_creator_mchid":"8956000"}`,
			answer:   `{"stock_id":"9856000","start_time":"2015-05-20T13:29:35.120+08:00"}`,
			expected: &wxpay.StockAction{StockID: "9856000", Time: "2015-05-20T13:29:35.120+08:00"},
		},
		{
			name:   "pause stock",
			call:   func(c *wxpay.Client) (any, error) { return c.PauseStock(ctx, "9856000", "") },
			method: "POST", uri: "/v3/marketing/favor/stocks/9856000/pause",
			body:     `{"stock_creator_mchid":"1900000109"}`,
			answer:   `{"stock_id":"9856000","pause_time":"2015-05-20T13:29:35.120+08:00"}`,
			expected: &wxpay.StockAction{StockID: "9856000", Time: "2015-05-20T13:29:35.120+08:00"},
		},
		{
			name:   "restart stock",
			call:   func(c *wxpay.Client) (any, error) { return c.RestartStock(ctx, "9856000", "") },
			method: "POST", uri: "/v3/marketing/favor/stocks/9856000/restart",
			body:     `{"stock_creator_mchid":"1900000109"}`,
			answer:   `{"stock_id":"9856000","restart_time":"2015-05-20T13:29:35.120+08:00"}`,
			expected: &wxpay.StockAction{StockID: "9856000", Time: "2015-05-20T13:29:35.120+08:00"},
		},
		{
			name:   "query stock",
			call:   func(c *wxpay.Client) (any, error) { return c.QueryStock(ctx, "9856888", "123456") },
			method: "GET", uri: "/v3/marketing/favor/stocks/9856888?stock_creator_mchid=123456",
			answer: `{"stock_id":"9856888","stock_creator_mchid":"123456","stock_name":"微信支付批次","status":"running","create_time":"2015-05-20T13:29:35.120+08:00","description":"微信支付营销","stock_use_rule":{"max_coupons":100,"max_amount":5000,"max_amount_by_day":400,"fixed_normal_coupon":{"coupon_amount":50,"transaction_minimum":100},"max_coupons_per_user":3,"coupon_type":"NORMAL","goods_tag":["123321"],"trade_type":["OTHER"],"combine_use":false},"available_begin_time":"2015-05-20T13:29:35.120+08:00","available_end_time":"2015-05-20T13:29:35.120+08:00","distributed_coupons":100,"no_cash":false,"start_time":"2015-05-20T13:29:35.120+08:00","stop_time":"2015-05-20T13:29:35.120+08:00","singleitem":false,"stock_type":"NORMAL"}`,
			expected: &wxpay.Stock{StockID: "9856888", StockCreatorMchID: "123456", StockName: "微信支付批次", Status: "running",
				CreateTime: "2015-05-20T13:29:35.120+08:00", Description: "微信支付营销",
				StockUseRule: &wxpay.StockUseRule{MaxCoupons: 100, MaxAmount: 5000, MaxAmountByDay: 400, MaxCouponsPerUser: 3,
					FixedNormalCoupon: &wxpay.FixedNormalCoupon{CouponAmount: 50, TransactionMinimum: 100}, CouponType: "NORMAL",
					GoodsTag: []string{"123321"}, TradeType: []string{"OTHER"}},
				AvailableBeginTime: "2015-05-20T13:29:35.120+08:00", AvailableEndTime: "2015-05-20T13:29:35.120+08:00",
				DistributedCoupons: 100, StartTime: "2015-05-20T13:29:35.120+08:00", StopTime: "2015-05-20T13:29:35.120+08:00", StockType: "NORMAL"},
		},
		{
			name: "list stocks",
			call: func(c *wxpay.Client) (any, error) {
				return c.ListStocks(ctx, wxpay.ListStocksRequest{Offset: 1, Limit: 10, StockCreatorMchID: "9856888",
					CreateStartTime: "2015-05-20T13:29:35.120+08:00", CreateEndTime: "2015-05-20T13:29:35.120+08:00", Status: "paused"})
			},
			method: "GET", uri: "/v3/marketing/favor/stocks?create_end_time=2015-05-20T13%3A29%3A35.120%2B08%3A00&create_start_time=2015-05-20T13%3A29%3A35.120%2B08%3A00&limit=10&offset=1&status=paused&stock_creator_mchid=9856888",
			answer:   `{"total_count":1,"limit":10,"offset":1,"data":[{"stock_id":"9856888","status":"paused"}]}`,
			expected: &wxpay.StockList{TotalCount: 1, Limit: 10, Offset: 1, Data: []wxpay.Stock{{StockID: "9856888", Status: "paused"}}},
		},
		{
			name: "query coupon",
			call: func(c *wxpay.Client) (any, error) {
				return c.QueryCoupon(ctx, "o4GgauInH_RCEdvrrNGrntXDu6D4", "985688", "")
			},
			method: "GET", uri: "/v3/marketing/favor/users/o4GgauInH_RCEdvrrNGrntXDu6D4/coupons/985688?appid=wx233544546545989",
			answer: `{"stock_creator_mchid":"9856888","stock_id":"9856000","coupon_id":"985688","coupon_name":"微信支付代金券","status":"USED","create_time":"2019-12-07T13:29:35.120+08:00","coupon_type":"NORMAL","normal_coupon_information":{"coupon_amount":100,"transaction_minimum":100},"consume_information":{"consume_time":"2019-12-07T13:29:35.120+08:00","consume_mchid":"9856888","transaction_id":"4200000523202003118425213470"}}`,
			expected: &wxpay.Coupon{StockCreatorMchID: "9856888", StockID: "9856000", CouponID: "985688", CouponName: "微信支付代金券", Status: "USED",
				CreateTime: "2019-12-07T13:29:35.120+08:00", CouponType: "NORMAL",
				NormalCouponInformation: &wxpay.NormalCouponInformation{CouponAmount: 100, TransactionMinimum: 100},
				ConsumeInformation:      &wxpay.ConsumeInformation{ConsumeTime: "2019-12-07T13:29:35.120+08:00", ConsumeMchID: "9856888", TransactionID: "4200000523202003118425213470"}},
		},
		{
			name:   "use flow",
			call:   func(c *wxpay.Client) (any, error) { return c.UseFlow(ctx, "9865000") },
			method: "GET", uri: "/v3/marketing/favor/stocks/9865000/use-flow",
			answer:   `{"url":"https://api.mch.weixin.qq.com/v3/billdownload/file?token=xx","hash_type":"SHA1","hash_value":"8ae9f9ce1ad2fd6ba5e8b1f0d0d0e9e2b5d3a1c9"}`,
			expected: &wxpay.FlowDownload{URL: "https://api.mch.weixin.qq.com/v3/billdownload/file?token=xx", HashType: "SHA1", HashValue: "8ae9f9ce1ad2fd6ba5e8b1f0d0d0e9e2b5d3a1c9"},
		},
		{
			name:   "refund flow",
			call:   func(c *wxpay.Client) (any, error) { return c.RefundFlow(ctx, "9865000") },
			method: "GET", uri: "/v3/marketing/favor/stocks/9865000/refund-flow",
			answer:   `{"url":"https://api.mch.weixin.qq.com/v3/billdownload/file?token=yy","hash_type":"SHA1","hash_value":"8ae9f9ce1ad2fd6ba5e8b1f0d0d0e9e2b5d3a1c9"}`,
			expected: &wxpay.FlowDownload{URL: "https://api.mch.weixin.qq.com/v3/billdownload/file?token=yy", HashType: "SHA1", HashValue: "8ae9f9ce1ad2fd6ba5e8b1f0d0d0e9e2b5d3a1c9"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, answer(tc.answer))
			got, err := tc.call(b.client)
			require.NoError(t, err)
			require.Equal(t, tc.expected, got)

			reqs := b.wx.requests()
			require.Len(t, reqs, 1)
			r := reqs[0]
			require.Equal(t, tc.method, r.method)
			require.Equal(t, tc.uri, r.uri)
			if tc.body == "" {
				require.Empty(t, r.body)
			} else {
				require.JSONEq(t, tc.body, string(r.body))
				require.Equal(t, "application/json", r.header.Get("Content-Type"))
			}
			require.Equal(t, "application/json", r.header.Get("Accept"))
			require.Equal(t, testPublicKeyID, r.header.Get("Wechatpay-Serial"))
			require.Equal(t, wxpay.DefaultUserAgent, r.header.Get("User-Agent"))
			require.True(t, strings.HasPrefix(r.header.Get("Authorization"), "WECHATPAY2-SHA256-RSA2048 mchid=\"1900000109\","))
		})
	}
}

func TestClientRejectsUnauthenticated2xx(t *testing.T) {
	t.Parallel()
	const body = `{"coupon_id":"9867041"}`
	cases := map[string]fakeReply{
		"unsigned":       {body: body, unsigned: true},
		"tampered":       {body: body, header: func(h http.Header) { h.Set("Wechatpay-Nonce", "tampered") }},
		"unknown serial": {body: body, header: func(h http.Header) { h.Set("Wechatpay-Serial", "PUB_KEY_ID_OTHER") }},
		"stale":          {body: body, signAt: time.Now().Add(-6 * time.Minute)},
		"probe": {body: body, header: func(h http.Header) {
			h.Set("Wechatpay-Signature", wxpay.SignatureProbePrefix+h.Get("Wechatpay-Signature"))
		}},
	}
	for name, rep := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(*http.Request, []byte) fakeReply { return rep })
			res, err := b.client.SendFavor(context.Background(), wxpay.FavorSendRequest{OpenID: "o", StockID: "s", OutRequestNo: "r"})
			require.ErrorIs(t, err, wxpay.ErrSignature)
			require.Empty(t, res.CouponID, "an unauthenticated coupon id is not trusted")
			require.Equal(t, 200, res.Status)
			require.Equal(t, wxpay.OutcomeUnknown, wxpay.Classify(res, err))
		})
	}
}

func TestClientErrorAnswers(t *testing.T) {
	t.Parallel()
	send := func(c *wxpay.Client) (wxpay.SendResult, error) {
		return c.SendFavor(context.Background(), wxpay.FavorSendRequest{OpenID: "o", StockID: "s", OutRequestNo: "r"})
	}

	t.Run("signed business error", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(*http.Request, []byte) fakeReply {
			return fakeReply{status: 403, body: `{"code":"NOT_ENOUGH","message":"批次预算不足","detail":{"field":"stock_id"}}`}
		})
		res, err := send(b.client)
		var apiErr *wxpay.APIError
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, 403, apiErr.Status)
		require.Equal(t, "NOT_ENOUGH", apiErr.Code)
		require.Equal(t, "批次预算不足", apiErr.Message)
		require.JSONEq(t, `{"field":"stock_id"}`, string(apiErr.Detail))
		require.Equal(t, "08F78BB5AF0610D302A3F2FE0128B70F00000000", apiErr.RequestID)
		require.Equal(t, 403, res.Status)
		require.Equal(t, wxpay.OutcomeBudgetExhausted, wxpay.Classify(res, err))
		require.NotErrorIs(t, err, wxpay.ErrTransport)
		require.NotErrorIs(t, err, wxpay.ErrSignature)
	})
	t.Run("unsigned throttle", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(*http.Request, []byte) fakeReply {
			return fakeReply{status: 429, unsigned: true, body: `{"code":"FREQUENCY_LIMITED","message":"频率限制"}`}
		})
		res, err := send(b.client)
		require.Equal(t, wxpay.OutcomeThrottled, wxpay.Classify(res, err))
	})
	t.Run("gateway html", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(*http.Request, []byte) fakeReply {
			return fakeReply{status: 502, unsigned: true, body: "<html><body>502 Bad Gateway</body></html>"}
		})
		res, err := send(b.client)
		var apiErr *wxpay.APIError
		require.ErrorAs(t, err, &apiErr)
		require.Contains(t, apiErr.Message, "502 Bad Gateway")
		require.Equal(t, wxpay.OutcomeUnknown, wxpay.Classify(res, err))
	})
	t.Run("forged error cannot skip a recipient", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(*http.Request, []byte) fakeReply {
			return fakeReply{status: 403, body: `{"code":"USER_ACCOUNT_ABNORMAL","message":"用户非法"}`,
				header: func(h http.Header) { h.Set("Wechatpay-Timestamp", "1") }}
		})
		res, err := send(b.client)
		require.ErrorIs(t, err, wxpay.ErrSignature)
		require.Equal(t, wxpay.OutcomeUnknown, wxpay.Classify(res, err))
	})
	t.Run("our signature refused", func(t *testing.T) {
		t.Parallel()
		b := setup(t, answer(`{}`), func(o *wxpay.Options) {
			other := *o.Signer
			other.Key = loadTestKeys(t).platform
			o.Signer = &other
		})
		res, err := send(b.client)
		var apiErr *wxpay.APIError
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, "SIGN_ERROR", apiErr.Code)
		require.Equal(t, wxpay.OutcomeConfigError, wxpay.Classify(res, err))
	})
	t.Run("malformed 2xx", func(t *testing.T) {
		t.Parallel()
		for _, body := range []string{`{}`, `not json`, `{"coupon_id":""}`} {
			b := setup(t, answer(body))
			res, err := send(b.client)
			require.ErrorIs(t, err, wxpay.ErrMalformedResponse, body)
			require.Equal(t, wxpay.OutcomeUnknown, wxpay.Classify(res, err), body)
		}
		b := setup(t, answer(`{"send_coupon_result":{"stock_id":"s","out_request_no":"other","coupon_code":"c"}}`))
		res, err := b.client.SendProduct(context.Background(), wxpay.ProductSendRequest{OpenID: "o", StockID: "s", OutRequestNo: "r"})
		require.ErrorIs(t, err, wxpay.ErrMalformedResponse, "answer for another out_request_no")
		require.Equal(t, wxpay.OutcomeUnknown, wxpay.Classify(res, err))
	})
	t.Run("flow not ready", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(*http.Request, []byte) fakeReply {
			return fakeReply{status: 404, body: `{"code":"RESOURCE_NOT_EXISTS","message":"账单文件不存在"}`}
		})
		_, err := b.client.UseFlow(context.Background(), "9865000")
		require.True(t, wxpay.IsNotFound(err))
	})
}

func TestClientRefusesBeforeSending(t *testing.T) {
	t.Parallel()
	b := setup(t, answer(`{"coupon_id":"1"}`))
	ctx := context.Background()
	for name, req := range map[string]wxpay.FavorSendRequest{
		"bad out_request_no": {OpenID: "o", StockID: "s", OutRequestNo: "has space"},
		"no openid":          {StockID: "s", OutRequestNo: "r"},
		"no stock":           {OpenID: "o", OutRequestNo: "r"},
	} {
		res, err := b.client.SendFavor(ctx, req)
		require.ErrorIs(t, err, wxpay.ErrInvalidRequest, name)
		require.Equal(t, wxpay.OutcomeInvalidRequest, wxpay.Classify(res, err), name)
	}
	_, err := b.client.SendProduct(ctx, wxpay.ProductSendRequest{OpenID: "o", StockID: "s", OutRequestNo: "r", CouponType: "MEMBER"})
	require.ErrorIs(t, err, wxpay.ErrInvalidRequest)
	require.Empty(t, b.wx.requests())
}

func TestClientFlowMetadataSignatureOptional(t *testing.T) {
	t.Parallel()
	const meta = `{"url":"https://api.mch.weixin.qq.com/v3/billdownload/file?token=xx","hash_type":"SHA1","hash_value":"8ae9f9ce1ad2fd6ba5e8b1f0d0d0e9e2b5d3a1c9"}`
	b := setup(t, func(*http.Request, []byte) fakeReply { return fakeReply{body: meta, unsigned: true} })
	_, err := b.client.RefundFlow(context.Background(), "9865000")
	require.NoError(t, err, "documented as unsigned")
	_, err = b.client.QueryStock(context.Background(), "9865000", "")
	require.ErrorIs(t, err, wxpay.ErrSignature, "other endpoints must be signed")

	b = setup(t, func(*http.Request, []byte) fakeReply {
		return fakeReply{body: meta, header: func(h http.Header) { h.Set("Wechatpay-Serial", "PUB_KEY_ID_OTHER") }}
	})
	_, err = b.client.UseFlow(context.Background(), "9865000")
	require.ErrorIs(t, err, wxpay.ErrSignature, "a signature, when present, must verify")

	b = setup(t, func(*http.Request, []byte) fakeReply {
		return fakeReply{body: `{"url":"x","hash_type":"MD5","hash_value":"00"}`}
	})
	_, err = b.client.UseFlow(context.Background(), "9865000")
	require.ErrorIs(t, err, wxpay.ErrMalformedResponse)
}

// refusedURL is an address nothing listens on.
func refusedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return "http://" + addr
}

func TestClientFailover(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	req := wxpay.FavorSendRequest{OpenID: "o", StockID: "s", OutRequestNo: "r"}

	t.Run("connection refused moves to the backup domain", func(t *testing.T) {
		t.Parallel()
		var logs bytes.Buffer
		down := refusedURL(t)
		b := setup(t, answer(`{"coupon_id":"1"}`), func(o *wxpay.Options) {
			o.BackupBaseURL = o.BaseURL
			o.BaseURL = down
			o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		})
		res, err := b.client.SendFavor(ctx, req)
		require.NoError(t, err)
		require.Equal(t, wxpay.OutcomeIssued, wxpay.Classify(res, err))
		require.Equal(t, 1, strings.Count(logs.String(), "failing over"))

		// While the primary cools down, calls start on the backup.
		_, err = b.client.SendFavor(ctx, req)
		require.NoError(t, err)
		require.Equal(t, 1, strings.Count(logs.String(), "failing over"))
		require.Len(t, b.wx.requests(), 2)
	})

	t.Run("both domains down", func(t *testing.T) {
		t.Parallel()
		k := loadTestKeys(t)
		c, err := wxpay.New(wxpay.Options{BaseURL: refusedURL(t), BackupBaseURL: refusedURL(t), MchID: testMchID, AppID: testAppID,
			Signer: k.signer(), Verifier: k.verifier()})
		require.NoError(t, err)
		res, err := c.SendFavor(ctx, req)
		require.ErrorIs(t, err, wxpay.ErrTransport)
		var te *wxpay.TransportError
		require.ErrorAs(t, err, &te)
		require.False(t, te.MaybeSent, "no connection, so nothing was sent")
		require.Equal(t, wxpay.OutcomeUnknown, wxpay.Classify(res, err))
	})

	t.Run("no failover once the request may have been sent", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		hang := setup(t, func(r *http.Request, _ []byte) fakeReply {
			return fakeReply{raw: func(http.ResponseWriter, *http.Request) {
				select {
				case <-r.Context().Done():
				case <-release:
				}
			}}
		})
		backup := newFakeWX(t, hang.k, answer(`{"coupon_id":"1"}`))
		c, err := wxpay.New(wxpay.Options{BaseURL: hang.wx.srv.URL, BackupBaseURL: backup.srv.URL, MchID: testMchID, AppID: testAppID,
			Signer: hang.k.signer(), Verifier: hang.k.verifier(), Timeout: 100 * time.Millisecond})
		require.NoError(t, err)
		res, err := c.SendFavor(ctx, req)
		require.ErrorIs(t, err, wxpay.ErrTransport)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		var te *wxpay.TransportError
		require.ErrorAs(t, err, &te)
		require.True(t, te.MaybeSent)
		require.Equal(t, wxpay.OutcomeUnknown, wxpay.Classify(res, err))
		require.Empty(t, backup.requests(), "a possibly delivered send is retried by the caller, not elsewhere")
	})
}

func TestClientConnectionReset(t *testing.T) {
	t.Parallel()
	b := setup(t, func(*http.Request, []byte) fakeReply {
		return fakeReply{raw: func(w http.ResponseWriter, _ *http.Request) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				panic(err)
			}
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // RST, not FIN
			}
			conn.Close()
		}}
	})
	res, err := b.client.SendFavor(context.Background(), wxpay.FavorSendRequest{OpenID: "o", StockID: "s", OutRequestNo: "r"})
	require.ErrorIs(t, err, wxpay.ErrTransport)
	require.Equal(t, wxpay.OutcomeUnknown, wxpay.Classify(res, err))
}

func TestClientContextCancelled(t *testing.T) {
	t.Parallel()
	b := setup(t, answer(`{"coupon_id":"1"}`))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := b.client.SendFavor(ctx, wxpay.FavorSendRequest{OpenID: "o", StockID: "s", OutRequestNo: "r"})
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, err, wxpay.ErrTransport)
	require.Equal(t, wxpay.OutcomeUnknown, wxpay.Classify(res, err))
}

// chunkWriter records how the download arrived.
type chunkWriter struct {
	bytes.Buffer
	writes int
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

func TestClientDownload(t *testing.T) {
	t.Parallel()
	file := bytes.Repeat([]byte("`9856000,`98674556,`全场代金券,`10.00,`100.00,`支付,`4200000523202003118425213470,`2020-03-11 14:31:59,`1900000109,\"\",\"\",\"\"\r\n"), 40000)
	sum := sha1.Sum(file)
	b := setup(t, func(r *http.Request, _ []byte) fakeReply {
		if r.URL.Path == "/v3/billdownload/file" {
			if r.URL.Query().Get("token") != "abc" {
				return fakeReply{status: 400, body: `{"code":"PARAM_ERROR","message":"token 无效"}`}
			}
			return fakeReply{raw: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/octet-stream")
				_, _ = w.Write(file)
			}}
		}
		return fakeReply{status: 404}
	})
	ctx := context.Background()
	url := b.wx.srv.URL + "/v3/billdownload/file?token=abc"

	var w chunkWriter
	n, err := b.client.Download(ctx, url, &w, hex.EncodeToString(sum[:]))
	require.NoError(t, err)
	require.Equal(t, int64(len(file)), n)
	require.True(t, bytes.Equal(file, w.Bytes()))
	require.Greater(t, w.writes, 1, "streamed, not buffered")
	reqs := b.wx.requests()
	require.Equal(t, "/v3/billdownload/file?token=abc", reqs[0].uri, "signed GET of path and query")
	require.Empty(t, reqs[0].body)

	_, err = b.client.Download(ctx, url, &chunkWriter{}, strings.Repeat("0", 40))
	require.ErrorIs(t, err, wxpay.ErrChecksum)

	_, err = b.client.Download(ctx, "https://evil.example/v3/billdownload/file?token=abc", &chunkWriter{}, hex.EncodeToString(sum[:]))
	require.ErrorIs(t, err, wxpay.ErrInvalidRequest, "signed requests go to WeChat Pay only")

	_, err = b.client.Download(ctx, url, &chunkWriter{}, "not-a-sha1")
	require.ErrorIs(t, err, wxpay.ErrInvalidRequest)

	_, err = b.client.Download(ctx, b.wx.srv.URL+"/v3/billdownload/file?token=old", &chunkWriter{}, hex.EncodeToString(sum[:]))
	var apiErr *wxpay.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, "PARAM_ERROR", apiErr.Code)
}

func TestLoadOptions(t *testing.T) {
	t.Parallel()
	k := loadTestKeys(t)
	wx := newFakeWX(t, k, answer(`{"coupon_id":"1"}`))
	send := func(t *testing.T, o wxpay.Options) {
		t.Helper()
		o.BaseURL = wx.srv.URL
		c, err := wxpay.New(o)
		require.NoError(t, err)
		res, err := c.SendFavor(context.Background(), wxpay.FavorSendRequest{OpenID: "o", StockID: "s", OutRequestNo: "r"})
		require.NoError(t, err)
		require.Equal(t, "1", res.CouponID)
	}

	t.Run("public key mode", func(t *testing.T) {
		t.Parallel()
		o, err := wxpay.LoadOptions(wxpay.KeyFiles{
			MchID: testMchID, AppID: testAppID, CertSerialNo: testCertSerial,
			PrivateKeyFile: filepath.Join("testdata", "merchant_key.pem"),
			PublicKeyID:    testPublicKeyID, PublicKeyFile: filepath.Join("testdata", "platform_pub.pem"),
		})
		require.NoError(t, err)
		require.Equal(t, testPublicKeyID, o.PublicKeyID)
		send(t, o)
	})

	t.Run("platform certificate mode", func(t *testing.T) {
		t.Parallel()
		// The answers are re-signed under the certificate's serial.
		cert := platformCert(t, k, 0x5157F09E, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
		path := filepath.Join(t.TempDir(), "wechatpay_cert.pem")
		require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600))
		o, err := wxpay.LoadOptions(wxpay.KeyFiles{
			MchID: testMchID, AppID: testAppID, CertSerialNo: testCertSerial,
			PrivateKeyFile:    filepath.Join("testdata", "merchant_key.pem"),
			PlatformCertFiles: []string{path},
		})
		require.NoError(t, err)
		require.Equal(t, "5157F09E", o.PublicKeyID)

		body := `{"coupon_id":"7"}`
		srv := newFakeWX(t, k, func(*http.Request, []byte) fakeReply {
			return fakeReply{body: body, header: func(h http.Header) {
				if err := wxpay.SignResponse(h, k.platform, "5157F09E", []byte(body), time.Now(), ""); err != nil {
					panic(err)
				}
			}}
		})
		o.BaseURL = srv.srv.URL
		c, err := wxpay.New(o)
		require.NoError(t, err)
		res, err := c.SendFavor(context.Background(), wxpay.FavorSendRequest{OpenID: "o", StockID: "s", OutRequestNo: "r"})
		require.NoError(t, err)
		require.Equal(t, "7", res.CouponID)
		require.Equal(t, "5157F09E", srv.requests()[0].header.Get("Wechatpay-Serial"))
	})

	t.Run("incomplete", func(t *testing.T) {
		t.Parallel()
		for name, f := range map[string]wxpay.KeyFiles{
			"no private key": {MchID: testMchID, CertSerialNo: testCertSerial},
			"no verifier":    {MchID: testMchID, CertSerialNo: testCertSerial, PrivateKeyFile: filepath.Join("testdata", "merchant_key.pem")},
			"id without key": {MchID: testMchID, CertSerialNo: testCertSerial, PrivateKeyFile: filepath.Join("testdata", "merchant_key.pem"), PublicKeyID: testPublicKeyID},
			"missing file":   {MchID: testMchID, CertSerialNo: testCertSerial, PrivateKeyFile: "nope.pem", PublicKeyID: testPublicKeyID, PublicKeyFile: "nope.pem"},
		} {
			_, err := wxpay.LoadOptions(f)
			require.Error(t, err, name)
		}
	})
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	k := loadTestKeys(t)
	for name, o := range map[string]wxpay.Options{
		"no mchid":    {Signer: k.signer(), Verifier: k.verifier()},
		"no signer":   {MchID: testMchID, Verifier: k.verifier()},
		"no verifier": {MchID: testMchID, Signer: k.signer()},
		"bad url":     {MchID: testMchID, Signer: k.signer(), Verifier: k.verifier(), BaseURL: "ftp://x"},
	} {
		_, err := wxpay.New(o)
		require.Error(t, err, name)
	}
	c, err := wxpay.New(wxpay.Options{MchID: testMchID, Signer: k.signer(), Verifier: k.verifier()})
	require.NoError(t, err)
	require.Equal(t, testMchID, c.MchID())
}
