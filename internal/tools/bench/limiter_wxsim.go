package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/issuer-dev/issuer/ratelimit"
	"github.com/issuer-dev/issuer/wxpay"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

// wxsimPoint is one confirmation run against the real simulator.
type wxsimPoint struct {
	name            string
	limit           float64
	depth           time.Duration
	latency, jitter time.Duration // wxsim draws latency + [0, jitter)
	steps           string
	changeAt        time.Duration
}

const wxsimRun = 15 * time.Second

// benchLimiterWxsim confirms a few matrix points in real time: issuer's
// limiter paces 64 workers sending signed requests to wxsim over loopback,
// and wxsim's own per-second counters are the measurement.
func benchLimiterWxsim(ctx context.Context) error {
	points := []wxsimPoint{
		{name: "300/s, 50ms deep, 30±20 ms", limit: 300, depth: 50 * time.Millisecond, latency: 10 * time.Millisecond, jitter: 40 * time.Millisecond},
		{name: "450/s, 1s deep, 5 ms", limit: 450, depth: time.Second, latency: 5 * time.Millisecond},
		{name: "300/s, 50ms deep, 30±20 ms, halved at 8 s", limit: 300, depth: 50 * time.Millisecond, latency: 10 * time.Millisecond,
			jitter: 40 * time.Millisecond, steps: "8s:0.5", changeAt: 8 * time.Second},
	}
	fmt.Printf("\n## Confirmation against wxsim over loopback (real time, %v per run, 64 workers, cold start at 100/s)\n\n", wxsimRun)
	fmt.Printf("Per whole second of wxsim's counters; steady = from 5 s on; halved: seconds after the change until a second with ≤ 2%% throttled.\n")
	fmt.Printf("Allowed, sent: the limiter's rate and the measured send rate at the end. With allowed at twice sent (its cap) the\n")
	fmt.Printf("workers, signing with RSA on both sides of the loopback on this machine, and not the limiter set the pace.\n\n")
	fmt.Printf("| point | whole | steady | throttled | halved → ≤2%% | allowed, sent |\n|---|---:|---:|---:|---:|---:|\n")
	for _, p := range points {
		if err := p.run(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (p wxsimPoint) run(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "issuer-bench-limiter-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	keys, err := wxsim.GenerateKeys(filepath.Join(dir, "keys"))
	if err != nil {
		return err
	}
	steps, err := wxsim.ParseSteps(p.steps)
	if err != nil {
		return err
	}
	sim, err := wxsim.New(wxsim.Options{Keys: keys, Limit: p.limit, Seed: 1,
		Shape:  wxsim.Shape{Depth: wxsim.Duration(p.depth), Steps: steps},
		Faults: wxsim.Faults{Latency: wxsim.Duration(p.latency), Jitter: wxsim.Duration(p.jitter)},
		Stocks: []wxsim.StockSpec{{ID: "9856000", Kind: wxsim.KindFavor, Budget: 10_000_000}}})
	if err != nil {
		return err
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	if err := sim.Start(sctx, "127.0.0.1:0"); err != nil {
		return err
	}
	defer sim.Close()
	o := keys.ClientOptions(sim.URL())
	o.MaxConns, o.Timeout = 64, 5*time.Second
	client, err := wxpay.New(o)
	if err != nil {
		return err
	}
	defer client.Close()

	start := time.Now()
	st := drive(ctx, client, keys)
	p.score(start, sim.Stats().PerSecond, st)
	return nil
}

// drive sends for wxsimRun with 64 senders behind the adaptive limiter and
// returns its figures.
func drive(ctx context.Context, client *wxpay.Client, keys *wxsim.Keys) ratelimit.Stats {
	lim := ratelimit.New(ratelimit.Config{Initial: 100, Max: 500})
	runCtx, cancel := context.WithTimeout(ctx, wxsimRun)
	defer cancel()
	var seq atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for lim.Wait(runCtx) == nil {
				n := seq.Add(1)
				res, err := client.SendFavor(context.WithoutCancel(runCtx), wxpay.FavorSendRequest{
					OpenID: fmt.Sprintf("o-bench-%d", n), StockID: "9856000", OutRequestNo: fmt.Sprintf("BENCH%012d", n),
					AppID: keys.AppID, StockCreatorMchID: keys.MchID})
				if o := wxpay.Classify(res, err); o != wxpay.OutcomeUnknown {
					lim.Observe(o == wxpay.OutcomeThrottled)
				}
			}
		})
	}
	wg.Wait()
	return lim.Stats()
}

// score prints the point's row: the share of the hidden limit's capacity
// used, over the run and after the first 5 s, the share throttled, and
// how long after the limit halved the throttling fell under 2%.
func (p wxsimPoint) score(start time.Time, perSecond []wxsim.SecondStats, st ratelimit.Stats) {
	// Whole seconds only, from the first full second after the start.
	first := start.Unix() + 1
	last := start.Add(wxsimRun).Unix() - 1
	var acc, thr, accS, thrS int64
	var capacity, capacityS float64
	recovery := "-"
	changeSec := start.Add(p.changeAt).Unix()
	for _, s := range perSecond {
		if s.Unix < first || s.Unix > last {
			continue
		}
		limit := p.limit
		if p.changeAt > 0 && s.Unix >= changeSec {
			limit /= 2
		}
		acc += s.Accepted
		thr += s.Throttled
		capacity += limit
		if s.Unix >= start.Unix()+5 {
			accS += s.Accepted
			thrS += s.Throttled
			capacityS += limit
		}
		if p.changeAt > 0 && recovery == "-" && s.Unix > changeSec && s.Throttled*50 <= s.Accepted+s.Throttled {
			recovery = fmt.Sprintf("%d s", s.Unix-changeSec)
		}
	}
	fmt.Printf("| %s | %.3f | %.3f | %.2f%% | %s | %.0f/s, %.0f/s |\n", p.name, float64(acc)/capacity, float64(accS)/capacityS,
		100*float64(thr)/float64(max(acc+thr, 1)), recovery, st.Rate, st.SendRate)
}
