package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/issuer-dev/issuer/ratelimit"
)

// heldOutSender is how the sending process behaves in a held-out run.
type heldOutSender struct {
	name                  string
	late                  time.Duration // timers fire late by up to this
	capacity              float64       // × the limit its core sends at most; 0: unbounded
	stallEvery, stallTime time.Duration
}

var heldOutSenders = []heldOutSender{
	{name: "exact"},
	{name: "timers ≤1 ms late", late: time.Millisecond},
	{name: "short of CPU", late: time.Millisecond, capacity: 1.15, stallEvery: time.Second, stallTime: 20 * time.Millisecond},
}

// heldOutModel is a server model of the held-out matrix in virtual time.
// The limitmodel servers judge a request after its latency (±20%); wxsim
// judges it on arrival, answers a throttle at once and an accepted send
// after its latency.
type heldOutModel struct {
	name  string
	shape ratelimit.SimShape
	depth func(time.Duration) time.Duration
	leg   float64 // share of the round trip before the limit judges
	// throttleAtOnce: a throttle is answered as soon as it is judged
	throttleAtOnce bool
}

var heldOutModels = []heldOutModel{
	{name: "token bucket", shape: ratelimit.TokenBucket, depth: func(d time.Duration) time.Duration { return d }, leg: 1},
	{name: "sliding log (1 s)", shape: ratelimit.SlidingLog, depth: func(time.Duration) time.Duration { return time.Second }, leg: 1},
	{name: "wxsim (bucket judged on arrival)", shape: ratelimit.TokenBucket, depth: func(d time.Duration) time.Duration { return d }, throttleAtOnce: true},
}

type heldOutRow struct {
	model  heldOutModel
	shape  modelShape
	sender heldOutSender
	// per strategy: whole, steady, throttled; reach: seconds from the cold
	// start until a trailing second's goodput is 0.95 of the limit
	whole, steady, thr [3]float64
	reach              time.Duration
	halved             [3]string // halving point: until the trailing second is ≤ 2% throttled
	// the best fixed sender (exact senders only): the fastest fixed rate
	// whose throttled share from modelSteadyFrom on is at most 1%, as a
	// fraction of the limit, and its steady goodput and throttled share
	best                       bool
	bestF, bestSteady, bestThr float64
}

func (r *heldOutRow) config(seed uint64) ratelimit.SimConfig {
	limit := func(time.Duration) float64 { return r.shape.limit }
	if r.shape.halveAt > 0 {
		limit = func(t time.Duration) float64 {
			if t >= r.shape.halveAt {
				return r.shape.limit / 2
			}
			return r.shape.limit
		}
	}
	cfg := ratelimit.SimConfig{Limit: limit, Shape: r.model.shape,
		ServerBurst: r.model.depth(r.shape.depth), Workers: 64, Latency: r.shape.latency, Jitter: 0.2,
		RequestLeg: r.model.leg, ThrottleAtOnce: r.model.throttleAtOnce,
		Duration: r.shape.duration() + time.Second, Seed: seed,
		TimerLate: r.sender.late, StallEvery: r.sender.stallEvery, StallFor: r.sender.stallTime}
	if r.sender.capacity > 0 {
		cfg.SendCost = time.Duration(float64(time.Second) / (r.sender.capacity * r.shape.limit))
	}
	return cfg
}

// bestFixed finds, by bisection over 0.8–1.2× the limit, the fastest
// fixed-rate sender throttled at most 1% in steady state: what any sender
// pacing evenly can get at this point.
func (r *heldOutRow) bestFixed() {
	cfg := r.config(1)
	try := func(f float64) (float64, float64) {
		res := ratelimit.Simulate(fixedPaced(r.shape.limit*f), cfg)
		return res.Between(modelSteadyFrom, cfg.Duration-time.Second)
	}
	lo, hi := 0.8, 1.2
	if g, t := try(lo); t <= 0.01 {
		r.best, r.bestF, r.bestSteady, r.bestThr = true, lo, g, t
	}
	for range 10 {
		mid := (lo + hi) / 2
		if g, t := try(mid); t <= 0.01 {
			lo, r.best, r.bestF, r.bestSteady, r.bestThr = mid, true, mid, g, t
		} else {
			hi = mid
		}
	}
}

func (r *heldOutRow) run() {
	if r.sender.late == 0 && r.sender.capacity == 0 && r.shape.halveAt == 0 {
		r.bestFixed()
	}
	for i, st := range limiterStrategies() {
		cfg := r.config(1)
		res := ratelimit.Simulate(st.new, cfg)
		r.whole[i] = res.Goodput
		r.steady[i], _ = res.Between(modelSteadyFrom, cfg.Duration-time.Second)
		r.thr[i] = res.ThrottledShare
		if i == 0 {
			r.reach = res.Reach(0, 0.95)
		}
		r.halved[i] = "—"
		if r.shape.halveAt > 0 {
			r.halved[i] = seconds(res.Recovery(r.shape.halveAt, 0.02), cfg.Duration-r.shape.halveAt)
		}
	}
}

