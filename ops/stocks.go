package ops

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/internal/money"
	"github.com/issuer-dev/issuer/wxpay"
)

// Stock operations talk to WeChat Pay only (../shared/seeds/003_349c2f9f2becfc1b.txt): a Service without a
// database can perform them, so stocks can be managed from any machine
// holding the merchant keys. Parameter names in messages are the command
// line's, which the API shares.

// StockCreate is a 代金券 stock to create, in the units operators think in.
type StockCreate struct {
	Name, Comment string
	// BudgetYuan or MaxCoupons sizes the stock; with both they must agree.
	BudgetYuan  string
	MaxCoupons  int64
	CouponValue int64 // fen
	Minimum     int64 // order threshold, fen; above CouponValue
	// Start and End are RFC 3339 or a local date/time in the configured
	// zone; a bare End date means its last second.
	Start, End         string
	MaxPerUser         int64
	NoCash             bool
	NaturalPersonLimit bool
	PreventAPIAbuse    bool
	// OutRequestNo reuses the number of an earlier create whose answer was
	// lost; empty makes a new one.
	OutRequestNo string
	// OnSend, when set, sees the out_request_no before the request goes
	// out: if no answer comes, that number is how the operator finds out
	// whether the stock exists.
	OnSend func(outRequestNo string)
}

// CreatedStock is what CreateStock sent and what WeChat Pay answered.
type CreatedStock struct {
	Request wxpay.CreateStockRequest
	*wxpay.CreateStockResult
}

// maxStockSpan is the longest availability window WeChat Pay accepts (seed
// 003: 批次可用时间范围最长为90天).
const maxStockSpan = 90 * 24 * time.Hour

// CreateStock creates a 代金券 stock, unactivated until StartStock. Every
// error before the call is an EINVALID *Error: nothing has been sent. A call
// that may have taken effect says so and names its out_request_no.
func (s *Service) CreateStock(ctx context.Context, a auth.Actor, c StockCreate) (*CreatedStock, error) {
	req, err := c.request(s.Config.Location)
	if err != nil {
		return nil, err
	}
	if err := s.Config.Require("wxpay.mchid"); err != nil {
		return nil, err
	}
	if req.OutRequestNo == "" {
		if req.OutRequestNo, err = newStockOutRequestNo(s.Config.WXPay.MchID, time.Now().In(s.Config.Location)); err != nil {
			return nil, err
		}
	}
	var res *wxpay.CreateStockResult
	t := &target{}
	err = s.act(ctx, a, auth.ActStock, t, func() (string, error) {
		return s.withWX(func(wx WXClient) (string, error) {
			if c.OnSend != nil {
				c.OnSend(req.OutRequestNo)
			}
			var err error
			res, err = wx.CreateStock(ctx, req)
			if err != nil {
				err = wxErr(fmt.Sprintf("stock create (out_request_no %s)", req.OutRequestNo), err)
				if wxpay.MaybeDone(err) {
					err = fmt.Errorf("%w\nthe stock may have been created: rerun with --out-request-no %s, or check `issuer stock list --status unactivated`", err, req.OutRequestNo)
				}
				return "create " + req.StockName + " out_request_no " + req.OutRequestNo, err
			}
			t.stock = res.StockID
			return fmt.Sprintf("created %q: %d coupons of %d fen, out_request_no %s",
				req.StockName, req.StockUseRule.MaxCoupons, c.CouponValue, req.OutRequestNo), nil
		})
	})
	if err != nil {
		return nil, err
	}
	return &CreatedStock{Request: req, CreateStockResult: res}, nil
}

