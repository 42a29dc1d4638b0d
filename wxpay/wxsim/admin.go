package wxsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// AdminPrefix is where the admin API lives, beside the API, for loopback
// clients only.
const AdminPrefix = "/sim/"

// Admin API bodies.
type (
	limitBody struct {
		QPS float64 `json:"qps"`
	}
	fractionBody struct {
		StockID  string  `json:"stock_id,omitempty"`
		Fraction float64 `json:"fraction"`
	}
	countBody struct {
		Count int `json:"count"`
	}
	callbackBody struct {
		URL string `json:"url"`
	}
	adminErrorBody struct {
		Error string `json:"error"`
	}
)

const adminHelp = `issuer simulator admin API (loopback only)

GET  /sim/ledger[?stock=ID]        coupons issued, in order
GET  /sim/stats                    totals, per-second accepted/throttled
GET  /sim/limit  PUT /sim/limit    {"qps": N}  per-merchant send limit, 0 = off
GET  /sim/shape  PUT /sim/shape    {"kind","depth","long_tail","steps":[{"after","factor","outage"}]}
GET  /sim/stocks POST /sim/stocks  {"stock_id","kind","budget","per_user_limit",...}
POST /sim/stocks/{id}/{pause|resume|expire|activate}
GET  /sim/faults PUT /sim/faults   {"before_500","after_500","hang_after","reset_after","forged_sig","probe","latency","jitter","hang_max"}
POST /sim/redeem                   {"stock_id","fraction"} → {"count"}
POST /sim/refund                   {"stock_id","fraction"} → {"count"}
GET  /sim/callback PUT /sim/callback {"url"}
GET  /sim/clock  PUT /sim/clock    {"offset": "36h"}  move the calendar (stock ends, flow files)
POST /sim/grant                    {"stock_id","openid"[,"create_time"]} → {"coupon_id"}  a coupon from another channel
`

func (s *Server) adminRoutes() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /sim/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, adminHelp+CertificatesAdminHelp)
	})
	m.HandleFunc("GET /sim/ledger", func(w http.ResponseWriter, r *http.Request) {
		adminJSON(w, http.StatusOK, s.Ledger(r.URL.Query().Get("stock")))
	})
	m.HandleFunc("GET /sim/stats", func(w http.ResponseWriter, r *http.Request) {
		adminJSON(w, http.StatusOK, s.Stats())
	})
	s.limitRoutes(m)
	s.shapeRoutes(m) // shape.go
	s.stockAdminRoutes(m)
	s.faultRoutes(m)
	s.callbackAdminRoutes(m)
	s.adminClockAndGrantRoutes(m)
	s.certAdminRoutes(m)
	return m
}

// limitRoutes read and change the hidden limit's rate.
func (s *Server) limitRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /sim/limit", func(w http.ResponseWriter, r *http.Request) {
		adminJSON(w, http.StatusOK, limitBody{QPS: s.Limit()})
	})
	setLimit := func(w http.ResponseWriter, r *http.Request) {
		var in limitBody
		if !adminDecode(w, r, &in) {
			return
		}
		if err := s.SetLimit(in.QPS); err != nil {
			adminError(w, http.StatusBadRequest, err)
			return
		}
		adminJSON(w, http.StatusOK, limitBody{QPS: s.Limit()})
	}
	m.HandleFunc("PUT /sim/limit", setLimit)
	m.HandleFunc("POST /sim/limit", setLimit)
}

