package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/issuer-dev/issuer/internal/money"
	"github.com/issuer-dev/issuer/internal/textable"
	"github.com/issuer-dev/issuer/ops"
	"github.com/issuer-dev/issuer/wxpay"
)

// Stock commands parse flags, call package ops and print; the rules and
// the WeChat Pay requests are ops'. They need no database (see
// withWXService).

// parseStockID is parseFlags for a command on one stock ID.
func parseStockID(e *env, fs *flag.FlagSet, args []string) (string, error) {
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return "", err
	}
	return stockArg(fs.Name(), pos)
}

// stockArg is the one positional stock ID of cmd.
func stockArg(cmd string, pos []string) (string, error) {
	if len(pos) != 1 || pos[0] == "" {
		return "", usagef("%s: want exactly one stock ID", cmd)
	}
	return pos[0], opsUsage(ops.ValidStockID(cmd, pos[0]))
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
		var o ops.StockCreate
		fs.StringVar(&o.Name, "name", "", "stock name (WeChat Pay: at most 9 Chinese characters or 20 letters)")
		fs.StringVar(&o.Comment, "comment", "", "internal note shown as the stock's description")
		fs.StringVar(&o.BudgetYuan, "budget-yuan", "", "budget in yuan; must be a multiple of the coupon value")
		fs.Int64Var(&o.MaxCoupons, "max-coupons", 0, "number of coupons (alternative to --budget-yuan)")
		fs.Int64Var(&o.CouponValue, "coupon-value", 0, "face value of each coupon, in fen (1 yuan = 100 fen)")
		fs.Int64Var(&o.Minimum, "minimum", 0, "order amount from which the coupon applies, in fen; above --coupon-value")
		fs.StringVar(&o.Start, "start", "", "availability start: RFC 3339, YYYY-MM-DD HH:MM[:SS] or YYYY-MM-DD, in the configured timezone")
		fs.StringVar(&o.End, "end", "", "availability end (a bare date means its last second); at most 90 days after --start")
		fs.Int64Var(&o.MaxPerUser, "max-per-user", 1, "coupons one user may receive")
		fs.BoolVar(&o.NoCash, "no-cash", false, "免充值: the merchant funds the discount instead of a pre-paid budget")
		fs.BoolVar(&o.NaturalPersonLimit, "natural-person-limit", false, "apply the per-user limit per natural person, across WeChat accounts")
		fs.BoolVar(&o.PreventAPIAbuse, "prevent-api-abuse", false, "turn on WeChat Pay's anti-abuse checks on sends")
		fs.StringVar(&o.OutRequestNo, "out-request-no", "", "reuse the number printed by an earlier create whose answer was lost")
		asJSON := fs.Bool("json", false, `print {"stock_id","create_time","out_request_no"}`)
		if err := parseNoArgs(e, fs, args); err != nil {
			return err
		}
		// Printed before the call: if it never answers, this number is how
		// the operator finds out whether the stock exists.
		o.OnSend = func(orn string) { fmt.Fprintf(e.stderr, "stock create: out_request_no %s\n", orn) }
		return e.withWXService(ctx, func(s *ops.Service) error {
			res, err := s.CreateStock(ctx, e.actor(), o)
			if err != nil {
				return opsUsage(err)
			}
			req := res.Request
			if *asJSON {
				return e.printJSON(struct {
					*wxpay.CreateStockResult
					OutRequestNo string `json:"out_request_no"`
				}{res.CreateStockResult, req.OutRequestNo})
			}
			r, f := req.StockUseRule, req.CouponUseRule.FixedNormalCoupon
			fmt.Fprintf(e.stdout, "created stock %s %q: %d coupons of %s yuan (orders from %s yuan), budget %s yuan, %d per user\n",
				res.StockID, req.StockName, r.MaxCoupons, money.Yuan(f.CouponAmount),
				money.Yuan(f.TransactionMinimum), money.Yuan(r.MaxAmount), r.MaxCouponsPerUser)
			fmt.Fprintf(e.stdout, "out_request_no %s\n", req.OutRequestNo)
			fmt.Fprintf(e.stdout, "it is unactivated: `issuer stock start %s` to start issuing\n", res.StockID)
			return nil
		})
	}
	return c
}

