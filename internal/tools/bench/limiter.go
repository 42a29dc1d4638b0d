package main

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/issuer-dev/issuer/ratelimit"
)

// limiterStrategy is one contender of the limiter matrix.
type limiterStrategy struct {
	name string
	new  func(ratelimit.Clock) ratelimit.Strategy
	// warm, when set, starts from a limit learned by an earlier pass
	// (Config.Learned, what Keeper gives every pass after a merchant's
	// first).
	warm func(c ratelimit.Clock, learned float64) ratelimit.Strategy
}

// adaptive is issuer's limiter as the matrix runs it; learned 0 is a cold
// start (Config.Learned unset).
func adaptive(c ratelimit.Clock, learned float64) ratelimit.Strategy {
	return ratelimit.New(ratelimit.Config{Initial: 100, Max: 500, Learned: learned, Clock: c})
}

func limiterStrategies() []limiterStrategy {
	return []limiterStrategy{
		{"issuer adaptive", func(c ratelimit.Clock) ratelimit.Strategy { return adaptive(c, 0) }, adaptive},
		{"fixed 500/s", func(c ratelimit.Clock) ratelimit.Strategy { return ratelimit.NewFixed(500, c) }, nil},
		{"AWS adaptive", func(c ratelimit.Clock) ratelimit.Strategy {
			return ratelimit.NewAWSAdaptive(ratelimit.AWSConfig{Max: 500, Clock: c})
		}, nil},
	}
}

// latencyCase is a round-trip distribution of the matrix, with enough
// workers that concurrency never caps the rate.
type latencyCase struct {
	name    string
	latency time.Duration
	jitter  float64
	workers int
}

var latencyCases = []latencyCase{
	{"5 ms", 5 * time.Millisecond, 0, 32},
	{"30±20 ms", 30 * time.Millisecond, 2.0 / 3, 64},
	{"150±100 ms", 150 * time.Millisecond, 2.0 / 3, 256},
}

type matrixPoint struct {
	limit   float64
	depth   time.Duration
	lat     latencyCase
	st      limiterStrategy
	whole   float64
	steady  float64
	thr     float64
	thrS    float64 // throttled share in steady state
	halve   time.Duration
	double  time.Duration
	changed float64 // throttled share over the changing run
	// warm run: the same batch started from the limit the cold run
	// learned (its final estimate, which Keeper would have saved)
	warmWhole, warmThr float64
}

const (
	matrixRun     = 30 * time.Second
	matrixSteady  = 10 * time.Second
	matrixHalveAt = 10 * time.Second
	matrixRaiseAt = 20 * time.Second
	matrixChange  = 40 * time.Second
)

func (p *matrixPoint) run() {
	cfg := ratelimit.SimConfig{
		Limit: func(time.Duration) float64 { return p.limit }, ServerBurst: p.depth,
		Workers: p.lat.workers, Latency: p.lat.latency, Jitter: p.lat.jitter, Duration: matrixRun, Seed: 1,
	}
	r := ratelimit.Simulate(p.st.new, cfg)
	p.whole = r.Goodput
	p.steady, p.thrS = r.Between(matrixSteady, matrixRun)
	p.thr = r.ThrottledShare
	if p.st.warm != nil && r.Final.Estimate > 0 {
		learned := r.Final.Estimate
		w := ratelimit.Simulate(func(c ratelimit.Clock) ratelimit.Strategy { return p.st.warm(c, learned) }, cfg)
		p.warmWhole, p.warmThr = w.Goodput, w.ThrottledShare
	}

	cfg.Duration = matrixChange
	cfg.Limit = func(t time.Duration) float64 {
		if t >= matrixHalveAt && t < matrixRaiseAt {
			return p.limit / 2
		}
		return p.limit
	}
	c := ratelimit.Simulate(p.st.new, cfg)
	p.halve = c.Recovery(matrixHalveAt, 0.02)
	p.double = c.Reach(matrixRaiseAt, 0.95)
	p.changed = c.ThrottledShare
}

// runAll runs the points on every core.
func runAll(points []*matrixPoint) {
	work := make(chan *matrixPoint)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for p := range work {
				p.run()
			}
		})
	}
	for _, p := range points {
		work <- p
	}
	close(work)
	wg.Wait()
}

