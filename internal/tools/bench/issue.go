package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

// issueRig is one scratch schema plus an in-process simulator, with the
// environment that points bin/issuer at both.
type issueRig struct {
	sim     *wxsim.Server
	db      *sqlx.DB // the scratch schema; closed by cleanup
	env     []string
	dir     string
	cleanup func()
}

func newIssueRig(ctx context.Context, limit float64, faults wxsim.Faults) (*issueRig, error) {
	dir, err := os.MkdirTemp("", "issuer-bench-issue-")
	if err != nil {
		return nil, err
	}
	keys, err := wxsim.GenerateKeys(filepath.Join(dir, "keys"))
	if err != nil {
		return nil, err
	}
	sim, err := wxsim.New(wxsim.Options{Keys: keys, Limit: limit, Faults: faults, Seed: 1,
		Stocks: []wxsim.StockSpec{{ID: "9856000", Kind: wxsim.KindFavor, Budget: 10_000_000}}})
	if err != nil {
		return nil, err
	}
	sctx, stop := context.WithCancel(ctx)
	if err := sim.Start(sctx, "127.0.0.1:0"); err != nil {
		stop()
		return nil, err
	}
	dbURL, db, dropSchema, err := benchSchema(ctx, "issue")
	if err != nil {
		stop()
		return nil, err
	}
	env := []string{"ISSUER_DATABASE_URL=" + dbURL, "ISSUER_CONFIG=", "ISSUER_WXPAY_TIMEOUT=5s"}
	for k, v := range keys.IssuerEnv(filepath.Join(dir, "keys"), sim.URL()) {
		env = append(env, k+"="+v)
	}
	return &issueRig{sim: sim, db: db, env: env, dir: dir, cleanup: func() {
		stop()
		sim.Close()
		dropSchema()
		os.RemoveAll(dir)
	}}, nil
}

func (r *issueRig) importRows(ctx context.Context, bin string, n int) error {
	csv := filepath.Join(r.dir, "r.csv")
	if _, err := measure(ctx, nil, "go", "run", "./internal/tools/sample", "-n", strconv.Itoa(n), "-o", csv, "-seed", "11"); err != nil {
		return err
	}
	_, err := measure(ctx, r.env, bin, "import", "--stock", "9856000", csv)
	return err
}

// issue runs one `issuer issue` pass, cmd (bin issue [flags], or that under
// a profiler), in the rig's environment plus extra.
func (r *issueRig) issue(ctx context.Context, cmd []string, extra ...string) (measurement, error) {
	return measure(ctx, append(append([]string{}, r.env...), extra...), cmd[0], cmd[1:]...)
}

func benchIssue(ctx context.Context, args []string) error {
	fs := flagSet("issue")
	bin := fs.String("bin", "bin/issuer", "issuer binary")
	rows := fs.Int("rows", 20_000, "recipients per goodput run")
	memRows := fs.Int("mem-rows", 1_000_000, "pending rows for the memory run")
	only := fs.String("only", "p1,halve,p2,p5", "which figures")
	cpuSeconds := fs.Int("cpu-seconds", 20, "length of each fixed-rate CPU run (P2)")
	cpuRates := fs.String("cpu-rates", "50,200,0", "fixed rates of the CPU runs (P2; 0: as fast as it goes)")
	cpuProfiles := fs.String("cpu-profiles", "", "write each CPU run's profile into `DIR` (P2)")
	cpuWrap := fs.String("cpu-wrap", "", "run each CPU run's `issuer issue` under this command line, e.g. \"perf record -g -o /tmp/issuer.data --\" (P2)")
	limits := fs.String("limits", "200,400", "hidden limits for P1")
	strategies := fs.String("strategies", "adaptive,fixed,aws", "limiters for P1")
	_ = fs.Parse(args)
	want := func(s string) bool { return strings.Contains(","+*only+",", ","+s+",") }

	latency := wxsim.Faults{Latency: wxsim.Duration(15 * time.Millisecond), Jitter: wxsim.Duration(10 * time.Millisecond)}
	if want("p1") {
		if err := benchGoodput(ctx, *bin, *rows, *limits, *strategies, latency); err != nil {
			return err
		}
	}
	if want("halve") {
		if err := benchHalve(ctx, *bin, *rows, latency); err != nil {
			return err
		}
	}
	if want("p2") {
		var rates []int
		for _, f := range strings.Split(*cpuRates, ",") {
			r, err := strconv.Atoi(f)
			if err != nil {
				return fmt.Errorf("--cpu-rates: %w", err)
			}
			rates = append(rates, r)
		}
		if err := benchCPU(ctx, *bin, *cpuSeconds, rates, *cpuProfiles, *cpuWrap); err != nil {
			return err
		}
	}
	if want("p5") {
		if err := benchMemory(ctx, *bin, *memRows); err != nil {
			return err
		}
	}
	return nil
}

// benchGoodput is P1: the goodput of each limiter against each hidden
// limit.
func benchGoodput(ctx context.Context, bin string, rows int, limits, strategies string, latency wxsim.Faults) error {
	fmt.Printf("\n## P1 goodput: %d recipients per run against the simulator's hidden limit (latency 15±10 ms, concurrency 32)\n\n", rows)
	fmt.Printf("| hidden limit | limiter | wall | goodput | goodput ÷ limit | throttled share of calls |\n|---:|---|---:|---:|---:|---:|\n")
	names := map[string]string{"adaptive": "issuer adaptive", "fixed": "fixed x/time/rate 500/s", "aws": "AWS SDK adaptive"}
	for _, ls := range strings.Split(limits, ",") {
		limit, err := strconv.ParseFloat(ls, 64)
		if err != nil {
			return fmt.Errorf("--limits: %w", err)
		}
		for _, name := range strings.Split(strategies, ",") {
			st := struct{ name, env string }{names[name], name}
			res, err := goodputRun(ctx, bin, rows, limit, latency, "ISSUER_ISSUE_RATE_STRATEGY="+st.env)
			if err != nil {
				return err
			}
			fmt.Printf("| %.0f/s | %s | %.1f s | %.1f/s | %.3f | %.2f%% |\n", limit, st.name, res.wall.Seconds(),
				res.goodput, res.goodput/limit, 100*res.throttledShare)
		}
	}
	return nil
}

