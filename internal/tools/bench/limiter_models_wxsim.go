package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/issuer-dev/issuer/internal/limitmodel"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

// runWxsim runs the real `issuer issue` against wxsim shaped as the point
// asks: a bucket of the point's depth, its latency ±20% (wxsim draws latency
// + [0, jitter)), waited after the limit judged the send, a throttle
// answered at once. wxsim counts per whole second, so the figures are read
// from its per-second counters: whole over the seconds from the first send
// to the end of the pass, steady from modelSteadyFrom on, less the last.
func (r *modelRig) runWxsim(ctx context.Context, sh modelShape, strategy string, seed uint64) (modelResult, error) {
	sim, err := wxsim.New(wxsim.Options{Keys: r.keys, Limit: sh.limit, Seed: seed,
		Shape:  wxsim.Shape{Depth: wxsim.Duration(sh.depth)},
		Faults: wxsim.Faults{Latency: wxsim.Duration(sh.latency * 4 / 5), Jitter: wxsim.Duration(sh.latency * 2 / 5)},
		Stocks: []wxsim.StockSpec{{ID: "9856000", Kind: wxsim.KindFavor, Budget: 100_000_000}}})
	if err != nil {
		return modelResult{}, err
	}
	sctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		stop()
		wg.Wait()
		_ = sim.Close()
	}()
	if err := sim.Start(sctx, "127.0.0.1:0"); err != nil {
		return modelResult{}, err
	}
	var mu sync.Mutex
	var first time.Time // the first send, to 10 ms
	wg.Go(func() {
		for sctx.Err() == nil {
			if st := sim.Stats(); st.Accepted+st.Throttled > 0 {
				mu.Lock()
				first = time.Now()
				mu.Unlock()
				if sh.halveAt > 0 {
					select {
					case <-time.After(sh.halveAt):
						_ = sim.SetLimit(sh.limit / 2)
					case <-sctx.Done():
					}
				}
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	out, err := r.issue(ctx, sim.URL(), sh, strategy, r.runName(modelWxsim, sh, strategy, seed))
	if err != nil {
		return modelResult{}, err
	}
	end := time.Now()
	stop()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	res := modelResult{summary: limiterLine.FindString(out)}
	res.fig, res.recovery = wxsimFigures(sim.Stats().PerSecond, first, end, sh)
	return res, nil
}

// wxsimFigures reads a pass's figures from wxsim's per-second counters.
func wxsimFigures(seconds []wxsim.SecondStats, first, end time.Time, sh modelShape) (limitmodel.Figures, string) {
	var f limitmodel.Figures
	if first.IsZero() || len(seconds) == 0 {
		return f, "—"
	}
	limitAt := func(unix int64) float64 {
		if sh.halveAt > 0 && !time.Unix(unix, 0).Before(first.Add(sh.halveAt)) {
			return sh.limit / 2
		}
		return sh.limit
	}
	steadyFrom, steadyTo := first.Add(modelSteadyFrom).Unix()+1, end.Unix()-1
	change := first.Add(sh.halveAt)
	var sends, accepted, steadySends, steadyAccepted int64
	var steadyCapacity float64
	recovery, over := "at once", false
	for _, s := range seconds {
		sends += s.Accepted + s.Throttled
		accepted += s.Accepted
		if s.Unix >= steadyFrom && s.Unix < steadyTo {
			steadySends += s.Accepted + s.Throttled
			steadyAccepted += s.Accepted
			steadyCapacity += limitAt(s.Unix)
		}
		if sh.halveAt <= 0 || s.Unix < change.Unix() || (recovery != "at once" && !over) {
			continue
		}
		switch throttled := float64(s.Throttled) > 0.02*float64(s.Accepted+s.Throttled); {
		case throttled && !over:
			over, recovery = true, "never"
		case !throttled && over:
			over, recovery = false, fmt.Sprintf("%.1f s", time.Unix(s.Unix+1, 0).Sub(change).Seconds())
		}
	}
	if sh.halveAt <= 0 {
		recovery = ""
	}
	span := end.Sub(first)
	capacity := sh.limit * span.Seconds()
	if sh.halveAt > 0 && span > sh.halveAt {
		capacity = sh.limit*sh.halveAt.Seconds() + sh.limit/2*(span-sh.halveAt).Seconds()
	}
	f.Sends, f.Accepted, f.Span = int(sends), int(accepted), span
	if capacity > 0 {
		f.Whole = float64(accepted) / capacity
	}
	if sends > 0 {
		f.Throttled = float64(sends-accepted) / float64(sends)
	}
	if steadyCapacity > 0 {
		f.Steady = float64(steadyAccepted) / steadyCapacity
	}
	if steadySends > 0 {
		f.SteadyThrottled = float64(steadySends-steadyAccepted) / float64(steadySends)
	}
	return f, recovery
}
