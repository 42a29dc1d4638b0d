package wxpay

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Kind is the kind of coupon a send issues.
type Kind string

// Coupon kinds.
const (
	KindFavor   Kind = "favor"   // 代金券, POST /v3/marketing/favor/users/{openid}/coupons
	KindProduct Kind = "product" // 商品券, POST /v3/marketing/busifavor/product-coupons/send
	KindPlugin  Kind = "plugin"  // mini-program send-coupon plugin (V2 signature)
)

// TimeLayout is the RFC 3339 form WeChat Pay uses for request times.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// FormatTime renders t as WeChat Pay expects in request bodies and queries.
func FormatTime(t time.Time) string { return t.Format(TimeLayout) }

// SendResult is what a send call learned, whatever its outcome; pass it with
// the call's error to Classify.
type SendResult struct {
	Kind         Kind
	StockID      string
	OutRequestNo string
	// Status is the HTTP status, 0 when no answer arrived.
	Status    int
	RequestID string
	// CouponID is the 代金券 coupon_id or the 商品券 coupon_code.
	CouponID string
}

// FavorSendRequest is the 代金券 send body; OpenID goes in the path. Empty
// AppID and StockCreatorMchID default to the client's appid and mchid.
type FavorSendRequest struct {
	OpenID            string `json:"-"`
	StockID           string `json:"stock_id"`
	OutRequestNo      string `json:"out_request_no"`
	AppID             string `json:"appid"`
	StockCreatorMchID string `json:"stock_creator_mchid"`
	CouponValue       uint64 `json:"coupon_value,omitempty"`   // fen, for stocks issued at a chosen face value
	CouponMinimum     uint64 `json:"coupon_minimum,omitempty"` // fen
}

// SendFavor issues one 代金券. Classify(result, err) says what happened.
func (c *Client) SendFavor(ctx context.Context, req FavorSendRequest) (SendResult, error) {
	res := SendResult{Kind: KindFavor, StockID: req.StockID, OutRequestNo: req.OutRequestNo}
	if req.AppID == "" {
		req.AppID = c.appID
	}
	if req.StockCreatorMchID == "" {
		req.StockCreatorMchID = c.mchID
	}
	if err := checkSend(req.OpenID, req.StockID, req.OutRequestNo, req.AppID); err != nil {
		return res, fmt.Errorf("send favor: %w", err)
	}
	var out struct {
		CouponID string `json:"coupon_id"`
	}
	uri := strings.Replace(PathFavorSend, "{openid}", url.PathEscape(req.OpenID), 1)
	r, err := c.call(ctx, http.MethodPost, uri, req, &out, false)
	fillResult(&res, r)
	if err != nil {
		return res, err
	}
	if out.CouponID == "" {
		return res, fmt.Errorf("send favor: %w: no coupon_id", ErrMalformedResponse)
	}
	res.CouponID = out.CouponID
	return res, nil
}

// ProductSendRequest is the 商品券 send body. Empty AppID defaults to the
// client's appid and empty CouponType to NORMAL.
type ProductSendRequest struct {
	OpenID       string `json:"openid"`
	AppID        string `json:"appid"`
	StockID      string `json:"stock_id"`
	OutRequestNo string `json:"out_request_no"`
	CouponCode   string `json:"coupon_code,omitempty"` // stocks with coupon_code_mode MERCHANT_API
	CouponType   string `json:"coupon_type"`
	MemberCardID string `json:"member_card_id,omitempty"` // required for MEMBER
}

// SendProduct issues one 商品券. Classify(result, err) says what happened;
// a replay of the same out_request_no is RESOURCE_ALREADY_EXISTS, which
// classifies as already issued.
func (c *Client) SendProduct(ctx context.Context, req ProductSendRequest) (SendResult, error) {
	res := SendResult{Kind: KindProduct, StockID: req.StockID, OutRequestNo: req.OutRequestNo}
	if req.AppID == "" {
		req.AppID = c.appID
	}
	if req.CouponType == "" {
		req.CouponType = ProductCouponNormal
	}
	if err := checkSend(req.OpenID, req.StockID, req.OutRequestNo, req.AppID); err != nil {
		return res, fmt.Errorf("send product: %w", err)
	}
	if req.CouponType == ProductCouponMember && req.MemberCardID == "" {
		return res, fmt.Errorf("send product: %w: MEMBER coupon without member_card_id", ErrInvalidRequest)
	}
	var out struct {
		Result *struct {
			StockID      string `json:"stock_id"`
			OutRequestNo string `json:"out_request_no"`
			CouponCode   string `json:"coupon_code"`
		} `json:"send_coupon_result"`
	}
	r, err := c.call(ctx, http.MethodPost, PathProductSend, req, &out, false)
	fillResult(&res, r)
	if err != nil {
		return res, err
	}
	switch {
	case out.Result == nil || out.Result.CouponCode == "":
		return res, fmt.Errorf("send product: %w: no send_coupon_result.coupon_code", ErrMalformedResponse)
	case out.Result.OutRequestNo != "" && out.Result.OutRequestNo != req.OutRequestNo:
		return res, fmt.Errorf("send product: %w: answer is for out_request_no %q", ErrMalformedResponse, out.Result.OutRequestNo)
	}
	res.CouponID = out.Result.CouponCode
	return res, nil
}

func checkSend(openid, stockID, outRequestNo, appid string) error {
	switch {
	case openid == "":
		return fmt.Errorf("%w: empty openid", ErrInvalidRequest)
	case stockID == "":
		return fmt.Errorf("%w: empty stock_id", ErrInvalidRequest)
	case appid == "":
		return fmt.Errorf("%w: empty appid", ErrInvalidRequest)
	}
	if err := ValidOutRequestNo(outRequestNo); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	return nil
}

func fillResult(res *SendResult, r *response) {
	if r != nil {
		res.Status, res.RequestID = r.status, r.requestID
	}
}

// Product coupon types.
const (
	ProductCouponNormal = "NORMAL"
	ProductCouponMember = "MEMBER"
)