// benchHalve is how long each limiter takes to recover when the limit is
// halved mid-run.
func benchHalve(ctx context.Context, bin string, rows int, latency wxsim.Faults) error {
	fmt.Printf("\n## Limit halved mid-run (400/s → 200/s after 20 s): seconds until the throttled share stays under 2%%\n\n")
	fmt.Printf("| limiter | recovery | throttled share after the cut, overall |\n|---|---:|---:|\n")
	for _, st := range []struct{ name, env string }{{"issuer adaptive", "adaptive"}, {"AWS SDK adaptive", "aws"}} {
		rec, share, err := halveRun(ctx, bin, rows, latency, "ISSUER_ISSUE_RATE_STRATEGY="+st.env)
		if err != nil {
			return err
		}
		fmt.Printf("| %s | %s | %.2f%% |\n", st.name, rec, 100*share)
	}
	return nil
}

// benchMemory is P5: the peak RSS of a pass by pending rows.
func benchMemory(ctx context.Context, bin string, memRows int) error {
	fmt.Printf("\n## P5 memory: peak RSS of `issuer issue` (30 s pass, limit off) by pending rows\n\n| pending rows | peak RSS | issued in the pass |\n|---:|---:|---:|\n")
	for _, n := range []int{20_000, memRows} {
		rig, err := newIssueRig(ctx, 0, wxsim.Faults{})
		if err != nil {
			return err
		}
		err = rig.importRows(ctx, bin, n)
		var m measurement
		if err == nil {
			m, err = rig.issue(ctx, []string{bin, "issue", "--max-duration", "30s"}, "ISSUER_ISSUE_RATE_STRATEGY=fixed",
				"ISSUER_ISSUE_RATE_MAX=100000", "ISSUER_ISSUE_RATE_INITIAL=100000")
		}
		issued := rig.sim.Stats().Issued
		rig.cleanup()
		if err != nil {
			return err
		}
		fmt.Printf("| %d | %s | %d |\n", n, mib(m.maxRSS), issued)
	}
	return nil
}

type goodput struct {
	wall           time.Duration
	goodput        float64
	throttledShare float64
}

func goodputRun(ctx context.Context, bin string, rows int, limit float64, faults wxsim.Faults, extra ...string) (goodput, error) {
	rig, err := newIssueRig(ctx, limit, faults)
	if err != nil {
		return goodput{}, err
	}
	defer rig.cleanup()
	if err := rig.importRows(ctx, bin, rows); err != nil {
		return goodput{}, err
	}
	m, err := rig.issue(ctx, []string{bin, "issue"}, extra...)
	if err != nil {
		return goodput{}, err
	}
	st := rig.sim.Stats()
	if path := os.Getenv("BENCH_TIMELINE"); path != "" {
		f, err := os.Create(path)
		if err == nil {
			for _, s := range st.PerSecond {
				fmt.Fprintf(f, "%d %d %d\n", s.Unix, s.Accepted, s.Throttled)
			}
			f.Close()
		}
	}
	calls := st.Accepted + st.Throttled
	return goodput{wall: m.wall, goodput: float64(st.Issued) / m.wall.Seconds(),
		throttledShare: float64(st.Throttled) / float64(max(calls, 1))}, nil
}

// halveRun lowers the hidden limit from 400/s to 200/s 20 s into the pass
// and returns how long until every later 5-second window has under 2% of
// its calls throttled.
func halveRun(ctx context.Context, bin string, rows int, faults wxsim.Faults, extra ...string) (time.Duration, float64, error) {
	rig, err := newIssueRig(ctx, 400, faults)
	if err != nil {
		return 0, 0, err
	}
	defer rig.cleanup()
	if err := rig.importRows(ctx, bin, rows); err != nil {
		return 0, 0, err
	}
	var cut time.Time
	go func() {
		time.Sleep(20 * time.Second)
		cut = time.Now()
		_ = rig.sim.SetLimit(200)
	}()
	if _, err := rig.issue(ctx, []string{bin, "issue"}, extra...); err != nil {
		return 0, 0, err
	}
	if cut.IsZero() {
		return 0, 0, fmt.Errorf("the pass ended before the cut; use more rows")
	}
	per := rig.sim.Stats().PerSecond
	cutSec := cut.Unix()
	var after []wxsim.SecondStats
	var acc, thr int64
	for _, s := range per {
		if s.Unix >= cutSec {
			after = append(after, s)
			acc += s.Accepted
			thr += s.Throttled
		}
	}
	// The last second in which a 5-second window starting there is over 2%.
	recovered := 0
	for i := range after {
		var a, t int64
		for k := i; k < len(after) && k < i+5; k++ {
			a += after[k].Accepted
			t += after[k].Throttled
		}
		if t*50 > a+t { // > 2%
			recovered = i + 1
		}
	}
	return time.Duration(recovered) * time.Second, float64(thr) / float64(max(acc+thr, 1)), nil
}
