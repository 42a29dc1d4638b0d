package wxpay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// The rest of seed 003: a stock's scope (§3.2.9, §3.2.10), a user's coupons
// (§3.2.11), the notification address (§3.2.14), and stopping a stock.
const (
	PathStockStop      = "/v3/marketing/favor/stocks/{stock_id}/stop"
	PathStockMerchants = "/v3/marketing/favor/stocks/{stock_id}/merchants"
	PathStockItems     = "/v3/marketing/favor/stocks/{stock_id}/items"
	PathUserCoupons    = "/v3/marketing/favor/users/{openid}/coupons" // GET; POST is the send
	PathCallbacks      = "/v3/marketing/favor/callbacks"
)

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

// ErrTooManyPages is returned by AllUserCoupons when the list goes on past
// its bound: narrow the query (StockID) rather than trust a partial list.
var ErrTooManyPages = errors.New("wxpay: too many pages")

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

// CallbackRequest sets the merchant's 营销 notification address (§3.2.14).
// Empty MchID means the client's mchid.
type CallbackRequest struct {
	MchID     string `json:"mchid"`
	NotifyURL string `json:"notify_url"`
	// Switch, when set, turns notifications on (true) or off.
	Switch *bool `json:"switch,omitempty"`
}

// CallbackSetting is the registered notification address: the answer to
// the query (notify_url, mchid) or to the update (update_time, notify_url).
type CallbackSetting struct {
	MchID      string `json:"mchid,omitempty"`
	NotifyURL  string `json:"notify_url"`
	UpdateTime string `json:"update_time,omitempty"`
}

// ValidNotifyURL checks WeChat Pay's rules for a notification address: an
// absolute https URL without query parameters (or fragment). Plain http is
// allowed for loopback hosts only, so that the simulator and tests can
// receive notifications without TLS; WeChat Pay itself never accepts it.
func ValidNotifyURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("notify_url %q is not a URL", s)
	}
	switch {
	case u.Host == "" || !u.IsAbs():
		return fmt.Errorf("notify_url %q is not an absolute URL", s)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return fmt.Errorf("notify_url %q must not carry query parameters", s)
	case u.User != nil:
		return fmt.Errorf("notify_url %q must not carry credentials", s)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && loopbackHost(u.Hostname()):
		return nil
	}
	return fmt.Errorf("notify_url %q must be https", s)
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// SetCallback registers the notification address (COUPON.USE and other
// marketing events go there). The URL is checked with ValidNotifyURL first.
func (c *Client) SetCallback(ctx context.Context, req CallbackRequest) (*CallbackSetting, error) {
	if req.MchID == "" {
		req.MchID = c.mchID
	}
	if err := ValidNotifyURL(req.NotifyURL); err != nil {
		return nil, fmt.Errorf("set callback: %w: %w", ErrInvalidRequest, err)
	}
	var out CallbackSetting
	if _, err := c.call(ctx, http.MethodPost, PathCallbacks, req, &out, false); err != nil {
		return nil, err
	}
	if out.MchID == "" {
		out.MchID = req.MchID
	}
	return &out, nil
}

// Callback reads the registered notification address; empty mchid means
// the client's. NotifyURL is empty when none is registered.
func (c *Client) Callback(ctx context.Context, mchid string) (*CallbackSetting, error) {
	if mchid == "" {
		mchid = c.mchID
	}
	var out CallbackSetting
	uri := PathCallbacks + "?" + url.Values{"mchid": {mchid}}.Encode()
	if _, err := c.call(ctx, http.MethodGet, uri, nil, &out, false); err != nil {
		return nil, err
	}
	if out.MchID == "" {
		out.MchID = mchid
	}
	return &out, nil
}
