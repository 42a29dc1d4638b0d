package wxsim

import (
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/issuer-dev/issuer/wxpay"
)

// prefixRule is the fixed answer for openids starting with a prefix.
type prefixRule struct {
	prefix         string
	favor, product *apiError
}

// prefixRules are documented in doc.go; keep the two in step.
func prefixRules() []prefixRule {
	both := func(p string, e *apiError) prefixRule { return prefixRule{prefix: p, favor: e, product: e} }
	return []prefixRule{
		both("abnormal_", errf(http.StatusForbidden, "USER_ACCOUNT_ABNORMAL", "用户非法")),
		both("badapp_", errf(http.StatusBadRequest, "INVALID_REQUEST", "openid与appID不匹配")),
		both("nouser_", errf(http.StatusNotFound, "USER_NOT_EXISTS", "OpenID不正确")),
		both("nomember_", errf(http.StatusForbidden, "RULE_LIMIT", "用户未开通会员功能")),
		both("param_", errf(http.StatusBadRequest, "PARAM_ERROR", "参数错误")),
		both("daylimit_", errf(http.StatusForbidden, "DAYLIMIT", "用户达到单天限领")),
		{prefix: "limited_",
			favor:   errf(http.StatusForbidden, "REQUEST_BLOCKED", "用户被限领拦截"),
			product: errf(http.StatusBadRequest, "USER_RECEIVE_LIMIT", "用户领取限制")},
		both("received_", errf(http.StatusBadRequest, "USER_ALREADY_RECEIVED", "用户已领取")),
		{prefix: "noauth_",
			favor:   errf(http.StatusForbidden, "REQUEST_BLOCKED", "商户无权发券"),
			product: errf(http.StatusForbidden, "NO_AUTH", "无权限")},
		{prefix: "noperm_",
			favor:   errf(http.StatusForbidden, "REQUEST_BLOCKED", "调用商户无权限"),
			product: errf(http.StatusForbidden, "NO_AUTH", "无权限")},
		both("crossmch_", errf(http.StatusForbidden, "REQUEST_BLOCKED", "批次不支持跨商户发券")),
		{prefix: "badmch_",
			favor:   errf(http.StatusBadRequest, "INVALID_REQUEST", "非法的商户号"),
			product: errf(http.StatusBadRequest, "MCH_NOT_EXISTS", "商户号不存在")},
		{prefix: "appmismatch_",
			favor:   errf(http.StatusBadRequest, "APPID_MCHID_NOT_MATCH", "商户号与appid不匹配"),
			product: errf(http.StatusBadRequest, "APPID_MCHID_NOT_MATCH", "AppID与请求方商户无关联关系")},
		both("badmode_", errf(http.StatusBadRequest, "INVALID_REQUEST", "发券模式不合法")),
		both("signerr_", errf(http.StatusUnauthorized, "SIGN_ERROR", msgSignError)),
		both("busy_", errf(http.StatusBadRequest, "INVALID_REQUEST", "调用频率过高")),
		{prefix: "throttle_",
			favor:   errf(http.StatusTooManyRequests, "FREQUENCY_LIMIT_EXCEED", "接口限频"),
			product: errf(http.StatusTooManyRequests, "FREQUENCY_LIMITED", "请求过于频繁")},
		both("syserr_", errf(http.StatusInternalServerError, "SYSTEM_ERROR", msgSystemError)),
		{prefix: "nobudget_",
			favor:   errf(http.StatusForbidden, "NOT_ENOUGH", "批次预算不足"),
			product: errf(http.StatusBadRequest, "STOCK_INSUFFICIENT", "批次库存不足")},
		{prefix: "notrunning_",
			favor:   errf(http.StatusBadRequest, "INVALID_REQUEST", "活动已结束或未激活"),
			product: errf(http.StatusBadRequest, "STOCK_STATE_ERROR", "批次状态错误")},
		{prefix: "expired_",
			favor:   errf(http.StatusBadRequest, "INVALID_REQUEST", "活动已结束或未激活"),
			product: errf(http.StatusBadRequest, "STOCK_EXPIRED", "批次已过期")},
		{prefix: "noproduct_",
			favor:   errf(http.StatusForbidden, "RULE_LIMIT", "券批次未关联商品信息"),
			product: errf(http.StatusBadRequest, "STOCK_NO_PRODUCT", "批次未关联商品信息")},
		both("weird_", errf(http.StatusBadRequest, "SIM_UNDOCUMENTED", "模拟器返回的未归类错误")),
	}
}

