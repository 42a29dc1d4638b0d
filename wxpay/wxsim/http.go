package wxsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/issuer-dev/issuer/wxpay"
)

// apiError is a non-2xx answer: {"code","message","detail"}.
type apiError struct {
	status  int
	code    string
	message string
	detail  map[string]any
}

func errf(status int, code, message string) *apiError {
	return &apiError{status: status, code: code, message: message}
}

func (e *apiError) with(k string, v any) *apiError {
	if e.detail == nil {
		e.detail = map[string]any{}
	}
	e.detail[k] = v
	return e
}

func (e *apiError) body() map[string]any {
	d := e.detail
	if d == nil {
		d = map[string]any{}
	}
	return map[string]any{"code": e.code, "message": e.message, "detail": d}
}

// Messages shared by several answers.
const (
	msgSystemError = "系统异常,请稍后重试"
	msgSignError   = "错误的签名,验签失败"
)

func paramError(field, message string) *apiError {
	return errf(http.StatusBadRequest, "PARAM_ERROR", message).with("location", "body").with("field", field)
}

// call is one authenticated API request.
type call struct {
	w         http.ResponseWriter
	r         *http.Request
	mchid     string
	body      []byte
	requestID string
}

// sigMode is how an answer is signed.
type sigMode int

const (
	sigValid sigMode = iota
	sigForged
	sigProbe
	// sigNone sends no Wechatpay-* headers, as WeChat Pay answers the
	// use-flow and refund-flow metadata.
	sigNone
)

func (s *Server) routes() http.Handler {
	api := http.NewServeMux()
	handle := func(pattern string, h func(*call)) { api.Handle(pattern, s.authenticated(h)) }
	handle("POST "+wxpay.PathFavorSend, s.handleFavorSend)
	handle("POST "+wxpay.PathProductSend, s.handleProductSend)
	handle("POST "+wxpay.PathStockCreate, s.handleStockCreate)
	handle("POST /v3/marketing/favor/stocks/{stock_id}/{action}", s.handleStockAction)
	handle("GET "+wxpay.PathStock, s.handleStockQuery)
	handle("GET "+wxpay.PathStocks, s.handleStockList)
	handle("GET "+wxpay.PathCoupon, s.handleCouponQuery)
	handle("GET "+wxpay.PathUseFlow, func(c *call) { s.handleFlowMeta(c, flowUse) })
	handle("GET "+wxpay.PathRefundFlow, func(c *call) { s.handleFlowMeta(c, flowRefund) })
	handle("GET /v3/billdownload/file", s.handleDownload)
	handle("GET "+wxpay.PathUserCoupons, s.handleUserCoupons)
	handle("GET "+wxpay.PathStockMerchants, func(c *call) { s.handleStockScope(c, false) })
	handle("GET "+wxpay.PathStockItems, func(c *call) { s.handleStockScope(c, true) })
	handle("GET "+wxpay.PathCallbacks, s.handleCallbackQuery)
	handle("POST "+wxpay.PathCallbacks, s.handleCallbackSet)
	handle("GET "+wxpay.PathCertificates, s.handleCertificates)
	handle("/", func(c *call) {
		s.writeError(c, errf(http.StatusNotFound, "NOT_FOUND", "请求的资源不存在").with("url", c.r.URL.Path))
	})
	admin := s.adminRoutes()

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/sim/") || r.URL.Path == "/sim" {
			if !loopback(r.RemoteAddr) {
				http.Error(w, "admin API is for loopback clients only", http.StatusForbidden)
				return
			}
			admin.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

func loopback(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// authenticated reads the body and verifies the Authorization header as
// WeChat Pay does, answering 401 SIGN_ERROR on any failure.
func (s *Server) authenticated(h func(*call)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{w: w, r: r, requestID: newRequestID()}
		s.stats.count(s.now(), "request", 1)
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
		if err != nil {
			s.writeError(c, errf(http.StatusBadRequest, "PARAM_ERROR", "请求体过大或无法读取"))
			return
		}
		c.body = body
		uri := r.RequestURI
		if uri == "" {
			uri = r.URL.RequestURI()
		}
		mchid, reason := s.verify(r.Method, uri, r.Header.Get("Authorization"), body)
		if reason != "" {
			s.stats.count(s.now(), "sign_error", 1)
			msg := wxpay.RequestMessage(r.Method, uri, "", "", body)
			if a, err := wxpay.ParseAuthorization(r.Header.Get("Authorization")); err == nil {
				msg = wxpay.RequestMessage(r.Method, uri, a.Timestamp, a.Nonce, body)
			}
			truncated := string(msg)
			if len(truncated) > 128 {
				truncated = truncated[:128]
			}
			s.writeError(c, errf(http.StatusUnauthorized, "SIGN_ERROR", msgSignError).
				with("field", "signature").
				with("location", "authorization").
				with("detail", map[string]any{"issue": reason}).
				with("sign_information", map[string]any{
					"method":                 r.Method,
					"url":                    uri,
					"sign_message_length":    len(msg),
					"truncated_sign_message": truncated,
				}))
			return
		}
		c.mchid = mchid
		h(c)
	})
}

