package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/issuer-dev/issuer/internal/config"
	"github.com/issuer-dev/issuer/internal/textable"
	"github.com/issuer-dev/issuer/wxpay"
)

// Stock commands talk to WeChat Pay only: they need a syntactically valid
// config but never the database, so ops can manage stocks from any machine
// holding the merchant keys.

// withWX loads the config and runs fn with a WeChat Pay client.
func (e *env) withWX(ctx context.Context, fn func(*config.Config, *wxpay.Client) error) error {
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	c, err := e.wxClient(cfg, 1)
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(cfg, c)
}

// wxAPIError renders a WeChat Pay error answer the way operators look it up
// in WeChat Pay's docs and support tickets: CODE: message (HTTP status,
// request id). It unwraps to the *wxpay.APIError.
type wxAPIError struct{ *wxpay.APIError }

func (e wxAPIError) Error() string {
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

func (e wxAPIError) Unwrap() error { return e.APIError }

// wxFail wraps err from a WeChat Pay call with the operation that failed.
func wxFail(op string, err error) error {
	var ae *wxpay.APIError
	if errors.As(err, &ae) {
		return fmt.Errorf("%s: %w", op, wxAPIError{ae})
	}
	return fmt.Errorf("%s: %w", op, err)
}

// maybeDone reports whether a failed call may nevertheless have taken
// effect at WeChat Pay: a lost answer, an unauthenticated one, or a 5xx.
func maybeDone(err error) bool {
	var ae *wxpay.APIError
	if errors.As(err, &ae) {
		return ae.Status >= 500
	}
	var te *wxpay.TransportError
	if errors.As(err, &te) {
		return te.MaybeSent
	}
	return errors.Is(err, wxpay.ErrSignature) || errors.Is(err, wxpay.ErrMalformedResponse)
}

func stockID(name string, pos []string) (string, error) {
	if len(pos) != 1 || pos[0] == "" {
		return "", usagef("%s: want exactly one stock ID", name)
	}
	for _, r := range pos[0] {
		if r < '0' || r > '9' {
			return "", usagef("%s: %q is not a stock ID (digits)", name, pos[0])
		}
	}
	return pos[0], nil
}

// stockCreateOptions are the create flags, in the units ops think in.
type stockCreateOptions struct {
	name, comment            string
	budgetYuan               string
	maxCoupons               int64
	couponValue, minimum     int64 // fen
	start, end               string
	maxPerUser               int64
	noCash                   bool
	naturalPerson, antiAbuse bool
	outRequestNo             string
}

// maxStockSpan is the longest availability window WeChat Pay accepts (seed
// 003: 批次可用时间范围最长为90天).
const maxStockSpan = 90 * 24 * time.Hour

// request validates o and builds the create request. Every error is a
// usage error: nothing has been sent.
func (o *stockCreateOptions) request(loc *time.Location) (wxpay.CreateStockRequest, error) {
	var req wxpay.CreateStockRequest
	switch {
	case o.name == "":
		return req, usagef("stock create: --name is required")
	case o.couponValue <= 0:
		return req, usagef("stock create: --coupon-value FEN is required and must be positive")
	case o.minimum <= o.couponValue:
		return req, usagef("stock create: --minimum (%d fen) must exceed --coupon-value (%d fen): WeChat Pay requires the order threshold above the face value", o.minimum, o.couponValue)
	case o.maxPerUser < 1:
		return req, usagef("stock create: --max-per-user must be at least 1")
	case o.start == "" || o.end == "":
		return req, usagef("stock create: --start and --end are required")
	}
	maxCoupons := o.maxCoupons
	if o.budgetYuan != "" {
		budget, err := wxpay.ParseYuan(o.budgetYuan)
		if err != nil || budget <= 0 {
			return req, usagef("stock create: --budget-yuan %q is not a positive amount in yuan", o.budgetYuan)
		}
		if budget%o.couponValue != 0 {
			return req, usagef("stock create: --budget-yuan %s is not a whole number of %s-yuan coupons", wxpay.FormatYuan(budget), wxpay.FormatYuan(o.couponValue))
		}
		n := budget / o.couponValue
		if maxCoupons != 0 && maxCoupons != n {
			return req, usagef("stock create: --budget-yuan %s buys %d coupons of %s yuan, not --max-coupons %d", wxpay.FormatYuan(budget), n, wxpay.FormatYuan(o.couponValue), maxCoupons)
		}
		maxCoupons = n
	}
	if maxCoupons <= 0 {
		return req, usagef("stock create: give --max-coupons N or --budget-yuan Y")
	}
	begin, err := parseStockTime(o.start, loc, false)
	if err != nil {
		return req, usagef("stock create: --start: %v", err)
	}
	end, err := parseStockTime(o.end, loc, true)
	if err != nil {
		return req, usagef("stock create: --end: %v", err)
	}
	if !end.After(begin) {
		return req, usagef("stock create: --end %s is not after --start %s", wxpay.FormatTime(end), wxpay.FormatTime(begin))
	}
	if end.Sub(begin) > maxStockSpan {
		return req, usagef("stock create: %s to %s is longer than WeChat Pay's 90 days", wxpay.FormatTime(begin), wxpay.FormatTime(end))
	}
	if o.outRequestNo != "" {
		if err := wxpay.ValidOutRequestNo(o.outRequestNo); err != nil {
			return req, usagef("stock create: --out-request-no: %v", err)
		}
	}
	return wxpay.CreateStockRequest{
		StockName:          o.name,
		Comment:            o.comment,
		AvailableBeginTime: wxpay.FormatTime(begin),
		AvailableEndTime:   wxpay.FormatTime(end),
		StockUseRule: wxpay.StockUseRule{
			MaxCoupons:         maxCoupons,
			MaxAmount:          maxCoupons * o.couponValue,
			MaxCouponsPerUser:  o.maxPerUser,
			NaturalPersonLimit: o.naturalPerson,
			PreventAPIAbuse:    o.antiAbuse,
		},
		CouponUseRule: wxpay.CouponUseRule{
			FixedNormalCoupon: &wxpay.FixedNormalCoupon{CouponAmount: o.couponValue, TransactionMinimum: o.minimum},
		},
		NoCash:       o.noCash,
		StockType:    "NORMAL",
		OutRequestNo: o.outRequestNo,
	}, nil
}

// parseStockTime accepts RFC 3339 or a local date/time in loc. A bare date
// means the start of that day, or for an end its last second, which is what
// "--end 2025-03-31" means to a person.
func parseStockTime(s string, loc *time.Location, end bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02T15:04"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	if t, err := time.ParseInLocation("2006-01-02", s, loc); err == nil {
		if end {
			return t.AddDate(0, 0, 1).Add(-time.Second), nil
		}
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time: use RFC 3339, YYYY-MM-DD HH:MM[:SS] or YYYY-MM-DD (in %s)", s, loc)
}

// newStockOutRequestNo follows seed 003's 商户ID+日期+流水号 with a random
// serial: nothing stores stock creations, and a human reruns with the
// printed number if the answer is lost.
func newStockOutRequestNo(mchid string, now time.Time) (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1e10))
	if err != nil {
		return "", fmt.Errorf("out_request_no: %w", err)
	}
	return fmt.Sprintf("%s%s%010d", mchid, now.Format("20060102"), n.Int64()), nil
}

