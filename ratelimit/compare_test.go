package ratelimit

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// comparedStrategies are the contenders of the P1 goodput figures.
func comparedStrategies() []struct {
	name string
	new  func(Clock) Strategy
} {
	return []struct {
		name string
		new  func(Clock) Strategy
	}{
		{"adaptive", func(c Clock) Strategy { return New(Config{Initial: 100, Max: 500, Clock: c}) }},
		{"fixed 500/s", func(c Clock) Strategy { return NewFixed(500, c) }},
		{"aws adaptive", func(c Clock) Strategy { return NewAWSAdaptive(AWSConfig{Max: 500, Clock: c}) }},
	}
}

// TestPrintComparison prints the virtual-time comparison table. It only runs
// with ISSUER_BENCH=1 (make bench): figures are reported, not asserted.
func TestPrintComparison(t *testing.T) {
	if os.Getenv("ISSUER_BENCH") != "1" {
		t.Skip("set ISSUER_BENCH=1 to print the comparison")
	}
	const halveAt = 30 * time.Second
	type scenario struct {
		name  string
		cfg   SimConfig
		halve bool
	}
	var scenarios []scenario
	for _, burst := range []time.Duration{10 * time.Millisecond, 100 * time.Millisecond, time.Second} {
		for _, limit := range []float64{200, 400} {
			scenarios = append(scenarios, scenario{
				name: fmt.Sprintf("hidden %.0f/s, server bucket %v deep, 20000 requests' worth", limit, burst),
				cfg: SimConfig{
					Limit:       constant(limit),
					ServerBurst: burst,
					Duration:    time.Duration(20000 / limit * float64(time.Second)),
					Jitter:      0.5,
				},
			})
		}
		scenarios = append(scenarios, scenario{
			name: fmt.Sprintf("hidden 400/s halved to 200/s at %v, server bucket %v deep", halveAt, burst),
			cfg: SimConfig{
				Limit:       halving(400, halveAt),
				ServerBurst: burst,
				Duration:    2 * halveAt,
				Jitter:      0.5,
			},
			halve: true,
		})
	}

	var b strings.Builder
	fmt.Fprintf(&b, "virtual time; 64 workers; round trip 50ms ±50%%; goodput = accepted ÷ what the hidden limit allowed\n")
	fmt.Fprintf(&b, "steady = from 10s on; recovery = after the halving, until the throttled share of the trailing second is back under 2%%\n")
	for _, sc := range scenarios {
		fmt.Fprintf(&b, "\n%s\n", sc.name)
		fmt.Fprintf(&b, "  %-13s %8s %10s %8s %10s %7s %9s\n", "strategy", "goodput", "throttled", "steady", "throttled", "peak/s", "recovery")
		for _, st := range comparedStrategies() {
			r := Simulate(st.new, sc.cfg)
			steady, steadyThrottled := r.Between(10*time.Second, r.Duration)
			rec := "-"
			if sc.halve {
				rec = r.Recovery(halveAt, 0.02).String()
			}
			fmt.Fprintf(&b, "  %-13s %8.3f %9.2f%% %8.3f %9.2f%% %7.0f %9s\n",
				st.name, r.Goodput, 100*r.ThrottledShare, steady, 100*steadyThrottled, r.PeakRate, rec)
		}
	}
	t.Log("\n" + b.String())
}

func halving(from float64, at time.Duration) func(time.Duration) float64 {
	return func(t time.Duration) float64 {
		if t < at {
			return from
		}
		return from / 2
	}
}
