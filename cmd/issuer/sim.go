package main

import (
	"context"
	"fmt"

	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

func cmdSimKeys() *command {
	c := &command{
		name:  "sim keys",
		usage: "[--base-url URL] [--mode public-key|certificate] DIR",
		short: "write a merchant and platform key set, ids.json and issuer.yaml for the simulator",
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := newFlags(e, c)
		baseURL := fs.String("base-url", "http://"+wxsim.DefaultAddr, "wxpay.base_url written into issuer.yaml")
		mode := fs.String("mode", string(wxsim.SignPublicKey), "`public-key` layout, or certificate: adds a CA ("+wxsim.FileCACert+
			"), a platform certificate and an issuer.yaml verifying with downloaded platform certificates")
		rest, err := parseFlags(e, fs, args)
		if err != nil {
			return err
		}
		if len(rest) != 1 {
			return usagef("sim keys: want one DIR, got %d arguments", len(rest))
		}
		signMode, err := wxsim.ParseSignMode(*mode)
		if err != nil {
			return usagef("sim keys: --mode: %v", err)
		}
		cfg := wxsim.ConfigOptions{DatabaseURL: e.getenv("ISSUER_DATABASE_URL"), BaseURL: *baseURL}
		if err := wxsim.WriteKeys(rest[0], signMode, cfg, e.stdout); err != nil {
			return fmt.Errorf("sim keys: %w", err)
		}
		return nil
	}
	return c
}

func cmdSim() *command {
	c := &command{
		name: "sim",
		usage: "--keys DIR [--addr A] [--stock ID:BUDGET:PER_USER]... [--product-stock ID:BUDGET:PER_USER]... " +
			"[--limit QPS] [--limit-kind bucket|window] [--limit-depth D] [--limit-steps S] [--latency-tail σ] [--ledger FILE] [--callback-url U] [--seed N] [--base-url URL] [--clock-offset D] [--early-flows] [--sign-mode auto|public-key|certificate] [fault flags]",
		short: "run the WeChat Pay API v3 simulator (admin API under /sim/ on loopback)",
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := newFlags(e, c)
		var f wxsim.Flags
		f.Register(fs)
		rest, err := parseFlags(e, fs, args)
		if err != nil {
			return err
		}
		if len(rest) != 0 {
			return usagef("sim: unexpected arguments %q", rest)
		}
		if err := f.Check(); err != nil {
			return usagef("sim: %v", err)
		}
		opts, err := f.Options(e.logger)
		if err != nil {
			return fmt.Errorf("sim: %w", err)
		}
		if err := wxsim.Serve(ctx, opts, f.Addr(), e.stdout); err != nil {
			return fmt.Errorf("sim: %w", err)
		}
		return nil
	}
	return c
}
