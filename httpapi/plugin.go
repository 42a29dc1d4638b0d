package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/issuer-dev/issuer/audit"
	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/wxpay"
)

// signRequest is the body of POST /plugin/sign.
type signRequest struct {
	SendCouponMerchant string               `json:"send_coupon_merchant"`
	Coupons            []wxpay.PluginCoupon `json:"coupons"`
}

// pluginSign answers POST /plugin/sign with wxpay.PluginPayload, the same
// object `issuer plugin-sign` prints.
func (h *handler) pluginSign(w http.ResponseWriter, r *http.Request) {
	if h.cfg.PluginToken == "" {
		h.signFail(w, PluginDisabled, http.StatusNotFound, "DISABLED", "plugin signing is disabled: no plugin.token_file configured")
		return
	}
	if !h.authorized(r) {
		h.log.Warn("plugin sign refused: bad or missing bearer token", "remote", r.RemoteAddr)
		w.Header().Set("WWW-Authenticate", `Bearer realm="issuer"`)
		h.signFail(w, PluginUnauthorized, http.StatusUnauthorized, "UNAUTHORIZED", "a valid Authorization: Bearer token is required")
		return
	}
	// After authentication, so strangers learn nothing of the configuration.
	if h.cfg.APIv2Key == "" || h.cfg.PluginMerchant == "" {
		h.log.Error("plugin sign refused: wxpay.apiv2_key_file or wxpay.mchid is not configured")
		h.signFail(w, PluginDisabled, http.StatusServiceUnavailable, "NOT_CONFIGURED", "plugin signing is not configured: no APIv2 key or merchant")
		return
	}

	req, err := decodeSignRequest(w, r)
	if err == nil {
		err = h.validate(&req)
	}
	if err != nil {
		h.log.Info("plugin sign refused: bad request", "err", err, "remote", r.RemoteAddr)
		status := http.StatusBadRequest
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			status = http.StatusRequestEntityTooLarge
		}
		h.signFail(w, PluginBadRequest, status, "PARAM_ERROR", err.Error())
		return
	}
	if !h.signs.AllowN(h.now(), len(req.Coupons)) {
		h.log.Warn("plugin sign refused: over the signing rate", "coupons", len(req.Coupons), "remote", r.RemoteAddr)
		w.Header().Set("Retry-After", "1")
		h.signFail(w, PluginRateLimited, http.StatusTooManyRequests, "FREQUENCY_LIMITED",
			"too many coupons signed a second (plugin.max_per_second); retry in a second")
		return
	}
	if stock, ok := h.allowedStocks(req.Coupons); !ok {
		msg := fmt.Sprintf("stock %s is not one this signer signs for (plugin.stocks)", clip(stock))
		h.log.Warn("plugin sign refused: stock not allowed", "stock", clip(stock), "remote", r.RemoteAddr)
		if err := h.audit(r, req, audit.Denied, msg); err != nil {
			h.log.Error("plugin sign: could not record a refusal in the audit log", "err", err)
		}
		h.signFail(w, PluginForbidden, http.StatusForbidden, "STOCK_NOT_ALLOWED", msg)
		return
	}
	p, err := wxpay.SignPlugin(h.cfg.APIv2Key, req.SendCouponMerchant, req.Coupons)
	if err != nil { // validate checks more than SignPlugin, so this is a configuration fault
		h.log.Error("plugin sign failed", "merchant", req.SendCouponMerchant, "err", err)
		h.signFail(w, PluginDisabled, http.StatusInternalServerError, "INTERNAL", "cannot sign: "+err.Error())
		return
	}
	// A signature lets a user take a coupon: none leaves unrecorded.
	if err := h.audit(r, req, audit.OK, ""); err != nil {
		h.log.Error("plugin sign refused: the audit log cannot record it", "err", err)
		h.signFail(w, PluginDisabled, http.StatusServiceUnavailable, "AUDIT_UNAVAILABLE", "the signing cannot be recorded now; retry later")
		return
	}
	h.m.signs.WithLabelValues(PluginSigned).Inc()
	outs := make([]string, len(p.SendCouponParams))
	for i, c := range p.SendCouponParams {
		outs[i] = c.OutRequestNo
	}
	h.log.Info("plugin params signed", "merchant", p.SendCouponMerchant, "coupons", len(outs), "out_request_nos", outs)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, p)
}

// allowedStocks reports whether every coupon is of a stock in
// plugin.stocks (any stock when it lists none), and the first that is not.
func (h *handler) allowedStocks(coupons []wxpay.PluginCoupon) (string, bool) {
	if h.stocks == nil {
		return "", true
	}
	for _, c := range coupons {
		if !h.stocks[c.StockID] {
			return c.StockID, false
		}
	}
	return "", true
}

