package campaign

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"time"

	"github.com/issuer-dev/issuer/internal/money"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

// Scenario is everything one seed plays: the cluster, the batches and
// their guards, the simulator's faults and limit over time, and the acts
// of the chaos phase. Generate draws it from the seed alone; its JSON is
// one line that says what the run did.
type Scenario struct {
	Seed uint64 `json:"seed"`
	// Note says why a kept scenario is kept (testdata/regressions).
	Note string `json:"note,omitempty"`
	// Instances of `issuer run`, each with Workers executors
	// (issue.concurrency), wxpay.timeout Timeout, issue.lease Lease and
	// issue.max_attempts MaxAttempts.
	Instances   int            `json:"instances"`
	Workers     int            `json:"workers"`
	Timeout     wxsim.Duration `json:"timeout"`
	Lease       wxsim.Duration `json:"lease"`
	MaxAttempts int            `json:"max_attempts"`
	// Limit is the simulator's hidden per-merchant limit, requests/s.
	Limit float64 `json:"limit"`
	// ApprovalMin is approval.min_coupons (0: off): a batch of at least
	// this many rows waits for an operator's approval.
	ApprovalMin int         `json:"approval_min,omitempty"`
	Stocks      []StockPlan `json:"stocks"`
	Batches     []BatchPlan `json:"batches"`
	// Faults hold from the start of the chaos phase (events may change
	// them); Shape's steps count from then too.
	Faults wxsim.Faults `json:"faults"`
	Shape  []wxsim.Step `json:"shape,omitempty"`
	// Chaos is how long the chaos phase lasts; Events happen in it.
	Chaos  wxsim.Duration `json:"chaos"`
	Events []Event        `json:"events"`
}

// StockPlan is one stock of the simulator: 代金券 (favor) or 商品券
// (product).
type StockPlan struct {
	ID       string `json:"id"`
	Kind     string `json:"kind"`
	Budget   int    `json:"budget"`    // coupons; below the rows sent to it, it runs out mid-run
	ValueFen int64  `json:"value_fen"` // face value
}

// BatchPlan is one batch, imported through the CLI with its guards.
type BatchPlan struct {
	Stock int `json:"stock"` // index into Scenario.Stocks
	Rows  int `json:"rows"`
	// Refused rows get a definite refusal from the simulator (openid
	// prefixes limited_ and nouser_): they end failed.
	Refused int `json:"refused,omitempty"`
	// CapYuan is --max-amount-yuan ("" for none).
	CapYuan string `json:"cap_yuan,omitempty"`
	// Window is "open" (a --window holding the whole run), "closed" (one
	// holding none of it) or "".
	Window string `json:"window,omitempty"`
	// StartIn is --start-at, this long after the import (0: none).
	StartIn  wxsim.Duration `json:"start_in,omitempty"`
	Priority int            `json:"priority,omitempty"`
	Paused   bool           `json:"paused,omitempty"`
}

// Event is one act of the chaos phase, At after it began. Batch and
// Instance count from 1 (as the run's log names them: b1, i1).
type Event struct {
	At       wxsim.Duration `json:"at"`
	Do       string         `json:"do"`
	Batch    int            `json:"batch,omitempty"`
	Instance int            `json:"instance,omitempty"`
	Stock    string         `json:"stock,omitempty"`
	// N is the new priority, or the coupons a stock has left.
	N int `json:"n,omitempty"`
	// Guard is the flag and value `batch guards` is given, as
	// "max-amount-yuan=12.00" or "window=none".
	Guard string `json:"guard,omitempty"`
	// For is how long a killed instance stays down, or PostgreSQL.
	For    wxsim.Duration `json:"for,omitempty"`
	Faults *wxsim.Faults  `json:"faults,omitempty"`
}