func cmdStockAction(action ops.StockAction) *command {
	shorts := map[ops.StockAction]string{
		ops.StockStart:   "activate a created stock so that coupons can be issued",
		ops.StockPause:   "pause a running stock: sends fail until it is restarted",
		ops.StockRestart: "resume a paused stock",
		ops.StockStop:    "stop a stock for good: it can never be restarted (issued coupons stay usable)",
	}
	past := map[ops.StockAction]string{ops.StockStart: "started", ops.StockPause: "paused", ops.StockRestart: "restarted", ops.StockStop: "stopped"}
	c := &command{name: "stock " + string(action), usage: "ID", short: shorts[action]}
	c.run = func(ctx context.Context, e *env, args []string) error {
		id, err := parseStockID(e, newFlags(e, c), args)
		if err != nil {
			return err
		}
		return e.withWXService(ctx, func(s *ops.Service) error {
			a, err := s.ChangeStock(ctx, e.actor(), action, id)
			if err != nil {
				return err
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
		id, err := parseStockID(e, fs, args)
		if err != nil {
			return err
		}
		return e.withWXService(ctx, func(s *ops.Service) error {
			st, err := s.Stock(ctx, e.actor(), id)
			if err != nil {
				return err
			}
			if *asJSON {
				return e.printJSON(st)
			}
			printStock(e.stdout, st, s.Config.Location)
			return nil
		})
	}
	return c
}

func cmdStockList() *command {
	c := &command{name: "stock list", usage: "[--status S] [--limit N] [--json]", short: "list the merchant's 代金券 stocks"}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := newFlags(e, c)
		var f ops.StockFilter
		fs.StringVar(&f.Status, "status", "", "only stocks in this status: "+strings.Join(ops.StockStatuses(), ", "))
		fs.IntVar(&f.Limit, "limit", 100, "at most this many stocks (0: all)")
		asJSON := fs.Bool("json", false, "print a JSON array of stock objects as WeChat Pay returns them")
		if err := parseNoArgs(e, fs, args); err != nil {
			return err
		}
		return e.withWXService(ctx, func(s *ops.Service) error {
			l, err := s.Stocks(ctx, e.actor(), f)
			if err != nil {
				return opsUsage(err)
			}
			if len(l.Stocks) < l.Total {
				fmt.Fprintf(e.stderr, "showing %d of %d stocks; --limit 0 shows all\n", len(l.Stocks), l.Total)
			}
			if *asJSON {
				return e.printJSON(l.Stocks)
			}
			printStockList(e.stdout, l.Stocks, s.Config.Location)
			return nil
		})
	}
	return c
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
		fmt.Fprintf(tw, "coupon\t%s yuan off orders from %s yuan\n", money.Yuan(v), money.Yuan(m))
	}
	if r := s.StockUseRule; r != nil {
		left := r.MaxCoupons - s.DistributedCoupons
		fmt.Fprintf(tw, "budget\t%d coupons, %s yuan; %d distributed, %d left\n", r.MaxCoupons, money.Yuan(r.MaxAmount), s.DistributedCoupons, left)
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
			value, minimum = money.Yuan(v), money.Yuan(m)
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

// cmdStockScope is `stock merchants` and `stock items`.
func cmdStockScope(what string) *command {
	c := &command{name: "stock " + what, usage: "ID [--json]"}
	column := "MERCHANT"
	fetch := (*ops.Service).StockMerchants
	c.short = "list the merchants where a stock's coupons can be used"
	if what == "items" {
		column, fetch = "ITEM", (*ops.Service).StockItems
		c.short = "list the goods ids a stock's coupons apply to (单品券)"
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := newFlags(e, c)
		asJSON := fs.Bool("json", false, `print {"total_count","data","offset","limit","stock_id"} as WeChat Pay returns it, with every page in data`)
		id, err := parseStockID(e, fs, args)
		if err != nil {
			return err
		}
		return e.withWXService(ctx, func(s *ops.Service) error {
			sc, err := fetch(s, ctx, e.actor(), id)
			if err != nil {
				return err
			}
			if *asJSON {
				return e.printJSON(sc)
			}
			t := textable.New("#>", column)
			for i, v := range sc.Data {
				t.Add(fmt.Sprint(i+1), v)
			}
			t.Write(e.stdout)
			if len(sc.Data) == 0 {
				fmt.Fprintf(e.stderr, "stock %s: no %s listed\n", id, what)
			}
			return nil
		})
	}
	return c
}
