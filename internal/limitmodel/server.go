package limitmodel

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/issuer-dev/issuer/wxpay"
)

// Model is how a server enforces its limit.
type Model string

// Models.
const (
	Bucket     Model = "bucket"      // x/time/rate token bucket, Depth's worth deep
	SlidingLog Model = "sliding-log" // the limit's worth per trailing Depth
)

// Models lists every model, in the order reports print them.
func Models() []Model { return []Model{Bucket, SlidingLog} }

// Keys are the two sides' keys as `issuer sim keys` lays them out: the
// server verifies requests with the merchant's public key and signs answers
// with the platform key, naming PublicKeyID.
type Keys struct {
	MchID          string
	CertSerialNo   string // the merchant API certificate serial requests name
	MerchantPublic *rsa.PublicKey
	PublicKeyID    string
	PlatformKey    *rsa.PrivateKey
}

// Config describes one server.
type Config struct {
	Keys  Keys
	Model Model // default Bucket
	// Limit is the hidden limit, requests/s. Required.
	Limit float64
	// Depth is how much the limit lets through at once: the bucket holds
	// Limit×Depth tokens (never less than one); the sliding log admits
	// Limit×Depth requests per trailing Depth. Default 50ms (Limit/20).
	Depth time.Duration
	// Latency is the server's own mean time before it consults the limit;
	// each request's is drawn uniformly within ±Jitter of it.
	Latency time.Duration
	// Jitter, as a fraction of Latency. Default 0.2; negative means none.
	Jitter float64
	// Seed drives the latency draws.
	Seed uint64
}

// Event is one judged send: when the limit judged it and whether it let
// it through.
type Event struct {
	At       time.Time
	Admitted bool
}

// Server is one limit model behind the send endpoint. Its methods are safe
// for concurrent use.
type Server struct {
	cfg Config

	mu      sync.Mutex
	rng     *rand.Rand
	limit   float64
	bucket  *rate.Limiter
	admits  []time.Time // SlidingLog: admission times within the last Depth, oldest first
	log     []Event
	issued  map[string]string // out_request_no → coupon_id
	coupons int64

	srv  *http.Server
	ln   net.Listener
	done chan struct{}
	wg   sync.WaitGroup
}

// New returns a server; Start serves it, or mount Handler yourself.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Keys.MerchantPublic == nil || cfg.Keys.PlatformKey == nil || cfg.Keys.MchID == "" || cfg.Keys.PublicKeyID == "":
		return nil, errors.New("limitmodel: keys: mchid, public key id and both keys are required")
	case !(cfg.Limit > 0):
		return nil, fmt.Errorf("limitmodel: limit %v: want > 0", cfg.Limit)
	}
	switch cfg.Model {
	case "":
		cfg.Model = Bucket
	case Bucket, SlidingLog:
	default:
		return nil, fmt.Errorf("limitmodel: model %q: want %s or %s", cfg.Model, Bucket, SlidingLog)
	}
	if cfg.Depth <= 0 {
		cfg.Depth = 50 * time.Millisecond
	}
	switch {
	case cfg.Jitter == 0:
		cfg.Jitter = 0.2
	case cfg.Jitter < 0:
		cfg.Jitter = 0
	}
	cfg.Jitter = min(cfg.Jitter, 1)
	s := &Server{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x11)), issued: map[string]string{}, done: make(chan struct{})}
	s.setLimitLocked(cfg.Limit)
	return s, nil
}

// depthLocked is how many requests the limit lets through at once.
func (s *Server) depthLocked() int {
	return max(1, int(s.limit*s.cfg.Depth.Seconds()+0.5))
}

func (s *Server) setLimitLocked(limit float64) {
	s.limit = limit
	if s.bucket == nil {
		s.bucket = rate.NewLimiter(rate.Limit(limit), s.depthLocked())
		return
	}
	now := time.Now()
	s.bucket.SetLimitAt(now, rate.Limit(limit))
	s.bucket.SetBurstAt(now, s.depthLocked())
}

// SetLimit changes the hidden limit (and the depth with it) from now on.
func (s *Server) SetLimit(limit float64) {
	if !(limit > 0) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setLimitLocked(limit)
}

// allow judges one send arriving now.
func (s *Server) allow(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ok bool
	if s.cfg.Model == SlidingLog {
		from := now.Add(-s.cfg.Depth)
		i := 0
		for i < len(s.admits) && !s.admits[i].After(from) {
			i++
		}
		s.admits = s.admits[i:]
		if ok = len(s.admits) < s.depthLocked(); ok {
			s.admits = append(s.admits, now)
		}
	} else {
		ok = s.bucket.AllowN(now, 1)
	}
	s.log = append(s.log, Event{At: now, Admitted: ok})
	return ok
}

func (s *Server) latency() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Duration(float64(s.cfg.Latency) * (1 + s.cfg.Jitter*(2*s.rng.Float64()-1)))
}

// Log returns every send judged so far, in the order judged.
func (s *Server) Log() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.log...)
}

// Handler serves the endpoints.
func (s *Server) Handler() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("POST "+wxpay.PathFavorSend, s.verified(s.handleSend))
	m.HandleFunc("GET "+wxpay.PathStock, s.verified(s.handleStock))
	m.HandleFunc("/", s.verified(func(w http.ResponseWriter, r *http.Request, _ []byte) {
		s.answerError(w, http.StatusNotFound, "NOT_FOUND", "请求的资源不存在")
	}))
	return m
}