// request validates c and builds the create request.
func (c *StockCreate) request(loc *time.Location) (wxpay.CreateStockRequest, error) {
	var req wxpay.CreateStockRequest
	switch {
	case c.Name == "":
		return req, invalidf("stock create: --name is required")
	case c.CouponValue <= 0:
		return req, invalidf("stock create: --coupon-value FEN is required and must be positive")
	case c.Minimum <= c.CouponValue:
		return req, invalidf("stock create: --minimum (%d fen) must exceed --coupon-value (%d fen): WeChat Pay requires the order threshold above the face value", c.Minimum, c.CouponValue)
	case c.MaxPerUser < 1:
		return req, invalidf("stock create: --max-per-user must be at least 1")
	case c.Start == "" || c.End == "":
		return req, invalidf("stock create: --start and --end are required")
	}
	maxCoupons := c.MaxCoupons
	if c.BudgetYuan != "" {
		budget, err := wxpay.ParseYuan(c.BudgetYuan)
		if err != nil || budget <= 0 {
			return req, invalidf("stock create: --budget-yuan %q is not a positive amount in yuan", c.BudgetYuan)
		}
		if budget%c.CouponValue != 0 {
			return req, invalidf("stock create: --budget-yuan %s is not a whole number of %s-yuan coupons", money.Yuan(budget), money.Yuan(c.CouponValue))
		}
		n := budget / c.CouponValue
		if maxCoupons != 0 && maxCoupons != n {
			return req, invalidf("stock create: --budget-yuan %s buys %d coupons of %s yuan, not --max-coupons %d", money.Yuan(budget), n, money.Yuan(c.CouponValue), maxCoupons)
		}
		maxCoupons = n
	}
	if maxCoupons <= 0 {
		return req, invalidf("stock create: give --max-coupons N or --budget-yuan Y")
	}
	begin, err := ParseStockTime(c.Start, loc, false)
	if err != nil {
		return req, invalidf("stock create: --start: %v", err)
	}
	end, err := ParseStockTime(c.End, loc, true)
	if err != nil {
		return req, invalidf("stock create: --end: %v", err)
	}
	if !end.After(begin) {
		return req, invalidf("stock create: --end %s is not after --start %s", wxpay.FormatTime(end), wxpay.FormatTime(begin))
	}
	if end.Sub(begin) > maxStockSpan {
		return req, invalidf("stock create: %s to %s is longer than WeChat Pay's 90 days", wxpay.FormatTime(begin), wxpay.FormatTime(end))
	}
	if c.OutRequestNo != "" {
		if err := wxpay.ValidOutRequestNo(c.OutRequestNo); err != nil {
			return req, invalidf("stock create: --out-request-no: %v", err)
		}
	}
	return wxpay.CreateStockRequest{
		StockName:          c.Name,
		Comment:            c.Comment,
		AvailableBeginTime: wxpay.FormatTime(begin),
		AvailableEndTime:   wxpay.FormatTime(end),
		StockUseRule: wxpay.StockUseRule{
			MaxCoupons:         maxCoupons,
			MaxAmount:          maxCoupons * c.CouponValue,
			MaxCouponsPerUser:  c.MaxPerUser,
			NaturalPersonLimit: c.NaturalPersonLimit,
			PreventAPIAbuse:    c.PreventAPIAbuse,
		},
		CouponUseRule: wxpay.CouponUseRule{
			FixedNormalCoupon: &wxpay.FixedNormalCoupon{CouponAmount: c.CouponValue, TransactionMinimum: c.Minimum},
		},
		NoCash:       c.NoCash,
		StockType:    "NORMAL",
		OutRequestNo: c.OutRequestNo,
	}, nil
}

// ParseStockTime accepts RFC 3339 or a local date/time in loc. A bare date
// means the start of that day, or for an end its last second, which is
// what "--end 2025-03-31" means to a person.
func ParseStockTime(s string, loc *time.Location, end bool) (time.Time, error) {
	if t, ok := parseLocal(s, loc, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02T15:04"); ok {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, loc); err == nil {
		if end {
			return t.AddDate(0, 0, 1).Add(-time.Second), nil
		}
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time: use RFC 3339, YYYY-MM-DD HH:MM[:SS] or YYYY-MM-DD (in %s)", s, loc)
}

// newStockOutRequestNo follows ../shared/seeds/003_349c2f9f2becfc1b.txt's 商户ID+日期+流水号 with a random
// serial: nothing stores stock creations, and a person reruns with the
// printed number if the answer is lost.
func newStockOutRequestNo(mchid string, now time.Time) (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1e10))
	if err != nil {
		return "", fmt.Errorf("out_request_no: %w", err)
	}
	return fmt.Sprintf("%s%s%010d", mchid, now.Format("20060102"), n.Int64()), nil
}

// StockAction is a change of a stock's status.
type StockAction string

// Stock actions (../shared/seeds/003_349c2f9f2becfc1b.txt §3.2.2–§3.2.4, §3.2.8).
const (
	StockStart   StockAction = "start"   // activate a created stock
	StockPause   StockAction = "pause"   // sends fail until restarted
	StockRestart StockAction = "restart" // resume a paused stock
	StockStop    StockAction = "stop"    // for good; issued coupons stay usable
)

// ChangeStock starts, pauses, restarts or stops a stock.
func (s *Service) ChangeStock(ctx context.Context, a auth.Actor, action StockAction, id string) (*wxpay.StockAction, error) {
	op := "stock " + string(action)
	if err := ValidStockID(op, id); err != nil {
		return nil, err
	}
	var res *wxpay.StockAction
	err := s.act(ctx, a, auth.ActStock, &target{stock: id}, func() (string, error) {
		return s.withWX(func(wx WXClient) (string, error) {
			call := map[StockAction]func(context.Context, string, string) (*wxpay.StockAction, error){
				StockStart: wx.StartStock, StockPause: wx.PauseStock, StockRestart: wx.RestartStock, StockStop: wx.StopStock,
			}[action]
			if call == nil {
				return "", invalidf("%s: unknown stock action", op)
			}
			var err error
			if res, err = call(ctx, id, ""); err != nil {
				err = wxErr(op+" "+id, err)
				if wxpay.MaybeDone(err) {
					err = fmt.Errorf("%w\nthe %s may have taken effect: check `issuer stock show %s` before trying again", err, action, id)
				}
				return string(action), err
			}
			return string(action) + " at " + res.Time, nil
		})
	})
	return res, err
}