// Acts of the chaos phase.
const (
	ActPause        = "pause"         // issuer batch pause
	ActResume       = "resume"        // issuer batch resume
	ActCancel       = "cancel"        // issuer batch cancel
	ActApprove      = "approve"       // issuer batch approve --as
	ActReject       = "reject"        // issuer batch reject --as
	ActPriority     = "priority"      // issuer batch priority
	ActGuards       = "guards"        // issuer batch guards
	ActResolve      = "resolve"       // issuer review resolve
	ActKill         = "kill"          // SIGKILL an instance, start it again For later
	ActPGRestart    = "pg_restart"    // PostgreSQL down for For
	ActStockPause   = "stock_pause"   // the stock answers "not running"
	ActStockResume  = "stock_resume"  // and runs again
	ActStockStop    = "stock_stop"    // the stock ends for good
	ActStockExhaust = "stock_exhaust" // the stock's budget cut to N coupons more
	ActFaults       = "faults"        // the simulator's faults change
)

// ParseScenario reads a scenario back from its JSON (String). Stocks
// without a kind, kept before there were 商品券 stocks, are 代金券.
func ParseScenario(b []byte) (Scenario, error) {
	var sc Scenario
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sc); err != nil {
		return sc, fmt.Errorf("scenario: %w", err)
	}
	for i := range sc.Stocks {
		if sc.Stocks[i].Kind == "" {
			sc.Stocks[i].Kind = "favor"
		}
	}
	return sc, nil
}

func (s Scenario) String() string {
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Sprintf("seed %d: %v", s.Seed, err)
	}
	return string(b)
}

// Generate draws the scenario of seed. A seed's scenario changes when the
// generator does: a scenario worth keeping is kept as its JSON
// (testdata/regressions), which ParseScenario reads back.
func Generate(seed uint64) Scenario {
	g := &gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	sc := Scenario{
		Seed:        seed,
		Instances:   1 + g.r.IntN(3),
		Workers:     []int{4, 8, 16, 32, 64}[g.r.IntN(5)],
		Timeout:     g.dur(800*time.Millisecond, 1500*time.Millisecond, 100*time.Millisecond),
		Lease:       g.dur(5*time.Second, 8*time.Second, time.Second),
		MaxAttempts: 3 + g.r.IntN(3),
		Limit:       float64(40 + 10*g.r.IntN(17)), // 40–200/s
		Chaos:       g.dur(5*time.Second, 9*time.Second, 500*time.Millisecond),
	}
	nBatches := 1 + g.r.IntN(4)
	nStocks := min(nBatches, 1+g.r.IntN(2))
	for i := range nBatches {
		b := BatchPlan{Stock: i % nStocks, Rows: 30 + g.r.IntN(200)}
		if g.chance(0.3) {
			b.Refused = 1 + g.r.IntN(max(1, b.Rows/20))
		}
		if g.chance(0.5) {
			b.CapYuan = "cap" // priced below, once the stocks' face values are known
		}
		switch {
		case g.chance(0.1):
			b.Window = "closed"
		case g.chance(0.15):
			b.Window = "open"
		}
		if g.chance(0.2) {
			b.StartIn = g.dur(time.Second, 5*time.Second, 500*time.Millisecond)
		}
		if g.chance(0.4) {
			b.Priority = g.r.IntN(4)
		}
		b.Paused = g.chance(0.15)
		sc.Batches = append(sc.Batches, b)
	}
	for i := range nStocks {
		st := StockPlan{ID: fmt.Sprintf("98%05d", 56000+i), Kind: "favor", Budget: 100000, ValueFen: []int64{100, 200, 500}[g.r.IntN(3)]}
		if g.chance(0.25) {
			st.Kind = "product"
		}
		rows := 0
		for _, b := range sc.Batches {
			if b.Stock == i {
				rows += b.Rows - b.Refused
			}
		}
		if rows > 0 && g.chance(0.2) {
			st.Budget = rows/3 + g.r.IntN(rows/2+1) // runs out mid-run
		}
		sc.Stocks = append(sc.Stocks, st)
	}
	for i := range sc.Batches {
		b := &sc.Batches[i]
		if sc.Stocks[b.Stock].Kind == "product" {
			// A 商品券 has no face value to hold a cap against.
			b.CapYuan = ""
		}
		if b.CapYuan != "" {
			// Between a quarter and nine tenths of what the batch could spend.
			coupons := max(1, (b.Rows-b.Refused)/4+g.r.IntN(max(1, (b.Rows-b.Refused)*13/20)))
			b.CapYuan = money.Yuan(int64(coupons) * sc.Stocks[b.Stock].ValueFen)
		}
	}
	if g.chance(0.3) {
		rows := make([]int, 0, len(sc.Batches))
		for _, b := range sc.Batches {
			rows = append(rows, b.Rows)
		}
		sc.ApprovalMin = slices.Min(rows) + g.r.IntN(slices.Max(rows)-slices.Min(rows)+1)
	}
	sc.Faults = g.faults(sc.Timeout)
	sc.Shape = g.shape(time.Duration(sc.Chaos))
	sc.Events = g.events(&sc)
	return sc
}