// stockAdminRoutes list, add and change stocks.
func (s *Server) stockAdminRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /sim/stocks", func(w http.ResponseWriter, r *http.Request) {
		adminJSON(w, http.StatusOK, s.Stocks())
	})
	m.HandleFunc("POST /sim/stocks", func(w http.ResponseWriter, r *http.Request) {
		var in StockSpec
		if !adminDecode(w, r, &in) {
			return
		}
		if err := s.AddStock(in); err != nil {
			adminError(w, http.StatusBadRequest, err)
			return
		}
		for _, st := range s.Stocks() {
			if st.ID == in.ID {
				adminJSON(w, http.StatusCreated, st)
				return
			}
		}
	})
	m.HandleFunc("POST /sim/stocks/{id}/{action}", func(w http.ResponseWriter, r *http.Request) {
		status, ok := map[string]Status{
			"pause": StatusPaused, "resume": StatusRunning, "activate": StatusRunning, "expire": StatusExpired,
		}[r.PathValue("action")]
		if !ok {
			adminError(w, http.StatusNotFound, fmt.Errorf("unknown action %q: want pause, resume, expire or activate", r.PathValue("action")))
			return
		}
		if err := s.SetStockStatus(r.PathValue("id"), status); err != nil {
			adminFail(w, err, http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// faultRoutes read and change the faults, and redeem or refund coupons.
func (s *Server) faultRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /sim/faults", func(w http.ResponseWriter, r *http.Request) {
		adminJSON(w, http.StatusOK, s.Faults())
	})
	setFaults := func(w http.ResponseWriter, r *http.Request) {
		var in Faults
		if !adminDecode(w, r, &in) {
			return
		}
		if err := s.SetFaults(in); err != nil {
			adminError(w, http.StatusBadRequest, err)
			return
		}
		adminJSON(w, http.StatusOK, s.Faults())
	}
	m.HandleFunc("PUT /sim/faults", setFaults)
	m.HandleFunc("POST /sim/faults", setFaults)
	for path, act := range map[string]func(string, float64) (int, error){"/sim/redeem": s.Redeem, "/sim/refund": s.Refund} {
		m.HandleFunc("POST "+path, func(w http.ResponseWriter, r *http.Request) {
			var in fractionBody
			if !adminDecode(w, r, &in) {
				return
			}
			n, err := act(in.StockID, in.Fraction)
			if err != nil {
				adminFail(w, err, http.StatusBadRequest)
				return
			}
			adminJSON(w, http.StatusOK, countBody{Count: n})
		})
	}
}

// callbackAdminRoutes read and change where COUPON.USE notifications go.
func (s *Server) callbackAdminRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /sim/callback", func(w http.ResponseWriter, r *http.Request) {
		adminJSON(w, http.StatusOK, callbackBody{URL: s.CallbackURL()})
	})
	setCallback := func(w http.ResponseWriter, r *http.Request) {
		var in callbackBody
		if !adminDecode(w, r, &in) {
			return
		}
		if in.URL != "" {
			if u, err := url.Parse(in.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				adminError(w, http.StatusBadRequest, fmt.Errorf("callback url %q: want an absolute http(s) URL", in.URL))
				return
			}
		}
		s.SetCallbackURL(in.URL)
		adminJSON(w, http.StatusOK, callbackBody{URL: s.CallbackURL()})
	}
	m.HandleFunc("PUT /sim/callback", setCallback)
	m.HandleFunc("POST /sim/callback", setCallback)
}

func adminJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func adminError(w http.ResponseWriter, status int, err error) {
	adminJSON(w, status, adminErrorBody{Error: err.Error()})
}

// adminFail answers an act that failed: 404 for something that does not
// exist, otherwise status.
func adminFail(w http.ResponseWriter, err error, status int) {
	if errors.Is(err, ErrNotFound) {
		status = http.StatusNotFound
	}
	adminError(w, status, err)
}

func adminDecode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		adminError(w, http.StatusBadRequest, fmt.Errorf("body: %w", err))
		return false
	}
	return true
}

// AdminClient drives a running simulator's admin API, for tests and
// benchmarks in other packages and processes.
type AdminClient struct {
	base string
	hc   *http.Client
}

// NewAdminClient talks to the simulator at baseURL (its API base URL, as in
// wxpay.base_url); a nil hc uses a client with a 10 s timeout.
func NewAdminClient(baseURL string, hc *http.Client) *AdminClient {
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	return &AdminClient{base: strings.TrimRight(baseURL, "/"), hc: hc}
}

// AdminURL is the admin API's root for a simulator at baseURL.
func AdminURL(baseURL string) string { return strings.TrimRight(baseURL, "/") + AdminPrefix }

// Ledger lists the coupons issued, of one stock or of all ("").
func (a *AdminClient) Ledger(ctx context.Context, stockID string) ([]Coupon, error) {
	path := "ledger"
	if stockID != "" {
		path += "?" + url.Values{"stock": {stockID}}.Encode()
	}
	var out []Coupon
	return out, a.do(ctx, http.MethodGet, path, nil, &out)
}

// Stats reads the counters.
func (a *AdminClient) Stats(ctx context.Context) (Stats, error) {
	var out Stats
	return out, a.do(ctx, http.MethodGet, "stats", nil, &out)
}

// Limit reads the per-merchant send limit.
func (a *AdminClient) Limit(ctx context.Context) (float64, error) {
	var out limitBody
	err := a.do(ctx, http.MethodGet, "limit", nil, &out)
	return out.QPS, err
}

// SetLimit changes the per-merchant send limit (requests/s, 0 = off).
func (a *AdminClient) SetLimit(ctx context.Context, qps float64) error {
	return a.do(ctx, http.MethodPut, "limit", limitBody{QPS: qps}, nil)
}

// Stocks lists the stocks with their issued counts.
func (a *AdminClient) Stocks(ctx context.Context) ([]StockState, error) {
	var out []StockState
	return out, a.do(ctx, http.MethodGet, "stocks", nil, &out)
}

// AddStock adds or replaces a stock.
func (a *AdminClient) AddStock(ctx context.Context, spec StockSpec) error {
	return a.do(ctx, http.MethodPost, "stocks", spec, nil)
}

// PauseStock pauses a stock: sends answer "not running".
func (a *AdminClient) PauseStock(ctx context.Context, id string) error {
	return a.stockAction(ctx, id, "pause")
}

// ResumeStock runs a paused or unactivated stock.
func (a *AdminClient) ResumeStock(ctx context.Context, id string) error {
	return a.stockAction(ctx, id, "resume")
}

// ExpireStock ends a stock for good.
func (a *AdminClient) ExpireStock(ctx context.Context, id string) error {
	return a.stockAction(ctx, id, "expire")
}

