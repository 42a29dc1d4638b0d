package wxsim

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/issuer-dev/issuer/wxpay"
)

type createStockBody struct {
	StockName          string `json:"stock_name"`
	Comment            string `json:"comment"`
	BelongMerchant     string `json:"belong_merchant"`
	AvailableBeginTime string `json:"available_begin_time"`
	AvailableEndTime   string `json:"available_end_time"`
	StockUseRule       struct {
		MaxCoupons        int64 `json:"max_coupons"`
		MaxAmount         int64 `json:"max_amount"`
		MaxCouponsPerUser int64 `json:"max_coupons_per_user"`
	} `json:"stock_use_rule"`
	CouponUseRule struct {
		FixedNormalCoupon *struct {
			CouponAmount       int64 `json:"coupon_amount"`
			TransactionMinimum int64 `json:"transaction_minimum"`
		} `json:"fixed_normal_coupon"`
	} `json:"coupon_use_rule"`
	NoCash       bool   `json:"no_cash"`
	StockType    string `json:"stock_type"`
	OutRequestNo string `json:"out_request_no"`
}

// handleStockCreate is 创建代金券批次 (../shared/seeds/003_349c2f9f2becfc1b.txt §3.2.1). The new stock is
// unactivated until started. Repeating an out_request_no answers the stock it
// created.
func (s *Server) handleStockCreate(c *call) {
	var in createStockBody
	if e := decode(c.body, &in); e != nil {
		s.writeError(c, e)
		return
	}
	begin, end, e := in.check()
	if e != nil {
		s.writeError(c, e)
		return
	}
	rule, fixed := in.StockUseRule, in.CouponUseRule.FixedNormalCoupon
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	if id, ok := s.stockCreateReq[key(c.mchid, in.OutRequestNo)]; ok {
		st := s.stocks[id]
		s.writeJSON(c, http.StatusOK, map[string]string{"stock_id": id, "create_time": wireTime(st.createdAt)}, sigValid)
		return
	}
	var id string
	for {
		id = strconv.FormatUint(s.nextStock, 10)
		s.nextStock++
		if _, taken := s.stocks[id]; !taken {
			break
		}
	}
	st := &stock{
		StockSpec: StockSpec{
			ID: id, Kind: KindFavor, Name: in.StockName,
			Budget: int(rule.MaxCoupons), PerUser: int(rule.MaxCouponsPerUser),
			Status: StatusUnactivated, CreatorMchID: c.mchid,
			CouponValue: fixed.CouponAmount, CouponMinimum: fixed.TransactionMinimum,
		},
		description:  in.Comment,
		createdAt:    now,
		beginAt:      begin,
		endAt:        end,
		outRequestNo: in.OutRequestNo,
	}
	s.stocks[id] = st
	s.stockOrder = append(s.stockOrder, id)
	s.stockCreateReq[key(c.mchid, in.OutRequestNo)] = id
	s.writeJSON(c, http.StatusOK, map[string]string{"stock_id": id, "create_time": wireTime(now)}, sigValid)
}

// check checks a stock to create as WeChat Pay does, and returns its
// availability.
func (in *createStockBody) check() (begin, end time.Time, e *apiError) {
	rule, fixed := in.StockUseRule, in.CouponUseRule.FixedNormalCoupon
	switch {
	case in.StockName == "":
		return time.Time{}, time.Time{}, paramError("stock_name", "stock_name必填")
	case utf8.RuneCountInString(in.StockName) > 20:
		return time.Time{}, time.Time{}, paramError("stock_name", "批次名称过长")
	case in.BelongMerchant == "":
		return time.Time{}, time.Time{}, paramError("belong_merchant", "商户号必填")
	case in.OutRequestNo == "":
		return time.Time{}, time.Time{}, paramError("out_request_no", "out_request_no必填")
	case in.StockType != "NORMAL":
		return time.Time{}, time.Time{}, paramError("stock_type", "stock_type目前只支持NORMAL")
	case fixed == nil || fixed.CouponAmount <= 0:
		return time.Time{}, time.Time{}, paramError("coupon_use_rule.fixed_normal_coupon", "券面额必填")
	case fixed.TransactionMinimum <= fixed.CouponAmount:
		return time.Time{}, time.Time{}, paramError("transaction_minimum", "使用门槛须大于面额")
	case rule.MaxCoupons <= 0:
		return time.Time{}, time.Time{}, paramError("max_coupons", "发放总上限必填")
	case rule.MaxAmount != fixed.CouponAmount*rule.MaxCoupons:
		return time.Time{}, time.Time{}, paramError("max_amount", "批次预算等于批次面额乘以发券数")
	case rule.MaxCouponsPerUser < 0:
		return time.Time{}, time.Time{}, paramError("max_coupons_per_user", "单个用户可领个数不合法")
	}
	if err := wxpay.ValidOutRequestNo(in.OutRequestNo); err != nil {
		return time.Time{}, time.Time{}, paramError("out_request_no", "out_request_no不合法")
	}
	begin, err1 := time.Parse(time.RFC3339, in.AvailableBeginTime)
	end, err2 := time.Parse(time.RFC3339, in.AvailableEndTime)
	switch {
	case err1 != nil || err2 != nil:
		return time.Time{}, time.Time{}, paramError("available_begin_time", "输入时间格式错误")
	case !end.After(begin) || end.Sub(begin) > 90*24*time.Hour:
		return time.Time{}, time.Time{}, errf(http.StatusBadRequest, "INVALID_REQUEST", "活动未开始或已结束")
	}

	return begin, end, nil
}