type gen struct{ r *rand.Rand }

func (g *gen) chance(p float64) bool { return g.r.Float64() < p }

// dur draws a duration in [lo, hi] in steps of step.
func (g *gen) dur(lo, hi, step time.Duration) wxsim.Duration {
	return wxsim.Duration(lo + step*time.Duration(g.r.IntN(int((hi-lo)/step)+1)))
}

// prob draws a probability in [lo, hi), or 0 with probability 1-p.
func (g *gen) prob(p, lo, hi float64) float64 {
	if !g.chance(p) {
		return 0
	}
	return float64(int((lo+(hi-lo)*g.r.Float64())*1000)) / 1000
}

// faults draws the simulator's faults: each kind on or off, at a rate.
func (g *gen) faults(timeout wxsim.Duration) wxsim.Faults {
	f := wxsim.Faults{
		Before500:  g.prob(0.4, 0.02, 0.1),
		After500:   g.prob(0.6, 0.05, 0.3),
		HangAfter:  g.prob(0.3, 0.005, 0.03),
		ResetAfter: g.prob(0.3, 0.01, 0.05),
		ForgedSig:  g.prob(0.3, 0.01, 0.05),
		Latency:    g.dur(time.Millisecond, 10*time.Millisecond, time.Millisecond),
		Jitter:     g.dur(0, 10*time.Millisecond, time.Millisecond),
	}
	if f.HangAfter > 0 {
		// Held past the call timeout, then answered late (or to no one).
		f.HangMax = timeout * 2
	}
	return f
}

// shape draws the hidden limit's changes during the chaos phase: a
// collapse and recovery, and a storm of 429s.
func (g *gen) shape(chaos time.Duration) []wxsim.Step {
	var steps []wxsim.Step
	at := func(lo, hi float64) time.Duration {
		return (time.Duration(float64(chaos)*(lo+(hi-lo)*g.r.Float64())) / (100 * time.Millisecond)) * (100 * time.Millisecond)
	}
	if g.chance(0.5) {
		down := at(0.05, 0.5)
		up := down + at(0.15, 0.45)
		steps = append(steps, wxsim.Step{After: wxsim.Duration(down), Factor: []float64{0.05, 0.1, 0.25}[g.r.IntN(3)]},
			wxsim.Step{After: wxsim.Duration(up), Factor: 1})
	}
	if g.chance(0.4) {
		from := at(0.1, 0.8)
		storm := wxsim.Duration(from + at(0.05, 0.2))
		steps = append(steps, wxsim.Step{After: wxsim.Duration(from), Factor: 1, Outage: http.StatusTooManyRequests},
			wxsim.Step{After: storm, Factor: 1})
	}
	slices.SortStableFunc(steps, func(a, b wxsim.Step) int { return int(a.After - b.After) })
	// A storm inside a collapse ends at full rate: keep the collapse's
	// factor for the rest of it.
	factor := 1.0
	for i := range steps {
		switch {
		case steps[i].Outage != 0:
		case i > 0 && steps[i-1].Outage != 0:
			steps[i].Factor = factor
		default:
			factor = steps[i].Factor
		}
	}
	return steps
}

