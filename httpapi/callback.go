package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/issuer-dev/issuer/alert"
	"github.com/issuer-dev/issuer/wxpay"
)

// callback answers POST /callbacks/wxpay. Only a stored (or already
// stored) notification gets 200: anything else makes WeChat Pay deliver it
// again, which is what a store failure needs and what a forgery deserves.
func (h *handler) callback(w http.ResponseWriter, r *http.Request) {
	h.m.received.Inc()
	if h.cfg.Verifier == nil || h.cfg.APIv3Key == "" || h.cfg.StoreCouponUse == nil {
		h.log.Error("callback refused: callbacks are not configured (verifier, apiv3 key or store missing)")
		h.alert("COUPON.USE callbacks arrive but are not configured (set wxpay.apiv3_key_file): " +
			"WeChat Pay retries each for about 9 minutes, then the redemption is only in the use-flow file")
		h.callbackFail(w, CallbackUnavailable, http.StatusServiceUnavailable, "callbacks are not configured")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.CallbackTimeout)
	defer cancel()
	// A slow sender must not hold the answer past WeChat Pay's 5 s either;
	// writers that cannot set deadlines just skip this.
	if d, ok := ctx.Deadline(); ok {
		_ = http.NewResponseController(w).SetReadDeadline(d)
	}

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxCallbackBytes))
	if err != nil {
		if tooBig, ok := errors.AsType[*http.MaxBytesError](err); ok {
			h.log.Warn("callback rejected: body too large", "limit", tooBig.Limit, "remote", r.RemoteAddr)
			h.callbackFail(w, CallbackBadRequest, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", tooBig.Limit))
			return
		}
		h.log.Warn("callback rejected: read body", "err", err, "remote", r.RemoteAddr)
		h.callbackFail(w, CallbackBadRequest, http.StatusBadRequest, "cannot read body")
		return
	}

	n, use, err := wxpay.ParseNotification(r.Header, body, h.cfg.Verifier, h.cfg.APIv3Key, h.now())
	switch {
	case errors.Is(err, wxpay.ErrSignature):
		// Expected now and then: WeChat Pay sends signature probes.
		h.log.Warn("callback rejected: signature", "err", err, "remote", r.RemoteAddr)
		h.callbackFail(w, CallbackUnauthenticated, http.StatusUnauthorized, "signature verification failed")
		return
	case errors.Is(err, wxpay.ErrDecrypt):
		// WeChat Pay signed it, so our key is wrong, not the sender: a 5xx
		// has it delivered again once the key is fixed, and it is an alert,
		// because every coupon use goes unrecorded until then.
		h.log.Error("callback not decrypted: wxpay.apiv3_key_file is probably not this merchant's APIv3 key; WeChat Pay will retry",
			"notification", n.ID, "err", err)
		h.alert("COUPON.USE callbacks are signed by WeChat Pay but do not decrypt with wxpay.apiv3_key_file: " +
			"check the APIv3 key (merchant platform: API安全 → APIv3密钥); coupon uses go unrecorded until it is fixed")
		h.callbackFail(w, CallbackDecryptFailed, http.StatusInternalServerError, "not decrypted, retry later")
		return
	case err != nil:
		h.log.Error("callback rejected: authenticated but unreadable", "err", err)
		h.callbackFail(w, CallbackBadRequest, http.StatusBadRequest, "malformed notification: "+err.Error())
		return
	case use == nil:
		h.log.Error("callback rejected: unhandled event type", "notification", n.ID, "event_type", n.EventType)
		h.callbackFail(w, CallbackBadRequest, http.StatusBadRequest, fmt.Sprintf("event type %q is not handled", n.EventType))
		return
	}

	inserted, err := h.cfg.StoreCouponUse(ctx, n, use)
	if err != nil {
		h.log.Error("callback not stored; WeChat Pay will retry", "notification", n.ID, "coupon", use.CouponID, "err", err)
		h.callbackFail(w, CallbackStoreError, http.StatusInternalServerError, "not stored, retry later")
		return
	}
	result := CallbackStored
	if !inserted {
		result = CallbackDuplicate
	}
	h.m.callbacks.WithLabelValues(result).Inc()
	h.log.Info("coupon use "+result, "notification", n.ID, "stock", use.StockID, "coupon", use.CouponID,
		"creator_mchid", use.StockCreatorMchID)
	writeJSON(w, http.StatusOK, reply{Code: "SUCCESS", Message: "成功"})
}

// alert raises a config_error. The message is the same for every callback
// so that the notifier folds a storm of redeliveries into one alert; the
// log lines name the notifications.
func (h *handler) alert(msg string) {
	if h.cfg.Alerts == nil {
		return
	}
	h.cfg.Alerts.Notify(alert.Alert{Kind: alert.KindConfigError, Severity: alert.SeverityCritical, Message: msg})
}

func (h *handler) callbackFail(w http.ResponseWriter, result string, status int, msg string) {
	h.m.callbacks.WithLabelValues(result).Inc()
	writeJSON(w, status, reply{Code: "FAIL", Message: msg})
}
