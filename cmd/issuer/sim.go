package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/issuer-dev/issuer/wxpay"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

// stockFlags collects repeated --stock ID:BUDGET:PER_USER flags.
type stockFlags struct {
	kind  wxsim.Kind
	specs *[]wxsim.StockSpec
}

func (f stockFlags) String() string {
	if f.specs == nil {
		return ""
	}
	var parts []string
	for _, s := range *f.specs {
		if s.Kind == f.kind {
			parts = append(parts, fmt.Sprintf("%s:%d:%d", s.ID, s.Budget, s.PerUser))
		}
	}
	return strings.Join(parts, ",")
}

func (f stockFlags) Set(v string) error {
	spec, err := wxsim.ParseStockSpec(v, f.kind)
	if err != nil {
		return err
	}
	*f.specs = append(*f.specs, spec)
	return nil
}

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
		dir := rest[0]
		signMode, err := wxsim.ParseSignMode(*mode)
		if err != nil {
			return usagef("sim keys: --mode: %v", err)
		}
		keys, err := wxsim.NewKeys()
		if err != nil {
			return fmt.Errorf("sim keys: %w", err)
		}
		if signMode == wxsim.SignCertificate {
			if err := keys.AddCertificates(time.Now()); err != nil {
				return fmt.Errorf("sim keys: %w", err)
			}
		}
		cfg := wxsim.ConfigOptions{DatabaseURL: e.getenv("ISSUER_DATABASE_URL"), BaseURL: *baseURL}
		if err := keys.Save(dir, cfg); err != nil {
			return fmt.Errorf("sim keys: %w", err)
		}
		if keys.PlatformCert != nil {
			fmt.Fprintf(e.stdout, "wrote keys for mchid %s (platform certificate %s, CA %s) to %s\n",
				keys.MchID, wxpay.CertificateSerial(keys.PlatformCert), wxsim.FileCACert, dir)
			return nil
		}
		fmt.Fprintf(e.stdout, "wrote keys for mchid %s (public key id %s) to %s\n", keys.MchID, keys.PublicKeyID, dir)
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
		var specs []wxsim.StockSpec
		keysDir := fs.String("keys", "", "`DIR` with the key layout written by issuer sim keys (required)")
		addr := fs.String("addr", wxsim.DefaultAddr, "listen address")
		fs.Var(stockFlags{kind: wxsim.KindFavor, specs: &specs}, "stock", "代金券 stock `ID:BUDGET:PER_USER` (repeatable; PER_USER 0 = no limit)")
		fs.Var(stockFlags{kind: wxsim.KindProduct, specs: &specs}, "product-stock", "商品券 stock `ID:BUDGET:PER_USER` (repeatable)")
		limit := fs.Float64("limit", 0, "hidden per-merchant send limit in requests/s (0 = off)")
		shapeKind := fs.String("limit-kind", wxsim.ShapeBucket, "how the limit counts: bucket (token bucket) or window (per calendar second)")
		depth := fs.Duration("limit-depth", time.Second, "depth of the limit's bucket in time at the limit (under one token's worth: strict pacing)")
		longTail := fs.Float64("latency-tail", 0, "σ of a log-normal factor on each send's latency (0 = none)")
		steps := fs.String("limit-steps", "", "limit changes `AFTER:FACTOR[:OUTAGE],...` from start, e.g. 20s:0.5,40s:1,50s:1:429,51s:1")
		ledger := fs.String("ledger", "", "persist the ledger to `FILE` (append + fsync) and reload it on start")
		callbackURL := fs.String("callback-url", "", "POST COUPON.USE notifications to `URL`")
		seed := fs.Uint64("seed", 0, "seed for faults and redemptions (0 = random)")
		baseURL := fs.String("base-url", "", "`URL` whose host the flow-file download urls name (a simulator behind a proxy); default the request's host")
		clockOffset := fs.Duration("clock-offset", 0, "move the simulator's calendar by `D` (stock ends, flow files from 10:00 the day after); PUT /sim/clock changes it")
		earlyFlows := fs.Bool("early-flows", false, "serve flow files as soon as something is redeemed, without waiting for the stock to end")
		signModeFlag := fs.String("sign-mode", "auto", "sign answers with the `public-key` or the platform certificate; auto: certificate when DIR has one")
		var f faultFlags
		f.register(fs)
		rest, err := parseFlags(e, fs, args)
		if err != nil {
			return err
		}
		if len(rest) != 0 {
			return usagef("sim: unexpected arguments %q", rest)
		}
		if *keysDir == "" {
			return usagef("sim: --keys DIR is required")
		}
		if *baseURL != "" {
			if u, err := url.Parse(*baseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return usagef("sim: --base-url %q: want an http(s) URL", *baseURL)
			}
		}
		faults, err := f.faults()
		if err != nil {
			return usagef("sim: %v", err)
		}
		var signMode wxsim.SignMode
		if *signModeFlag != "auto" {
			if signMode, err = wxsim.ParseSignMode(*signModeFlag); err != nil {
				return usagef("sim: --sign-mode: %v", err)
			}
		}
		shapeSteps, err := wxsim.ParseSteps(*steps)
		if err != nil {
			return usagef("sim: --limit-steps: %v", err)
		}
		shape := wxsim.Shape{Kind: *shapeKind, Depth: wxsim.Duration(*depth), LongTail: *longTail, Steps: shapeSteps}
		if err := shape.Validate(); err != nil {
			return usagef("sim: %v", err)
		}
		keys, err := wxsim.LoadKeys(*keysDir)
		if err != nil {
			return fmt.Errorf("sim: %w", err)
		}
		srv, err := wxsim.New(wxsim.Options{
			Keys:        keys,
			Stocks:      specs,
			Limit:       *limit,
			Shape:       shape,
			LedgerPath:  *ledger,
			CallbackURL: *callbackURL,
			Faults:      faults,
			Seed:        *seed,
			BaseURL:     *baseURL,
			ClockOffset: *clockOffset,
			EarlyFlows:  *earlyFlows,
			SignMode:    signMode,
			Logger:      e.logger,
		})
		if err != nil {
			return fmt.Errorf("sim: %w", err)
		}
		defer srv.Close()
		if err := srv.Start(ctx, *addr); err != nil {
			return fmt.Errorf("sim: %w", err)
		}
		url := srv.URL()
		e.logger.Info("sim listening", "addr", strings.TrimPrefix(url, "http://"), "mchid", keys.MchID,
			"stocks", len(specs), "limit", *limit, "ledger", *ledger, "sign_mode", srv.SignMode())
		fmt.Fprintf(e.stdout, "admin %s\n", wxsim.AdminURL(url))
		<-ctx.Done()
		e.logger.Info("sim stopping")
		if err := srv.Close(); err != nil {
			return fmt.Errorf("sim: %w", err)
		}
		return nil
	}
	return c
}