// handleStockAction is start, pause and restart (../shared/seeds/003_349c2f9f2becfc1b.txt §3.2.2, 3.2.4,
// 3.2.5) and stop. Repeating an action on a stock already in its target
// state succeeds. Stop ends the stock for good ("stoped"): a stopped stock
// is never restarted, and sends answer 活动已结束或未激活.
func (s *Server) handleStockAction(c *call) {
	action := c.r.PathValue("action")
	var from []Status
	var to Status
	var timeField string
	switch action {
	case "start":
		from, to, timeField = []Status{StatusUnactivated}, StatusRunning, "start_time"
	case "pause":
		from, to, timeField = []Status{StatusRunning}, StatusPaused, "pause_time"
	case "restart":
		from, to, timeField = []Status{StatusPaused}, StatusRunning, "restart_time"
	case "stop":
		from, to, timeField = []Status{StatusUnactivated, StatusRunning, StatusPaused}, StatusExpired, "stop_time"
	default:
		s.writeError(c, errf(http.StatusNotFound, "NOT_FOUND", "请求的资源不存在").with("url", c.r.URL.Path))
		return
	}
	var in struct {
		StockCreatorMchID string `json:"stock_creator_mchid"`
	}
	if e := decode(c.body, &in); e != nil {
		s.writeError(c, e)
		return
	}
	if in.StockCreatorMchID == "" {
		s.writeError(c, paramError("stock_creator_mchid", "商户号必填"))
		return
	}
	stockID := c.r.PathValue("stock_id")
	s.mu.Lock()
	defer s.mu.Unlock()
	st, e := s.ownStockLocked(c.mchid, stockID, in.StockCreatorMchID)
	if e != nil {
		s.writeError(c, e)
		return
	}
	now := s.clock()
	switch cur := s.statusLocked(st); {
	case cur == to:
		if to == StatusExpired {
			now = s.stopTimeLocked(st)
		}
	case slices.Contains(from, cur):
		st.Status = to
		switch action {
		case "start":
			st.startedAt = now
		case "stop":
			st.stoppedAt = now
		}
	default:
		s.writeError(c, errf(http.StatusBadRequest, "INVALID_REQUEST", "批次当前状态不支持此操作").
			with("status", cur.wire()))
		return
	}
	s.writeJSON(c, http.StatusOK, map[string]string{"stock_id": stockID, timeField: wireTime(now)}, sigValid)
}

// stopTimeLocked is when an ended stock ended: stopped (or expired by the
// admin API), or else past its availability.
func (s *Server) stopTimeLocked(st *stock) time.Time {
	if st.Status == StatusExpired && !st.stoppedAt.IsZero() {
		return st.stoppedAt
	}
	return st.endAt
}

// ownStockLocked finds a 代金券 stock the caller created.
func (s *Server) ownStockLocked(mchid, stockID, creator string) (*stock, *apiError) {
	st, ok := s.stocks[stockID]
	if !ok || st.Kind != KindFavor || st.CreatorMchID != creator {
		return nil, errf(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "批次不存在").with("stock_id", stockID)
	}
	if mchid != st.CreatorMchID {
		return nil, errf(http.StatusForbidden, "NO_AUTH", "无权限")
	}
	return st, nil
}

// handleStockQuery is 查询批次详情 (../shared/seeds/003_349c2f9f2becfc1b.txt §3.2.7).
func (s *Server) handleStockQuery(c *call) {
	creator := c.r.URL.Query().Get("stock_creator_mchid")
	if creator == "" {
		s.writeError(c, paramError("stock_creator_mchid", "商户号必填").with("location", "query"))
		return
	}
	s.mu.Lock()
	st, e := s.ownStockLocked(c.mchid, c.r.PathValue("stock_id"), creator)
	var v map[string]any
	if e == nil {
		v = s.stockJSONLocked(st)
	}
	s.mu.Unlock()
	if e != nil {
		s.writeError(c, e)
		return
	}
	s.writeJSON(c, http.StatusOK, v, sigValid)
}

