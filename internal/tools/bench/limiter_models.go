package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/issuer-dev/issuer/internal/limitmodel"
	"github.com/issuer-dev/issuer/ratelimit"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

// modelShape is one point of the held-out matrix: a hidden limit, how deep
// the server lets it burst, its own latency (±20%, before the limit is
// consulted) and the batch.
type modelShape struct {
	name    string
	limit   float64
	depth   time.Duration
	latency time.Duration
	rows    int
	halveAt time.Duration // when set, the limit halves this long after the first send
}

func modelShapes() []modelShape {
	return []modelShape{
		{name: "300/s, 15 tokens, 20 ms", limit: 300, depth: 50 * time.Millisecond, latency: 20 * time.Millisecond, rows: 12_000},
		{name: "300/s, 300 tokens, 20 ms", limit: 300, depth: time.Second, latency: 20 * time.Millisecond, rows: 12_000},
		{name: "100/s, 5 tokens, 150 ms", limit: 100, depth: 50 * time.Millisecond, latency: 150 * time.Millisecond, rows: 4_000},
		{name: "400/s, 20 tokens, 5 ms", limit: 400, depth: 50 * time.Millisecond, latency: 5 * time.Millisecond, rows: 16_000},
		{name: "300/s, 9,000 recipients, 15 tokens, 20 ms", limit: 300, depth: 50 * time.Millisecond, latency: 20 * time.Millisecond, rows: 9_000},
	}
}

// duration is how long the batch takes at the limit (halved from halveAt).
func (sh modelShape) duration() time.Duration {
	perSecond := float64(time.Second) / sh.limit
	if sh.halveAt <= 0 || float64(sh.rows) <= sh.limit*sh.halveAt.Seconds() {
		return time.Duration(float64(sh.rows) * perSecond)
	}
	rest := float64(sh.rows) - sh.limit*sh.halveAt.Seconds()
	return sh.halveAt + time.Duration(rest*2*perSecond)
}

// halveShape halves a 400/s limit 15 s into the batch.
var halveShape = modelShape{name: "400/s → 200/s at 15 s, 20 tokens, 20 ms", limit: 400, depth: 50 * time.Millisecond,
	latency: 20 * time.Millisecond, rows: 10_000, halveAt: 15 * time.Second}

var modelStrategies = []struct{ name, env string }{
	{"issuer adaptive", "adaptive"},
	{"fixed 500/s", "fixed"},
	{"AWS adaptive", "aws"},
}

const modelSteadyFrom = 5 * time.Second

// modelDepth is the depth a server model gets at a matrix point: the
// bucket's as given, the sliding log's a second, the limit's worth per
// trailing second. (A log 50 ms long, the limit's twentieth in any 50 ms,
// throttles arrivals that ±20% of a 20 ms latency bunches: even a fixed
// sender at 0.9 of the limit loses 1.5% at 300/s, at 0.6 of it 2% at
// 100/s and 150 ms.)
func modelDepth(m limitmodel.Model, depth time.Duration) time.Duration {
	if m == limitmodel.SlidingLog {
		return time.Second
	}
	return depth
}

// modelRig holds what every run of the held-out matrix shares: one key
// layout (as `issuer sim keys` writes it) and the recipient files.
type modelRig struct {
	bin, dir string
	keys     *wxsim.Keys
	csv      map[int]string
	traceDir string
}

func (r *modelRig) recipients(ctx context.Context, n int) (string, error) {
	if p, ok := r.csv[n]; ok {
		return p, nil
	}
	p := filepath.Join(r.dir, fmt.Sprintf("r%d.csv", n))
	if _, err := measure(ctx, nil, "go", "run", "./internal/tools/sample", "-n", strconv.Itoa(n), "-o", p, "-seed", "11"); err != nil {
		return "", err
	}
	r.csv[n] = p
	return p, nil
}

// modelResult is one real `issuer issue` pass against one server.
type modelResult struct {
	fig      limitmodel.Figures
	recovery string // halving runs: seconds until the trailing second is ≤ 2% throttled
	summary  string // the limiter's own line of the pass summary
}

var limiterLine = regexp.MustCompile(`(?m)^limiter: .*$`)

// modelWxsim names wxsim in --models: the simulator the limiter was tuned
// on, beside the two held-out models.
const modelWxsim = "wxsim"

