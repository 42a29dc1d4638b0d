package wxpay_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/wxpay"
)

func TestPluginSignSeedVectors(t *testing.T) {
	t.Parallel()
	// The seed's example strings (with its line breaks removed), the
	// parameters they come from, and HMAC-SHA256 computed by
	// `openssl dgst -sha256 -hmac xxxxx`.
	cases := []struct {
		name    string
		coupons []wxpay.PluginCoupon
		str     string
		openssl string
	}{
		{
			name:    "one coupon",
			coupons: []wxpay.PluginCoupon{{StockID: "1234567", OutRequestNo: "abc123"}},
			str:     "out_request_no0=abc123&send_coupon_merchant=10016226&stock_id0=1234567&key=xxxxx",
			openssl: "18db1ccf3272d9392ed327ebd970d1c522531a2a4195e04e33db9599cfddb723",
		},
		{
			name:    "two coupons",
			coupons: []wxpay.PluginCoupon{{StockID: "1234567", OutRequestNo: "abc123"}, {StockID: "2345678", OutRequestNo: "123abc"}},
			str:     "out_request_no0=abc123&out_request_no1=123abc&send_coupon_merchant=10016226&stock_id0=1234567&stock_id1=2345678&key=xxxxx",
			openssl: "ccfd9478637ecb6817c3e3a0ec66ebca58e38adc42c8d8fa3e1227e253afd3d3",
		},
		{
			name:    "one coupon with code",
			coupons: []wxpay.PluginCoupon{{StockID: "1234567", OutRequestNo: "abc123", CouponCode: "asdsada"}},
			str:     "coupon_code0=asdsada&out_request_no0=abc123&send_coupon_merchant=10016226&stock_id0=1234567&key=xxxxx",
			openssl: "e2b40fd0fbb257baf9174ca49691604a44d80af4de22299757aadb83c441564d",
		},
		{
			name: "two coupons with codes",
			coupons: []wxpay.PluginCoupon{
				{StockID: "1234567", OutRequestNo: "abc123", CouponCode: "asdsada"},
				{StockID: "2345678", OutRequestNo: "123abc", CouponCode: "asdsada"},
			},
			str:     "coupon_code0=asdsada&coupon_code1=asdsada&out_request_no0=abc123&out_request_no1=123abc&send_coupon_merchant=10016226&stock_id0=1234567&stock_id1=2345678&key=xxxxx",
			openssl: "6c025de93e0813f0324f634a9e7b060b90bc6aec4b87d6389a1611dec6b5d01b",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			params, err := wxpay.PluginParams("10016226", tc.coupons)
			require.NoError(t, err)
			require.Equal(t, tc.str, wxpay.PluginSignString("xxxxx", params))

			m := hmac.New(sha256.New, []byte("xxxxx"))
			m.Write([]byte(tc.str))
			independent := strings.ToUpper(hex.EncodeToString(m.Sum(nil)))
			require.Equal(t, strings.ToUpper(tc.openssl), independent)
			require.Equal(t, independent, wxpay.PluginSign("xxxxx", params))
		})
	}
}

func TestPluginSignDropsEmptyAndSign(t *testing.T) {
	t.Parallel()
	params := map[string]string{"send_coupon_merchant": "10016226", "stock_id0": "1234567", "out_request_no0": "abc123"}
	want := wxpay.PluginSign("k", params)
	params["coupon_code0"] = ""
	params["sign"] = "ABC"
	require.Equal(t, want, wxpay.PluginSign("k", params))
	require.NotEqual(t, want, wxpay.PluginSign("other", params))
}

func TestPluginParamsLimits(t *testing.T) {
	t.Parallel()
	ten := make([]wxpay.PluginCoupon, 10)
	for i := range ten {
		ten[i] = wxpay.PluginCoupon{StockID: "98065001", OutRequestNo: "8956000201910100012" + strconv.Itoa(i)}
	}
	p, err := wxpay.PluginParams("10016226", ten)
	require.NoError(t, err)
	require.Len(t, p, 21)
	require.Equal(t, "89560002019101000129", p["out_request_no9"])

	_, err = wxpay.PluginParams("10016226", append(ten, ten[0]))
	require.Error(t, err, "more than 10")
	_, err = wxpay.PluginParams("10016226", nil)
	require.Error(t, err, "none")
	_, err = wxpay.PluginParams("", ten[:1])
	require.Error(t, err, "no merchant")
	_, err = wxpay.PluginParams("10016226", []wxpay.PluginCoupon{{StockID: "1", OutRequestNo: "a b"}})
	require.Error(t, err, "bad out_request_no")
	_, err = wxpay.PluginParams("10016226", []wxpay.PluginCoupon{{StockID: "1"}})
	require.Error(t, err, "missing out_request_no")
}

func TestValidOutRequestNo(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"89560002019101000121", "a|b_c*d-e", strings.Repeat("x", 128)} {
		require.NoError(t, wxpay.ValidOutRequestNo(s), s)
	}
	for _, s := range []string{"", "a b", "a/b", "券", strings.Repeat("x", 129), "a.b"} {
		require.Error(t, wxpay.ValidOutRequestNo(s), s)
	}
}

func TestSignPlugin(t *testing.T) {
	t.Parallel()
	coupons := []wxpay.PluginCoupon{{StockID: "98065001", OutRequestNo: "89560002019101000121"}, {StockID: "98065001", OutRequestNo: "89560002019101000122", CouponCode: "c1"}}
	p, err := wxpay.SignPlugin("xxxxx", "10016226", coupons)
	require.NoError(t, err)
	params, err := wxpay.PluginParams("10016226", coupons)
	require.NoError(t, err)
	require.Equal(t, wxpay.PluginSign("xxxxx", params), p.Sign)
	b, err := json.Marshal(p)
	require.NoError(t, err)
	require.JSONEq(t, `{"send_coupon_merchant":"10016226","send_coupon_params":[{"stock_id":"98065001","out_request_no":"89560002019101000121"},{"stock_id":"98065001","out_request_no":"89560002019101000122","coupon_code":"c1"}],"sign":"`+p.Sign+`"}`, string(b))

	_, err = wxpay.SignPlugin("", "10016226", coupons)
	require.Error(t, err)
	_, err = wxpay.SignPlugin("xxxxx", "1001622", coupons)
	require.Error(t, err, "merchant shorter than 8")
}
