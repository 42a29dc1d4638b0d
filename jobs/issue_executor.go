package jobs

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/issuer-dev/issuer/alert"
	"github.com/issuer-dev/issuer/internal/textable"
	"github.com/issuer-dev/issuer/queue"
	"github.com/issuer-dev/issuer/wxpay"
)

// executor sends the rows it is handed, one at a time, and gives every row
// exactly one result for the completer.
type executor struct {
	*pass
	rnd *rand.Rand
}

func newExecutor(p *pass, i int) *executor {
	return &executor{pass: p, rnd: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(i)))}
}

func (x *executor) run() {
	for row := range x.work {
		x.c.recording.Add(1) // exactly one result per row goes to the completer
		x.out.put(x.execute(row))
		x.c.inFlight.Add(-1)
		x.slots.free()
	}
}

// execute sends one row, unless it must not be sent now, and returns its
// result.
func (x *executor) execute(row queue.Claimed) queue.Result {
	if x.halts.has(row.BatchID) {
		return release(row)
	}
	if !x.users.acquire(row) {
		// The same user of the same stock (another batch) is being sent
		// right now. Try this row again shortly.
		r := release(row)
		r.NextAttemptAt = time.Now().Add(time.Second)
		return r
	}
	defer x.users.release(row)
	if err := x.j.Limiter.Wait(x.claimCtx); err != nil {
		return release(row) // stopping: give the row back unsent
	}
	res, err := x.send(row)
	o := wxpay.Classify(res, err)
	x.observe(o)
	r, h := decide(x.policy, row, res, err, o, time.Now(), x.rnd)
	if r.Status != queue.StatusPending {
		x.c.terminal.Add(1)
	}
	switch {
	case o == wxpay.OutcomeUnclassified:
		x.log.Warn("unclassified answer", "batch", row.BatchID, "openid", row.OpenID, "out_request_no", row.OutRequestNo,
			"status", res.Status, "request_id", res.RequestID, "err", err)
	case r.Status == queue.StatusReview:
		x.log.Error("recipient needs review: it may or may not have been issued", "batch", row.BatchID, "openid", row.OpenID,
			"out_request_no", row.OutRequestNo, "attempts", row.Attempts, "last", r.WxMessage)
		x.alert(Alert{Kind: alert.KindReview, BatchID: row.BatchID, MchID: row.MchID,
			Message: fmt.Sprintf("openid %s out_request_no %s after %d attempts: %s", row.OpenID, row.OutRequestNo, row.Attempts, r.WxMessage)})
	}
	if h.batch || h.merchant {
		x.halt(row, h)
	}
	return r
}

// observe counts an answer and tells the limiter. An answer in doubt says
// nothing about the rate.
func (x *executor) observe(o wxpay.Outcome) {
	if o != wxpay.OutcomeUnknown {
		x.j.Limiter.Observe(o.Throttles())
	}
	x.c.sent.Add(1)
	x.c.outcome(o)
	if x.j.OnAnswer != nil {
		x.j.OnAnswer(o)
	}
	if o.Throttles() {
		x.c.throttled.Add(1)
	}
	if o.Success() {
		x.c.issued.Add(1)
	}
}

// halt stops the batch (or the merchant's every batch) an answer said can
// go no further, once per pass.
func (x *executor) halt(row queue.Claimed, h halt) {
	if !x.halts.mark(row.BatchID, h.merchant) {
		return
	}
	ctx, cancel := context.WithTimeout(x.sendCtx, 10*time.Second)
	defer cancel()
	if h.merchant {
		reason := h.reason
		x.merror.CompareAndSwap(nil, &reason)
		x.stopClaiming()
		ids, err := x.j.Store.HaltMerchant(ctx, row.MchID, h.reason)
		if err != nil {
			x.log.Error("halt merchant", "mchid", row.MchID, "err", err)
		}
		x.log.Error("configuration error: halted every batch of the merchant", "mchid", row.MchID, "batches", ids, "reason", h.reason)
		for _, id := range ids {
			x.audit(id, "", h.reason)
		}
		x.c.mu.Lock()
		x.c.halted = append(x.c.halted, Halt{Text: fmt.Sprintf("merchant %s (batches %s): %s", row.MchID, textable.IDs(ids), h.reason)})
		x.c.mu.Unlock()
		x.alert(Alert{Kind: alert.KindMerchantHalted, MchID: row.MchID, Message: h.reason})
		return
	}
	ok, err := x.j.Store.Halt(ctx, row.BatchID, h.reason)
	if err != nil {
		x.log.Error("halt batch", "batch", row.BatchID, "err", err)
	}
	if ok {
		x.halted(row.BatchID, row.StockID, row.MchID, h.reason)
	}
}

// send sends one row with its stored out_request_no.
func (x *executor) send(row queue.Claimed) (wxpay.SendResult, error) {
	if row.Kind == string(wxpay.KindProduct) {
		req := wxpay.ProductSendRequest{OpenID: row.OpenID, AppID: row.AppID, StockID: row.StockID, OutRequestNo: row.OutRequestNo}
		if row.CouponCode != nil {
			req.CouponCode = *row.CouponCode
		}
		if row.CouponType != nil {
			req.CouponType = *row.CouponType
		}
		if row.MemberCardID != nil {
			req.MemberCardID = *row.MemberCardID
		}
		return x.j.Sender.SendProduct(x.sendCtx, req)
	}
	req := wxpay.FavorSendRequest{OpenID: row.OpenID, StockID: row.StockID, OutRequestNo: row.OutRequestNo,
		AppID: row.AppID, StockCreatorMchID: row.StockCreatorMchID}
	if row.CouponValue != nil {
		req.CouponValue = uint64(*row.CouponValue)
	}
	if row.CouponMinimum != nil {
		req.CouponMinimum = uint64(*row.CouponMinimum)
	}
	return x.j.Sender.SendFavor(x.sendCtx, req)
}
