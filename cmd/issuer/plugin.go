package main

import (
	"context"
	"fmt"
	"os"
	"strings"

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
		pos, err := parseFlags(e, fs, args)
		if err != nil {
			return err
		}
		switch {
		case len(pos) != 0:
			return usagef("plugin-sign: unexpected argument %q", pos[0])
		case *merchant == "":
			return usagef("plugin-sign: --merchant is required")
		case len(coupons) == 0:
			return usagef("plugin-sign: at least one --coupon is required")
		case len(coupons) > wxpay.MaxPluginCoupons:
			return usagef("plugin-sign: %d coupons; the plugin sends at most %d per call", len(coupons), wxpay.MaxPluginCoupons)
		}
		// Everything wrong with the arguments is a usage error, found
		// before any key is read.
		if _, err := wxpay.PluginParams(*merchant, coupons); err != nil {
			return usagef("plugin-sign: %v", err)
		}
		path := *keyFile
		if path == "" {
			cfg, err := e.loadConfig()
			if err != nil {
				return err
			}
			if err := cfg.Require("wxpay.apiv2_key_file"); err != nil {
				return fmt.Errorf("plugin-sign: %w; or give --key-file", err)
			}
			path = cfg.WXPay.APIv2KeyFile
		}
		key, err := readSecretFile(path)
		if err != nil {
			return fmt.Errorf("plugin-sign: apiv2 key: %w", err)
		}
		p, err := wxpay.SignPlugin(key, *merchant, coupons)
		if err != nil {
			return fmt.Errorf("plugin-sign: %w", err)
		}
		return e.printJSON(p)
	}
	return c
}

// readSecretFile reads a key file. Surrounding whitespace (an editor's
// trailing newline) is not part of the key; errors name the file, never
// its content.
func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err // *fs.PathError names the file
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}
