package wxpay

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// GoodsDetail is one item of a redemption's order.
type GoodsDetail struct {
	GoodsID        string `json:"goods_id"`
	Quantity       int64  `json:"quantity"`
	Price          int64  `json:"price"`
	DiscountAmount int64  `json:"discount_amount"`
}

// ConsumeInformation is where and when a coupon was redeemed.
type ConsumeInformation struct {
	ConsumeTime   string        `json:"consume_time"`
	ConsumeMchID  string        `json:"consume_mchid"`
	TransactionID string        `json:"transaction_id"`
	GoodsDetail   []GoodsDetail `json:"goods_detail,omitempty"`
}

// NormalCouponInformation is a coupon's face value and threshold, in fen.
type NormalCouponInformation struct {
	CouponAmount       int64 `json:"coupon_amount"`
	TransactionMinimum int64 `json:"transaction_minimum"`
}

// Coupon is one issued 代金券, as queried and as in COUPON.USE.
type Coupon struct {
	StockCreatorMchID       string                   `json:"stock_creator_mchid"`
	StockID                 string                   `json:"stock_id"`
	CouponID                string                   `json:"coupon_id"`
	CutToMessage            *CutToMessage            `json:"cut_to_message,omitempty"`
	CouponName              string                   `json:"coupon_name"`
	Status                  string                   `json:"status"`
	Description             string                   `json:"description"`
	CreateTime              string                   `json:"create_time"`
	CouponType              string                   `json:"coupon_type"`
	NoCash                  bool                     `json:"no_cash"`
	AvailableBeginTime      string                   `json:"available_begin_time"`
	AvailableEndTime        string                   `json:"available_end_time"`
	SingleItem              bool                     `json:"singleitem"`
	NormalCouponInformation *NormalCouponInformation `json:"normal_coupon_information,omitempty"`
	ConsumeInformation      *ConsumeInformation      `json:"consume_information,omitempty"`
}

// QueryCoupon reads one issued 代金券; empty appid defaults to the client's.
func (c *Client) QueryCoupon(ctx context.Context, openid, couponID, appid string) (*Coupon, error) {
	if appid == "" {
		appid = c.appID
	}
	if openid == "" || couponID == "" || appid == "" {
		return nil, fmt.Errorf("query coupon: %w: openid, coupon_id and appid are required", ErrInvalidRequest)
	}
	uri := strings.NewReplacer("{openid}", url.PathEscape(openid), "{coupon_id}", url.PathEscape(couponID)).Replace(PathCoupon) +
		"?" + url.Values{"appid": {appid}}.Encode()
	var out Coupon
	if _, err := c.call(ctx, http.MethodGet, uri, nil, &out, false); err != nil {
		return nil, err
	}
	return &out, nil
}

// UserCouponsRequest filters §3.2.11 根据商户号查用户的券. Exactly one of
// CreatorMchID, SenderMchID and AvailableMchID is required. CreatorMchID
// (with StockID) is the one that answers "was this coupon issued?": it
// lists every coupon of the creator's stocks but expired ones. With
// AvailableMchID, WeChat Pay ignores StockID, Status, Offset and Limit and
// leaves out used coupons.
type UserCouponsRequest struct {
	OpenID, AppID                             string // AppID empty → client's appid
	StockID                                   string // optional filter
	CreatorMchID, SenderMchID, AvailableMchID string // exactly one required
	// Status is SENDED (usable) or USED (which WeChat Pay documents as
	// usable and used); empty lists both.
	Status string
	// Offset is the page number (0-based); Limit defaults to
	// DefaultUserCouponsLimit.
	Offset, Limit int
}

// UserCoupons is one page of a user's coupons.
type UserCoupons struct {
	Data       []Coupon `json:"data"`
	TotalCount int      `json:"total_count"`
	Limit      int      `json:"limit"`
	Offset     int      `json:"offset"`
}