func (s *Server) stockJSONLocked(st *stock) map[string]any {
	v := map[string]any{
		"stock_id":            st.ID,
		"stock_creator_mchid": st.CreatorMchID,
		"stock_name":          st.Name,
		"status":              s.statusLocked(st).wire(),
		"create_time":         wireTime(st.createdAt),
		"description":         st.description,
		"stock_use_rule": map[string]any{
			"max_coupons":          st.Budget,
			"max_amount":           int64(st.Budget) * st.CouponValue,
			"max_amount_by_day":    int64(st.Budget) * st.CouponValue,
			"max_coupons_per_user": st.PerUser,
			"fixed_normal_coupon": map[string]int64{
				"coupon_amount":       st.CouponValue,
				"transaction_minimum": st.CouponMinimum,
			},
			"coupon_type": "NORMAL",
			"trade_type":  []string{},
			"combine_use": false,
		},
		"available_begin_time": wireTime(st.beginAt),
		"available_end_time":   wireTime(st.endAt),
		"distributed_coupons":  s.issuedByStock[st.ID],
		"no_cash":              false,
		"singleitem":           false,
		"stock_type":           "NORMAL",
	}
	if !st.startedAt.IsZero() {
		v["start_time"] = wireTime(st.startedAt)
	}
	if s.statusLocked(st) == StatusExpired {
		v["stop_time"] = wireTime(s.stopTimeLocked(st))
	}
	return v
}

// maxPageSize is the list's documented page size limit.
const maxPageSize = 10

// handleStockList is 条件查询批次列表 (../shared/seeds/003_349c2f9f2becfc1b.txt §3.2.6). offset is the page
// number, from 0, as WeChat Pay documents it; limit is at most 10.
func (s *Server) handleStockList(c *call) {
	q := c.r.URL.Query()
	creator := q.Get("stock_creator_mchid")
	if creator == "" {
		s.writeError(c, paramError("stock_creator_mchid", "商户号必填").with("location", "query"))
		return
	}
	offset, limit := 0, maxPageSize
	var err error
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			s.writeError(c, paramError("offset", "offset不合法").with("location", "query"))
			return
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 {
			s.writeError(c, paramError("limit", "limit不合法").with("location", "query"))
			return
		}
	}
	if limit > maxPageSize {
		s.writeError(c, paramError("limit", "页大小超过阈值").with("location", "query"))
		return
	}
	status := q.Get("status")
	var createStart, createEnd time.Time
	for _, f := range []struct {
		name string
		t    *time.Time
	}{{"create_start_time", &createStart}, {"create_end_time", &createEnd}} {
		if v := q.Get(f.name); v != "" {
			if *f.t, err = time.Parse(time.RFC3339, v); err != nil {
				s.writeError(c, paramError(f.name, "输入时间格式错误").with("location", "query"))
				return
			}
		}
	}
	if creator != c.mchid {
		s.writeError(c, errf(http.StatusForbidden, "NO_AUTH", "无权限"))
		return
	}
	s.mu.Lock()
	var all []map[string]any
	for _, id := range s.stockOrder {
		st := s.stocks[id]
		if st.Kind != KindFavor || st.CreatorMchID != creator {
			continue
		}
		if status != "" && s.statusLocked(st).wire() != status {
			continue
		}
		if (!createStart.IsZero() && st.createdAt.Before(createStart)) || (!createEnd.IsZero() && st.createdAt.After(createEnd)) {
			continue
		}
		all = append(all, s.stockJSONLocked(st))
	}
	s.mu.Unlock()
	page := pageOf(all, offset, limit)
	s.writeJSON(c, http.StatusOK, map[string]any{
		"total_count": len(all),
		"limit":       limit,
		"offset":      offset,
		"data":        page,
	}, sigValid)
}

// pageOf is page number offset of list, limit to a page, as WeChat Pay's
// list queries count offset: never nil, so that it marshals as [].
func pageOf[T any](list []T, offset, limit int) []T {
	if start := offset * limit; start < len(list) {
		return list[start:min(len(list), start+limit)]
	}
	return []T{}
}

// merchantsLocked is where a stock's coupons can be used.
func (s *Server) merchantsLocked(st *stock) []string {
	if len(st.Merchants) > 0 {
		return st.Merchants
	}
	return []string{st.CreatorMchID}
}

// handleStockScope is 查询代金券可用商户 / 可用单品 (../shared/seeds/003_349c2f9f2becfc1b.txt §3.2.9,
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
