package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/issuer-dev/issuer/internal/money"
	"github.com/issuer-dev/issuer/internal/textable"
	"github.com/issuer-dev/issuer/ops"
	"github.com/issuer-dev/issuer/wxpay"
)

// The rest of seed 003 on the command line: a stock's scope (§3.2.9,
// §3.2.10), a user's coupons (§3.2.11) and the notification address
// (§3.2.14). Like the other stock commands they need the merchant keys,
// never the database.

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
		pos, err := parseFlags(e, fs, args)
		if err != nil {
			return err
		}
		id, err := stockArg(c.name, pos)
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

func cmdCoupons() *command {
	c := &command{name: "coupons", usage: "--openid O [--stock S] [--json]",
		short: "list a user's 代金券 of the merchant's stocks, as WeChat Pay has them"}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := newFlags(e, c)
		openid := fs.String("openid", "", "the user (required)")
		stock := fs.String("stock", "", "only coupons of this stock")
		asJSON := fs.Bool("json", false, "print a JSON array of the coupons as WeChat Pay returns them")
		pos, err := parseFlags(e, fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 0 {
			return usagef("coupons: unexpected argument %q", pos[0])
		}
		return e.withWXService(ctx, func(s *ops.Service) error {
			list, err := s.UserCoupons(ctx, e.actor(), *openid, *stock)
			if err != nil {
				return opsUsage(err)
			}
			if *asJSON {
				return e.printJSON(list)
			}
			printCoupons(e.stdout, list, s.Config.Location)
			return nil
		})
	}
	return c
}

func printCoupons(w io.Writer, list []wxpay.Coupon, loc *time.Location) {
	t := textable.New("ID", "STOCK", "STATUS", "VALUE>", "CREATED")
	for _, cp := range list {
		value := "-"
		if n := cp.NormalCouponInformation; n != nil {
			value = money.Yuan(n.CouponAmount)
		}
		t.Add(cp.CouponID, cp.StockID, cp.Status, value, localTime(cp.CreateTime, loc))
	}
	t.Write(w)
}

func cmdCallbackShow() *command {
	c := &command{name: "callback show", usage: "[--json]", short: "show the address WeChat Pay sends COUPON.USE notifications to"}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := newFlags(e, c)
		asJSON := fs.Bool("json", false, `print {"notify_url","mchid"} as WeChat Pay returns it`)
		pos, err := parseFlags(e, fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 0 {
			return usagef("callback show: unexpected argument %q", pos[0])
		}
		return e.withWXService(ctx, func(s *ops.Service) error {
			cb, err := s.NotifyURL(ctx, e.actor())
			if err != nil {
				return err
			}
			if *asJSON {
				return e.printJSON(struct {
					NotifyURL string `json:"notify_url"`
					MchID     string `json:"mchid"`
				}{cb.NotifyURL, cb.MchID})
			}
			fmt.Fprintf(e.stdout, "mchid       %s\nnotify_url  %s\n", cb.MchID, orNone(cb.NotifyURL))
			if p := s.Config.Callbacks.PublicURL; p != "" && p != cb.NotifyURL {
				fmt.Fprintf(e.stderr, "callbacks.public_url is %s: `issuer run` will register it\n", p)
			}
			return nil
		})
	}
	return c
}

func cmdCallbackSet() *command {
	c := &command{name: "callback set", usage: "URL", short: "register the address for COUPON.USE notifications (https, no query)"}
	c.run = func(ctx context.Context, e *env, args []string) error {
		pos, err := parseFlags(e, newFlags(e, c), args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usagef("callback set: want exactly one URL")
		}
		return e.withWXService(ctx, func(s *ops.Service) error {
			cb, err := s.SetNotifyURL(ctx, e.actor(), pos[0])
			if err != nil {
				return opsUsage(err)
			}
			fmt.Fprintf(e.stdout, "notifications for %s go to %s", cb.MchID, cb.NotifyURL)
			if cb.UpdateTime != "" {
				fmt.Fprintf(e.stdout, " (updated %s)", cb.UpdateTime)
			}
			fmt.Fprintln(e.stdout)
			return nil
		})
	}
	return c
}
