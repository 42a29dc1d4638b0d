package wxsim

import (
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

// handleUserCoupons is 根据商户号查用户的券 (../shared/seeds/003_349c2f9f2becfc1b.txt §3.2.11). With
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

// handleCouponQuery is 查询代金券详情 (../shared/seeds/003_349c2f9f2becfc1b.txt §3.2.8).
func (s *Server) handleCouponQuery(c *call) {
	appid := c.r.URL.Query().Get("appid")
	if appid == "" {
		s.writeError(c, paramError("appid", "appid必填").with("location", "query"))
		return
	}
	openid, couponID := c.r.PathValue("openid"), c.r.PathValue("coupon_id")
	s.mu.Lock()
	cp, ok := s.byID[couponID]
	var v *wxpay.Coupon
	if ok && cp.Kind == KindFavor && cp.OpenID == openid {
		v = s.couponViewLocked(cp)
	}
	s.mu.Unlock()
	if v == nil {
		s.writeError(c, errf(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "券不存在").with("coupon_id", couponID))
		return
	}
	s.writeJSON(c, http.StatusOK, v, sigValid)
}
