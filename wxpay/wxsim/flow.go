package wxsim

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/issuer-dev/issuer/wxpay"
)

type flowKind int

const (
	flowUse flowKind = iota
	flowRefund
)

// Redeem simulates the use of a fraction (0..1, rounded to the nearest
// coupon) of the 代金券 still unused, of one stock or of all ("") — picked
// with the seeded generator — and queues a COUPON.USE notification for each
// when a callback URL is set. It returns how many were redeemed.
func (s *Server) Redeem(stockID string, fraction float64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	eligible, err := s.pickLocked(stockID, fraction, func(cp *coupon) bool { return cp.Use == nil })
	if err != nil {
		return 0, fmt.Errorf("redeem: %w", err)
	}
	if len(eligible) == 0 {
		return 0, nil
	}
	now := s.stamp()
	uses := make([]*Use, len(eligible))
	recs := make([]ledgerRecord, len(eligible))
	for i, cp := range eligible {
		creator := cp.MchID
		if st := s.stocks[cp.StockID]; st != nil {
			creator = st.CreatorMchID
		}
		s.nextTxn++
		uses[i] = &Use{
			At:            now,
			ConsumeMchID:  creator,
			TransactionID: fmt.Sprintf("4200%06d%s%010d", s.randN(1_000_000), now.In(wxpay.Beijing()).Format("20060102"), s.nextTxn),
			OrderAmount:   cp.CouponMinimum + s.randN(5000),
		}
		recs[i] = ledgerRecord{Type: recordUse, CouponID: cp.CouponID, Use: uses[i]}
	}
	if err := s.appendLedger(recs...); err != nil {
		return 0, fmt.Errorf("redeem: %w", err)
	}
	url := s.callbackURL
	for i, cp := range eligible {
		cp.Use, cp.Status = uses[i], wxpay.CouponUsed
		if url != "" {
			s.queueCouponUseLocked(cp)
		}
	}
	s.stats.count(s.now(), "redeemed", int64(len(eligible)))
	return len(eligible), nil
}

// Refund simulates the refund of a fraction of the redeemed, not yet
// refunded 代金券 of one stock or of all (""). It returns how many.
func (s *Server) Refund(stockID string, fraction float64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	eligible, err := s.pickLocked(stockID, fraction, func(cp *coupon) bool { return cp.Use != nil && cp.RefundedAt == nil })
	if err != nil {
		return 0, fmt.Errorf("refund: %w", err)
	}
	if len(eligible) == 0 {
		return 0, nil
	}
	now := s.stamp()
	recs := make([]ledgerRecord, len(eligible))
	for i, cp := range eligible {
		recs[i] = ledgerRecord{Type: recordRefund, CouponID: cp.CouponID, At: &now}
	}
	if err := s.appendLedger(recs...); err != nil {
		return 0, fmt.Errorf("refund: %w", err)
	}
	for _, cp := range eligible {
		at := now
		cp.RefundedAt = &at
	}
	s.stats.count(s.now(), "refunded", int64(len(eligible)))
	return len(eligible), nil
}

// pickLocked chooses round(fraction·n) of the durable 代金券 of stockID
// (or of all, "") matching ok, in issue order.
func (s *Server) pickLocked(stockID string, fraction float64, ok func(*coupon) bool) ([]*coupon, error) {
	if fraction < 0 || fraction > 1 || math.IsNaN(fraction) {
		return nil, fmt.Errorf("fraction %v outside [0, 1]", fraction)
	}
	if stockID != "" {
		if st, found := s.stocks[stockID]; !found || st.Kind != KindFavor {
			return nil, fmt.Errorf("代金券 stock %s: %w", stockID, ErrNotFound)
		}
	}
	var pool []*coupon
	for _, cp := range s.coupons {
		if cp.Kind != KindFavor || (stockID != "" && cp.StockID != stockID) || !durable(cp) || !ok(cp) {
			continue
		}
		pool = append(pool, cp)
	}
	n := int(math.Round(fraction * float64(len(pool))))
	if n == 0 {
		return nil, nil
	}
	idx := make([]int, len(pool))
	for i := range idx {
		idx[i] = i
	}
	s.shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
	idx = idx[:n]
	sort.Ints(idx)
	out := make([]*coupon, n)
	for i, j := range idx {
		out[i] = pool[j]
	}
	return out, nil
}

func durable(cp *coupon) bool {
	select {
	case <-cp.ready:
		return !cp.failed
	default:
		return false
	}
}

// flowRowsLocked are a stock's redemptions or refunds, oldest first.
func (s *Server) flowRowsLocked(stockID string, kind flowKind) []wxpay.FlowRow {
	var rows []wxpay.FlowRow
	for _, cp := range s.coupons {
		if cp.StockID != stockID || cp.Use == nil || (kind == flowRefund && cp.RefundedAt == nil) {
			continue
		}
		r := wxpay.FlowRow{
			StockID:       cp.StockID,
			CouponID:      cp.CouponID,
			CouponType:    "全场代金券",
			Amount:        cp.CouponAmount,
			OrderAmount:   cp.Use.OrderAmount,
			TradeType:     "支付",
			TransactionID: cp.Use.TransactionID,
			Time:          cp.Use.At,
			MchID:         cp.Use.ConsumeMchID,
			DeviceNo:      cp.Use.DeviceID,
			BankSerialNo:  cp.Use.BankSerial,
		}
		if kind == flowRefund {
			r.TradeType, r.Time = "退款", *cp.RefundedAt
		}
		rows = append(rows, r)
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Time.Before(rows[j].Time) })
	return rows
}