// runParallel runs fn(0..n-1) on every core.
func runParallel(n int, fn func(i int)) {
	work := make(chan int)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range work {
				fn(i)
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
}

// seconds prints a recovery time, "never" when it took the whole span.
func seconds(d, span time.Duration) string {
	if d >= span {
		return "never"
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

func depthName(d time.Duration) string {
	if d < time.Millisecond {
		return "1 token"
	}
	return d.String()
}

func benchLimiter(ctx context.Context, args []string) error {
	fs := flagSet("limiter")
	only := fs.String("only", "matrix,heldout,strict,wxsim", "which tables")
	_ = fs.Parse(args)
	want := func(s string) bool { return strings.Contains(","+*only+",", ","+s+",") }

	if want("matrix") {
		start := time.Now()
		var points []*matrixPoint
		for _, st := range limiterStrategies() {
			for _, limit := range []float64{50, 300, 450} {
				for _, depth := range []time.Duration{50 * time.Millisecond, time.Second} {
					for _, lat := range latencyCases {
						points = append(points, &matrixPoint{limit: limit, depth: depth, lat: lat, st: st})
					}
				}
			}
		}
		runAll(points)
		fmt.Printf("\n## Limiter matrix (virtual time, token bucket; %s of wall time)\n\n", time.Since(start).Round(100*time.Millisecond))
		fmt.Printf("Goodput ÷ limit over a %v batch from a cold start at 100/s (whole) and from %v on (steady); throttled share of calls;\n", matrixRun, matrixSteady)
		fmt.Printf("a second run halves the limit at %v and doubles it back at %v: seconds until the trailing second's throttled share\n", matrixHalveAt, matrixRaiseAt)
		fmt.Printf("is ≤ 2%% (halved) and its goodput ≥ 0.95 (doubled; at least 1 s by construction). Workers: 32, 64, 256 by latency.\n")
		fmt.Printf("Warm: the same batch started from the limit the cold run learned (Config.Learned, as Keeper gives every pass after a\n")
		fmt.Printf("merchant's first): goodput ÷ limit and throttled share over the whole run.\n")
		for _, st := range limiterStrategies() {
			fmt.Printf("\n### %s\n\n| limit | depth | latency | whole | steady | throttled | steady throttled | warm whole | warm throttled | halved → ≤2%% | doubled → ≥0.95 |\n|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n", st.name)
			for _, p := range points {
				if p.st.name != st.name {
					continue
				}
				warm, warmThr := "—", "—"
				if p.st.warm != nil {
					warm, warmThr = fmt.Sprintf("%.3f", p.warmWhole), fmt.Sprintf("%.2f%%", 100*p.warmThr)
				}
				fmt.Printf("| %.0f/s | %s | %s | %.3f | %.3f | %.2f%% | %.2f%% | %s | %s | %s | %s |\n", p.limit, depthName(p.depth), p.lat.name,
					p.whole, p.steady, 100*p.thr, 100*p.thrS, warm, warmThr, seconds(p.halve, matrixRaiseAt-matrixHalveAt), seconds(p.double, matrixChange-matrixRaiseAt))
			}
		}
	}
	if want("heldout") {
		benchHeldOut()
	}
	if want("strict") {
		benchStrict()
	}
	if want("wxsim") {
		return benchLimiterWxsim(ctx)
	}
	return nil
}

// fixedPaced is a fixed-rate sender at r requests/s whose send interval,
// which x/time/rate truncates to whole nanoseconds, is never shorter than
// 1/r: against a bucket one token deep, a sender a nanosecond early is
// throttled, and "at the limit" should mean at it, not a hair above.
func fixedPaced(r float64) func(ratelimit.Clock) ratelimit.Strategy {
	interval := math.Ceil(float64(time.Second)/r) + 1 // +1: float error in the limiter's own division
	paced := float64(time.Second) / interval
	return func(c ratelimit.Clock) ratelimit.Strategy { return ratelimit.NewFixed(paced, c) }
}

// strictCase is one point of the strict-pacing table.
type strictCase struct {
	limit float64
	lat   latencyCase
	leg   float64
}

func (sc strictCase) run(newStrategy func(ratelimit.Clock) ratelimit.Strategy) (goodput, throttled float64) {
	res := ratelimit.Simulate(newStrategy, ratelimit.SimConfig{
		Limit: func(time.Duration) float64 { return sc.limit }, ServerBurst: time.Nanosecond, RequestLeg: sc.leg,
		Workers: sc.lat.workers, Latency: sc.lat.latency, Jitter: sc.lat.jitter, Duration: matrixRun, Seed: 1,
	})
	return res.Between(matrixSteady, matrixRun)
}

// matchFixed finds, by bisection over the rate, the fastest fixed-rate
// sender whose steady throttled share is at most share: the fixed sender at
// issuer's throttled share. It returns its rate ÷ limit, goodput and share;
// ok is false when no rate tried was throttled that little, not even the
// slowest (0.05×limit).
func (sc strictCase) matchFixed(share float64) (fraction, goodput, throttled float64, ok bool) {
	lo, hi := 0.05, 2.0
	try := func(f float64) (float64, float64) { return sc.run(fixedPaced(sc.limit * f)) }
	if g, t := try(hi); t <= share {
		return hi, g, t, true
	}
	if g, t := try(lo); t <= share {
		fraction, goodput, throttled, ok = lo, g, t, true
	}
	for range 12 {
		mid := (lo + hi) / 2
		if g, t := try(mid); t <= share {
			lo, fraction, goodput, throttled, ok = mid, mid, g, t, true
		} else {
			hi = mid
		}
	}
	return fraction, goodput, throttled, ok
}

// benchStrict compares issuer's limiter under strict pacing (a bucket one
// token deep) with fixed-rate senders: at fixed fractions of the limit, and
// the fastest fixed sender whose throttled share is no more than issuer's.
func benchStrict() {
	type row struct {
		name        string
		sc          strictCase
		steady, thr float64
		new         func(ratelimit.Clock) ratelimit.Strategy
		issuer      bool
		// issuer rows: the fixed-rate sender at issuer's throttled share
		matchF, matchG, matchT float64
		matched                bool
	}
	var rows []*row
	// Judged on send, the latency is the server's own work after
	// admission; judged half a round trip later, a jittered network
	// bunches arrivals that were sent evenly, which a bucket one token deep
	// punishes.
	for _, leg := range []float64{0, 0.5} {
		fractions := []float64{0.9, 0.95, 0.98, 1.0}
		if leg > 0 {
			fractions = []float64{0.1, 0.15, 0.2, 0.5, 1.0}
		}
		for _, limit := range []float64{50, 300, 450} {
			for _, lat := range latencyCases {
				if leg > 0 && lat.jitter == 0 {
					continue // no jitter, no bunching: as judged on send
				}
				sc := strictCase{limit: limit, lat: lat, leg: leg}
				rows = append(rows, &row{name: "issuer adaptive", sc: sc, new: limiterStrategies()[0].new, issuer: true})
				for _, f := range fractions {
					rows = append(rows, &row{name: fmt.Sprintf("fixed %.2f×limit", f), sc: sc, new: fixedPaced(limit * f)})
				}
			}
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for _, r := range rows {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			r.steady, r.thr = r.sc.run(r.new)
			if r.issuer {
				r.matchF, r.matchG, r.matchT, r.matched = r.sc.matchFixed(r.thr)
			}
		})
	}
	wg.Wait()
	judgedName := func(sc strictCase) string {
		if sc.leg > 0 {
			return "on arrival"
		}
		return "on send"
	}
	fmt.Printf("\n## Strict pacing (a server bucket one token deep; steady state, from %v on)\n\n", matrixSteady)
	fmt.Printf("Fixed senders' send intervals are rounded up to the nanosecond, so 1.00×limit is at the limit, not a hair above.\n\n")
	fmt.Printf("| judged | limit | latency | sender | goodput ÷ limit | throttled |\n|---|---:|---|---|---:|---:|\n")
	for _, r := range rows {
		fmt.Printf("| %s | %.0f/s | %s | %s | %.3f | %.2f%% |\n", judgedName(r.sc), r.sc.limit, r.sc.lat.name, r.name, r.steady, 100*r.thr)
	}
	fmt.Printf("\n### Issuer against the fixed-rate sender at its throttled share\n\n")
	fmt.Printf("The fastest fixed rate (bisection over 0.05–2×limit) whose steady throttled share is at most issuer's.\n\n")
	fmt.Printf("| judged | limit | latency | issuer goodput | issuer throttled | fixed rate ÷ limit | fixed goodput | fixed throttled | issuer − fixed |\n|---|---:|---|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		if !r.issuer {
			continue
		}
		if !r.matched {
			// Even the slowest fixed sender tried is throttled more.
			fmt.Printf("| %s | %.0f/s | %s | %.3f | %.2f%% | < 0.05 | — | — | — |\n", judgedName(r.sc), r.sc.limit, r.sc.lat.name, r.steady, 100*r.thr)
			continue
		}
		fmt.Printf("| %s | %.0f/s | %s | %.3f | %.2f%% | %.3f | %.3f | %.2f%% | %+.3f |\n", judgedName(r.sc), r.sc.limit, r.sc.lat.name,
			r.steady, 100*r.thr, r.matchF, r.matchG, 100*r.matchT, r.steady-r.matchG)
	}
}
