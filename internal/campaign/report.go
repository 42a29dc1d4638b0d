package campaign

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/issuer-dev/issuer/internal/textable"
)

// Tally adds up the results of many seeds for the campaign's table. It is
// safe for concurrent use.
type Tally struct {
	mu      sync.Mutex
	seeds   int
	checked int
	byInv   map[string]int // failures by invariant
	failing map[uint64][]string
	harness map[uint64]string // seeds whose run broke before checking
	repro   map[uint64]string // the command that plays a failing seed again
}

// NewTally returns an empty tally.
func NewTally() *Tally {
	return &Tally{byInv: map[string]int{}, failing: map[uint64][]string{}, repro: map[uint64]string{}, harness: map[uint64]string{}}
}

// Add counts one seed's result.
func (t *Tally) Add(res *Result) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seeds++
	t.checked += res.Checked
	var invs []string
	for _, v := range res.Violations {
		t.byInv[v.Invariant]++
		if !slices.Contains(invs, v.Invariant) {
			invs = append(invs, v.Invariant)
		}
	}
	if len(invs) > 0 {
		t.failing[res.Scenario.Seed] = invs
		t.repro[res.Scenario.Seed] = Reproduce(res.Scenario)
	}
}

// Broken counts a scenario whose run failed before it could be checked.
func (t *Tally) Broken(sc Scenario, why string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seeds++
	t.harness[sc.Seed] = why
	t.repro[sc.Seed] = Reproduce(sc)
}

// Table is the campaign's summary: seeds run, checks made, failures by
// invariant, and each failing seed with the command that reproduces it.
func (t *Tally) Table() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "campaign: %d seeds run, %d invariant checks, %d seeds failed\n",
		t.seeds, t.checked, len(t.failing)+len(t.harness))
	tab := textable.New("INVARIANT", "FAILURES>")
	for _, inv := range Invariants {
		tab.Add(inv, fmt.Sprint(t.byInv[inv]))
	}
	tab.Write(&b)
	seeds := slices.Sorted(func(yield func(uint64) bool) {
		for s := range t.failing {
			if !yield(s) {
				return
			}
		}
		for s := range t.harness {
			if !yield(s) {
				return
			}
		}
	})
	if len(seeds) > 0 {
		fmt.Fprintln(&b, "failing seeds:")
		for _, s := range seeds {
			why := strings.Join(t.failing[s], ", ")
			if h, ok := t.harness[s]; ok {
				why = "run broke: " + h
			}
			fmt.Fprintf(&b, "  seed %d: %s — %s\n", s, why, t.repro[s])
		}
	}
	return b.String()
}

// Reproduce is the command that plays sc again: its seed, or for a kept
// scenario (one with a note) its file.
func Reproduce(sc Scenario) string {
	if sc.Note != "" {
		return fmt.Sprintf("make campaign SCENARIO=internal/campaign/testdata/regressions/seed-%d.json", sc.Seed)
	}
	return fmt.Sprintf("make campaign SEED=%d", sc.Seed)
}

// Explain is a failing seed's report: the scenario, the violations, the
// timeline, where the logs are, and how to run it again.
func Explain(res *Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d failed %d of %d checks — reproduce with: %s\n", res.Scenario.Seed,
		len(res.Violations), res.Checked, Reproduce(res.Scenario))
	fmt.Fprintf(&b, "scenario: %s\n", res.Scenario)
	const most = 20
	for i, v := range res.Violations {
		if i == most {
			fmt.Fprintf(&b, "  … and %d more\n", len(res.Violations)-most)
			break
		}
		fmt.Fprintf(&b, "  %s\n", v)
	}
	fmt.Fprintln(&b, "timeline:")
	for _, l := range res.Log {
		fmt.Fprintf(&b, "  %s\n", l)
	}
	fmt.Fprintf(&b, "instance logs: %s\n", res.Dir)
	return b.String()
}
