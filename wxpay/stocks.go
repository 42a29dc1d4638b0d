package wxpay

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// 代金券 stock statuses as WeChat Pay spells them.
const (
	StockUnactivated = "unactivated"
	StockAudit       = "audit"
	StockRunning     = "running"
	StockStopped     = "stoped" // sic
	StockPaused      = "paused"
)

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

// Paging limits of the scope and user-coupon lists. offset is a page
// number on both, as on the stock list.
const (
	// MaxScopePageSize and MaxScopePage are §3.2.9/§3.2.10's documented
	// limit and offset maxima.
	MaxScopePageSize = 100
	MaxScopePage     = 500
	// DefaultUserCouponsLimit is §3.2.11's default page size; WeChat Pay
	// documents no maximum, so the client imposes none.
	DefaultUserCouponsLimit = 20
	// maxUserCouponPages bounds AllUserCoupons.
	maxUserCouponPages = 100
)

// StopStock ends a stock for good: its status becomes "stoped" and it can
// never be restarted; coupons already issued stay usable. Time is the
// answer's stop_time.
func (c *Client) StopStock(ctx context.Context, stockID, creatorMchID string) (*StockAction, error) {
	return c.stockAction(ctx, PathStockStop, "stop_time", stockID, creatorMchID)
}

// StockScope is one page of a stock's available merchants (§3.2.9: merchant
// ids) or available items (§3.2.10: goods ids).
type StockScope struct {
	TotalCount int      `json:"total_count"`
	Data       []string `json:"data"`
	Offset     int      `json:"offset"`
	Limit      int      `json:"limit"`
	StockID    string   `json:"stock_id"`
}

// StockMerchants reads one page (offset is the page number, from 0) of the
// merchants where a stock's coupons can be used. Limit 0 means
// MaxScopePageSize; empty creatorMchID means the client's mchid.
func (c *Client) StockMerchants(ctx context.Context, stockID, creatorMchID string, offset, limit int) (*StockScope, error) {
	return c.stockScope(ctx, "stock merchants", PathStockMerchants, stockID, creatorMchID, offset, limit)
}

// StockItems reads one page of the goods ids a stock's coupons apply to.
func (c *Client) StockItems(ctx context.Context, stockID, creatorMchID string, offset, limit int) (*StockScope, error) {
	return c.stockScope(ctx, "stock items", PathStockItems, stockID, creatorMchID, offset, limit)
}

func (c *Client) stockScope(ctx context.Context, op, path, stockID, creatorMchID string, offset, limit int) (*StockScope, error) {
	if limit == 0 {
		limit = MaxScopePageSize
	}
	switch {
	case stockID == "":
		return nil, fmt.Errorf("%s: %w: empty stock_id", op, ErrInvalidRequest)
	case offset < 0 || offset > MaxScopePage:
		return nil, fmt.Errorf("%s: %w: offset %d outside 0..%d", op, ErrInvalidRequest, offset, MaxScopePage)
	case limit < 0 || limit > MaxScopePageSize:
		return nil, fmt.Errorf("%s: %w: limit %d outside 1..%d", op, ErrInvalidRequest, limit, MaxScopePageSize)
	}
	if creatorMchID == "" {
		creatorMchID = c.mchID
	}
	q := url.Values{
		"offset":              {strconv.Itoa(offset)},
		"limit":               {strconv.Itoa(limit)},
		"stock_creator_mchid": {creatorMchID},
	}
	var out StockScope
	if _, err := c.call(ctx, http.MethodGet, stockPath(path, stockID)+"?"+q.Encode(), nil, &out, false); err != nil {
		return nil, err
	}
	if out.Data == nil {
		out.Data = []string{}
	}
	return &out, nil
}

// AllStockMerchants pages through every available merchant of a stock.
func (c *Client) AllStockMerchants(ctx context.Context, stockID, creatorMchID string) (*StockScope, error) {
	return c.allScope(ctx, c.StockMerchants, stockID, creatorMchID)
}

// AllStockItems pages through every available item of a stock.
func (c *Client) AllStockItems(ctx context.Context, stockID, creatorMchID string) (*StockScope, error) {
	return c.allScope(ctx, c.StockItems, stockID, creatorMchID)
}

// allScope returns the whole list in the answer's shape: offset 0, limit
// the page size used, total_count as WeChat Pay last said.
func (c *Client) allScope(ctx context.Context, page func(context.Context, string, string, int, int) (*StockScope, error), stockID, creatorMchID string) (*StockScope, error) {
	all := &StockScope{Data: []string{}, Limit: MaxScopePageSize, StockID: stockID}
	for p := 0; p <= MaxScopePage; p++ {
		s, err := page(ctx, stockID, creatorMchID, p, MaxScopePageSize)
		if err != nil {
			return nil, fmt.Errorf("page %d: %w", p, err)
		}
		all.TotalCount = s.TotalCount
		if s.StockID != "" {
			all.StockID = s.StockID
		}
		all.Data = append(all.Data, s.Data...)
		if len(s.Data) < MaxScopePageSize || len(all.Data) >= s.TotalCount {
			return all, nil
		}
	}
	return nil, fmt.Errorf("stock %s: more than %d pages of %d", stockID, MaxScopePage+1, MaxScopePageSize)
}