// verify checks an Authorization header; reason is "" when it holds.
func (s *Server) verify(method, uri, header string, body []byte) (mchid, reason string) {
	if header == "" {
		return "", "missing Authorization header"
	}
	a, err := wxpay.ParseAuthorization(header)
	if err != nil {
		return "", err.Error()
	}
	m, ok := s.merchants[a.MchID]
	if !ok {
		return "", "unknown mchid " + a.MchID
	}
	if !strings.EqualFold(a.SerialNo, m.SerialNo) {
		return "", "serial_no is not the merchant's API certificate serial"
	}
	ts, err := strconv.ParseInt(a.Timestamp, 10, 64)
	if err != nil {
		return "", "timestamp is not unix seconds"
	}
	if skew := s.now().Sub(time.Unix(ts, 0)); skew >= wxpay.MaxClockSkew || skew <= -wxpay.MaxClockSkew {
		return "", "timestamp expired"
	}
	if len(a.Nonce) == 0 || len(a.Nonce) > 32 {
		return "", "bad nonce_str"
	}
	if err := wxpay.VerifySHA256RSA(m.PublicKey, wxpay.RequestMessage(method, uri, a.Timestamp, a.Nonce, body), a.Signature); err != nil {
		return "", "sign not match"
	}
	return a.MchID, ""
}

// writeJSON answers with a signed JSON body.
func (s *Server) writeJSON(c *call, status int, v any, mode sigMode) {
	body, err := json.Marshal(v)
	if err != nil {
		s.log.Error("sim marshal answer", "err", err)
		status, body = http.StatusInternalServerError, []byte(`{"code":"SYSTEM_ERROR","message":"`+msgSystemError+`","detail":{}}`)
	}
	h := c.w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set(wxpay.HeaderRequestID, c.requestID)
	if mode != sigNone {
		if err := s.sign(h, body, mode); err != nil {
			s.log.Error("sim sign answer", "err", err)
		}
	}
	c.w.WriteHeader(status)
	_, _ = c.w.Write(body)
}

func (s *Server) writeError(c *call, e *apiError) {
	s.stats.countCode(e.code)
	s.writeJSON(c, e.status, e.body(), sigValid)
}

// sign sets the Wechatpay-* headers, honestly or not.
func (s *Server) sign(h http.Header, body []byte, mode sigMode) error {
	now := s.now()
	key, serial := s.signer()
	if err := wxpay.SignResponse(h, key, serial, body, now, ""); err != nil {
		return err
	}
	switch mode {
	case sigForged:
		// A well-formed signature over other bytes: only verification
		// against the body catches it.
		sig, err := wxpay.SignSHA256RSA(key, wxpay.ResponseMessage(h.Get(wxpay.HeaderTimestamp), h.Get(wxpay.HeaderNonce), append(body, ' ')))
		if err != nil {
			return err
		}
		h.Set(wxpay.HeaderSignature, sig)
	case sigProbe:
		h.Set(wxpay.HeaderSignature, wxpay.SignatureProbePrefix+h.Get(wxpay.HeaderSignature)[:64])
	}
	return nil
}

// decode parses a JSON body strictly enough to catch malformed input.
func decode(body []byte, v any) *apiError {
	if err := json.Unmarshal(body, v); err != nil {
		var se *json.SyntaxError
		msg := "请求体不是合法的JSON"
		if !errors.As(err, &se) {
			msg = "请求体字段类型错误: " + err.Error()
		}
		return errf(http.StatusBadRequest, "PARAM_ERROR", msg).with("location", "body")
	}
	return nil
}

// wireTime renders t as WeChat Pay does in answers.
func wireTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(wxpay.Beijing()).Format(time.RFC3339)
}

func key(parts ...string) string { return strings.Join(parts, "\x00") }

func (s *Server) newCouponIDLocked() string {
	id := s.nextCoupon
	s.nextCoupon++
	return fmt.Sprint(id)
}
