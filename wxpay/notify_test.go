package wxpay_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/wxpay"
)

func TestParseNotification(t *testing.T) {
	t.Parallel()
	k := loadTestKeys(t)
	use := &wxpay.CouponUse{
		StockCreatorMchID: "9856888", StockID: "9856000", CouponID: "98674556", CouponName: "微信支付代金券",
		Status: "USED", CreateTime: "2019-12-07T13:29:35+08:00", CouponType: "NORMAL",
		NormalCouponInformation: &wxpay.NormalCouponInformation{CouponAmount: 100, TransactionMinimum: 100},
		ConsumeInformation: &wxpay.ConsumeInformation{
			ConsumeTime: "2019-12-07T13:29:35+08:00", ConsumeMchID: "9856888", TransactionID: "4200000523202003118425213470",
			GoodsDetail: []wxpay.GoodsDetail{{GoodsID: "a_goods1", Quantity: 7, Price: 1, DiscountAmount: 4}},
		},
	}
	body, err := wxpay.NewCouponUseNotification("EV-2018022511223320873", fixedNow, use, testAPIv3Key)
	require.NoError(t, err)
	signed := func() http.Header {
		h := http.Header{}
		require.NoError(t, wxpay.SignResponse(h, k.platform, testPublicKeyID, body, fixedNow, ""))
		return h
	}

	n, got, err := wxpay.ParseNotification(signed(), body, k.verifier(), testAPIv3Key, fixedNow)
	require.NoError(t, err)
	require.Equal(t, "EV-2018022511223320873", n.ID)
	require.Equal(t, wxpay.EventCouponUse, n.EventType)
	require.Equal(t, "encrypt-resource", n.ResourceType)
	require.Equal(t, "AEAD_AES_256_GCM", n.Resource.Algorithm)
	require.Equal(t, "coupon", n.Resource.OriginalType)
	require.Len(t, n.Resource.Nonce, 12)
	require.Equal(t, use, got)

	t.Run("documented shape", func(t *testing.T) {
		t.Parallel()
		// A hand-built callback with the documented field names.
		ct, err := wxpay.EncryptAEAD(testAPIv3Key, "fdasflkja484", "coupon",
			[]byte(`{"stock_creator_mchid":"9800064","stock_id":"9865000","coupon_id":"98674556","coupon_name":"微信支付代金券","status":"USED","create_time":"2019-12-07T13:29:35.120+08:00","coupon_type":"NORMAL","no_cash":false,"singleitem":false,"normal_coupon_information":{"coupon_amount":100,"transaction_minimum":100},"consume_information":{"consume_time":"2019-12-07T13:29:35.120+08:00","consume_mchid":"9856081","transaction_id":"4200000523202003118425213470","goods_detail":[{"goods_id":"a_goods1","quantity":7,"price":1,"discount_amount":4}]}}`))
		require.NoError(t, err)
		raw := []byte(`{"id":"EV-2018022511223320873","create_time":"2015-05-20T13:29:35+08:00","resource_type":"encrypt-resource","event_type":"COUPON.USE","summary":"代金券核销通知","resource":{"original_type":"coupon","algorithm":"AEAD_AES_256_GCM","ciphertext":"` + ct + `","associated_data":"coupon","nonce":"fdasflkja484"}}`)
		h := http.Header{}
		require.NoError(t, wxpay.SignResponse(h, k.platform, testPublicKeyID, raw, fixedNow, ""))
		_, u, err := wxpay.ParseNotification(h, raw, k.verifier(), testAPIv3Key, fixedNow)
		require.NoError(t, err)
		require.Equal(t, "9856081", u.ConsumeInformation.ConsumeMchID)
		require.Equal(t, int64(100), u.NormalCouponInformation.CouponAmount)
	})

	t.Run("forged", func(t *testing.T) {
		t.Parallel()
		h := signed()
		h.Set("Wechatpay-Signature", wxpay.SignatureProbePrefix+h.Get("Wechatpay-Signature"))
		_, _, err := wxpay.ParseNotification(h, body, k.verifier(), testAPIv3Key, fixedNow)
		require.ErrorIs(t, err, wxpay.ErrSignature)

		tampered := []byte(strings.Replace(string(body), "EV-", "EX-", 1))
		_, _, err = wxpay.ParseNotification(signed(), tampered, k.verifier(), testAPIv3Key, fixedNow)
		require.ErrorIs(t, err, wxpay.ErrSignature)
	})

	t.Run("wrong apiv3 key", func(t *testing.T) {
		t.Parallel()
		_, _, err := wxpay.ParseNotification(signed(), body, k.verifier(), strings.Repeat("k", 32), fixedNow)
		require.Error(t, err)
		require.NotErrorIs(t, err, wxpay.ErrSignature)
	})

	t.Run("other event", func(t *testing.T) {
		t.Parallel()
		raw := []byte(`{"id":"EV-1","event_type":"COUPON.SEND","resource":{}}`)
		h := http.Header{}
		require.NoError(t, wxpay.SignResponse(h, k.platform, testPublicKeyID, raw, fixedNow, ""))
		n, u, err := wxpay.ParseNotification(h, raw, k.verifier(), testAPIv3Key, fixedNow)
		require.NoError(t, err)
		require.Nil(t, u)
		require.Equal(t, "COUPON.SEND", n.EventType)
	})
}
