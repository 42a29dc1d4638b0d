package wxsim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Server is the simulator. It is safe for concurrent use; Close stops every
// goroutine it started.
type Server struct {
	keys      *Keys
	merchants map[string]Merchant
	log       *slog.Logger
	now       func() time.Time
	baseURL   string
	flowTTL   time.Duration
	early     bool
	offset    atomic.Int64 // ClockOffset, nanoseconds
	cbTries   int
	cbBackoff time.Duration
	handler   http.Handler
	ledger    *ledgerFile // nil when not persisted

	mu             sync.Mutex
	stocks         map[string]*stock
	stockOrder     []string
	coupons        []*coupon          // in issue order
	byID           map[string]*coupon // coupon id → coupon
	favorReq       map[string]*coupon // mchid, out_request_no → coupon
	productReq     map[string]*coupon // stock, out_request_no → coupon
	productCodes   map[string]bool    // stock, coupon_code
	issuedByStock  map[string]int
	perUser        map[string]int    // stock, openid → coupons
	stockCreateReq map[string]string // mchid, out_request_no → stock id
	nextCoupon     uint64
	nextStock      uint64
	nextTxn        uint64
	limit          float64
	buckets        map[string]*bucket
	shape          shapeState
	faults         Faults
	callbackURL    string
	downloads      map[string]download

	rngMu sync.Mutex
	rng   *mrand.Rand

	stats  *statsBook
	cbq    *callbackQueue
	pcerts *platformCerts // what answers are signed with (certs.go)

	// done is closed by Close: hanging handlers return, callback workers
	// stop, backoffs end.
	done      chan struct{}
	ctx       context.Context // cancelled by Close, for outgoing callbacks
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	cbClient  *http.Client

	srvMu    sync.Mutex
	httpSrv  *http.Server
	listener net.Listener
}

// stock is a stock's state.
type stock struct {
	StockSpec
	description  string
	createdAt    time.Time
	beginAt      time.Time
	endAt        time.Time
	startedAt    time.Time
	stoppedAt    time.Time
	outRequestNo string
}

// coupon is one issued coupon. ready is closed once it is durable (or,
// with failed set, rolled back); replays wait on it so that no answer ever
// reports a coupon that a crash could lose.
type coupon struct {
	Coupon
	ready  chan struct{}
	failed bool
}

type download struct {
	data    []byte
	expires time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

const (
	defaultFlowTTL          = 30 * time.Second
	defaultHangMax          = 60 * time.Second
	defaultCallbackAttempts = 4
	defaultCallbackBackoff  = time.Second
	callbackWorkers         = 2
	maxRequestBody          = 1 << 20
)

// New builds a simulator: it loads the ledger when Options.LedgerPath
// names one and starts the callback workers. Serve Handler() yourself (for
// example with httptest.NewServer) or call Start; either way call Close,
// before closing an httptest.Server so that hanging handlers return.
func New(opts Options) (*Server, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	s := newServer(opts)
	if err := s.load(opts); err != nil {
		return nil, err
	}
	s.startCallbacks()
	s.handler = s.routes()
	return s, nil
}

// check refuses options New cannot run with.
func (opts *Options) check() error {
	if opts.Keys == nil || opts.Keys.MerchantPublic == nil || opts.Keys.PlatformKey == nil {
		return errors.New("wxsim: Options.Keys with the merchant public key and platform private key is required")
	}
	if err := opts.Faults.Validate(); err != nil {
		return fmt.Errorf("wxsim: %w", err)
	}
	if opts.Limit < 0 {
		return errors.New("wxsim: negative limit")
	}
	if err := opts.Shape.Validate(); err != nil {
		return fmt.Errorf("wxsim: %w", err)
	}
	return nil
}

// newServer is a server with opts and every default filled in, holding
// nothing yet.
func newServer(opts Options) *Server {
	s := &Server{
		keys:           opts.Keys,
		merchants:      map[string]Merchant{},
		log:            opts.Logger,
		now:            opts.Now,
		baseURL:        strings.TrimRight(opts.BaseURL, "/"),
		flowTTL:        opts.FlowURLTTL,
		early:          opts.EarlyFlows,
		cbTries:        opts.CallbackAttempts,
		cbBackoff:      opts.CallbackBackoff,
		stocks:         map[string]*stock{},
		byID:           map[string]*coupon{},
		favorReq:       map[string]*coupon{},
		productReq:     map[string]*coupon{},
		productCodes:   map[string]bool{},
		issuedByStock:  map[string]int{},
		perUser:        map[string]int{},
		stockCreateReq: map[string]string{},
		nextCoupon:     10_000_000_001,
		nextStock:      17_000_001,
		limit:          opts.Limit,
		buckets:        map[string]*bucket{},
		faults:         opts.Faults,
		callbackURL:    opts.CallbackURL,
		downloads:      map[string]download{},
		stats:          newStatsBook(),
		cbq:            &callbackQueue{wake: make(chan struct{}, 1)},
		done:           make(chan struct{}),
	}
	s.offset.Store(int64(opts.ClockOffset))
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.shape = shapeState{Shape: opts.Shape, since: s.now()}
	if s.flowTTL <= 0 {
		s.flowTTL = defaultFlowTTL
	}
	if s.cbTries <= 0 {
		s.cbTries = defaultCallbackAttempts
	}
	if s.cbBackoff <= 0 {
		s.cbBackoff = defaultCallbackBackoff
	}
	seed := seedOf(opts.Seed)
	s.rng = mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return s
}

// seedOf is seed, or a random one when it is 0.
func seedOf(seed uint64) uint64 {
	if seed != 0 {
		return seed
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	for _, x := range b {
		seed = seed<<8 | uint64(x)
	}
	return seed
}

// load gives s its platform certificates, merchants and stocks, and
// replays the ledger.
func (s *Server) load(opts Options) error {
	k := opts.Keys
	var err error
	if s.pcerts, err = newPlatformCerts(k, opts.SignMode); err != nil {
		return fmt.Errorf("wxsim: %w", err)
	}
	s.merchants[k.MchID] = Merchant{MchID: k.MchID, AppID: k.AppID, SerialNo: k.CertSerialNo, PublicKey: k.MerchantPublic}
	for _, m := range opts.Merchants {
		if m.MchID == "" || m.SerialNo == "" || m.PublicKey == nil {
			return fmt.Errorf("wxsim: merchant %q lacks mchid, serial or public key", m.MchID)
		}
		s.merchants[m.MchID] = m
	}
	for _, spec := range opts.Stocks {
		if err := s.AddStock(spec); err != nil {
			return fmt.Errorf("wxsim: %w", err)
		}
	}
	if opts.LedgerPath != "" {
		lf, records, err := openLedger(opts.LedgerPath)
		if err != nil {
			return fmt.Errorf("wxsim: %w", err)
		}
		s.ledger = lf
		if err := s.replay(records); err != nil {
			lf.close()
			return fmt.Errorf("wxsim: ledger %s: %w", opts.LedgerPath, err)
		}
	}
	return nil
}

// startCallbacks starts the workers that deliver COUPON.USE
// notifications; Close stops them.
func (s *Server) startCallbacks() {
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.cbClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		Proxy: nil, MaxIdleConnsPerHost: callbackWorkers, IdleConnTimeout: 30 * time.Second,
	}}
	for range callbackWorkers {
		s.wg.Add(1)
		go s.callbackWorker()
	}
}