func cmdStockCreate() *command {
	c := &command{
		name: "stock create",
		usage: "--name N (--max-coupons N | --budget-yuan Y) --coupon-value FEN --minimum FEN --start T --end T " +
			"[--max-per-user N] [--comment C] [--no-cash] [--out-request-no R] [--json]",
		short: "create a 代金券 stock (unactivated until `stock start`)",
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := newFlags(e, c)
		var o stockCreateOptions
		fs.StringVar(&o.name, "name", "", "stock name (WeChat Pay: at most 9 Chinese characters or 20 letters)")
		fs.StringVar(&o.comment, "comment", "", "internal note shown as the stock's description")
		fs.StringVar(&o.budgetYuan, "budget-yuan", "", "budget in yuan; must be a multiple of the coupon value")
		fs.Int64Var(&o.maxCoupons, "max-coupons", 0, "number of coupons (alternative to --budget-yuan)")
		fs.Int64Var(&o.couponValue, "coupon-value", 0, "face value of each coupon, in fen (1 yuan = 100 fen)")
		fs.Int64Var(&o.minimum, "minimum", 0, "order amount from which the coupon applies, in fen; above --coupon-value")
		fs.StringVar(&o.start, "start", "", "availability start: RFC 3339, YYYY-MM-DD HH:MM[:SS] or YYYY-MM-DD, in the configured timezone")
		fs.StringVar(&o.end, "end", "", "availability end (a bare date means its last second); at most 90 days after --start")
		fs.Int64Var(&o.maxPerUser, "max-per-user", 1, "coupons one user may receive")
		fs.BoolVar(&o.noCash, "no-cash", false, "免充值: the merchant funds the discount instead of a pre-paid budget")
		fs.BoolVar(&o.naturalPerson, "natural-person-limit", false, "apply the per-user limit per natural person, across WeChat accounts")
		fs.BoolVar(&o.antiAbuse, "prevent-api-abuse", false, "turn on WeChat Pay's anti-abuse checks on sends")
		fs.StringVar(&o.outRequestNo, "out-request-no", "", "reuse the number printed by an earlier create whose answer was lost")
		asJSON := fs.Bool("json", false, `print {"stock_id","create_time","out_request_no"}`)
		pos, err := parseFlags(e, fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 0 {
			return usagef("stock create: unexpected argument %q", pos[0])
		}
		cfg, err := e.loadConfig()
		if err != nil {
			return err
		}
		req, err := o.request(cfg.Location)
		if err != nil {
			return err
		}
		if err := cfg.Require("wxpay.mchid"); err != nil {
			return err
		}
		if req.OutRequestNo == "" {
			if req.OutRequestNo, err = newStockOutRequestNo(cfg.WXPay.MchID, time.Now().In(cfg.Location)); err != nil {
				return err
			}
		}
		client, err := e.wxClient(cfg, 1)
		if err != nil {
			return err
		}
		defer client.Close()
		// Printed before the call: if it never answers, this number is how
		// the operator finds out whether the stock exists.
		fmt.Fprintf(e.stderr, "stock create: out_request_no %s\n", req.OutRequestNo)
		res, err := client.CreateStock(ctx, req)
		if err != nil {
			err = wxFail(fmt.Sprintf("stock create (out_request_no %s)", req.OutRequestNo), err)
			if maybeDone(err) {
				err = fmt.Errorf("%w\nthe stock may have been created: rerun with --out-request-no %s, or check `issuer stock list --status unactivated`", err, req.OutRequestNo)
			}
			return err
		}
		if *asJSON {
			return e.printJSON(struct {
				*wxpay.CreateStockResult
				OutRequestNo string `json:"out_request_no"`
			}{res, req.OutRequestNo})
		}
		r := req.StockUseRule
		fmt.Fprintf(e.stdout, "created stock %s %q: %d coupons of %s yuan (orders from %s yuan), budget %s yuan, %d per user\n",
			res.StockID, req.StockName, r.MaxCoupons, wxpay.FormatYuan(req.CouponUseRule.FixedNormalCoupon.CouponAmount),
			wxpay.FormatYuan(req.CouponUseRule.FixedNormalCoupon.TransactionMinimum), wxpay.FormatYuan(r.MaxAmount), r.MaxCouponsPerUser)
		fmt.Fprintf(e.stdout, "out_request_no %s\n", req.OutRequestNo)
		fmt.Fprintf(e.stdout, "it is unactivated: `issuer stock start %s` to start issuing\n", res.StockID)
		return nil
	}
	return c
}

func cmdStockAction(action string) *command {
	shorts := map[string]string{
		"start":   "activate a created stock so that coupons can be issued",
		"pause":   "pause a running stock: sends fail until it is restarted",
		"restart": "resume a paused stock",
	}
	past := map[string]string{"start": "started", "pause": "paused", "restart": "restarted"}
	c := &command{name: "stock " + action, usage: "ID", short: shorts[action]}
	c.run = func(ctx context.Context, e *env, args []string) error {
		pos, err := parseFlags(e, newFlags(e, c), args)
		if err != nil {
			return err
		}
		id, err := stockID(c.name, pos)
		if err != nil {
			return err
		}
		return e.withWX(ctx, func(_ *config.Config, client *wxpay.Client) error {
			call := map[string]func(context.Context, string, string) (*wxpay.StockAction, error){
				"start": client.StartStock, "pause": client.PauseStock, "restart": client.RestartStock,
			}[action]
			a, err := call(ctx, id, "")
			if err != nil {
				return wxFail(c.name+" "+id, err)
			}
			fmt.Fprintf(e.stdout, "stock %s %s", a.StockID, past[action])
			if a.Time != "" {
				fmt.Fprintf(e.stdout, " at %s", a.Time)
			}
			fmt.Fprintln(e.stdout)
			return nil
		})
	}
	return c
}

func cmdStockShow() *command {
	c := &command{name: "stock show", usage: "ID [--json]", short: "show a 代金券 stock: status, value, budget, coupons distributed"}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := newFlags(e, c)
		asJSON := fs.Bool("json", false, "print the stock object as WeChat Pay returns it")
		pos, err := parseFlags(e, fs, args)
		if err != nil {
			return err
		}
		id, err := stockID(c.name, pos)
		if err != nil {
			return err
		}
		return e.withWX(ctx, func(cfg *config.Config, client *wxpay.Client) error {
			s, err := client.QueryStock(ctx, id, "")
			if err != nil {
				return wxFail(c.name+" "+id, err)
			}
			if *asJSON {
				return e.printJSON(s)
			}
			printStock(e.stdout, s, cfg.Location)
			return nil
		})
	}
	return c
}