// run imports sh.rows recipients into a scratch schema and runs the real
// `issuer issue` against a fresh server of model m.
func (r *modelRig) run(ctx context.Context, m limitmodel.Model, sh modelShape, strategy string, seed uint64) (modelResult, error) {
	if m == modelWxsim {
		return r.runWxsim(ctx, sh, strategy, seed)
	}
	srv, err := limitmodel.New(limitmodel.Config{Model: m, Limit: sh.limit, Depth: modelDepth(m, sh.depth), Latency: sh.latency, Seed: seed,
		Keys: limitmodel.Keys{MchID: r.keys.MchID, CertSerialNo: r.keys.CertSerialNo, MerchantPublic: r.keys.MerchantPublic,
			PublicKeyID: r.keys.PublicKeyID, PlatformKey: r.keys.PlatformKey}})
	if err != nil {
		return modelResult{}, err
	}
	sctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		stop()
		wg.Wait()
		srv.Wait()
	}()
	if err := srv.Start(sctx, "127.0.0.1:0"); err != nil {
		return modelResult{}, err
	}
	base := r.runName(string(m), sh, strategy, seed)
	limit := func(time.Duration) float64 { return sh.limit }
	if sh.halveAt > 0 {
		limit = func(t time.Duration) float64 {
			if t >= sh.halveAt {
				return sh.limit / 2
			}
			return sh.limit
		}
		// The first send starts the clock: the import sends none.
		wg.Go(func() {
			for sctx.Err() == nil {
				if l := srv.Log(); len(l) > 0 {
					select {
					case <-time.After(time.Until(l[0].At.Add(sh.halveAt))):
						srv.SetLimit(sh.limit / 2)
					case <-sctx.Done():
					}
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	out, err := r.issue(ctx, srv.URL(), sh, strategy, base)
	if err != nil {
		return modelResult{}, err
	}
	log := srv.Log()
	res := modelResult{fig: limitmodel.Measure(log, limit, modelSteadyFrom), summary: limiterLine.FindString(out)}
	if sh.halveAt > 0 {
		res.recovery = recoveryAfter(limitmodel.Slots(log, 100*time.Millisecond), sh.halveAt)
	}
	if r.traceDir != "" {
		if err := writeServerTrace(filepath.Join(r.traceDir, base+".server"), log); err != nil {
			return res, err
		}
	}
	return res, nil
}

func (r *modelRig) runName(model string, sh modelShape, strategy string, seed uint64) string {
	return fmt.Sprintf("%s-%s-%s-%d", model, strings.NewReplacer("/", "", " ", "", ",", "_", "→", "to").Replace(sh.name), strategy, seed)
}

// issue imports sh.rows recipients into a scratch schema and runs the real
// `issuer issue` against the server at url; it returns what issue printed.
func (r *modelRig) issue(ctx context.Context, url string, sh modelShape, strategy, base string) (string, error) {
	csv, err := r.recipients(ctx, sh.rows)
	if err != nil {
		return "", err
	}
	dbURL, _, dropSchema, err := benchSchema(ctx, "models")
	if err != nil {
		return "", err
	}
	defer dropSchema()
	env := []string{"ISSUER_DATABASE_URL=" + dbURL, "ISSUER_CONFIG=", "ISSUER_WXPAY_TIMEOUT=5s", "ISSUER_ISSUE_CONCURRENCY=64"}
	for k, v := range r.keys.IssuerEnv(filepath.Join(r.dir, "keys"), url) {
		env = append(env, k+"="+v)
	}
	if _, err := measure(ctx, env, r.bin, "import", "--stock", "9856000", csv); err != nil {
		return "", err
	}
	if r.traceDir != "" {
		env = append(env, ratelimit.TraceEnv+"="+filepath.Join(r.traceDir, base+".trace"))
	}
	out, err := measure(ctx, append(env, "ISSUER_ISSUE_RATE_STRATEGY="+strategy), r.bin, "issue")
	if err != nil {
		return "", err
	}
	return out.output, nil
}

// recoveryAfter is how long after change the trailing second's throttled
// share is first back at 2% or under, once it rose above.
func recoveryAfter(slots []limitmodel.Slot, change time.Duration) string {
	const width = 100 * time.Millisecond
	share := func(i int) float64 {
		var n, t int
		for j := max(0, i-9); j <= i; j++ {
			n += slots[j].Sends
			t += slots[j].Throttled
		}
		if n == 0 {
			return 0
		}
		return float64(t) / float64(n)
	}
	first := int(change / width)
	for i := first; i < len(slots); i++ {
		if share(i) > 0.02 {
			for k := i; k < len(slots); k++ {
				if share(k) <= 0.02 {
					return fmt.Sprintf("%.1f s", (time.Duration(k+1)*width - change).Seconds())
				}
			}
			return "never"
		}
	}
	return "at once"
}

// writeServerTrace writes what the server judged per 100 ms: seconds since
// the first send, sends, throttled.
func writeServerTrace(path string, log []limitmodel.Event) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "# server: per 100 ms from the first send (end of slot, s): sends judged, throttled\n")
	for i, s := range limitmodel.Slots(log, 100*time.Millisecond) {
		fmt.Fprintf(f, "%8.3f %4d %3d\n", float64(i+1)/10, s.Sends, s.Throttled)
	}
	return f.Close()
}

// benchLimiterModels runs the real `issuer issue` against servers whose
// limit was modelled apart from wxsim, across the held-out matrix.
func benchLimiterModels(ctx context.Context, args []string) error {
	fs := flagSet("models")
	bin := fs.String("bin", "bin/issuer", "issuer binary")
	models := fs.String("models", "bucket,sliding-log,wxsim", "server models (bucket, sliding-log, wxsim)")
	shapes := fs.String("shapes", "1,2,3,4,5,halve", "matrix points (1-based, or halve)")
	strategies := fs.String("strategies", "adaptive,fixed,aws", "limiters")
	repeat := fs.Int("repeat", 1, "runs per point; the median whole-run figure's run is reported")
	traceDir := fs.String("trace", "", "keep the limiter's trace (RATELIMIT_TRACE) and the server's per-100 ms counts of each run in `DIR`")
	_ = fs.Parse(args)

	dir, err := os.MkdirTemp("", "issuer-bench-models-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	keys, err := wxsim.GenerateKeys(filepath.Join(dir, "keys"))
	if err != nil {
		return err
	}
	if *traceDir != "" {
		if err := os.MkdirAll(*traceDir, 0o755); err != nil {
			return err
		}
	}
	rig := &modelRig{bin: *bin, dir: dir, keys: keys, csv: map[int]string{}, traceDir: *traceDir}

	var points []modelShape
	all := modelShapes()
	for _, s := range strings.Split(*shapes, ",") {
		if s == "halve" {
			points = append(points, halveShape)
			continue
		}
		i, err := strconv.Atoi(s)
		if err != nil || i < 1 || i > len(all) {
			return fmt.Errorf("--shapes: %q: want 1..%d or halve", s, len(all))
		}
		points = append(points, all[i-1])
	}
	fmt.Printf("\n## Held-out servers: the real `issuer issue` against limits modelled apart from wxsim (real time, 64 workers, cold start at 100/s)\n\n")
	fmt.Printf("Latency ±20%%, waited before the limit is consulted. Bucket: x/time/rate Allow, depth in tokens; sliding log: the limit's\n")
	fmt.Printf("worth in any trailing second, whatever the point's depth. By the server's own log: whole = accepted ÷ the limit's worth\n")
	fmt.Printf("from the first send to the last; steady = the same from %v on, less the last second; throttled share of sends.\n", modelSteadyFrom)
	fmt.Printf("Fixed 500/s never slows down: its figures show about what this machine could send at the time.\n")
	if *repeat > 1 {
		fmt.Printf("Median of %d runs (by whole).\n", *repeat)
	}
	for _, m := range strings.Split(*models, ",") {
		model := limitmodel.Model(m)
		if !slices.Contains(limitmodel.Models(), model) && model != modelWxsim {
			return fmt.Errorf("--models: %q: want bucket, sliding-log or wxsim", m)
		}
		fmt.Printf("\n### %s\n\n| point | limiter | whole | steady | throttled | halved → ≤2%% | limiter at the end |\n|---|---|---:|---:|---:|---:|---|\n", model)
		for _, sh := range points {
			for _, st := range modelStrategies {
				if !strings.Contains(","+*strategies+",", ","+st.env+",") {
					continue
				}
				var runs []modelResult
				for i := range *repeat {
					res, err := rig.run(ctx, model, sh, st.env, uint64(i+1))
					if err != nil {
						return err
					}
					runs = append(runs, res)
				}
				sort.Slice(runs, func(i, j int) bool { return runs[i].fig.Whole < runs[j].fig.Whole })
				res := runs[len(runs)/2]
				rec := res.recovery
				if rec == "" {
					rec = "—"
				}
				fmt.Printf("| %s | %s | %.3f | %.3f | %.2f%% | %s | %s |\n", sh.name, st.name, res.fig.Whole, res.fig.Steady,
					100*res.fig.Throttled, rec, strings.TrimPrefix(res.summary, "limiter: "))
			}
		}
	}
	return nil
}