// Handler serves the API under /v3/ and the admin API under /sim/ (loopback
// clients only).
func (s *Server) Handler() http.Handler { return s.handler }

// Start listens on addr ("127.0.0.1:0" picks a port) and serves in the
// background until ctx is done or Close is called. URL gives the address.
func (s *Server) Start(ctx context.Context, addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("wxsim: listen: %w", err)
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
	}
	s.srvMu.Lock()
	if s.httpSrv != nil {
		s.srvMu.Unlock()
		l.Close()
		return errors.New("wxsim: already started")
	}
	s.httpSrv, s.listener = srv, l
	s.srvMu.Unlock()

	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("sim serve", "err", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		select {
		case <-ctx.Done():
			s.shutdownHTTP()
		case <-s.done:
		}
	}()
	return nil
}

// URL is the base URL of a started server ("http://127.0.0.1:PORT"), or ""
// before Start.
func (s *Server) URL() string {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.listener == nil {
		return ""
	}
	return "http://" + s.listener.Addr().String()
}

// Done is closed when Close has been called.
func (s *Server) Done() <-chan struct{} { return s.done }

// Close stops everything: held (hanging) answers return, callback deliveries
// stop (undelivered notifications are dropped), the listener started by
// Start shuts down, and the ledger file is closed. It is idempotent.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.done)
		s.cancel()
		s.shutdownHTTP()
		s.wg.Wait()
		s.cbClient.CloseIdleConnections()
		if s.ledger != nil {
			err = s.ledger.close()
		}
	})
	return err
}

func (s *Server) shutdownHTTP() {
	s.srvMu.Lock()
	srv := s.httpSrv
	s.srvMu.Unlock()
	if srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		srv.Close()
	}
}

