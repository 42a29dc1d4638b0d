package main

import (
	"context"
	"fmt"
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
}

func limiterStrategies() []limiterStrategy {
	return []limiterStrategy{
		{"issuer adaptive", func(c ratelimit.Clock) ratelimit.Strategy {
			return ratelimit.New(ratelimit.Config{Initial: 100, Max: 500, Clock: c})
		}},
		{"fixed 500/s", func(c ratelimit.Clock) ratelimit.Strategy { return ratelimit.NewFixed(500, c) }},
		{"AWS adaptive", func(c ratelimit.Clock) ratelimit.Strategy {
			return ratelimit.NewAWSAdaptive(ratelimit.AWSConfig{Max: 500, Clock: c})
		}},
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
	only := fs.String("only", "matrix,strict,wxsim", "which tables")
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
		for _, st := range limiterStrategies() {
			fmt.Printf("\n### %s\n\n| limit | depth | latency | whole | steady | throttled | steady throttled | halved → ≤2%% | doubled → ≥0.95 |\n|---:|---:|---|---:|---:|---:|---:|---:|---:|\n", st.name)
			for _, p := range points {
				if p.st.name != st.name {
					continue
				}
				fmt.Printf("| %.0f/s | %s | %s | %.3f | %.3f | %.2f%% | %.2f%% | %s | %s |\n", p.limit, depthName(p.depth), p.lat.name,
					p.whole, p.steady, 100*p.thr, 100*p.thrS, seconds(p.halve, matrixRaiseAt-matrixHalveAt), seconds(p.double, matrixChange-matrixRaiseAt))
			}
		}
	}
	if want("strict") {
		benchStrict()
	}
	if want("wxsim") {
		return benchLimiterWxsim(ctx)
	}
	return nil
}

// benchStrict compares issuer's limiter under strict pacing (a bucket one
// token deep) with fixed-rate senders around the limit.
func benchStrict() {
	type row struct {
		name        string
		limit       float64
		lat         latencyCase
		steady, thr float64
		new         func(ratelimit.Clock) ratelimit.Strategy
		leg         float64
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
				rows = append(rows, &row{name: "issuer adaptive", limit: limit, lat: lat, leg: leg, new: limiterStrategies()[0].new})
				for _, f := range fractions {
					r := limit * f
					rows = append(rows, &row{name: fmt.Sprintf("fixed %.2f×limit", f), limit: limit, lat: lat, leg: leg,
						new: func(c ratelimit.Clock) ratelimit.Strategy { return ratelimit.NewFixed(r, c) }})
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
			res := ratelimit.Simulate(r.new, ratelimit.SimConfig{
				Limit: func(time.Duration) float64 { return r.limit }, ServerBurst: time.Nanosecond, RequestLeg: r.leg,
				Workers: r.lat.workers, Latency: r.lat.latency, Jitter: r.lat.jitter, Duration: matrixRun, Seed: 1,
			})
			r.steady, r.thr = res.Between(matrixSteady, matrixRun)
		})
	}
	wg.Wait()
	fmt.Printf("\n## Strict pacing (a server bucket one token deep; steady state, from %v on)\n\n", matrixSteady)
	fmt.Printf("| judged | limit | latency | sender | goodput ÷ limit | throttled |\n|---|---:|---|---|---:|---:|\n")
	for _, r := range rows {
		judged := "on send"
		if r.leg > 0 {
			judged = "on arrival"
		}
		fmt.Printf("| %s | %.0f/s | %s | %s | %.3f | %.2f%% |\n", judged, r.limit, r.lat.name, r.name, r.steady, 100*r.thr)
	}
}
