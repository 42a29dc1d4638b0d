package wxsim

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/issuer-dev/issuer/wxpay"
)

// Flags are the command line of `issuer sim`: Register adds them to a flag
// set, Check says what is wrong with them (a usage error), Options turns
// them into the simulator's Options. The command itself only parses and
// calls Serve.
type Flags struct {
	keysDir, addr, ledger, callbackURL, baseURL, signMode string
	specs                                                 []StockSpec
	limit, longTail                                       float64
	shapeKind, steps                                      string
	depth, clockOffset                                    time.Duration
	seed                                                  uint64
	earlyFlows                                            bool
	faults                                                faultFlags

	// Set by Check.
	shape      Shape
	faultsSet  Faults
	signModeOf SignMode
}

// Register adds the simulator's flags to fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.keysDir, "keys", "", "`DIR` with the key layout written by issuer sim keys (required)")
	fs.StringVar(&f.addr, "addr", DefaultAddr, "listen address")
	fs.Var(stockFlags{kind: KindFavor, specs: &f.specs}, "stock", "代金券 stock `ID:BUDGET:PER_USER` (repeatable; PER_USER 0 = no limit)")
	fs.Var(stockFlags{kind: KindProduct, specs: &f.specs}, "product-stock", "商品券 stock `ID:BUDGET:PER_USER` (repeatable)")
	fs.Float64Var(&f.limit, "limit", 0, "hidden per-merchant send limit in requests/s (0 = off)")
	fs.StringVar(&f.shapeKind, "limit-kind", ShapeBucket, "how the limit counts: bucket (token bucket) or window (per calendar second)")
	fs.DurationVar(&f.depth, "limit-depth", time.Second, "depth of the limit's bucket in time at the limit (under one token's worth: strict pacing)")
	fs.Float64Var(&f.longTail, "latency-tail", 0, "σ of a log-normal factor on each send's latency (0 = none)")
	fs.StringVar(&f.steps, "limit-steps", "", "limit changes `AFTER:FACTOR[:OUTAGE],...` from start, e.g. 20s:0.5,40s:1,50s:1:429,51s:1")
	fs.StringVar(&f.ledger, "ledger", "", "persist the ledger to `FILE` (append + fsync) and reload it on start")
	fs.StringVar(&f.callbackURL, "callback-url", "", "POST COUPON.USE notifications to `URL`")
	fs.Uint64Var(&f.seed, "seed", 0, "seed for faults and redemptions (0 = random)")
	fs.StringVar(&f.baseURL, "base-url", "", "`URL` whose host the flow-file download urls name (a simulator behind a proxy); default the request's host")
	fs.DurationVar(&f.clockOffset, "clock-offset", 0, "move the simulator's calendar by `D` (stock ends, flow files from 10:00 the day after); PUT /sim/clock changes it")
	fs.BoolVar(&f.earlyFlows, "early-flows", false, "serve flow files as soon as something is redeemed, without waiting for the stock to end")
	fs.StringVar(&f.signMode, "sign-mode", "auto", "sign answers with the `public-key` or the platform certificate; auto: certificate when DIR has one")
	f.faults.register(fs)
}

// Check checks the flags that Register added, before anything is read.
// Its errors are about the command line.
func (f *Flags) Check() error {
	if f.keysDir == "" {
		return errors.New("--keys DIR is required")
	}
	if f.baseURL != "" {
		if u, err := url.Parse(f.baseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--base-url %q: want an http(s) URL", f.baseURL)
		}
	}
	faults, err := f.faults.faults()
	if err != nil {
		return err
	}
	f.faultsSet = faults
	if f.signMode != "auto" {
		if f.signModeOf, err = ParseSignMode(f.signMode); err != nil {
			return fmt.Errorf("--sign-mode: %w", err)
		}
	}
	steps, err := ParseSteps(f.steps)
	if err != nil {
		return fmt.Errorf("--limit-steps: %w", err)
	}
	f.shape = Shape{Kind: f.shapeKind, Depth: Duration(f.depth), LongTail: f.longTail, Steps: steps}
	return f.shape.Validate()
}

// Options loads the keys and returns the simulator's options; Check must
// have passed.
func (f *Flags) Options(logger *slog.Logger) (Options, error) {
	keys, err := LoadKeys(f.keysDir)
	if err != nil {
		return Options{}, err
	}
	return Options{
		Keys:        keys,
		Stocks:      f.specs,
		Limit:       f.limit,
		Shape:       f.shape,
		LedgerPath:  f.ledger,
		CallbackURL: f.callbackURL,
		Faults:      f.faultsSet,
		Seed:        f.seed,
		BaseURL:     f.baseURL,
		ClockOffset: f.clockOffset,
		EarlyFlows:  f.earlyFlows,
		SignMode:    f.signModeOf,
		Logger:      logger,
	}, nil
}

// Addr is the listen address given.
func (f *Flags) Addr() string { return f.addr }

// Serve runs a simulator with opts on addr until ctx ends, printing its
// admin address to stdout.
func Serve(ctx context.Context, opts Options, addr string, stdout io.Writer) error {
	srv, err := New(opts)
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := srv.Start(ctx, addr); err != nil {
		return err
	}
	u := srv.URL()
	opts.Logger.Info("sim listening", "addr", strings.TrimPrefix(u, "http://"), "mchid", opts.Keys.MchID,
		"stocks", len(opts.Stocks), "limit", opts.Limit, "ledger", opts.LedgerPath, "sign_mode", srv.SignMode())
	fmt.Fprintf(stdout, "admin %s\n", AdminURL(u))
	<-ctx.Done()
	opts.Logger.Info("sim stopping")
	return srv.Close()
}

// WriteKeys writes a new key set for mode to dir with its ids.json and
// issuer.yaml, and says what it wrote to stdout (`issuer sim keys`).
func WriteKeys(dir string, mode SignMode, cfg ConfigOptions, stdout io.Writer) error {
	keys, err := NewKeys()
	if err != nil {
		return err
	}
	if mode == SignCertificate {
		if err := keys.AddCertificates(time.Now()); err != nil {
			return err
		}
	}
	if err := keys.Save(dir, cfg); err != nil {
		return err
	}
	if keys.PlatformCert != nil {
		fmt.Fprintf(stdout, "wrote keys for mchid %s (platform certificate %s, CA %s) to %s\n",
			keys.MchID, wxpay.CertificateSerial(keys.PlatformCert), FileCACert, dir)
		return nil
	}
	fmt.Fprintf(stdout, "wrote keys for mchid %s (public key id %s) to %s\n", keys.MchID, keys.PublicKeyID, dir)
	return nil
}

// stockFlags collects repeated --stock ID:BUDGET:PER_USER flags.
type stockFlags struct {
	kind  Kind
	specs *[]StockSpec
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
	spec, err := ParseStockSpec(v, f.kind)
	if err != nil {
		return err
	}
	*f.specs = append(*f.specs, spec)
	return nil
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

func (f *faultFlags) faults() (Faults, error) {
	faults := Faults{
		Before500: f.before500, After500: f.after500, HangAfter: f.hang, ResetAfter: f.reset,
		ForgedSig: f.forged, Probe: f.probe,
		Latency: Duration(f.latency), Jitter: Duration(f.jitter), HangMax: Duration(f.hangMax),
	}
	return faults, faults.Validate()
}