// UserCoupons reads one page of a user's 代金券. The answer carries no
// out_request_no: a coupon is matched to a send by stock, user and time.
func (c *Client) UserCoupons(ctx context.Context, req UserCouponsRequest) (*UserCoupons, error) {
	uri, err := c.userCouponsURI(req)
	if err != nil {
		return nil, fmt.Errorf("user coupons: %w", err)
	}
	var out UserCoupons
	if _, err := c.call(ctx, http.MethodGet, uri, nil, &out, false); err != nil {
		return nil, err
	}
	if out.Data == nil {
		out.Data = []Coupon{}
	}
	return &out, nil
}

func (c *Client) userCouponsURI(req UserCouponsRequest) (string, error) {
	if req.AppID == "" {
		req.AppID = c.appID
	}
	if req.Limit == 0 {
		req.Limit = DefaultUserCouponsLimit
	}
	n := 0
	for _, v := range []string{req.CreatorMchID, req.SenderMchID, req.AvailableMchID} {
		if v != "" {
			n++
		}
	}
	switch {
	case req.OpenID == "" || req.AppID == "":
		return "", fmt.Errorf("%w: openid and appid are required", ErrInvalidRequest)
	case n != 1:
		return "", fmt.Errorf("%w: give exactly one of creator_mchid, sender_mchid, available_mchid", ErrInvalidRequest)
	case req.Status != "" && req.Status != CouponSended && req.Status != CouponUsed:
		return "", fmt.Errorf("%w: status %q, want SENDED or USED", ErrInvalidRequest, req.Status)
	case req.Offset < 0 || req.Limit < 0:
		return "", fmt.Errorf("%w: negative offset or limit", ErrInvalidRequest)
	}
	q := url.Values{"appid": {req.AppID}}
	for k, v := range map[string]string{
		"stock_id": req.StockID, "status": req.Status, "creator_mchid": req.CreatorMchID,
		"sender_mchid": req.SenderMchID, "available_mchid": req.AvailableMchID,
	} {
		if v != "" {
			q.Set(k, v)
		}
	}
	q.Set("offset", strconv.Itoa(req.Offset))
	q.Set("limit", strconv.Itoa(req.Limit))
	return strings.Replace(PathUserCoupons, "{openid}", url.PathEscape(req.OpenID), 1) + "?" + q.Encode(), nil
}

// AllUserCoupons pages through every coupon matching req, from page
// req.Offset, and returns them once each (by coupon_id: a coupon issued
// while paging shifts the pages). It stops after 100 pages with an error
// wrapping ErrTooManyPages, never with a silently partial list. A coupon
// issued after the page it would be on was read can be missing, so "not in
// the list" proves nothing while a send to this user may be in flight.
func (c *Client) AllUserCoupons(ctx context.Context, req UserCouponsRequest) ([]Coupon, error) {
	if req.Limit == 0 {
		req.Limit = DefaultUserCouponsLimit
	}
	all := []Coupon{}
	seen := map[string]bool{}
	for range maxUserCouponPages {
		page, err := c.UserCoupons(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("user coupons page %d: %w", req.Offset, err)
		}
		for _, cp := range page.Data {
			if !seen[cp.CouponID] {
				seen[cp.CouponID] = true
				all = append(all, cp)
			}
		}
		// With available_mchid paging is ignored: one answer is the list.
		if req.AvailableMchID != "" || len(page.Data) < req.Limit || (req.Offset+1)*req.Limit >= page.TotalCount {
			return all, nil
		}
		req.Offset++
	}
	return nil, fmt.Errorf("user coupons of %s: %w: more than %d pages of %d; filter by stock", req.OpenID, ErrTooManyPages, maxUserCouponPages, req.Limit)
}

// ErrTooManyPages is returned by AllUserCoupons when the list goes on past
// its bound: narrow the query (StockID) rather than trust a partial list.
var ErrTooManyPages = errors.New("wxpay: too many pages")

// Coupon statuses.
const (
	CouponSended  = "SENDED" // sic: issued, usable
	CouponUsed    = "USED"
	CouponExpired = "EXPIRED"
)
