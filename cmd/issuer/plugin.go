package main

import (
	"context"
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
	c := &command{
		name:  "plugin-sign",
		usage: "--merchant M --coupon STOCK:OUT_REQUEST_NO[:CODE]... [--key-file F]",
		short: "sign send-coupon parameters for the mini-program plugin (offline)",
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := newFlags(e, c)
		merchant := fs.String("merchant", "", "send_coupon_merchant: the issuing merchant id")
		var coupons couponList
		fs.Var(&coupons, "coupon", fmt.Sprintf("a coupon to send, STOCK:OUT_REQUEST_NO[:CODE]; repeat for up to %d", wxpay.MaxPluginCoupons))
		keyFile := fs.String("key-file", "", "the merchant's APIv2 key file (default: config wxpay.apiv2_key_file)")
		if err := parseNoArgs(e, fs, args); err != nil {
			return err
		}
		req := ops.PluginSign{Merchant: *merchant, Coupons: coupons, KeyFile: *keyFile}
		// Everything wrong with the arguments is a usage error, found
		// before any config or key is read.
		if err := req.Check(); err != nil {
			return opsUsage(err)
		}
		// The config is needed only for its key file, so that plugin-sign
		// with --key-file works on a machine without one.
		var cfg *config.Config
		var err error
		if req.KeyFile == "" {
			if cfg, err = e.loadConfig(); err != nil {
				return err
			}
		}
		p, err := e.app().OfflineService(cfg).SignPlugin(ctx, e.actor(), req)
		if err != nil {
			return opsUsage(err)
		}
		return e.printJSON(p)
	}
	return c
}
