package wxpay

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
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

// Endpoint paths, exactly as WeChat Pay publishes them.
const (
	PathFavorSend    = "/v3/marketing/favor/users/{openid}/coupons"
	PathProductSend  = "/v3/marketing/busifavor/product-coupons/send"
	PathStockCreate  = "/v3/marketing/favor/coupon-stocks"
	PathStocks       = "/v3/marketing/favor/stocks"
	PathStock        = "/v3/marketing/favor/stocks/{stock_id}"
	PathStockStart   = "/v3/marketing/favor/stocks/{stock_id}/start"
	PathStockPause   = "/v3/marketing/favor/stocks/{stock_id}/pause"
	PathStockRestart = "/v3/marketing/favor/stocks/{stock_id}/restart"
	PathCoupon       = "/v3/marketing/favor/users/{openid}/coupons/{coupon_id}"
	PathUseFlow      = "/v3/marketing/favor/stocks/{stock_id}/use-flow"
	PathRefundFlow   = "/v3/marketing/favor/stocks/{stock_id}/refund-flow"
)

// 代金券 stock statuses as WeChat Pay spells them.
const (
	StockUnactivated = "unactivated"
	StockAudit       = "audit"
	StockRunning     = "running"
	StockStopped     = "stoped" // sic
	StockPaused      = "paused"
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

// Product coupon types.
const (
	ProductCouponNormal = "NORMAL"
	ProductCouponMember = "MEMBER"
)

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

// StockUseRule is a 代金券 stock's issuing rule (create and query).
type StockUseRule struct {
	MaxCoupons         int64              `json:"max_coupons"`
	MaxAmount          int64              `json:"max_amount"` // fen
	MaxAmountByDay     int64              `json:"max_amount_by_day,omitempty"`
	MaxCouponsPerUser  int64              `json:"max_coupons_per_user"`
	NaturalPersonLimit bool               `json:"natural_person_limit"`
	PreventAPIAbuse    bool               `json:"prevent_api_abuse"`
	FixedNormalCoupon  *FixedNormalCoupon `json:"fixed_normal_coupon,omitempty"` // query only
	CouponType         string             `json:"coupon_type,omitempty"`         // query only
	GoodsTag           []string           `json:"goods_tag,omitempty"`
	TradeType          []string           `json:"trade_type,omitempty"`
	CombineUse         bool               `json:"combine_use,omitempty"`
}

// FixedNormalCoupon is a fixed face value and threshold, in fen.
type FixedNormalCoupon struct {
	CouponAmount       int64 `json:"coupon_amount"`
	TransactionMinimum int64 `json:"transaction_minimum"`
}

// CouponUseRule is a 代金券 stock's redemption rule.
type CouponUseRule struct {
	FixedNormalCoupon  *FixedNormalCoupon `json:"fixed_normal_coupon,omitempty"`
	GoodsTag           []string           `json:"goods_tag,omitempty"`
	TradeType          []string           `json:"trade_type,omitempty"`
	CombineUse         bool               `json:"combine_use,omitempty"`
	AvailableItems     []string           `json:"available_items,omitempty"`
	UnavailableItems   []string           `json:"unavailable_items,omitempty"`
	AvailableMerchants []string           `json:"available_merchants,omitempty"`
}

// PatternInfo is a stock's display style.
type PatternInfo struct {
	Description     string `json:"description"`
	MerchantLogo    string `json:"merchant_logo,omitempty"`
	MerchantName    string `json:"merchant_name,omitempty"`
	BackgroundColor string `json:"background_color,omitempty"`
	CouponImage     string `json:"coupon_image,omitempty"`
}

// CreateStockRequest creates a 代金券 stock. Times are RFC 3339 (FormatTime).
type CreateStockRequest struct {
	StockName          string        `json:"stock_name"`
	Comment            string        `json:"comment,omitempty"`
	BelongMerchant     string        `json:"belong_merchant"`
	AvailableBeginTime string        `json:"available_begin_time"`
	AvailableEndTime   string        `json:"available_end_time"`
	StockUseRule       StockUseRule  `json:"stock_use_rule"`
	PatternInfo        *PatternInfo  `json:"pattern_info,omitempty"`
	CouponUseRule      CouponUseRule `json:"coupon_use_rule"`
	NoCash             bool          `json:"no_cash"`
	StockType          string        `json:"stock_type"` // NORMAL
	OutRequestNo       string        `json:"out_request_no"`
	ExtInfo            string        `json:"ext_info,omitempty"`
}

// CreateStockResult is the created stock's id.
type CreateStockResult struct {
	StockID    string `json:"stock_id"`
	CreateTime string `json:"create_time"`
}

// CreateStock creates a 代金券 stock; it must then be started. Empty
// BelongMerchant defaults to the client's mchid and StockType to NORMAL.
func (c *Client) CreateStock(ctx context.Context, req CreateStockRequest) (*CreateStockResult, error) {
	if req.BelongMerchant == "" {
		req.BelongMerchant = c.mchID
	}
	if req.StockType == "" {
		req.StockType = "NORMAL"
	}
	if req.StockName == "" {
		return nil, fmt.Errorf("create stock: %w: empty stock_name", ErrInvalidRequest)
	}
	if err := ValidOutRequestNo(req.OutRequestNo); err != nil {
		return nil, fmt.Errorf("create stock: %w: %w", ErrInvalidRequest, err)
	}
	var out CreateStockResult
	if _, err := c.call(ctx, http.MethodPost, PathStockCreate, req, &out, false); err != nil {
		return nil, err
	}
	if out.StockID == "" {
		return nil, fmt.Errorf("create stock: %w: no stock_id", ErrMalformedResponse)
	}
	return &out, nil
}

// StockAction is the answer to start, pause and restart.
type StockAction struct {
	StockID string
	// Time is start_time, pause_time or restart_time (RFC 3339).
	Time string
}

// StartStock activates a created stock.
func (c *Client) StartStock(ctx context.Context, stockID, creatorMchID string) (*StockAction, error) {
	return c.stockAction(ctx, PathStockStart, "start_time", stockID, creatorMchID)
}

// PauseStock pauses a running stock.
func (c *Client) PauseStock(ctx context.Context, stockID, creatorMchID string) (*StockAction, error) {
	return c.stockAction(ctx, PathStockPause, "pause_time", stockID, creatorMchID)
}

// RestartStock resumes a paused stock.
func (c *Client) RestartStock(ctx context.Context, stockID, creatorMchID string) (*StockAction, error) {
	return c.stockAction(ctx, PathStockRestart, "restart_time", stockID, creatorMchID)
}

func (c *Client) stockAction(ctx context.Context, path, timeField, stockID, creatorMchID string) (*StockAction, error) {
	if stockID == "" {
		return nil, fmt.Errorf("stock action: %w: empty stock_id", ErrInvalidRequest)
	}
	if creatorMchID == "" {
		creatorMchID = c.mchID
	}
	in := struct {
		StockCreatorMchID string `json:"stock_creator_mchid"`
	}{creatorMchID}
	var out map[string]any
	uri := stockPath(path, stockID)
	if _, err := c.call(ctx, http.MethodPost, uri, in, &out, false); err != nil {
		return nil, err
	}
	a := &StockAction{}
	a.StockID, _ = out["stock_id"].(string)
	a.Time, _ = out[timeField].(string)
	if a.StockID == "" {
		a.StockID = stockID
	}
	return a, nil
}

func stockPath(path, stockID string) string {
	return strings.Replace(path, "{stock_id}", url.PathEscape(stockID), 1)
}

// CutToMessage describes a 单品 "reduce to price" coupon, in fen.
type CutToMessage struct {
	SinglePriceMax int64 `json:"single_price_max"`
	CutToPrice     int64 `json:"cut_to_price"`
}

// Stock is a 代金券 stock as queried.
type Stock struct {
	StockID            string        `json:"stock_id"`
	StockCreatorMchID  string        `json:"stock_creator_mchid"`
	StockName          string        `json:"stock_name"`
	Status             string        `json:"status"`
	CreateTime         string        `json:"create_time"`
	Description        string        `json:"description"`
	StockUseRule       *StockUseRule `json:"stock_use_rule,omitempty"`
	AvailableBeginTime string        `json:"available_begin_time"`
	AvailableEndTime   string        `json:"available_end_time"`
	DistributedCoupons int64         `json:"distributed_coupons"`
	NoCash             bool          `json:"no_cash"`
	StartTime          string        `json:"start_time,omitempty"`
	StopTime           string        `json:"stop_time,omitempty"`
	CutToMessage       *CutToMessage `json:"cut_to_message,omitempty"`
	SingleItem         bool          `json:"singleitem"`
	StockType          string        `json:"stock_type"`
	CardID             string        `json:"card_id,omitempty"`
	BusinessType       string        `json:"business_type,omitempty"`
}

// QueryStock reads one stock.
func (c *Client) QueryStock(ctx context.Context, stockID, creatorMchID string) (*Stock, error) {
	if stockID == "" {
		return nil, fmt.Errorf("query stock: %w: empty stock_id", ErrInvalidRequest)
	}
	if creatorMchID == "" {
		creatorMchID = c.mchID
	}
	uri := stockPath(PathStock, stockID) + "?" + url.Values{"stock_creator_mchid": {creatorMchID}}.Encode()
	var out Stock
	if _, err := c.call(ctx, http.MethodGet, uri, nil, &out, false); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListStocksRequest filters the stock list; Limit is at most 10.
type ListStocksRequest struct {
	Offset            int
	Limit             int // default 10
	StockCreatorMchID string
	CreateStartTime   string // RFC 3339
	CreateEndTime     string
	Status            string
}

// StockList is one page of stocks.
type StockList struct {
	TotalCount int     `json:"total_count"`
	Data       []Stock `json:"data"`
	Limit      int     `json:"limit"`
	Offset     int     `json:"offset"`
}

// ListStocks reads one page of the merchant's stocks.
func (c *Client) ListStocks(ctx context.Context, req ListStocksRequest) (*StockList, error) {
	if req.Limit <= 0 {
		req.Limit = 10
	}
	if req.StockCreatorMchID == "" {
		req.StockCreatorMchID = c.mchID
	}
	q := url.Values{
		"offset":              {strconv.Itoa(req.Offset)},
		"limit":               {strconv.Itoa(req.Limit)},
		"stock_creator_mchid": {req.StockCreatorMchID},
	}
	for k, v := range map[string]string{"create_start_time": req.CreateStartTime, "create_end_time": req.CreateEndTime, "status": req.Status} {
		if v != "" {
			q.Set(k, v)
		}
	}
	var out StockList
	if _, err := c.call(ctx, http.MethodGet, PathStocks+"?"+q.Encode(), nil, &out, false); err != nil {
		return nil, err
	}
	return &out, nil
}

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

// Coupon statuses.
const (
	CouponSended  = "SENDED" // sic: issued, usable
	CouponUsed    = "USED"
	CouponExpired = "EXPIRED"
)

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

// FlowDownload is the metadata of a use-flow or refund-flow file: a
// short-lived (~30 s) download url and the file's SHA1.
type FlowDownload struct {
	URL       string `json:"url"`
	HashType  string `json:"hash_type"`
	HashValue string `json:"hash_value"`
}

// UseFlow fetches the metadata of a stock's redemption file. Before the file
// exists WeChat Pay answers 404 RESOURCE_NOT_EXISTS; see IsNotFound.
func (c *Client) UseFlow(ctx context.Context, stockID string) (*FlowDownload, error) {
	return c.flow(ctx, PathUseFlow, stockID)
}

// RefundFlow fetches the metadata of a stock's refund file.
func (c *Client) RefundFlow(ctx context.Context, stockID string) (*FlowDownload, error) {
	return c.flow(ctx, PathRefundFlow, stockID)
}

func (c *Client) flow(ctx context.Context, path, stockID string) (*FlowDownload, error) {
	if stockID == "" {
		return nil, fmt.Errorf("flow: %w: empty stock_id", ErrInvalidRequest)
	}
	var out FlowDownload
	// Documented as unsigned: verified only when signature headers come.
	if _, err := c.call(ctx, http.MethodGet, stockPath(path, stockID), nil, &out, true); err != nil {
		return nil, err
	}
	switch {
	case out.URL == "":
		return nil, fmt.Errorf("flow %s: %w: no url", stockID, ErrMalformedResponse)
	case !strings.EqualFold(out.HashType, "SHA1"):
		return nil, fmt.Errorf("flow %s: %w: hash_type %q, want SHA1", stockID, ErrMalformedResponse, out.HashType)
	case len(out.HashValue) != 40:
		return nil, fmt.Errorf("flow %s: %w: hash_value %q is not a SHA1", stockID, ErrMalformedResponse, out.HashValue)
	}
	return &out, nil
}

// IsNotFound reports whether err is WeChat Pay's 404 (for flows: the file
// does not exist yet, or nothing was redeemed).
func IsNotFound(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}