// events draws the acts of the chaos phase, in time order.
func (g *gen) events(sc *Scenario) []Event {
	chaos := time.Duration(sc.Chaos)
	when := func() wxsim.Duration {
		return wxsim.Duration(300*time.Millisecond + time.Duration(g.r.Int64N(int64(chaos-time.Second)))/
			(10*time.Millisecond)*(10*time.Millisecond))
	}
	batch := func() int { return 1 + g.r.IntN(len(sc.Batches)) }
	var evs []Event
	add := func(e Event) { evs = append(evs, e) }
	for i, b := range sc.Batches {
		awaiting := sc.ApprovalMin > 0 && b.Rows >= sc.ApprovalMin
		switch {
		case !awaiting:
		case g.chance(0.7):
			add(Event{At: when(), Do: ActApprove, Batch: i + 1})
		case g.chance(0.5):
			add(Event{At: when(), Do: ActReject, Batch: i + 1})
		}
		if b.Paused && g.chance(0.7) {
			add(Event{At: when(), Do: ActResume, Batch: i + 1})
		}
	}
	for range g.r.IntN(9) {
		switch k := g.r.IntN(12); {
		case k >= 10:
			b := batch()
			guard := g.guard(sc, sc.Batches[b-1])
			add(Event{At: when(), Do: ActGuards, Batch: b, Guard: guard})
		case k < 3:
			e := Event{At: when(), Do: ActPause, Batch: batch()}
			add(e)
			if g.chance(0.7) {
				add(Event{At: e.At + g.dur(200*time.Millisecond, 2*time.Second, 100*time.Millisecond), Do: ActResume, Batch: e.Batch})
			}
		case k < 5:
			add(Event{At: when(), Do: ActCancel, Batch: batch()})
		case k < 7:
			add(Event{At: when(), Do: ActPriority, Batch: batch(), N: g.r.IntN(5)})
		default:
			add(Event{At: when(), Do: ActResolve})
		}
	}
	if g.chance(0.5) {
		add(Event{At: when(), Do: ActKill, Instance: 1 + g.r.IntN(sc.Instances), For: g.dur(300*time.Millisecond, 3*time.Second, 100*time.Millisecond)})
	}
	if g.chance(0.15) {
		add(Event{At: when(), Do: ActKill, Instance: 1 + g.r.IntN(sc.Instances), For: g.dur(300*time.Millisecond, 3*time.Second, 100*time.Millisecond)})
	}
	if g.chance(0.3) {
		add(Event{At: when(), Do: ActPGRestart, For: g.dur(200*time.Millisecond, 2*time.Second, 100*time.Millisecond)})
	}
	for _, st := range sc.Stocks {
		switch k := g.r.IntN(10); {
		case k < 2:
			e := Event{At: when(), Do: ActStockPause, Stock: st.ID}
			add(e)
			if g.chance(0.7) {
				add(Event{At: e.At + g.dur(300*time.Millisecond, 3*time.Second, 100*time.Millisecond), Do: ActStockResume, Stock: st.ID})
			}
		case k < 3:
			add(Event{At: when(), Do: ActStockStop, Stock: st.ID})
		case k < 4:
			add(Event{At: when(), Do: ActStockExhaust, Stock: st.ID, N: g.r.IntN(20)})
		}
	}
	if g.chance(0.4) {
		f := g.faults(sc.Timeout)
		add(Event{At: when(), Do: ActFaults, Faults: &f})
	}
	slices.SortStableFunc(evs, func(a, b Event) int { return int(a.At - b.At) })
	return evs
}

// guard draws a change of plan's guards: a new cap, below or above what is
// issued by then (a cap under what is issued or in doubt is refused), or
// the cap, the window or the start time removed.
func (g *gen) guard(sc *Scenario, plan BatchPlan) string {
	switch j := g.r.IntN(6); {
	case j < 3:
		coupons := max(1, plan.Rows/8+g.r.IntN(plan.Rows))
		return "max-amount-yuan=" + money.Yuan(int64(coupons)*sc.Stocks[plan.Stock].ValueFen)
	case j < 4:
		return "max-amount-yuan=none"
	case j < 5:
		return "window=none"
	default:
		return "start-at=none"
	}
}
