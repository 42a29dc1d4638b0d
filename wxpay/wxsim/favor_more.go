package wxsim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/issuer-dev/issuer/wxpay"
)

// defaultUserCouponsLimit is §3.2.11's default page size.
const defaultUserCouponsLimit = 20

// handleUserCoupons is 根据商户号查用户的券 (seed 003 §3.2.11). With
// creator_mchid (which wins over the others) or sender_mchid it lists the
// user's 代金券 of that creator's stocks (or sent by that merchant), expired
// ones left out, filtered by stock_id and status (SENDED: usable; USED:
// usable and used, as documented), paged with offset = page number. With
// available_mchid it ignores stock_id, status and paging and lists the
// usable coupons of stocks usable at that merchant. Coupons come in issue
// order.
func (s *Server) handleUserCoupons(c *call) {
	q := c.r.URL.Query()
	openid, appid := c.r.PathValue("openid"), q.Get("appid")
	creator, sender, available := q.Get("creator_mchid"), q.Get("sender_mchid"), q.Get("available_mchid")
	status := q.Get("status")
	switch {
	case appid == "":
		s.writeError(c, paramError("appid", "appid必填").with("location", "query"))
		return
	case creator == "" && sender == "" && available == "":
		s.writeError(c, paramError("creator_mchid", "creator_mchid、sender_mchid、available_mchid必填其一").with("location", "query"))
		return
	case status != "" && status != wxpay.CouponSended && status != wxpay.CouponUsed:
		s.writeError(c, paramError("status", "status取值不合法").with("location", "query"))
		return
	}
	offset, limit := 0, defaultUserCouponsLimit
	for _, p := range []struct {
		name string
		v    *int
		min  int
	}{{"offset", &offset, 0}, {"limit", &limit, 1}} {
		if v := q.Get(p.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < p.min {
				s.writeError(c, paramError(p.name, p.name+"不合法").with("location", "query"))
				return
			}
			*p.v = n
		}
	}
	if creator != "" && creator != c.mchid {
		s.writeError(c, errf(http.StatusForbidden, "NO_AUTH", "无权限"))
		return
	}
	byAvailable := creator == "" && sender == ""
	stockID := q.Get("stock_id")

	s.mu.Lock()
	now := s.clock()
	all := []*wxpay.Coupon{}
	for _, cp := range s.coupons {
		if cp.Kind != KindFavor || cp.OpenID != openid || cp.AppID != appid || !durable(cp) {
			continue
		}
		st := s.stocks[cp.StockID]
		if st == nil || (cp.Status == wxpay.CouponSended && !st.endAt.IsZero() && now.After(st.endAt)) {
			continue // expired coupons are never listed
		}
		switch {
		case byAvailable:
			if cp.Status != wxpay.CouponSended || !slices.Contains(s.merchantsLocked(st), available) {
				continue
			}
		default:
			if (creator != "" && st.CreatorMchID != creator) || (creator == "" && cp.MchID != sender) ||
				(stockID != "" && cp.StockID != stockID) || (status == wxpay.CouponSended && cp.Status != wxpay.CouponSended) {
				continue
			}
		}
		all = append(all, s.couponViewLocked(cp))
	}
	s.mu.Unlock()

	page := all
	if !byAvailable {
		page = pageOf(all, offset, limit)
	}
	s.writeJSON(c, http.StatusOK, map[string]any{
		"data":        page,
		"total_count": len(all),
		"limit":       limit,
		"offset":      offset,
	}, sigValid)
}

// merchantsLocked is where a stock's coupons can be used.
func (s *Server) merchantsLocked(st *stock) []string {
	if len(st.Merchants) > 0 {
		return st.Merchants
	}
	return []string{st.CreatorMchID}
}

// handleStockScope is 查询代金券可用商户 / 可用单品 (seed 003 §3.2.9,
// 3.2.10): offset is the page number (≤ 500), limit ≤ 100, both required.
func (s *Server) handleStockScope(c *call, items bool) {
	q := c.r.URL.Query()
	creator := q.Get("stock_creator_mchid")
	if creator == "" {
		s.writeError(c, paramError("stock_creator_mchid", "商户号必填").with("location", "query"))
		return
	}
	var offset, limit int
	for _, p := range []struct {
		name     string
		v        *int
		min, max int
	}{{"offset", &offset, 0, wxpay.MaxScopePage}, {"limit", &limit, 1, wxpay.MaxScopePageSize}} {
		n, err := strconv.Atoi(q.Get(p.name))
		if err != nil || n < p.min || n > p.max {
			s.writeError(c, paramError(p.name, fmt.Sprintf("%s必填,取值%d到%d", p.name, p.min, p.max)).with("location", "query"))
			return
		}
		*p.v = n
	}
	stockID := c.r.PathValue("stock_id")
	s.mu.Lock()
	st, e := s.ownStockLocked(c.mchid, stockID, creator)
	var list []string
	if e == nil {
		list = s.merchantsLocked(st)
		if items {
			list = st.Items
		}
	}
	s.mu.Unlock()
	if e != nil {
		s.writeError(c, e)
		return
	}
	page := pageOf(list, offset, limit)
	s.writeJSON(c, http.StatusOK, map[string]any{
		"total_count": len(list),
		"data":        page,
		"offset":      offset,
		"limit":       limit,
		"stock_id":    stockID,
	}, sigValid)
}

