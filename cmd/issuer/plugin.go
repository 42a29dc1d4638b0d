package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/issuer-dev/issuer/internal/config"
	"github.com/issuer-dev/issuer/ops"
	"github.com/issuer-dev/issuer/wxpay"
)

// couponList collects repeated --coupon STOCK:OUT_REQUEST_NO[:CODE] flags.
type couponList []wxpay.PluginCoupon

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
	c := wxpay.PluginCoupon{StockID: parts[0], OutRequestNo: parts[1]}
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
			fs.Var((*couponList)(&req.Coupons), "coupon", fmt.Sprintf("a coupon to send, STOCK:OUT_REQUEST_NO[:CODE]; repeat for up to %d", wxpay.MaxPluginCoupons))
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