// stockStatuses are the list filter's values; "stopped" is accepted for
// WeChat Pay's "stoped".
var stockStatuses = []string{wxpay.StockUnactivated, wxpay.StockAudit, wxpay.StockRunning, wxpay.StockStopped, wxpay.StockPaused}

func cmdStockList() *command {
	c := &command{name: "stock list", usage: "[--status S] [--limit N] [--json]", short: "list the merchant's 代金券 stocks"}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := newFlags(e, c)
		status := fs.String("status", "", "only stocks in this status: "+strings.Join(stockStatuses, ", "))
		limit := fs.Int("limit", 100, "at most this many stocks (0: all)")
		asJSON := fs.Bool("json", false, "print a JSON array of stock objects as WeChat Pay returns them")
		pos, err := parseFlags(e, fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 0 {
			return usagef("stock list: unexpected argument %q", pos[0])
		}
		if *status == "stopped" {
			*status = wxpay.StockStopped
		}
		if *status != "" && !contains(stockStatuses, *status) {
			return usagef("stock list: --status %q: want one of %s", *status, strings.Join(stockStatuses, ", "))
		}
		if *limit < 0 {
			return usagef("stock list: --limit must not be negative")
		}
		return e.withWX(ctx, func(cfg *config.Config, client *wxpay.Client) error {
			stocks, total, err := listStocks(ctx, client, *status, *limit)
			if err != nil {
				return wxFail(c.name, err)
			}
			if len(stocks) < total {
				fmt.Fprintf(e.stderr, "showing %d of %d stocks; --limit 0 shows all\n", len(stocks), total)
			}
			if *asJSON {
				return e.printJSON(stocks)
			}
			printStockList(e.stdout, stocks, cfg.Location)
			return nil
		})
	}
	return c
}

