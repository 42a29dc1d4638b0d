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

// heldOutModel is a server model of the held-out matrix in virtual time:
// judged after its latency (±20%), as the limitmodel servers are.
type heldOutModel struct {
	name  string
	shape ratelimit.SimShape
	depth func(time.Duration) time.Duration
}

var heldOutModels = []heldOutModel{
	{"token bucket", ratelimit.TokenBucket, func(d time.Duration) time.Duration { return d }},
	{"sliding log (1 s)", ratelimit.SlidingLog, func(time.Duration) time.Duration { return time.Second }},
}

type heldOutRow struct {
	model  heldOutModel
	shape  modelShape
	sender heldOutSender
	// per strategy: whole, steady, throttled; reach: seconds from the cold
	// start until a trailing second's goodput is 0.95 of the limit
	whole, steady, thr [3]float64
	reach              time.Duration
}

func (r *heldOutRow) config(seed uint64) ratelimit.SimConfig {
	cfg := ratelimit.SimConfig{Limit: func(time.Duration) float64 { return r.shape.limit }, Shape: r.model.shape,
		ServerBurst: r.model.depth(r.shape.depth), Workers: 64, Latency: r.shape.latency, Jitter: 0.2, RequestLeg: 1,
		Duration: time.Duration(float64(r.shape.rows)/r.shape.limit*float64(time.Second)) + time.Second, Seed: seed,
		TimerLate: r.sender.late, StallEvery: r.sender.stallEvery, StallFor: r.sender.stallTime}
	if r.sender.capacity > 0 {
		cfg.SendCost = time.Duration(float64(time.Second) / (r.sender.capacity * r.shape.limit))
	}
	return cfg
}

func (r *heldOutRow) run() {
	for i, st := range limiterStrategies() {
		cfg := r.config(1)
		res := ratelimit.Simulate(st.new, cfg)
		r.whole[i] = res.Goodput
		r.steady[i], _ = res.Between(modelSteadyFrom, cfg.Duration-time.Second)
		r.thr[i] = res.ThrottledShare
		if i == 0 {
			r.reach = res.Reach(0, 0.95)
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
			Latency: 20 * time.Millisecond, Jitter: 0.2, RequestLeg: 1, Outage: outage, Duration: 4 * time.Second, Seed: 1})
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
		for _, sh := range modelShapes() {
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
	fmt.Printf("second's goodput is 0.95 of the limit.\n")
	for _, m := range heldOutModels {
		first, next := isolatedCost(m)
		fmt.Printf("\n### %s\n\nThe cost of one isolated 429 while riding a learned 300/s (the limit 330/s, 20 ms), in sends accepted against the same run\nwithout it: %.1f%% in the second after it, %.1f%% in the next.\n\n", m.name, 100*first, 100*next)
		fmt.Printf("| point | sender | issuer whole | steady | thr | reach | fixed 500/s whole | thr | AWS whole | thr |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range rows {
			if r.model.name != m.name {
				continue
			}
			fmt.Printf("| %s | %s | %.3f | %.3f | %.2f%% | %.1f s | %.3f | %.1f%% | %.3f | %.2f%% |\n", r.shape.name, r.sender.name,
				r.whole[0], r.steady[0], 100*r.thr[0], r.reach.Seconds(), r.whole[1], 100*r.thr[1], r.whole[2], 100*r.thr[2])
		}
	}
}