// AddStock adds (or replaces the settings of) a stock. Coupons already
// issued for its id, for example reloaded from the ledger, count against
// its budget.
func (s *Server) AddStock(spec StockSpec) error {
	if spec.ID == "" {
		return errors.New("add stock: empty id")
	}
	if spec.Kind == "" {
		spec.Kind = KindFavor
	}
	if spec.Kind != KindFavor && spec.Kind != KindProduct {
		return fmt.Errorf("add stock %s: kind %q, want favor or product", spec.ID, spec.Kind)
	}
	if spec.Status == "" {
		spec.Status = StatusRunning
	}
	if !spec.Status.valid() {
		return fmt.Errorf("add stock %s: status %q", spec.ID, spec.Status)
	}
	if spec.Budget < 0 || spec.PerUser < 0 {
		return fmt.Errorf("add stock %s: negative budget or per-user limit", spec.ID)
	}
	if spec.CreatorMchID == "" {
		spec.CreatorMchID = s.keys.MchID
	}
	if spec.CouponValue <= 0 {
		spec.CouponValue = 100
	}
	if spec.CouponMinimum <= 0 {
		spec.CouponMinimum = spec.CouponValue + 1
	}
	if spec.Name == "" {
		spec.Name = "模拟批次" + spec.ID
	}
	now := s.clock()
	st := &stock{
		StockSpec:   spec,
		description: "模拟器批次",
		createdAt:   now,
		beginAt:     now,
		endAt:       now.AddDate(0, 0, 90),
	}
	if spec.Status != StatusUnactivated {
		st.startedAt = now
	}
	if spec.Status == StatusExpired {
		st.stoppedAt = now
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.stocks[spec.ID]; !ok {
		s.stockOrder = append(s.stockOrder, spec.ID)
	}
	s.stocks[spec.ID] = st
	return nil
}

// SetStockStatus moves a stock to status (pause, resume, expire, activate).
func (s *Server) SetStockStatus(stockID string, status Status) error {
	if !status.valid() {
		return fmt.Errorf("stock %s: status %q", stockID, status)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.stocks[stockID]
	if !ok {
		return fmt.Errorf("stock %s: %w", stockID, ErrNotFound)
	}
	now := s.clock()
	if status == StatusRunning && st.startedAt.IsZero() {
		st.startedAt = now
	}
	if status == StatusExpired {
		st.stoppedAt = now
	}
	st.Status = status
	return nil
}

// ErrNotFound is returned by the Go API for unknown stocks.
var ErrNotFound = errors.New("wxsim: not found")

// Stocks returns the stocks' current settings, in creation order.
func (s *Server) Stocks() []StockState {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]StockState, 0, len(s.stockOrder))
	for _, id := range s.stockOrder {
		st := s.stocks[id]
		out = append(out, StockState{StockSpec: st.StockSpec, Status: s.statusLocked(st), Issued: s.issuedByStock[id]})
	}
	return out
}

// StockState is a stock with its issued count.
type StockState struct {
	StockSpec
	Status Status `json:"status"`
	Issued int    `json:"issued"`
}

// statusLocked is the effective status: a stock past its end is expired.
func (s *Server) statusLocked(st *stock) Status {
	if st.Status != StatusExpired && !st.endAt.IsZero() && s.clock().After(st.endAt) {
		return StatusExpired
	}
	return st.Status
}

// SetLimit changes the per-merchant send limit (requests/s; 0 = off). The
// buckets restart full.
func (s *Server) SetLimit(qps float64) error {
	if qps < 0 {
		return errors.New("negative limit")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limit = qps
	clear(s.buckets)
	return nil
}

// Limit is the current per-merchant send limit.
func (s *Server) Limit() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limit
}

// SetFaults replaces the fault configuration.
func (s *Server) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
	return nil
}

// Faults is the current fault configuration.
func (s *Server) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// SetCallbackURL sets where COUPON.USE notifications go ("" = nowhere).
func (s *Server) SetCallbackURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.callbackURL = u
}

// CallbackURL is where COUPON.USE notifications go.
func (s *Server) CallbackURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.callbackURL
}

// Ledger returns every coupon issued, in issue order, optionally only
// those of one stock.
func (s *Server) Ledger(stockID string) []Coupon {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Coupon, 0, len(s.coupons))
	for _, c := range s.coupons {
		if stockID != "" && c.StockID != stockID {
			continue
		}
		out = append(out, c.Coupon)
	}
	return out
}

// Stats returns counters and per-second accepted/throttled counts.
func (s *Server) Stats() Stats {
	st := s.stats.snapshot()
	st.Limit = s.Limit()
	return st
}

// allowLocked takes a token from mchid's bucket, as shaped (shape.go).
func (s *Server) allowLocked(mchid string, now time.Time) bool {
	return s.shapedAllowLocked(mchid, now)
}

// stamp is the time recorded in the ledger: UTC, without a monotonic
// reading, so that it reloads equal.
func (s *Server) stamp() time.Time { return s.clock().UTC() }

// clock is the simulator's calendar: Now moved by the clock offset. Stock
// times, ledger times and flow availability follow it; signatures, rate
// buckets, stats and download urls stay on Now.
func (s *Server) clock() time.Time { return s.now().Add(time.Duration(s.offset.Load())) }

// SetClockOffset moves the simulator's calendar by d from Now (see
// Options.ClockOffset).
func (s *Server) SetClockOffset(d time.Duration) { s.offset.Store(int64(d)) }

// ClockOffset is the current calendar offset.
func (s *Server) ClockOffset() time.Duration { return time.Duration(s.offset.Load()) }

// random helpers draw from the seeded generator.
func (s *Server) chance(p float64) bool {
	if p <= 0 {
		return false
	}
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return s.rng.Float64() < p
}

func (s *Server) randN(n int64) int64 {
	if n <= 0 {
		return 0
	}
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return s.rng.Int64N(n)
}

func (s *Server) shuffle(n int, swap func(i, j int)) {
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	s.rng.Shuffle(n, swap)
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

// drain discards what is left of a body so the connection can be reused.
func drain(r io.Reader) { _, _ = io.Copy(io.Discard, io.LimitReader(r, maxRequestBody)) }
