package wxpay

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// MaxPluginCoupons is how many coupons one mini-program plugin call sends.
const MaxPluginCoupons = 10

// PluginCoupon is one coupon offered through the mini-program send-coupon
// plugin.
type PluginCoupon struct {
	StockID      string `json:"stock_id"`
	OutRequestNo string `json:"out_request_no"`
	CouponCode   string `json:"coupon_code,omitempty"` // only for stocks whose codes the merchant assigns
}

// PluginPayload is what the mini-program passes to the send-coupon plugin:
// the issuing merchant, the coupons and the signature over them.
type PluginPayload struct {
	SendCouponMerchant string         `json:"send_coupon_merchant"`
	SendCouponParams   []PluginCoupon `json:"send_coupon_params"`
	Sign               string         `json:"sign"`
}

// SignPlugin validates the coupons and signs them for the plugin with the
// issuing merchant's APIv2 key.
func SignPlugin(apiv2Key, merchant string, coupons []PluginCoupon) (*PluginPayload, error) {
	if apiv2Key == "" {
		return nil, errors.New("plugin sign: empty apiv2 key")
	}
	params, err := PluginParams(merchant, coupons)
	if err != nil {
		return nil, err
	}
	return &PluginPayload{
		SendCouponMerchant: merchant,
		SendCouponParams:   append([]PluginCoupon(nil), coupons...),
		Sign:               PluginSign(apiv2Key, params),
	}, nil
}

// PluginParams builds the plugin's parameters: send_coupon_merchant and, for
// coupon i, stock_id{i}, out_request_no{i} and coupon_code{i} when set.
func PluginParams(merchant string, coupons []PluginCoupon) (map[string]string, error) {
	if len(merchant) < 8 {
		return nil, fmt.Errorf("plugin params: send_coupon_merchant %q is shorter than 8 characters", merchant)
	}
	if len(coupons) == 0 || len(coupons) > MaxPluginCoupons {
		return nil, fmt.Errorf("plugin params: %d coupons, want 1..%d", len(coupons), MaxPluginCoupons)
	}
	p := make(map[string]string, 1+3*len(coupons))
	p["send_coupon_merchant"] = merchant
	for i, c := range coupons {
		if c.StockID == "" || c.OutRequestNo == "" {
			return nil, fmt.Errorf("plugin params: coupon %d lacks stock_id or out_request_no", i)
		}
		if err := ValidOutRequestNo(c.OutRequestNo); err != nil {
			return nil, fmt.Errorf("plugin params: coupon %d: %w", i, err)
		}
		n := strconv.Itoa(i)
		p["stock_id"+n] = c.StockID
		p["out_request_no"+n] = c.OutRequestNo
		if c.CouponCode != "" {
			p["coupon_code"+n] = c.CouponCode
		}
	}
	return p, nil
}

// PluginSignString is the string PluginSign feeds to HMAC: non-empty
// parameters except sign, ASCII-sorted, k=v joined by &, then &key=KEY.
func PluginSignString(apiv2Key string, params map[string]string) string {
	keys := make([]string, 0, len(params))
	for k, v := range params {
		if v == "" || k == "sign" {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(params[k])
		b.WriteByte('&')
	}
	b.WriteString("key=")
	b.WriteString(apiv2Key)
	return b.String()
}

// PluginSign is the V2 HMAC-SHA256 signature the plugin checks: HMAC keyed
// with the issuing merchant's APIv2 key over PluginSignString, upper-case hex.
func PluginSign(apiv2Key string, params map[string]string) string {
	m := hmac.New(sha256.New, []byte(apiv2Key))
	m.Write([]byte(PluginSignString(apiv2Key, params)))
	return strings.ToUpper(hex.EncodeToString(m.Sum(nil)))
}

// ValidOutRequestNo checks WeChat Pay's out_request_no alphabet: letters,
// digits, |, _, * and -, at most 128 characters.
func ValidOutRequestNo(s string) error {
	if s == "" || len(s) > 128 {
		return fmt.Errorf("out_request_no length %d, want 1..128", len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || c == '|' || c == '_' || c == '*' || c == '-' {
			continue
		}
		return fmt.Errorf("out_request_no %q has invalid character %q", clip(s), c)
	}
	return nil
}