func prefixAnswer(kind Kind, openid string) *apiError {
	for _, r := range prefixRules() {
		if strings.HasPrefix(openid, r.prefix) {
			e := r.favor
			if kind == KindProduct {
				e = r.product
			}
			return e.with("openid", openid)
		}
	}
	return nil
}

// draw is one send's fault decisions, taken up front so that a seed
// reproduces them.
type draw struct {
	latency             time.Duration
	before500, after500 bool
	hang, reset         bool
	forged, probe       bool
	hangMax             time.Duration
}

func (s *Server) drawFaults() draw {
	f := s.Faults()
	d := draw{
		latency:   time.Duration(f.Latency),
		before500: s.chance(f.Before500),
		after500:  s.chance(f.After500),
		hang:      s.chance(f.HangAfter),
		reset:     s.chance(f.ResetAfter),
		forged:    s.chance(f.ForgedSig),
		probe:     s.chance(f.Probe),
		hangMax:   time.Duration(f.HangMax),
	}
	if f.Jitter > 0 {
		d.latency += time.Duration(s.randN(int64(f.Jitter)))
	}
	d.latency = s.tailLatency(d.latency)
	if d.hangMax <= 0 {
		d.hangMax = defaultHangMax
	}
	return d
}

// admit applies the rate limit, latency and the before-issue fault. It
// answers and returns false when the send goes no further.
func (s *Server) admit(c *call, kind Kind) (draw, bool) {
	now := s.now()
	s.mu.Lock()
	outage := s.outageLocked(now)
	ok := s.allowLocked(c.mchid, now)
	s.mu.Unlock()
	if outage == http.StatusInternalServerError {
		s.stats.countFault("outage_500")
		s.writeError(c, errf(http.StatusInternalServerError, "SYSTEM_ERROR", msgSystemError))
		return draw{}, false
	}
	if !ok {
		s.stats.count(now, "throttled", 1)
		if kind == KindProduct {
			s.writeError(c, errf(http.StatusTooManyRequests, "FREQUENCY_LIMITED", "请求过于频繁"))
		} else {
			s.writeError(c, errf(http.StatusTooManyRequests, "FREQUENCY_LIMIT_EXCEED", "接口限频"))
		}
		return draw{}, false
	}
	s.stats.count(now, "accepted", 1)
	d := s.drawFaults()
	if d.latency > 0 {
		s.pause(c, d.latency)
	}
	if d.before500 {
		s.stats.countFault("before_500")
		s.writeError(c, errf(http.StatusInternalServerError, "SYSTEM_ERROR", msgSystemError))
		return d, false
	}
	return d, true
}

// pause waits d. When the client leaves or the server closes first it
// aborts the handler: the connection is dropped without an answer, never
// answered with an empty 200.
func (s *Server) pause(c *call, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.r.Context().Done():
		panic(http.ErrAbortHandler)
	case <-s.done:
		panic(http.ErrAbortHandler)
	}
}

// answerIssued delivers a successful send's answer through the after-issue
// faults: reset, hang, 500, then forged or probe signatures.
func (s *Server) answerIssued(c *call, d draw, v any) {
	switch {
	case d.reset:
		s.stats.countFault("reset_after")
		s.resetConn(c)
		return
	case d.hang:
		s.stats.countFault("hang_after")
		s.pause(c, d.hangMax)
	case d.after500:
		s.stats.countFault("after_500")
		s.writeError(c, errf(http.StatusInternalServerError, "SYSTEM_ERROR", msgSystemError))
		return
	}
	mode := sigValid
	switch {
	case d.probe:
		s.stats.countFault("probe")
		mode = sigProbe
	case d.forged:
		s.stats.countFault("forged_sig")
		mode = sigForged
	}
	s.writeJSON(c, http.StatusOK, v, mode)
}