// Stock is one stock as WeChat Pay has it.
func (s *Service) Stock(ctx context.Context, a auth.Actor, id string) (*wxpay.Stock, error) {
	if err := ValidStockID("stock show", id); err != nil {
		return nil, err
	}
	return readWX(s, ctx, a, target{stock: id}, func(wx WXClient) (*wxpay.Stock, error) {
		st, err := wx.QueryStock(ctx, id, "")
		return st, wxErr("stock show "+id, err)
	})
}

// StockStatuses are the list filter's values; "stopped" is accepted for
// WeChat Pay's "stoped".
func StockStatuses() []string {
	return []string{wxpay.StockUnactivated, wxpay.StockAudit, wxpay.StockRunning, wxpay.StockStopped, wxpay.StockPaused}
}

// StockFilter selects stocks to list.
type StockFilter struct {
	Status string // one of StockStatuses, or "" for all
	Limit  int    // at most this many; 0: all
}

// StockList is a listing and how many stocks WeChat Pay counts in all.
type StockList struct {
	Stocks []wxpay.Stock
	Total  int
}

// stockPageSize is the list endpoint's largest page.
const stockPageSize = 10

// Stocks lists the merchant's stocks, paging through WeChat Pay's list.
func (s *Service) Stocks(ctx context.Context, a auth.Actor, f StockFilter) (*StockList, error) {
	if f.Status == "stopped" {
		f.Status = wxpay.StockStopped
	}
	if f.Status != "" && !slices.Contains(StockStatuses(), f.Status) {
		return nil, invalidf("stock list: --status %q: want one of %s", f.Status, strings.Join(StockStatuses(), ", "))
	}
	if f.Limit < 0 {
		return nil, invalidf("stock list: --limit must not be negative")
	}
	return readWX(s, ctx, a, target{}, func(wx WXClient) (*StockList, error) {
		l, err := listStocks(ctx, wx, f)
		return l, wxErr("stock list", err)
	})
}

// listStocks pages through the stock list. WeChat Pay's offset is a page
// index, not a row offset.
func listStocks(ctx context.Context, wx WXClient, f StockFilter) (*StockList, error) {
	out := &StockList{Stocks: []wxpay.Stock{}}
	for page := 0; ; page++ {
		l, err := wx.ListStocks(ctx, wxpay.ListStocksRequest{Offset: page, Limit: stockPageSize, Status: f.Status})
		if err != nil {
			return nil, fmt.Errorf("page %d: %w", page, err)
		}
		out.Total = l.TotalCount
		out.Stocks = append(out.Stocks, l.Data...)
		if f.Limit > 0 && len(out.Stocks) >= f.Limit {
			out.Stocks = out.Stocks[:f.Limit]
			return out, nil
		}
		// A short page ends the list even if total_count says otherwise
		// (stocks created or expiring while paging).
		if len(l.Data) < stockPageSize || len(out.Stocks) >= out.Total {
			return out, nil
		}
	}
}

// StockMerchants lists the merchants where a stock's coupons can be used
// (§3.2.9), every page.
func (s *Service) StockMerchants(ctx context.Context, a auth.Actor, id string) (*wxpay.StockScope, error) {
	return s.stockScope(ctx, a, "stock merchants", id, WXClient.AllStockMerchants)
}

// StockItems lists the goods a stock's coupons apply to (§3.2.10), every
// page.
func (s *Service) StockItems(ctx context.Context, a auth.Actor, id string) (*wxpay.StockScope, error) {
	return s.stockScope(ctx, a, "stock items", id, WXClient.AllStockItems)
}

func (s *Service) stockScope(ctx context.Context, a auth.Actor, op, id string,
	fetch func(WXClient, context.Context, string, string) (*wxpay.StockScope, error)) (*wxpay.StockScope, error) {
	if err := ValidStockID(op, id); err != nil {
		return nil, err
	}
	return readWX(s, ctx, a, target{stock: id}, func(wx WXClient) (*wxpay.StockScope, error) {
		sc, err := fetch(wx, ctx, id, "")
		return sc, wxErr(op+" "+id, err)
	})
}