func (a *AdminClient) stockAction(ctx context.Context, id, action string) error {
	return a.do(ctx, http.MethodPost, "stocks/"+url.PathEscape(id)+"/"+action, nil, nil)
}

// Faults reads the fault configuration.
func (a *AdminClient) Faults(ctx context.Context) (Faults, error) {
	var out Faults
	return out, a.do(ctx, http.MethodGet, "faults", nil, &out)
}

// SetFaults replaces the fault configuration.
func (a *AdminClient) SetFaults(ctx context.Context, f Faults) error {
	return a.do(ctx, http.MethodPut, "faults", f, nil)
}

// Redeem simulates the use of a fraction of the unused 代金券 of a stock
// (or of all stocks, ""), returning how many were redeemed.
func (a *AdminClient) Redeem(ctx context.Context, stockID string, fraction float64) (int, error) {
	var out countBody
	err := a.do(ctx, http.MethodPost, "redeem", fractionBody{StockID: stockID, Fraction: fraction}, &out)
	return out.Count, err
}

// Refund simulates the refund of a fraction of the redeemed 代金券.
func (a *AdminClient) Refund(ctx context.Context, stockID string, fraction float64) (int, error) {
	var out countBody
	err := a.do(ctx, http.MethodPost, "refund", fractionBody{StockID: stockID, Fraction: fraction}, &out)
	return out.Count, err
}

// CallbackURL reads where COUPON.USE notifications go.
func (a *AdminClient) CallbackURL(ctx context.Context) (string, error) {
	var out callbackBody
	err := a.do(ctx, http.MethodGet, "callback", nil, &out)
	return out.URL, err
}

// SetCallbackURL sets where COUPON.USE notifications go ("" = nowhere).
func (a *AdminClient) SetCallbackURL(ctx context.Context, u string) error {
	return a.do(ctx, http.MethodPut, "callback", callbackBody{URL: u}, nil)
}

func (a *AdminClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("sim admin %s: %w", path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+AdminPrefix+path, body)
	if err != nil {
		return fmt.Errorf("sim admin %s: %w", path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return fmt.Errorf("sim admin %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("sim admin %s: %w", path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var e adminErrorBody
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return fmt.Errorf("sim admin %s: %s: %s", path, resp.Status, e.Error)
		}
		return fmt.Errorf("sim admin %s: %s: %s", path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("sim admin %s: %w", path, err)
		}
	}
	return nil
}

// grantBody is POST /sim/grant.
type grantBody struct {
	StockID    string    `json:"stock_id"`
	OpenID     string    `json:"openid"`
	CreateTime time.Time `json:"create_time,omitzero"`
}

type grantAnswer struct {
	CouponID string `json:"coupon_id"`
}

// clockBody is GET/PUT /sim/clock.
type clockBody struct {
	Offset Duration `json:"offset"`
}

// GrantCoupon puts a coupon in a user's wallet as if issued by another
// channel (see Server.GrantCoupon); zero createdAt means now.
func (a *AdminClient) GrantCoupon(ctx context.Context, stockID, openid string, createdAt time.Time) (string, error) {
	var out grantAnswer
	err := a.do(ctx, http.MethodPost, "grant", grantBody{StockID: stockID, OpenID: openid, CreateTime: createdAt}, &out)
	return out.CouponID, err
}

// ClockOffset reads the simulator's calendar offset.
func (a *AdminClient) ClockOffset(ctx context.Context) (time.Duration, error) {
	var out clockBody
	err := a.do(ctx, http.MethodGet, "clock", nil, &out)
	return time.Duration(out.Offset), err
}

// SetClockOffset moves the simulator's calendar by d from now.
func (a *AdminClient) SetClockOffset(ctx context.Context, d time.Duration) error {
	return a.do(ctx, http.MethodPut, "clock", clockBody{Offset: Duration(d)}, nil)
}

// adminClockAndGrantRoutes adds the clock and grant endpoints to the admin API.
func (s *Server) adminClockAndGrantRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /sim/clock", func(w http.ResponseWriter, r *http.Request) {
		adminJSON(w, http.StatusOK, clockBody{Offset: Duration(s.ClockOffset())})
	})
	setClock := func(w http.ResponseWriter, r *http.Request) {
		var in clockBody
		if !adminDecode(w, r, &in) {
			return
		}
		s.SetClockOffset(time.Duration(in.Offset))
		adminJSON(w, http.StatusOK, clockBody{Offset: Duration(s.ClockOffset())})
	}
	m.HandleFunc("PUT /sim/clock", setClock)
	m.HandleFunc("POST /sim/clock", setClock)
	m.HandleFunc("POST /sim/grant", func(w http.ResponseWriter, r *http.Request) {
		var in grantBody
		if !adminDecode(w, r, &in) {
			return
		}
		id, err := s.GrantCoupon(in.StockID, in.OpenID, in.CreateTime)
		if err != nil {
			adminFail(w, err, http.StatusBadRequest)
			return
		}
		adminJSON(w, http.StatusCreated, grantAnswer{CouponID: id})
	})
}