// resetConn drops the connection with an RST: SO_LINGER 0, then close.
func (s *Server) resetConn(c *call) {
	hj, ok := c.w.(http.Hijacker)
	if !ok {
		// HTTP/2: aborting the handler resets the stream.
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	raw := conn
	if nc, ok := conn.(interface{ NetConn() net.Conn }); ok {
		raw = nc.NetConn()
	}
	if tcp, ok := raw.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
}

type favorSendBody struct {
	StockID           string `json:"stock_id"`
	OutRequestNo      string `json:"out_request_no"`
	AppID             string `json:"appid"`
	StockCreatorMchID string `json:"stock_creator_mchid"`
	CouponValue       uint64 `json:"coupon_value"`
	CouponMinimum     uint64 `json:"coupon_minimum"`
}

// handleFavorSend is 发放代金券 (../shared/seeds/002_58cae772e1279f90.txt).
func (s *Server) handleFavorSend(c *call) {
	openid := c.r.PathValue("openid")
	var in favorSendBody
	if e := decode(c.body, &in); e != nil {
		s.writeError(c, e)
		return
	}
	d, ok := s.admit(c, KindFavor)
	if !ok {
		return
	}
	switch {
	case openid == "":
		s.writeError(c, paramError("openid", "openid必填"))
		return
	case in.StockID == "":
		s.writeError(c, paramError("stock_id", "批次号必填"))
		return
	case in.AppID == "":
		s.writeError(c, paramError("appid", "appid必填"))
		return
	case in.StockCreatorMchID == "":
		s.writeError(c, paramError("stock_creator_mchid", "商户号必填"))
		return
	}
	if err := wxpay.ValidOutRequestNo(in.OutRequestNo); err != nil {
		s.writeError(c, paramError("out_request_no", "商户单据号不合法"))
		return
	}
	if e := prefixAnswer(KindFavor, openid); e != nil {
		s.writeError(c, e)
		return
	}

	s.mu.Lock()
	if prev, ok := s.favorReq[key(c.mchid, in.OutRequestNo)]; ok {
		s.mu.Unlock()
		s.replayFavor(c, d, prev, openid, in)
		return
	}
	st, e := s.checkFavorLocked(c.mchid, openid, in)
	if e != nil {
		s.mu.Unlock()
		s.writeError(c, e)
		return
	}
	cp := s.issueLocked(st, c.mchid, openid, in.AppID, in.OutRequestNo, "")
	s.mu.Unlock()

	if !s.commit(cp) {
		s.writeError(c, errf(http.StatusInternalServerError, "SYSTEM_ERROR", msgSystemError))
		return
	}
	s.answerIssued(c, d, map[string]string{"coupon_id": cp.CouponID})
}

// replayFavor answers a repeated out_request_no: the same coupon_id when it
// names the same stock and user.
func (s *Server) replayFavor(c *call, d draw, prev *coupon, openid string, in favorSendBody) {
	if !s.awaitDurable(c, prev) {
		s.writeError(c, errf(http.StatusInternalServerError, "SYSTEM_ERROR", msgSystemError))
		return
	}
	if prev.StockID != in.StockID || prev.OpenID != openid {
		s.writeError(c, errf(http.StatusBadRequest, "INVALID_REQUEST", "商户单据号已用于其他发券请求").
			with("out_request_no", in.OutRequestNo))
		return
	}
	s.stats.count(s.now(), "replayed", 1)
	s.answerIssued(c, d, map[string]string{"coupon_id": prev.CouponID})
}

func (s *Server) checkFavorLocked(mchid, openid string, in favorSendBody) (*stock, *apiError) {
	st, ok := s.stocks[in.StockID]
	if !ok || st.Kind != KindFavor {
		return nil, errf(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "批次不存在").with("stock_id", in.StockID)
	}
	if mchid != st.CreatorMchID {
		return nil, errf(http.StatusForbidden, "REQUEST_BLOCKED", "商户无权发券")
	}
	if in.StockCreatorMchID != st.CreatorMchID {
		return nil, errf(http.StatusBadRequest, "INVALID_REQUEST", "非法的商户号")
	}
	if m := s.merchants[mchid]; m.AppID != "" && in.AppID != m.AppID {
		return nil, errf(http.StatusBadRequest, "APPID_MCHID_NOT_MATCH", "商户号与appid不匹配")
	}
	if s.statusLocked(st) != StatusRunning {
		return nil, errf(http.StatusBadRequest, "INVALID_REQUEST", "活动已结束或未激活")
	}
	if s.issuedByStock[st.ID] >= st.Budget {
		return nil, errf(http.StatusForbidden, "NOT_ENOUGH", "批次预算不足")
	}
	if st.PerUser > 0 && s.perUser[key(st.ID, openid)] >= st.PerUser {
		return nil, errf(http.StatusForbidden, "REQUEST_BLOCKED", "用户被限领拦截")
	}
	return st, nil
}

type productSendBody struct {
	OpenID       string `json:"openid"`
	AppID        string `json:"appid"`
	StockID      string `json:"stock_id"`
	OutRequestNo string `json:"out_request_no"`
	CouponCode   string `json:"coupon_code"`
	CouponType   string `json:"coupon_type"`
	MemberCardID string `json:"member_card_id"`
}

// handleProductSend is 向用户发放商品券 (../shared/seeds/001_cccd931d1aeabe10.txt).
func (s *Server) handleProductSend(c *call) {
	var in productSendBody
	if e := decode(c.body, &in); e != nil {
		s.writeError(c, e)
		return
	}
	d, ok := s.admit(c, KindProduct)
	if !ok {
		return
	}
	for _, f := range []struct{ name, v string }{
		{"openid", in.OpenID}, {"appid", in.AppID}, {"stock_id", in.StockID},
		{"out_request_no", in.OutRequestNo}, {"coupon_type", in.CouponType},
	} {
		if f.v == "" {
			s.writeError(c, paramError(f.name, f.name+"必填"))
			return
		}
	}
	if err := wxpay.ValidOutRequestNo(in.OutRequestNo); err != nil {
		s.writeError(c, paramError("out_request_no", "发券凭证不合法"))
		return
	}
	switch in.CouponType {
	case "NORMAL":
	case "MEMBER":
		if in.MemberCardID == "" {
			s.writeError(c, paramError("member_card_id", "会员券必须填写member_card_id"))
			return
		}
	default:
		s.writeError(c, paramError("coupon_type", "coupon_type取值不合法"))
		return
	}
	if e := prefixAnswer(KindProduct, in.OpenID); e != nil {
		s.writeError(c, e)
		return
	}

	s.mu.Lock()
	if prev, ok := s.productReq[key(in.StockID, in.OutRequestNo)]; ok {
		s.mu.Unlock()
		if !s.awaitDurable(c, prev) {
			s.writeError(c, errf(http.StatusInternalServerError, "SYSTEM_ERROR", msgSystemError))
			return
		}
		s.stats.count(s.now(), "replayed", 1)
		s.writeError(c, errf(http.StatusBadRequest, "RESOURCE_ALREADY_EXISTS", "发券凭证已存在").
			with("out_request_no", in.OutRequestNo))
		return
	}
	st, e := s.checkProductLocked(c.mchid, in)
	if e != nil {
		s.mu.Unlock()
		s.writeError(c, e)
		return
	}
	cp := s.issueLocked(st, c.mchid, in.OpenID, in.AppID, in.OutRequestNo, in.CouponCode)
	s.mu.Unlock()

	if !s.commit(cp) {
		s.writeError(c, errf(http.StatusInternalServerError, "SYSTEM_ERROR", msgSystemError))
		return
	}
	s.answerIssued(c, d, map[string]any{"send_coupon_result": map[string]string{
		"stock_id":       cp.StockID,
		"out_request_no": cp.OutRequestNo,
		"coupon_code":    cp.CouponCode,
	}})
}

func (s *Server) checkProductLocked(mchid string, in productSendBody) (*stock, *apiError) {
	st, ok := s.stocks[in.StockID]
	if !ok || st.Kind != KindProduct {
		return nil, errf(http.StatusBadRequest, "STOCK_NOT_EXISTS", "批次不存在").with("stock_id", in.StockID)
	}
	if mchid != st.CreatorMchID {
		return nil, errf(http.StatusForbidden, "NO_AUTH", "无权限")
	}
	if m := s.merchants[mchid]; m.AppID != "" && in.AppID != m.AppID {
		return nil, errf(http.StatusBadRequest, "APPID_MCHID_NOT_MATCH", "AppID与请求方商户无关联关系")
	}
	switch s.statusLocked(st) {
	case StatusRunning:
	case StatusExpired:
		return nil, errf(http.StatusBadRequest, "STOCK_EXPIRED", "批次已过期")
	default:
		return nil, errf(http.StatusBadRequest, "STOCK_STATE_ERROR", "批次状态错误")
	}
	if s.issuedByStock[st.ID] >= st.Budget {
		return nil, errf(http.StatusBadRequest, "STOCK_INSUFFICIENT", "批次库存不足")
	}
	if st.PerUser > 0 && s.perUser[key(st.ID, in.OpenID)] >= st.PerUser {
		return nil, errf(http.StatusBadRequest, "USER_RECEIVE_LIMIT", "用户领取限制")
	}
	if in.CouponCode != "" && s.productCodes[key(st.ID, in.CouponCode)] {
		return nil, paramError("coupon_code", "券code已被使用")
	}
	return st, nil
}

// issueLocked records a new coupon in memory; commit makes it durable.
func (s *Server) issueLocked(st *stock, mchid, openid, appid, outRequestNo, code string) *coupon {
	id := s.newCouponIDLocked()
	if st.Kind == KindProduct && code == "" {
		code = id
	}
	cp := &coupon{
		Coupon: Coupon{
			CouponID:      id,
			Kind:          st.Kind,
			StockID:       st.ID,
			OpenID:        openid,
			OutRequestNo:  outRequestNo,
			MchID:         mchid,
			AppID:         appid,
			CouponCode:    code,
			IssuedAt:      s.stamp(),
			Status:        wxpay.CouponSended,
			CouponAmount:  st.CouponValue,
			CouponMinimum: st.CouponMinimum,
		},
		ready: make(chan struct{}),
	}
	s.indexLocked(cp)
	return cp
}

func (s *Server) indexLocked(cp *coupon) {
	s.coupons = append(s.coupons, cp)
	s.byID[cp.CouponID] = cp
	if cp.Kind == KindProduct {
		s.productReq[key(cp.StockID, cp.OutRequestNo)] = cp
		s.productCodes[key(cp.StockID, cp.CouponCode)] = true
	} else if cp.OutRequestNo != "" { // "": granted, not sent by the merchant
		s.favorReq[key(cp.MchID, cp.OutRequestNo)] = cp
	}
	s.issuedByStock[cp.StockID]++
	s.perUser[key(cp.StockID, cp.OpenID)]++
}

func (s *Server) unindexLocked(cp *coupon) {
	for i := len(s.coupons) - 1; i >= 0; i-- {
		if s.coupons[i] == cp {
			s.coupons = append(s.coupons[:i], s.coupons[i+1:]...)
			break
		}
	}
	delete(s.byID, cp.CouponID)
	if cp.Kind == KindProduct {
		delete(s.productReq, key(cp.StockID, cp.OutRequestNo))
		delete(s.productCodes, key(cp.StockID, cp.CouponCode))
	} else if cp.OutRequestNo != "" {
		delete(s.favorReq, key(cp.MchID, cp.OutRequestNo))
	}
	s.issuedByStock[cp.StockID]--
	s.perUser[key(cp.StockID, cp.OpenID)]--
}

// commit persists a new coupon before anyone hears of it; on failure the
// coupon is rolled back, as if never issued.
func (s *Server) commit(cp *coupon) bool {
	defer close(cp.ready)
	if err := s.appendLedger(ledgerRecord{Type: recordCoupon, Coupon: &cp.Coupon}); err != nil {
		s.log.Error("sim ledger append", "coupon_id", cp.CouponID, "err", err)
		s.mu.Lock()
		s.unindexLocked(cp)
		cp.failed = true
		s.mu.Unlock()
		return false
	}
	s.stats.count(s.now(), "issued", 1)
	return true
}

// awaitDurable waits until cp is durable and reports whether it was kept
// (false: its ledger append failed and it was rolled back).
func (s *Server) awaitDurable(c *call, cp *coupon) bool {
	select {
	case <-cp.ready:
		return !cp.failed
	case <-c.r.Context().Done():
		panic(http.ErrAbortHandler)
	case <-s.done:
		panic(http.ErrAbortHandler)
	}
}