// UserCoupons lists a user's 代金券 of the merchant's stocks (§3.2.11),
// of one stock when stock is set.
func (s *Service) UserCoupons(ctx context.Context, a auth.Actor, openid, stock string) ([]wxpay.Coupon, error) {
	if openid == "" {
		return nil, invalidf("coupons: --openid is required")
	}
	if stock != "" {
		if err := ValidStockID("coupons --stock", stock); err != nil {
			return nil, err
		}
	}
	return readWX(s, ctx, a, target{stock: stock}, func(wx WXClient) ([]wxpay.Coupon, error) {
		// By creator: the only filter that lists used coupons and honours
		// stock_id (../shared/seeds/003_349c2f9f2becfc1b.txt §3.2.11).
		list, err := wx.AllUserCoupons(ctx, wxpay.UserCouponsRequest{
			OpenID: openid, StockID: stock, CreatorMchID: s.Config.WXPay.MchID,
		})
		return list, wxErr("coupons of "+openid, err)
	})
}

// NotifyURL is the address WeChat Pay sends COUPON.USE notifications to
// (§3.2.14).
func (s *Service) NotifyURL(ctx context.Context, a auth.Actor) (*wxpay.CallbackSetting, error) {
	return readWX(s, ctx, a, target{}, func(wx WXClient) (*wxpay.CallbackSetting, error) {
		cb, err := wx.Callback(ctx, "")
		return cb, wxErr("callback show", err)
	})
}

// SetNotifyURL registers the address for COUPON.USE notifications
// (https, no query).
func (s *Service) SetNotifyURL(ctx context.Context, a auth.Actor, url string) (*wxpay.CallbackSetting, error) {
	if err := wxpay.ValidNotifyURL(url); err != nil {
		return nil, invalidf("callback set: %v", err)
	}
	var res *wxpay.CallbackSetting
	err := s.act(ctx, a, auth.ActStock, &target{}, func() (string, error) {
		return s.withWX(func(wx WXClient) (string, error) {
			var err error
			if res, err = wx.SetCallback(ctx, wxpay.CallbackRequest{NotifyURL: url}); err != nil {
				return "notify_url " + url, wxErr("callback set", err)
			}
			return "notify_url " + res.NotifyURL, nil
		})
	})
	return res, err
}

// ValidStockID checks a stock id (digits) for op.
func ValidStockID(op, id string) error {
	if id == "" {
		return invalidf("%s: want exactly one stock ID", op)
	}
	for _, r := range id {
		if r < '0' || r > '9' {
			return invalidf("%s: %q is not a stock ID (digits)", op, id)
		}
	}
	return nil
}

// ErrNoWX: the operation asks WeChat Pay and the merchant keys are not
// configured.
var ErrNoWX = errors.New("configure the merchant keys (wxpay.*)")

// withWX runs fn with a WeChat Pay client made for it.
func (s *Service) withWX(fn func(WXClient) (string, error)) (string, error) {
	if s.WX == nil {
		return "", fmt.Errorf("stock operations ask WeChat Pay: %w", ErrNoWX)
	}
	wx, err := s.WX()
	if err != nil {
		return "", err
	}
	defer wx.Close()
	return fn(wx)
}

// readWX authorizes a read of stock information and runs fn with a
// client.
func readWX[T any](s *Service, ctx context.Context, a auth.Actor, t target, fn func(WXClient) (T, error)) (T, error) {
	var v T
	if err := s.read(ctx, a, auth.ActReadStockInfo, t); err != nil {
		return v, err
	}
	_, err := s.withWX(func(wx WXClient) (string, error) {
		var err error
		v, err = fn(wx)
		return "", err
	})
	return v, err
}

// WXError renders a WeChat Pay error answer the way operators look it up
// in WeChat Pay's docs and support tickets: CODE: message (HTTP status,
// request id). It unwraps to the *wxpay.APIError.
type WXError struct{ *wxpay.APIError }

func (e WXError) Error() string {
	a := e.APIError
	var b strings.Builder
	if a.Code != "" {
		b.WriteString(a.Code)
	} else {
		fmt.Fprintf(&b, "HTTP %d", a.Status)
	}
	if a.Message != "" {
		b.WriteString(": " + a.Message)
	}
	fmt.Fprintf(&b, " (HTTP %d", a.Status)
	if a.RequestID != "" {
		b.WriteString(", request id " + a.RequestID)
	}
	b.WriteString(")")
	if d := strings.TrimSpace(string(a.Detail)); d != "" && d != "null" && d != "{}" {
		b.WriteString(" detail " + d)
	}
	return b.String()
}

func (e WXError) Unwrap() error { return e.APIError }

// wxErr wraps err from a WeChat Pay call with the operation that failed;
// nil stays nil.
func wxErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var ae *wxpay.APIError
	if errors.As(err, &ae) {
		return fmt.Errorf("%s: %w", op, WXError{ae})
	}
	return fmt.Errorf("%s: %w", op, err)
}
