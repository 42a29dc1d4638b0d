package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/issuer-dev/issuer/internal/config"
	"github.com/issuer-dev/issuer/internal/money"
	"github.com/issuer-dev/issuer/ops"
)

// The commands on WeChat Pay's side: stocks, a user's coupons, the
// notification address (no database needed: onWX) and plugin signing
// (offline). The rules and the WeChat Pay requests are ops'.

func cmdStockCreate() *command {
	return op[ops.StockCreate, *ops.CreatedStock]{
		name: "stock create", args: noArgs, on: onWX, errs: asUsage,
		usage: "--name N (--max-coupons N | --budget-yuan Y) --coupon-value FEN --minimum FEN --start T --end T " +
			"[--max-per-user N] [--comment C] [--no-cash] [--out-request-no R] [--json]",
		short: "create a 代金券 stock (unactivated until `stock start`)",
		json:  `print {"stock_id","create_time","out_request_no"}`,
		flags: stockCreateFlags,
		call: func(c *call, o *ops.StockCreate) (*ops.CreatedStock, error) {
			// Printed before the call: if it never answers, this number is how
			// the operator finds out whether the stock exists.
			o.OnSend = func(orn string) { fmt.Fprintf(c.e.stderr, "stock create: out_request_no %s\n", orn) }
			return c.s.CreateStock(c.ctx, c.actor, *o)
		},
		asJSON: func(res *ops.CreatedStock) any {
			return struct {
				*ops.CreateStockResult
				OutRequestNo string `json:"out_request_no"`
			}{res.CreateStockResult, res.Request.OutRequestNo}
		},
		text: func(c *call, _ *ops.StockCreate, res *ops.CreatedStock) {
			req := res.Request
			r, f := req.StockUseRule, req.CouponUseRule.FixedNormalCoupon
			c.printf("created stock %s %q: %d coupons of %s yuan (orders from %s yuan), budget %s yuan, %d per user\n",
				res.StockID, req.StockName, r.MaxCoupons, money.Yuan(f.CouponAmount),
				money.Yuan(f.TransactionMinimum), money.Yuan(r.MaxAmount), r.MaxCouponsPerUser)
			c.printf("out_request_no %s\n", req.OutRequestNo)
			c.printf("it is unactivated: `issuer stock start %s` to start issuing\n", res.StockID)
		},
	}.command()
}

func stockCreateFlags(fs *flag.FlagSet, o *ops.StockCreate) {
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
}

func cmdStockAction(action ops.StockAction) *command {
	shorts := map[ops.StockAction]string{
		ops.StockStart:   "activate a created stock so that coupons can be issued",
		ops.StockPause:   "pause a running stock: sends fail until it is restarted",
		ops.StockRestart: "resume a paused stock",
		ops.StockStop:    "stop a stock for good: it can never be restarted (issued coupons stay usable)",
	}
	past := map[ops.StockAction]string{ops.StockStart: "started", ops.StockPause: "paused", ops.StockRestart: "restarted", ops.StockStop: "stopped"}
	return op[none, *ops.StockActionResult]{
		name: "stock " + string(action), usage: "ID", short: shorts[action], args: stockArg, on: onWX,
		call: func(c *call, _ *none) (*ops.StockActionResult, error) {
			return c.s.ChangeStock(c.ctx, c.actor, action, c.arg)
		},
		text: func(c *call, _ *none, a *ops.StockActionResult) {
			c.printf("stock %s %s", a.StockID, past[action])
			if a.Time != "" {
				c.printf(" at %s", a.Time)
			}
			c.printf("\n")
		},
	}.command()
}

func cmdStockShow() *command {
	return op[none, *ops.Stock]{
		name: "stock show", usage: "ID [--json]", short: "show a 代金券 stock: status, value, budget, coupons distributed",
		args: stockArg, on: onWX, json: "print the stock object as WeChat Pay returns it",
		call: func(c *call, _ *none) (*ops.Stock, error) { return c.s.Stock(c.ctx, c.actor, c.arg) },
		text: func(c *call, _ *none, st *ops.Stock) { printStock(c.e.stdout, st, c.loc()) },
	}.command()
}