// Start serves on addr ("127.0.0.1:0" for any free port) until ctx ends or
// Close.
func (s *Server) Start(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("limitmodel: listen: %w", err)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	s.wg.Go(func() { _ = s.srv.Serve(ln) })
	s.wg.Go(func() {
		select {
		case <-ctx.Done():
			s.Close()
		case <-s.done:
		}
	})
	return nil
}

// URL is the base URL Start serves.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops serving; answers still waiting are dropped.
func (s *Server) Close() {
	s.mu.Lock()
	select {
	case <-s.done:
		s.mu.Unlock()
		return
	default:
		close(s.done)
	}
	s.mu.Unlock()
	if s.srv != nil {
		_ = s.srv.Close()
	}
}

// Wait returns once everything Start started has ended (after Close).
func (s *Server) Wait() { s.wg.Wait() }

// verified reads the body and checks the request's signature as WeChat Pay
// does, answering 401 SIGN_ERROR when it does not hold.
func (s *Server) verified(h func(http.ResponseWriter, *http.Request, []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			s.answerError(w, http.StatusBadRequest, "PARAM_ERROR", "请求体过大或无法读取")
			return
		}
		if why := s.verify(r, body); why != "" {
			s.answerError(w, http.StatusUnauthorized, "SIGN_ERROR", "错误的签名,验签失败: "+why)
			return
		}
		h(w, r, body)
	}
}

func (s *Server) verify(r *http.Request, body []byte) string {
	a, err := wxpay.ParseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return err.Error()
	}
	if a.MchID != s.cfg.Keys.MchID || (s.cfg.Keys.CertSerialNo != "" && !strings.EqualFold(a.SerialNo, s.cfg.Keys.CertSerialNo)) {
		return "unknown merchant or certificate serial"
	}
	ts, err := strconv.ParseInt(a.Timestamp, 10, 64)
	if err != nil {
		return "timestamp is not unix seconds"
	}
	if skew := time.Since(time.Unix(ts, 0)); skew >= wxpay.MaxClockSkew || skew <= -wxpay.MaxClockSkew {
		return "timestamp expired"
	}
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	if wxpay.VerifySHA256RSA(s.cfg.Keys.MerchantPublic, wxpay.RequestMessage(r.Method, uri, a.Timestamp, a.Nonce, body), a.Signature) != nil {
		return "sign not match"
	}
	return ""
}

// handleSend waits the server's latency, then consults the limit.
func (s *Server) handleSend(w http.ResponseWriter, r *http.Request, body []byte) {
	var req struct {
		StockID      string `json:"stock_id"`
		OutRequestNo string `json:"out_request_no"`
		AppID        string `json:"appid"`
	}
	if json.Unmarshal(body, &req) != nil || req.StockID == "" || req.OutRequestNo == "" || req.AppID == "" {
		s.answerError(w, http.StatusBadRequest, "PARAM_ERROR", "参数错误")
		return
	}
	if d := s.latency(); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		case <-s.done:
			t.Stop()
			return
		}
	}
	if !s.allow(time.Now()) {
		s.answerError(w, http.StatusTooManyRequests, "FREQUENCY_LIMITED", "请求过于频繁")
		return
	}
	s.mu.Lock()
	id, ok := s.issued[req.OutRequestNo]
	if !ok {
		s.coupons++
		id = strconv.FormatInt(1_000_000_000+s.coupons, 10)
		s.issued[req.OutRequestNo] = id
	}
	s.mu.Unlock()
	s.answer(w, http.StatusOK, map[string]string{"coupon_id": id})
}

// handleStock answers any stock as running, at a fixed 10-yuan face value.
func (s *Server) handleStock(w http.ResponseWriter, r *http.Request, _ []byte) {
	now := time.Now()
	s.answer(w, http.StatusOK, wxpay.Stock{
		StockID: r.PathValue("stock_id"), StockCreatorMchID: s.cfg.Keys.MchID, StockName: "limit model", Status: wxpay.StockRunning,
		CreateTime: now.Add(-24 * time.Hour).Format(time.RFC3339), AvailableBeginTime: now.Add(-24 * time.Hour).Format(time.RFC3339),
		AvailableEndTime: now.Add(30 * 24 * time.Hour).Format(time.RFC3339), StockType: "NORMAL",
		StockUseRule: &wxpay.StockUseRule{MaxCoupons: 100_000_000, MaxAmount: 1_000_000_000_00, MaxCouponsPerUser: 100,
			FixedNormalCoupon: &wxpay.FixedNormalCoupon{CouponAmount: 1000, TransactionMinimum: 1000}},
	})
}

func (s *Server) answerError(w http.ResponseWriter, status int, code, message string) {
	s.answer(w, status, map[string]any{"code": code, "message": message, "detail": map[string]any{}})
}

// answer writes v as signed JSON.
func (s *Server) answer(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set(wxpay.HeaderRequestID, wxpay.NewNonce())
	if err := wxpay.SignResponse(h, s.cfg.Keys.PlatformKey, s.cfg.Keys.PublicKeyID, body, time.Now(), ""); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