// handleFlowMeta is 下载批次核销明细 / 下载批次退款明细 (../shared/seeds/003_349c2f9f2becfc1b.txt §3.2.12,
// 3.2.13): a 30-second download url and the file's SHA1, in an unsigned
// answer as WeChat Pay's. A file exists from 10:00 Beijing time the day
// after the stock ended (FlowsAvailable), on the simulator's calendar, and
// only when something was redeemed (refunded); before that, 404
// RESOURCE_NOT_EXISTS 账单文件不存在. Options.EarlyFlows drops the wait.
func (s *Server) handleFlowMeta(c *call, kind flowKind) {
	stockID := c.r.PathValue("stock_id")
	s.mu.Lock()
	st, ok := s.stocks[stockID]
	var rows []wxpay.FlowRow
	ready := s.early
	if ok && st.Kind == KindFavor {
		rows = s.flowRowsLocked(stockID, kind)
		if s.statusLocked(st) == StatusExpired && !s.clock().Before(FlowsAvailable(s.stopTimeLocked(st))) {
			ready = true
		}
	}
	s.mu.Unlock()
	switch {
	case !ok || st.Kind != KindFavor:
		s.writeError(c, errf(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "批次不存在").with("stock_id", stockID))
		return
	case c.mchid != st.CreatorMchID:
		s.writeError(c, errf(http.StatusForbidden, "NO_AUTH", "无权限"))
		return
	case !ready || len(rows) == 0:
		s.writeError(c, errf(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "账单文件不存在").with("stock_id", stockID))
		return
	}
	var buf bytes.Buffer
	wk := wxpay.FlowUse
	if kind == flowRefund {
		wk = wxpay.FlowRefund
	}
	if err := wxpay.WriteFlowFile(&buf, wk, rows); err != nil {
		s.log.Error("sim flow file", "stock_id", stockID, "err", err)
		s.writeError(c, errf(http.StatusInternalServerError, "SYSTEM_ERROR", msgSystemError))
		return
	}
	sum := sha1.Sum(buf.Bytes())
	token := newToken()
	now := s.now()
	s.mu.Lock()
	for t, d := range s.downloads {
		if now.After(d.expires) {
			delete(s.downloads, t)
		}
	}
	s.downloads[token] = download{data: buf.Bytes(), expires: now.Add(s.flowTTL)}
	s.mu.Unlock()
	s.writeJSON(c, http.StatusOK, map[string]string{
		"url":        s.base(c.r) + "/v3/billdownload/file?token=" + token,
		"hash_type":  "SHA1",
		"hash_value": hex.EncodeToString(sum[:]),
	}, sigNone)
}

// handleDownload serves a flow file: the request is signed like any other,
// the answer is not.
func (s *Server) handleDownload(c *call) {
	token := c.r.URL.Query().Get("token")
	now := s.now()
	s.mu.Lock()
	d, ok := s.downloads[token]
	if ok && now.After(d.expires) {
		delete(s.downloads, token)
		ok = false
	}
	s.mu.Unlock()
	if token == "" || !ok {
		s.writeError(c, errf(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "账单文件不存在或下载链接已过期"))
		return
	}
	h := c.w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.Itoa(len(d.data)))
	h.Set(wxpay.HeaderRequestID, c.requestID)
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write(d.data)
}

// FlowsAvailable is when WeChat Pay publishes the flow files of a stock
// that ended at end: 10:00 Beijing time the next day.
func FlowsAvailable(end time.Time) time.Time {
	d := end.In(wxpay.Beijing())
	return time.Date(d.Year(), d.Month(), d.Day()+1, 10, 0, 0, 0, wxpay.Beijing())
}

func (s *Server) base(r *http.Request) string {
	if s.baseURL != "" {
		return s.baseURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func newToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// couponViewLocked is a 代金券 as queried, and as in COUPON.USE once used.
func (s *Server) couponViewLocked(cp *coupon) *wxpay.Coupon {
	v := &wxpay.Coupon{
		StockCreatorMchID:  cp.MchID,
		StockID:            cp.StockID,
		CouponID:           cp.CouponID,
		CouponName:         "模拟代金券",
		Status:             cp.Status,
		CreateTime:         wireTime(cp.IssuedAt),
		CouponType:         "NORMAL",
		AvailableBeginTime: wireTime(cp.IssuedAt),
		AvailableEndTime:   wireTime(cp.IssuedAt.Add(30 * 24 * time.Hour)),
		NormalCouponInformation: &wxpay.NormalCouponInformation{
			CouponAmount: cp.CouponAmount, TransactionMinimum: cp.CouponMinimum,
		},
	}
	if st := s.stocks[cp.StockID]; st != nil {
		v.StockCreatorMchID, v.CouponName, v.Description = st.CreatorMchID, st.Name, st.description
		v.AvailableBeginTime, v.AvailableEndTime = wireTime(st.beginAt), wireTime(st.endAt)
	}
	if u := cp.Use; u != nil {
		v.ConsumeInformation = &wxpay.ConsumeInformation{
			ConsumeTime:   wireTime(u.At),
			ConsumeMchID:  u.ConsumeMchID,
			TransactionID: u.TransactionID,
			GoodsDetail:   []wxpay.GoodsDetail{},
		}
	}
	return v
}
