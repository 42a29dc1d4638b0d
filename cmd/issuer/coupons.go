package main

import (
	"flag"
	"io"
	"time"

	"github.com/issuer-dev/issuer/internal/money"
	"github.com/issuer-dev/issuer/internal/textable"
	"github.com/issuer-dev/issuer/wxpay"
)

func cmdCoupons() *command {
	type flags struct{ openid, stock string }
	return op[flags, []wxpay.Coupon]{
		name: "coupons", usage: "--openid O [--stock S] [--json]", args: noArgs, on: onWX, errs: asUsage,
		short: "list a user's 代金券 of the merchant's stocks, as WeChat Pay has them",
		json:  "print a JSON array of the coupons as WeChat Pay returns them",
		flags: func(fs *flag.FlagSet, f *flags) {
			fs.StringVar(&f.openid, "openid", "", "the user (required)")
			fs.StringVar(&f.stock, "stock", "", "only coupons of this stock")
		},
		call: func(c *call, f *flags) ([]wxpay.Coupon, error) {
			return c.s.UserCoupons(c.ctx, c.actor, f.openid, f.stock)
		},
		text: func(c *call, _ *flags, list []wxpay.Coupon) { printCoupons(c.e.stdout, list, c.loc()) },
	}.command()
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
