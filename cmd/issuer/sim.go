package main

import (
	"flag"
	"fmt"

	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

func cmdSimKeys() *command {
	type flags struct{ baseURL, mode string }
	return op[flags, none]{
		name:  "sim keys",
		usage: "[--base-url URL] [--mode public-key|certificate] DIR",
		short: "write a merchant and platform key set, ids.json and issuer.yaml for the simulator",
		on:    offline,
		flags: func(fs *flag.FlagSet, f *flags) {
			fs.StringVar(&f.baseURL, "base-url", "http://"+wxsim.DefaultAddr, "wxpay.base_url written into issuer.yaml")
			fs.StringVar(&f.mode, "mode", string(wxsim.SignPublicKey), "`public-key` layout, or certificate: adds a CA ("+wxsim.FileCACert+
				"), a platform certificate and an issuer.yaml verifying with downloaded platform certificates")
		},
		call: func(c *call, f *flags) (none, error) {
			if len(c.pos) != 1 {
				return none{}, usagef("sim keys: want one DIR, got %d arguments", len(c.pos))
			}
			signMode, err := wxsim.ParseSignMode(f.mode)
			if err != nil {
				return none{}, usagef("sim keys: --mode: %v", err)
			}
			cfg := wxsim.ConfigOptions{DatabaseURL: c.e.getenv("ISSUER_DATABASE_URL"), BaseURL: f.baseURL}
			if err := wxsim.WriteKeys(c.pos[0], signMode, cfg, c.e.stdout); err != nil {
				return none{}, fmt.Errorf("sim keys: %w", err)
			}
			return none{}, nil
		},
	}.command()
}

func cmdSim() *command {
	return op[wxsim.Flags, none]{
		name: "sim",
		usage: "--keys DIR [--addr A] [--stock ID:BUDGET:PER_USER]... [--product-stock ID:BUDGET:PER_USER]... " +
			"[--limit QPS] [--limit-kind bucket|window] [--limit-depth D] [--limit-steps S] [--latency-tail σ] [--ledger FILE] [--callback-url U] [--seed N] [--base-url URL] [--clock-offset D] [--early-flows] [--sign-mode auto|public-key|certificate] [fault flags]",
		short: "run the WeChat Pay API v3 simulator (admin API under /sim/ on loopback)",
		on:    offline,
		flags: func(fs *flag.FlagSet, f *wxsim.Flags) { f.Register(fs) },
		call: func(c *call, f *wxsim.Flags) (none, error) {
			if len(c.pos) != 0 {
				return none{}, usagef("sim: unexpected arguments %q", c.pos)
			}
			if err := f.Check(); err != nil {
				return none{}, usagef("sim: %v", err)
			}
			opts, err := f.Options(c.e.logger)
			if err != nil {
				return none{}, fmt.Errorf("sim: %w", err)
			}
			if err := wxsim.Serve(c.ctx, opts, f.Addr(), c.e.stdout); err != nil {
				return none{}, fmt.Errorf("sim: %w", err)
			}
			return none{}, nil
		},
	}.command()
}