// pluginActor names the plugin's bearer in the audit log: a machine with
// the shared token, not a person.
const pluginActor = "plugin"

// audit records a signing or a refusal (the stock, when all coupons share
// one, and every coupon in the detail).
func (h *handler) audit(r *http.Request, req signRequest, outcome audit.Outcome, msg string) error {
	if h.cfg.Audit == nil {
		return nil
	}
	type coupon struct {
		StockID      string `json:"stock_id"`
		OutRequestNo string `json:"out_request_no"`
	}
	cs := make([]coupon, len(req.Coupons))
	stock := ""
	for i, c := range req.Coupons {
		cs[i] = coupon{clip(c.StockID), clip(c.OutRequestNo)}
		switch {
		case i == 0:
			stock = c.StockID
		case stock != c.StockID:
			stock = ""
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	return h.cfg.Audit.Record(ctx, audit.Entry{Time: h.now(), Actor: pluginActor, Action: string(auth.ActPluginSign),
		StockID: clip(stock), Source: r.RemoteAddr, Outcome: outcome, Message: msg,
		Detail: audit.Fields(map[string]any{"merchant": req.SendCouponMerchant, "coupons": cs})})
}

// authorized checks the plugin's bearer token.
func (h *handler) authorized(r *http.Request) bool { return bearerMatches(r, h.tokenHash) }

// bearerMatches compares the request's bearer token with the token whose
// SHA-256 is want, in constant time. Hashing both sides first keeps the
// token's length from showing in the timing too.
func bearerMatches(r *http.Request, want [sha256.Size]byte) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

func decodeSignRequest(w http.ResponseWriter, r *http.Request) (signRequest, error) {
	var req signRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxPluginBytes))
	dec.DisallowUnknownFields() // a misspelt field must not silently drop a coupon code
	if err := dec.Decode(&req); err != nil {
		if tooBig, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return req, fmt.Errorf("body larger than %d bytes: %w", tooBig.Limit, err)
		}
		return req, fmt.Errorf("body is not the expected JSON object: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return req, errors.New("body has data after the JSON object")
	}
	return req, nil
}

// validate checks a request and fills in the merchant. It refuses what
// SignPlugin would refuse, with the field's position, and more: values that
// could blur the k=v&k=v string the signature covers, and out_request_no
// repeats, which the plugin would answer with DUPREQUEST.
func (h *handler) validate(req *signRequest) error {
	switch req.SendCouponMerchant {
	case "":
		req.SendCouponMerchant = h.cfg.PluginMerchant
	case h.cfg.PluginMerchant:
	default:
		return fmt.Errorf("send_coupon_merchant %q: this signer holds the APIv2 key of merchant %s only", clip(req.SendCouponMerchant), h.cfg.PluginMerchant)
	}
	switch n := len(req.Coupons); {
	case n == 0:
		return errors.New("coupons: at least one coupon is required")
	case n > wxpay.MaxPluginCoupons:
		return fmt.Errorf("coupons: %d coupons; the plugin sends at most %d per call", n, wxpay.MaxPluginCoupons)
	}
	seen := make(map[string]int, len(req.Coupons))
	for i, c := range req.Coupons {
		if err := checkToken(c.StockID, 64); err != nil {
			return fmt.Errorf("coupons[%d].stock_id: %w", i, err)
		}
		if err := wxpay.ValidOutRequestNo(c.OutRequestNo); err != nil {
			return fmt.Errorf("coupons[%d]: %w", i, err)
		}
		if j, dup := seen[c.OutRequestNo]; dup {
			return fmt.Errorf("coupons[%d].out_request_no %q repeats coupons[%d]", i, c.OutRequestNo, j)
		}
		seen[c.OutRequestNo] = i
		if c.CouponCode != "" {
			if err := checkToken(c.CouponCode, 128); err != nil {
				return fmt.Errorf("coupons[%d].coupon_code: %w", i, err)
			}
		}
	}
	return nil
}

// checkToken accepts 1..max printable ASCII characters other than space,
// '&' and '=', the separators of the signed string.
func checkToken(s string, max int) error {
	if s == "" {
		return errors.New("required")
	}
	if len(s) > max {
		return fmt.Errorf("%d characters, at most %d", len(s), max)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '&' || c == '=' {
			return fmt.Errorf("%q has invalid character %q", clip(s), c)
		}
	}
	return nil
}

func (h *handler) signFail(w http.ResponseWriter, result string, status int, code, msg string) {
	h.m.signs.WithLabelValues(result).Inc()
	writeJSON(w, status, reply{Code: code, Message: msg})
}

// clip bounds caller-supplied text quoted in answers and logs.
func clip(s string) string {
	const n = 64
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
