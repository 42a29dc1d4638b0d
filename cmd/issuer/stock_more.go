package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/issuer-dev/issuer/internal/config"
	"github.com/issuer-dev/issuer/internal/textable"
	"github.com/issuer-dev/issuer/wxpay"
)

// The rest of seed 003 on the command line: stop a stock, its scope
// (§3.2.9, §3.2.10), a user's coupons (§3.2.11) and the notification
// address (§3.2.14). Like the other stock commands they need the merchant
// keys, never the database.

func cmdStockStop() *command {
	c := &command{name: "stock stop", usage: "ID", short: "stop a stock for good: it can never be restarted (issued coupons stay usable)"}
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
			a, err := client.StopStock(ctx, id, "")
			if err != nil {
				return wxFail(c.name+" "+id, err)
			}
			fmt.Fprintf(e.stdout, "stock %s stopped", a.StockID)
			if a.Time != "" {
				fmt.Fprintf(e.stdout, " at %s", a.Time)
			}
			fmt.Fprintln(e.stdout)
			return nil
		})
	}
	return c
}

// cmdStockScope is `stock merchants` and `stock items`.
func cmdStockScope(what string) *command {
	c := &command{name: "stock " + what, usage: "ID [--json]"}
	column := "MERCHANT"
	fetch := (*wxpay.Client).AllStockMerchants
	c.short = "list the merchants where a stock's coupons can be used"
	if what == "items" {
		column, fetch = "ITEM", (*wxpay.Client).AllStockItems
		c.short = "list the goods ids a stock's coupons apply to (单品券)"
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := newFlags(e, c)
		asJSON := fs.Bool("json", false, `print {"total_count","data","offset","limit","stock_id"} as WeChat Pay returns it, with every page in data`)
		pos, err := parseFlags(e, fs, args)
		if err != nil {
			return err
		}
		id, err := stockID(c.name, pos)
		if err != nil {
			return err
		}
		return e.withWX(ctx, func(_ *config.Config, client *wxpay.Client) error {
			s, err := fetch(client, ctx, id, "")
			if err != nil {
				return wxFail(c.name+" "+id, err)
			}
			if *asJSON {
				return e.printJSON(s)
			}
			t := textable.New("#>", column)
			for i, v := range s.Data {
				t.Add(fmt.Sprint(i+1), v)
			}
			t.Write(e.stdout)
			if len(s.Data) == 0 {
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
		switch {
		case len(pos) != 0:
			return usagef("coupons: unexpected argument %q", pos[0])
		case *openid == "":
			return usagef("coupons: --openid is required")
		case *stock != "":
			if _, err := stockID("coupons --stock", []string{*stock}); err != nil {
				return err
			}
		}
		return e.withWX(ctx, func(cfg *config.Config, client *wxpay.Client) error {
			// By creator: the only filter that lists used coupons and
			// honours stock_id (seed 003 §3.2.11).
			list, err := client.AllUserCoupons(ctx, wxpay.UserCouponsRequest{
				OpenID: *openid, StockID: *stock, CreatorMchID: cfg.WXPay.MchID,
			})
			if err != nil {
				return wxFail("coupons of "+*openid, err)
			}
			if *asJSON {
				return e.printJSON(list)
			}
			printCoupons(e.stdout, list, cfg.Location)
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
			value = wxpay.FormatYuan(n.CouponAmount)
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
		return e.withWX(ctx, func(cfg *config.Config, client *wxpay.Client) error {
			s, err := client.Callback(ctx, "")
			if err != nil {
				return wxFail(c.name, err)
			}
			if *asJSON {
				return e.printJSON(struct {
					NotifyURL string `json:"notify_url"`
					MchID     string `json:"mchid"`
				}{s.NotifyURL, s.MchID})
			}
			u := s.NotifyURL
			if u == "" {
				u = "(none)"
			}
			fmt.Fprintf(e.stdout, "mchid       %s\nnotify_url  %s\n", s.MchID, u)
			if p := cfg.Callbacks.PublicURL; p != "" && p != s.NotifyURL {
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
		if err := wxpay.ValidNotifyURL(pos[0]); err != nil {
			return usagef("callback set: %v", err)
		}
		return e.withWX(ctx, func(_ *config.Config, client *wxpay.Client) error {
			s, err := client.SetCallback(ctx, wxpay.CallbackRequest{NotifyURL: pos[0]})
			if err != nil {
				return wxFail(c.name, err)
			}
			fmt.Fprintf(e.stdout, "notifications for %s go to %s", s.MchID, s.NotifyURL)
			if s.UpdateTime != "" {
				fmt.Fprintf(e.stdout, " (updated %s)", s.UpdateTime)
			}
			fmt.Fprintln(e.stdout)
			return nil
		})
	}
	return c
}
