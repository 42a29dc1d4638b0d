package ops

import (
	"context"
	"fmt"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/internal/config"
	"github.com/issuer-dev/issuer/wxpay"
)

// PluginSign is a set of send-coupon parameters for the mini-program
// plugin to sign (../shared/seeds/000_9f8b680a6b433797.txt).
type PluginSign struct {
	Merchant string // send_coupon_merchant: the issuing merchant id
	Coupons  []wxpay.PluginCoupon
	// KeyFile holds the merchant's APIv2 key; default the configured
	// wxpay.apiv2_key_file.
	KeyFile string
}

// Check reports what is wrong with the parameters, as an EINVALID *Error,
// without reading any key.
func (req PluginSign) Check() error {
	switch {
	case req.Merchant == "":
		return invalidf("plugin-sign: --merchant is required")
	case len(req.Coupons) == 0:
		return invalidf("plugin-sign: at least one --coupon is required")
	case len(req.Coupons) > wxpay.MaxPluginCoupons:
		return invalidf("plugin-sign: %d coupons; the plugin sends at most %d per call", len(req.Coupons), wxpay.MaxPluginCoupons)
	}
	if _, err := wxpay.PluginParams(req.Merchant, req.Coupons); err != nil {
		return invalidf("plugin-sign: %v", err)
	}
	return nil
}

// SignPlugin signs send-coupon parameters for the plugin. It is offline:
// nothing is sent, and it needs neither the database nor the merchant's
// API keys, only the APIv2 key. Everything wrong with the parameters is
// an EINVALID *Error, found before the key is read.
func (s *Service) SignPlugin(ctx context.Context, a auth.Actor, req PluginSign) (*wxpay.PluginPayload, error) {
	if err := req.Check(); err != nil {
		return nil, err
	}
	path := req.KeyFile
	if path == "" {
		if s.Config == nil {
			return nil, fmt.Errorf("plugin-sign: no APIv2 key: configure wxpay.apiv2_key_file or give --key-file")
		}
		if err := s.Config.Require("wxpay.apiv2_key_file"); err != nil {
			return nil, fmt.Errorf("plugin-sign: %w; or give --key-file", err)
		}
		path = s.Config.WXPay.APIv2KeyFile
	}
	t := &target{}
	if len(req.Coupons) == 1 {
		t.stock = req.Coupons[0].StockID
	}
	var p *wxpay.PluginPayload
	err := s.act(ctx, a, auth.ActPluginSign, t, func() (string, error) {
		detail := fmt.Sprintf("merchant %s, %d coupons", req.Merchant, len(req.Coupons))
		key, err := config.ReadSecretFile(path)
		if err != nil {
			return detail, fmt.Errorf("plugin-sign: apiv2 key: %w", err)
		}
		if p, err = wxpay.SignPlugin(key, req.Merchant, req.Coupons); err != nil {
			return detail, fmt.Errorf("plugin-sign: %w", err)
		}
		return detail, nil
	})
	return p, err
}
