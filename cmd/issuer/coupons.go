package main

import (
	"context"
	"io"
	"time"

	"github.com/issuer-dev/issuer/internal/money"
	"github.com/issuer-dev/issuer/internal/textable"
	"github.com/issuer-dev/issuer/ops"
	"github.com/issuer-dev/issuer/wxpay"
)

func cmdCoupons() *command {
	c := &command{name: "coupons", usage: "--openid O [--stock S] [--json]",
		short: "list a user's 代金券 of the merchant's stocks, as WeChat Pay has them"}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := newFlags(e, c)
		openid := fs.String("openid", "", "the user (required)")
		stock := fs.String("stock", "", "only coupons of this stock")
		asJSON := fs.Bool("json", false, "print a JSON array of the coupons as WeChat Pay returns them")
		if err := parseNoArgs(e, fs, args); err != nil {
			return err
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