// faultFlags are the simulator's fault injection flags.
type faultFlags struct {
	before500, after500, hang, reset, forged, probe float64
	latency, jitter, hangMax                        time.Duration
}

func (f *faultFlags) register(fs *flag.FlagSet) {
	fs.Float64Var(&f.before500, "fault-500-before", 0, "probability of 500 SYSTEM_ERROR before issuing")
	fs.Float64Var(&f.after500, "fault-500-after", 0, "probability of 500 SYSTEM_ERROR after issuing (coupon recorded)")
	fs.Float64Var(&f.hang, "fault-hang-after", 0, "probability of holding the answer after issuing")
	fs.Float64Var(&f.reset, "fault-reset-after", 0, "probability of a TCP reset after issuing")
	fs.Float64Var(&f.forged, "fault-forged-sig", 0, "probability of a forged answer signature")
	fs.Float64Var(&f.probe, "fault-probe", 0, "probability of a WECHATPAY/SIGNTEST/ probe signature")
	fs.DurationVar(&f.latency, "latency", 0, "latency added to every send")
	fs.DurationVar(&f.jitter, "jitter", 0, "uniform extra latency in [0, jitter)")
	fs.DurationVar(&f.hangMax, "hang-max", 0, "how long a held answer is held at most (default 60s)")
}

func (f *faultFlags) faults() (wxsim.Faults, error) {
	faults := wxsim.Faults{
		Before500: f.before500, After500: f.after500, HangAfter: f.hang, ResetAfter: f.reset,
		ForgedSig: f.forged, Probe: f.probe,
		Latency: wxsim.Duration(f.latency), Jitter: wxsim.Duration(f.jitter), HangMax: wxsim.Duration(f.hangMax),
	}
	return faults, faults.Validate()
}