func cmdStockList() *command {
	return op[ops.StockFilter, []ops.Stock]{
		name: "stock list", usage: "[--status S] [--limit N] [--json]", short: "list the merchant's 代金券 stocks",
		args: noArgs, on: onWX, errs: asUsage, json: "print a JSON array of stock objects as WeChat Pay returns them",
		flags: func(fs *flag.FlagSet, f *ops.StockFilter) {
			fs.StringVar(&f.Status, "status", "", "only stocks in this status: "+strings.Join(ops.StockStatuses(), ", "))
			fs.IntVar(&f.Limit, "limit", 100, "at most this many stocks (0: all)")
		},
		call: func(c *call, f *ops.StockFilter) ([]ops.Stock, error) {
			l, err := c.s.Stocks(c.ctx, c.actor, *f)
			if err != nil {
				return nil, err
			}
			if len(l.Stocks) < l.Total {
				fmt.Fprintf(c.e.stderr, "showing %d of %d stocks; --limit 0 shows all\n", len(l.Stocks), l.Total)
			}
			return l.Stocks, nil
		},
		text: func(c *call, _ *ops.StockFilter, stocks []ops.Stock) { printStockList(c.e.stdout, stocks, c.loc()) },
	}.command()
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
func stockValue(s *ops.Stock) (value, minimum int64, ok bool) {
	if s.StockUseRule == nil || s.StockUseRule.FixedNormalCoupon == nil {
		return 0, 0, false
	}
	f := s.StockUseRule.FixedNormalCoupon
	return f.CouponAmount, f.TransactionMinimum, true
}

func printStock(w io.Writer, s *ops.Stock, loc *time.Location) {
	v := newView(w)
	v.add("stock", "%s  %s", s.StockID, s.StockName)
	v.add("status", "%s", s.Status)
	v.add("creator", "%s", s.StockCreatorMchID)
	kind := "预充值 (pre-paid budget)"
	if s.NoCash {
		kind = "免充值 (merchant-funded)"
	}
	v.add("type", "%s, %s", s.StockType, kind)
	if value, minimum, ok := stockValue(s); ok {
		v.add("coupon", "%s yuan off orders from %s yuan", money.Yuan(value), money.Yuan(minimum))
	}
	if r := s.StockUseRule; r != nil {
		left := r.MaxCoupons - s.DistributedCoupons
		v.add("budget", "%d coupons, %s yuan; %d distributed, %d left", r.MaxCoupons, money.Yuan(r.MaxAmount), s.DistributedCoupons, left)
		perUser := fmt.Sprintf("%d", r.MaxCouponsPerUser)
		if r.NaturalPersonLimit {
			perUser += " (per natural person)"
		}
		v.add("per user", "%s", perUser)
	} else {
		v.add("distributed", "%d", s.DistributedCoupons)
	}
	v.add("available", "%s to %s (%s)", localTime(s.AvailableBeginTime, loc), localTime(s.AvailableEndTime, loc), loc)
	v.add("created", "%s", localTime(s.CreateTime, loc))
	if s.StartTime != "" {
		v.add("started", "%s", localTime(s.StartTime, loc))
	}
	if s.StopTime != "" {
		v.add("stopped", "%s", localTime(s.StopTime, loc))
	}
	if s.Description != "" {
		v.add("description", "%s", s.Description)
	}
	v.Flush()
}

func printStockList(w io.Writer, stocks []ops.Stock, loc *time.Location) {
	table(w, stocks, func(s ops.Stock) []string {
		value, minimum := "-", "-"
		if v, m, ok := stockValue(&s); ok {
			value, minimum = money.Yuan(v), money.Yuan(m)
		}
		maxCoupons, perUser := "-", "-"
		if r := s.StockUseRule; r != nil {
			maxCoupons, perUser = fmt.Sprint(r.MaxCoupons), fmt.Sprint(r.MaxCouponsPerUser)
		}
		return []string{s.StockID, s.StockName, s.Status, value, minimum, maxCoupons,
			fmt.Sprint(s.DistributedCoupons), perUser, localTime(s.AvailableBeginTime, loc), localTime(s.AvailableEndTime, loc)}
	}, "ID", "NAME", "STATUS", "VALUE>", "MINIMUM>", "MAX_COUPONS>", "DISTRIBUTED>", "PER_USER>", "BEGIN", "END")
}

// cmdStockScope is `stock merchants` and `stock items`.
func cmdStockScope(what string) *command {
	column, fetch := "MERCHANT", (*ops.Service).StockMerchants
	short := "list the merchants where a stock's coupons can be used"
	if what == "items" {
		column, fetch = "ITEM", (*ops.Service).StockItems
		short = "list the goods ids a stock's coupons apply to (单品券)"
	}
	return op[none, *ops.StockScope]{
		name: "stock " + what, usage: "ID [--json]", short: short, args: stockArg, on: onWX,
		json: `print {"total_count","data","offset","limit","stock_id"} as WeChat Pay returns it, with every page in data`,
		call: func(c *call, _ *none) (*ops.StockScope, error) { return fetch(c.s, c.ctx, c.actor, c.arg) },
		text: func(c *call, _ *none, sc *ops.StockScope) {
			n := 0
			table(c.e.stdout, sc.Data, func(v string) []string { n++; return []string{fmt.Sprint(n), v} }, "#>", column)
			if len(sc.Data) == 0 {
				fmt.Fprintf(c.e.stderr, "stock %s: no %s listed\n", c.arg, what)
			}
		},
	}.command()
}

func cmdCoupons() *command {
	type flags struct{ openid, stock string }
	return op[flags, []ops.Coupon]{
		name: "coupons", usage: "--openid O [--stock S] [--json]", args: noArgs, on: onWX, errs: asUsage,
		short: "list a user's 代金券 of the merchant's stocks, as WeChat Pay has them",
		json:  "print a JSON array of the coupons as WeChat Pay returns them",
		flags: func(fs *flag.FlagSet, f *flags) {
			fs.StringVar(&f.openid, "openid", "", "the user (required)")
			fs.StringVar(&f.stock, "stock", "", "only coupons of this stock")
		},
		call: func(c *call, f *flags) ([]ops.Coupon, error) {
			return c.s.UserCoupons(c.ctx, c.actor, f.openid, f.stock)
		},
		text: func(c *call, _ *flags, list []ops.Coupon) {
			table(c.e.stdout, list, func(cp ops.Coupon) []string {
				value := "-"
				if n := cp.NormalCouponInformation; n != nil {
					value = money.Yuan(n.CouponAmount)
				}
				return []string{cp.CouponID, cp.StockID, cp.Status, value, localTime(cp.CreateTime, c.loc())}
			}, "ID", "STOCK", "STATUS", "VALUE>", "CREATED")
		},
	}.command()
}

func cmdCallbackShow() *command {
	return op[none, *ops.CallbackSetting]{
		name: "callback show", usage: "[--json]", short: "show the address WeChat Pay sends COUPON.USE notifications to",
		args: noArgs, on: onWX, json: `print {"notify_url","mchid"} as WeChat Pay returns it`,
		call: func(c *call, _ *none) (*ops.CallbackSetting, error) { return c.s.NotifyURL(c.ctx, c.actor) },
		asJSON: func(cb *ops.CallbackSetting) any {
			return struct {
				NotifyURL string `json:"notify_url"`
				MchID     string `json:"mchid"`
			}{cb.NotifyURL, cb.MchID}
		},
		text: func(c *call, _ *none, cb *ops.CallbackSetting) {
			v := newView(c.e.stdout)
			v.add("mchid", "%s", cb.MchID)
			v.add("notify_url", "%s", orNone(cb.NotifyURL))
			v.Flush()
			if p := c.s.Config.Callbacks.PublicURL; p != "" && p != cb.NotifyURL {
				fmt.Fprintf(c.e.stderr, "callbacks.public_url is %s: `issuer run` will register it\n", p)
			}
		},
	}.command()
}

func cmdCallbackSet() *command {
	return op[none, *ops.CallbackSetting]{
		name: "callback set", usage: "URL", short: "register the address for COUPON.USE notifications (https, no query)",
		args: oneArg, what: "URL", on: onWX, errs: asUsage,
		call: func(c *call, _ *none) (*ops.CallbackSetting, error) { return c.s.SetNotifyURL(c.ctx, c.actor, c.arg) },
		text: func(c *call, _ *none, cb *ops.CallbackSetting) {
			c.printf("notifications for %s go to %s", cb.MchID, cb.NotifyURL)
			if cb.UpdateTime != "" {
				c.printf(" (updated %s)", cb.UpdateTime)
			}
			c.printf("\n")
		},
	}.command()
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// couponList collects repeated --coupon STOCK:OUT_REQUEST_NO[:CODE] flags.
type couponList []ops.PluginCoupon

func (l *couponList) String() string {
	if l == nil {
		return ""
	}
	parts := make([]string, len(*l))
	for i, c := range *l {
		parts[i] = c.StockID + ":" + c.OutRequestNo
		if c.CouponCode != "" {
			parts[i] += ":" + c.CouponCode
		}
	}
	return strings.Join(parts, ",")
}

func (l *couponList) Set(v string) error {
	parts := strings.SplitN(v, ":", 3)
	if len(parts) < 2 || parts[0] == "" || parts[1] == "" || (len(parts) == 3 && parts[2] == "") {
		return fmt.Errorf("%q: want STOCK:OUT_REQUEST_NO[:CODE]", v)
	}
	c := ops.PluginCoupon{StockID: parts[0], OutRequestNo: parts[1]}
	if len(parts) == 3 {
		c.CouponCode = parts[2]
	}
	*l = append(*l, c)
	return nil
}

func cmdPluginSign() *command {
	return op[ops.PluginSign, none]{
		name:  "plugin-sign",
		usage: "--merchant M --coupon STOCK:OUT_REQUEST_NO[:CODE]... [--key-file F]",
		short: "sign send-coupon parameters for the mini-program plugin (offline)",
		args:  noArgs, on: offline,
		flags: func(fs *flag.FlagSet, req *ops.PluginSign) {
			fs.StringVar(&req.Merchant, "merchant", "", "send_coupon_merchant: the issuing merchant id")
			fs.Var((*couponList)(&req.Coupons), "coupon", fmt.Sprintf("a coupon to send, STOCK:OUT_REQUEST_NO[:CODE]; repeat for up to %d", ops.MaxPluginCoupons))
			fs.StringVar(&req.KeyFile, "key-file", "", "the merchant's APIv2 key file (default: config wxpay.apiv2_key_file)")
		},
		// Everything wrong with the arguments is a usage error, found
		// before any config or key is read.
		check: func(_ *call, req *ops.PluginSign) error { return opsUsage(req.Check()) },
		call: func(c *call, req *ops.PluginSign) (none, error) {
			// The config is needed only for its key file, so that plugin-sign
			// with --key-file works on a machine without one.
			var cfg *config.Config
			if req.KeyFile == "" {
				var err error
				if cfg, err = c.e.loadConfig(); err != nil {
					return none{}, err
				}
			}
			p, err := c.e.app().OfflineService(cfg).SignPlugin(c.ctx, c.actor, *req)
			if err != nil {
				return none{}, opsUsage(err)
			}
			return none{}, c.e.printJSON(p)
		},
	}.command()
}