// isolatedCost injects one 429 into a run started at a learned 300/s, 10%
// under the server's limit (which then throttles nothing by itself), and
// returns what it cost: the share of the accepted sends the same run
// without it had in the second after it, and in the next second.
func isolatedCost(m heldOutModel) (first, next float64) {
	const at, limit = 1200 * time.Millisecond, 330.0
	run := func(outage func(time.Duration) int) ratelimit.SimResult {
		return ratelimit.Simulate(func(c ratelimit.Clock) ratelimit.Strategy { return adaptive(c, 300) }, ratelimit.SimConfig{
			Limit: func(time.Duration) float64 { return limit }, Shape: m.shape, ServerBurst: time.Second, Workers: 64,
			Latency: 20 * time.Millisecond, Jitter: 0.2, RequestLeg: m.leg, ThrottleAtOnce: m.throttleAtOnce, Outage: outage,
			Duration: 4 * time.Second, Seed: 1})
	}
	with := run(func(e time.Duration) int {
		if e >= at && e < at+3*time.Millisecond {
			return http.StatusTooManyRequests
		}
		return 0
	})
	without := run(nil)
	cost := func(from time.Duration) float64 {
		g, _ := with.Between(from, from+time.Second)
		g0, _ := without.Between(from, from+time.Second)
		return 1 - g/g0
	}
	return cost(at), cost(at + time.Second)
}

// benchHeldOut prints the held-out matrix in virtual time: the points of the
// real-process held-out runs (bench models), for each server model and
// three kinds of sending process.
func benchHeldOut() {
	start := time.Now()
	var rows []*heldOutRow
	for _, m := range heldOutModels {
		for _, sh := range append(modelShapes(), halveShape) {
			for _, snd := range heldOutSenders {
				rows = append(rows, &heldOutRow{model: m, shape: sh, sender: snd})
			}
		}
	}
	runParallel(len(rows), func(i int) { rows[i].run() })
	fmt.Printf("\n## Held-out servers in virtual time (%s of wall time)\n\n", time.Since(start).Round(100*time.Millisecond))
	fmt.Printf("The points of `bench models`, judged after the server's latency (±20%%) as its servers do, 64 workers, cold start at 100/s.\n")
	fmt.Printf("Sending process: exact; its timers firing up to 1 ms late, as a loaded process's do; or also short of CPU (its core sends\n")
	fmt.Printf("at most 1.15× the limit and stalls 20 ms a second, requests queueing for it after the grant). Whole and steady (from %v\n", modelSteadyFrom)
	fmt.Printf("on, less the last second): goodput ÷ limit; thr: throttled share; reach: seconds from the cold start until a trailing\n")
	fmt.Printf("second's goodput is 0.95 of the limit. Best fixed ≤1%%, exact senders: the fastest fixed rate (bisection over 0.8–1.2× the\n")
	fmt.Printf("limit) throttled at most 1%% in steady state, as rate ÷ limit / steady goodput / throttled: what pacing evenly can get there.\n")
	for _, m := range heldOutModels {
		first, next := isolatedCost(m)
		fmt.Printf("\n### %s\n\nThe cost of one isolated 429 while riding a learned 300/s (the limit 330/s, 20 ms), in sends accepted against the same run\nwithout it: %.1f%% in the second after it, %.1f%% in the next.\n\n", m.name, 100*first, 100*next)
		fmt.Printf("| point | sender | issuer whole | steady | thr | reach | halved → ≤2%% | best fixed ≤1%% | fixed 500/s whole | steady | thr | halved | AWS whole | steady | thr | halved |\n")
		fmt.Printf("|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range rows {
			if r.model.name != m.name {
				continue
			}
			best := "—"
			if r.best {
				best = fmt.Sprintf("%.3f / %.3f / %.2f%%", r.bestF, r.bestSteady, 100*r.bestThr)
			}
			fmt.Printf("| %s | %s | %.3f | %.3f | %.2f%% | %.1f s | %s | %s | %.3f | %.3f | %.1f%% | %s | %.3f | %.3f | %.2f%% | %s |\n", r.shape.name, r.sender.name,
				r.whole[0], r.steady[0], 100*r.thr[0], r.reach.Seconds(), r.halved[0], best, r.whole[1], r.steady[1], 100*r.thr[1], r.halved[1],
				r.whole[2], r.steady[2], 100*r.thr[2], r.halved[2])
		}
	}
}