// stockPageSize is the list endpoint's largest page.
const stockPageSize = 10

// listStocks pages through the stock list. WeChat Pay's offset is a page
// index, not a row offset.
func listStocks(ctx context.Context, client *wxpay.Client, status string, limit int) ([]wxpay.Stock, int, error) {
	stocks := []wxpay.Stock{}
	total := 0
	for page := 0; ; page++ {
		l, err := client.ListStocks(ctx, wxpay.ListStocksRequest{Offset: page, Limit: stockPageSize, Status: status})
		if err != nil {
			return nil, 0, fmt.Errorf("page %d: %w", page, err)
		}
		total = l.TotalCount
		stocks = append(stocks, l.Data...)
		if limit > 0 && len(stocks) >= limit {
			return stocks[:limit], total, nil
		}
		// A short page ends the list even if total_count says otherwise
		// (stocks created or expiring while paging).
		if len(l.Data) < stockPageSize || len(stocks) >= total {
			return stocks, total, nil
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// localTime renders a WeChat Pay time in the configured zone, or as sent
// when it does not parse.
func localTime(s string, loc *time.Location) string {
	if s == "" {
		return "-"
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return s
	}
	return t.In(loc).Format("2006-01-02 15:04:05")
}

// stockValue is a stock's face value and threshold in fen, when it has a
// fixed value.
func stockValue(s *wxpay.Stock) (value, minimum int64, ok bool) {
	if s.StockUseRule == nil || s.StockUseRule.FixedNormalCoupon == nil {
		return 0, 0, false
	}
	f := s.StockUseRule.FixedNormalCoupon
	return f.CouponAmount, f.TransactionMinimum, true
}

func printStock(w io.Writer, s *wxpay.Stock, loc *time.Location) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "stock\t%s  %s\n", s.StockID, s.StockName)
	fmt.Fprintf(tw, "status\t%s\n", s.Status)
	fmt.Fprintf(tw, "creator\t%s\n", s.StockCreatorMchID)
	kind := "预充值 (pre-paid budget)"
	if s.NoCash {
		kind = "免充值 (merchant-funded)"
	}
	fmt.Fprintf(tw, "type\t%s, %s\n", s.StockType, kind)
	if v, m, ok := stockValue(s); ok {
		fmt.Fprintf(tw, "coupon\t%s yuan off orders from %s yuan\n", wxpay.FormatYuan(v), wxpay.FormatYuan(m))
	}
	if r := s.StockUseRule; r != nil {
		left := r.MaxCoupons - s.DistributedCoupons
		fmt.Fprintf(tw, "budget\t%d coupons, %s yuan; %d distributed, %d left\n", r.MaxCoupons, wxpay.FormatYuan(r.MaxAmount), s.DistributedCoupons, left)
		perUser := fmt.Sprintf("%d", r.MaxCouponsPerUser)
		if r.NaturalPersonLimit {
			perUser += " (per natural person)"
		}
		fmt.Fprintf(tw, "per user\t%s\n", perUser)
	} else {
		fmt.Fprintf(tw, "distributed\t%d\n", s.DistributedCoupons)
	}
	fmt.Fprintf(tw, "available\t%s to %s (%s)\n", localTime(s.AvailableBeginTime, loc), localTime(s.AvailableEndTime, loc), loc)
	fmt.Fprintf(tw, "created\t%s\n", localTime(s.CreateTime, loc))
	if s.StartTime != "" {
		fmt.Fprintf(tw, "started\t%s\n", localTime(s.StartTime, loc))
	}
	if s.StopTime != "" {
		fmt.Fprintf(tw, "stopped\t%s\n", localTime(s.StopTime, loc))
	}
	if s.Description != "" {
		fmt.Fprintf(tw, "description\t%s\n", s.Description)
	}
	tw.Flush()
}

func printStockList(w io.Writer, stocks []wxpay.Stock, loc *time.Location) {
	t := textable.New("ID", "NAME", "STATUS", "VALUE>", "MINIMUM>", "MAX_COUPONS>", "DISTRIBUTED>", "PER_USER>", "BEGIN", "END")
	for i := range stocks {
		s := &stocks[i]
		value, minimum := "-", "-"
		if v, m, ok := stockValue(s); ok {
			value, minimum = wxpay.FormatYuan(v), wxpay.FormatYuan(m)
		}
		maxCoupons, perUser := "-", "-"
		if r := s.StockUseRule; r != nil {
			maxCoupons, perUser = fmt.Sprint(r.MaxCoupons), fmt.Sprint(r.MaxCouponsPerUser)
		}
		t.Add(s.StockID, s.StockName, s.Status, value, minimum, maxCoupons,
			fmt.Sprint(s.DistributedCoupons), perUser, localTime(s.AvailableBeginTime, loc), localTime(s.AvailableEndTime, loc))
	}
	t.Write(w)
}
