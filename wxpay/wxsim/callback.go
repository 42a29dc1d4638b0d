package wxsim

import (
	"bytes"
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/issuer-dev/issuer/wxpay"
)

// notification is one COUPON.USE callback waiting for delivery.
type notification struct {
	id       string
	couponID string
	body     []byte // encrypted envelope; signed afresh on each attempt
}

// callbackQueue is an unbounded FIFO: redemption never blocks on a slow
// receiver.
type callbackQueue struct {
	mu    sync.Mutex
	items []notification
	wake  chan struct{} // capacity 1
}

func (q *callbackQueue) push(n notification) {
	q.mu.Lock()
	q.items = append(q.items, n)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// pop waits for an item until done is closed.
func (q *callbackQueue) pop(done <-chan struct{}) (notification, bool) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			n := q.items[0]
			q.items[0] = notification{}
			q.items = q.items[1:]
			more := len(q.items) > 0
			q.mu.Unlock()
			if more {
				// Let another worker pick up the rest.
				select {
				case q.wake <- struct{}{}:
				default:
				}
			}
			return n, true
		}
		q.mu.Unlock()
		select {
		case <-q.wake:
		case <-done:
			return notification{}, false
		}
	}
}

// queueCouponUseLocked builds and queues the COUPON.USE notification of a
// redeemed coupon.
func (s *Server) queueCouponUseLocked(cp *coupon) {
	if len(s.keys.APIv3Key) != 32 {
		s.log.Warn("sim callback skipped: no 32-byte APIv3 key", "coupon_id", cp.CouponID)
		s.stats.count(s.now(), "callback_failure", 1)
		return
	}
	id := newNotificationID()
	body, err := wxpay.NewCouponUseNotification(id, s.now(), s.couponViewLocked(cp), s.keys.APIv3Key)
	if err != nil {
		s.log.Error("sim callback build", "coupon_id", cp.CouponID, "err", err)
		s.stats.count(s.now(), "callback_failure", 1)
		return
	}
	s.cbq.push(notification{id: id, couponID: cp.CouponID, body: body})
}

func (s *Server) callbackWorker() {
	defer s.wg.Done()
	for {
		n, ok := s.cbq.pop(s.done)
		if !ok {
			return
		}
		s.deliver(n)
	}
}

// deliver posts n until a 2xx answer, at most CallbackAttempts times, the
// Options.CallbackBackoff apart.
func (s *Server) deliver(n notification) {
	for attempt := 1; ; attempt++ {
		url := s.CallbackURL()
		if url == "" {
			s.stats.count(s.now(), "callback_failure", 1)
			return
		}
		status, err := s.post(url, n.body)
		if err == nil && status >= 200 && status < 300 {
			s.stats.count(s.now(), "callback", 1)
			return
		}
		s.log.Debug("sim callback refused", "id", n.id, "coupon_id", n.couponID, "attempt", attempt, "status", status, "err", err)
		if attempt >= s.cbTries {
			s.log.Warn("sim callback given up", "id", n.id, "coupon_id", n.couponID, "attempts", attempt)
			s.stats.count(s.now(), "callback_failure", 1)
			return
		}
		t := time.NewTimer(s.cbBackoff)
		select {
		case <-t.C:
		case <-s.done:
			t.Stop()
			return
		}
	}
}

func (s *Server) post(url string, body []byte) (int, error) {
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Mozilla/4.0")
	key, serial := s.signer()
	if err := wxpay.SignResponse(req.Header, key, serial, body, s.now(), ""); err != nil {
		return 0, err
	}
	resp, err := s.cbClient.Do(req)
	if err != nil {
		return 0, err
	}
	drain(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func newNotificationID() string {
	t := newToken()
	return t[:8] + "-" + t[8:12] + "-" + t[12:16] + "-" + t[16:20] + "-" + t[20:32]
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