// handleCallbackQuery is the query side of 设置消息通知地址 (§3.2.14). The
// simulator has one notification address, Options.CallbackURL, for all
// its merchants; notify_url is "" when none is set.
func (s *Server) handleCallbackQuery(c *call) {
	mchid := c.r.URL.Query().Get("mchid")
	switch {
	case mchid == "":
		s.writeError(c, paramError("mchid", "商户号必填").with("location", "query"))
		return
	case mchid != c.mchid:
		s.writeError(c, errf(http.StatusForbidden, "NO_AUTH", "无权限"))
		return
	}
	s.writeJSON(c, http.StatusOK, map[string]string{"notify_url": s.CallbackURL(), "mchid": mchid}, sigValid)
}

// handleCallbackSet is 设置消息通知地址 (§3.2.14): COUPON.USE notifications
// go to the new address from now on. notify_url must be https without
// query parameters; the simulator also takes http to a loopback host, so
// that tests can receive without TLS. "switch" is accepted and ignored.
func (s *Server) handleCallbackSet(c *call) {
	var in struct {
		MchID     string `json:"mchid"`
		NotifyURL string `json:"notify_url"`
		Switch    *bool  `json:"switch"`
	}
	if e := decode(c.body, &in); e != nil {
		s.writeError(c, e)
		return
	}
	switch {
	case in.MchID == "":
		s.writeError(c, paramError("mchid", "商户号必填"))
		return
	case in.NotifyURL == "":
		s.writeError(c, paramError("notify_url", "notify_url必填"))
		return
	case in.MchID != c.mchid:
		s.writeError(c, errf(http.StatusForbidden, "NO_AUTH", "无权限"))
		return
	}
	if err := wxpay.ValidNotifyURL(in.NotifyURL); err != nil {
		s.writeError(c, paramError("notify_url", "通知地址不合法,须为https且不能携带参数"))
		return
	}
	s.SetCallbackURL(in.NotifyURL)
	s.writeJSON(c, http.StatusOK, map[string]string{"update_time": wireTime(s.clock()), "notify_url": in.NotifyURL}, sigValid)
}

// GrantCoupon puts a 代金券 of stockID in openid's wallet as if another
// channel had issued it (no out_request_no of the merchant's): for tests of
// settlement, where a user holds coupons the issuer did not send. It counts
// against the stock's budget and per-user limit like any coupon, but not
// against its status. createdAt is its create_time (zero: now on the
// simulator's calendar).
func (s *Server) GrantCoupon(stockID, openid string, createdAt time.Time) (string, error) {
	if openid == "" {
		return "", errors.New("grant coupon: empty openid")
	}
	s.mu.Lock()
	st, ok := s.stocks[stockID]
	if !ok || st.Kind != KindFavor {
		s.mu.Unlock()
		return "", fmt.Errorf("grant coupon: 代金券 stock %s: %w", stockID, ErrNotFound)
	}
	appid := s.merchants[st.CreatorMchID].AppID
	if appid == "" {
		appid = s.keys.AppID
	}
	cp := s.issueLocked(st, st.CreatorMchID, openid, appid, "", "")
	if !createdAt.IsZero() {
		cp.IssuedAt = createdAt.UTC().Round(0)
	}
	s.mu.Unlock()
	if !s.commit(cp) {
		return "", errors.New("grant coupon: ledger append failed")
	}
	return cp.CouponID, nil
}

// grantBody is POST /sim/grant.
type grantBody struct {
	StockID    string    `json:"stock_id"`
	OpenID     string    `json:"openid"`
	CreateTime time.Time `json:"create_time,omitzero"`
}

type grantAnswer struct {
	CouponID string `json:"coupon_id"`
}

// clockBody is GET/PUT /sim/clock.
type clockBody struct {
	Offset Duration `json:"offset"`
}

// GrantCoupon puts a coupon in a user's wallet as if issued by another
// channel (see Server.GrantCoupon); zero createdAt means now.
func (a *AdminClient) GrantCoupon(ctx context.Context, stockID, openid string, createdAt time.Time) (string, error) {
	var out grantAnswer
	err := a.do(ctx, http.MethodPost, "grant", grantBody{StockID: stockID, OpenID: openid, CreateTime: createdAt}, &out)
	return out.CouponID, err
}

// ClockOffset reads the simulator's calendar offset.
func (a *AdminClient) ClockOffset(ctx context.Context) (time.Duration, error) {
	var out clockBody
	err := a.do(ctx, http.MethodGet, "clock", nil, &out)
	return time.Duration(out.Offset), err
}

// SetClockOffset moves the simulator's calendar by d from now.
func (a *AdminClient) SetClockOffset(ctx context.Context, d time.Duration) error {
	return a.do(ctx, http.MethodPut, "clock", clockBody{Offset: Duration(d)}, nil)
}

// adminMoreRoutes adds the clock and grant endpoints to the admin API.
func (s *Server) adminMoreRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /sim/clock", func(w http.ResponseWriter, r *http.Request) {
		adminJSON(w, http.StatusOK, clockBody{Offset: Duration(s.ClockOffset())})
	})
	setClock := func(w http.ResponseWriter, r *http.Request) {
		var in clockBody
		if !adminDecode(w, r, &in) {
			return
		}
		s.SetClockOffset(time.Duration(in.Offset))
		adminJSON(w, http.StatusOK, clockBody{Offset: Duration(s.ClockOffset())})
	}
	m.HandleFunc("PUT /sim/clock", setClock)
	m.HandleFunc("POST /sim/clock", setClock)
	m.HandleFunc("POST /sim/grant", func(w http.ResponseWriter, r *http.Request) {
		var in grantBody
		if !adminDecode(w, r, &in) {
			return
		}
		id, err := s.GrantCoupon(in.StockID, in.OpenID, in.CreateTime)
		if err != nil {
			adminFail(w, err, http.StatusBadRequest)
			return
		}
		adminJSON(w, http.StatusCreated, grantAnswer{CouponID: id})
	})
}
