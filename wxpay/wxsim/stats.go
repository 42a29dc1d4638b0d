package wxsim

import (
	"sort"
	"sync"
	"time"
)

// Stats are the simulator's counters.
type Stats struct {
	// Requests counts API requests (signed or not); SignErrors those refused
	// with 401.
	Requests   int64 `json:"requests"`
	SignErrors int64 `json:"sign_errors"`
	// Accepted counts coupon sends admitted by the rate limit, Throttled
	// those refused with 429 by it.
	Accepted  int64 `json:"accepted"`
	Throttled int64 `json:"throttled"`
	// Issued counts new coupons, Replayed sends answered from an earlier
	// out_request_no.
	Issued   int64 `json:"issued"`
	Replayed int64 `json:"replayed"`
	Redeemed int64 `json:"redeemed"`
	Refunded int64 `json:"refunded"`
	// Callbacks counts notifications delivered (2xx), CallbackFailures
	// those given up after the last attempt.
	Callbacks        int64 `json:"callbacks"`
	CallbackFailures int64 `json:"callback_failures"`
	// Errors counts non-2xx answers by code; Faults injected faults by kind.
	Errors map[string]int64 `json:"errors"`
	Faults map[string]int64 `json:"faults"`
	// PerSecond covers the last hour, oldest first, seconds without sends
	// omitted.
	PerSecond []SecondStats `json:"per_second"`
	Limit     float64       `json:"limit"`
}

// SecondStats are one second's send counts.
type SecondStats struct {
	Unix      int64 `json:"unix"`
	Accepted  int64 `json:"accepted"`
	Throttled int64 `json:"throttled"`
	Issued    int64 `json:"issued"`
}

const statsWindow = 3600 // seconds of per-second history kept

type statsBook struct {
	mu        sync.Mutex
	totals    map[string]int64
	errors    map[string]int64
	faults    map[string]int64
	perSecond map[int64]*SecondStats
	newest    int64
}

func newStatsBook() *statsBook {
	return &statsBook{
		totals:    map[string]int64{},
		errors:    map[string]int64{},
		faults:    map[string]int64{},
		perSecond: map[int64]*SecondStats{},
	}
}

// count adds n to a total; accepted, throttled and issued are also
// counted per second of at.
func (b *statsBook) count(at time.Time, name string, n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.totals[name] += n
	if name != "accepted" && name != "throttled" && name != "issued" {
		return
	}
	sec := at.Unix()
	ps := b.perSecond[sec]
	if ps == nil {
		ps = &SecondStats{Unix: sec}
		b.perSecond[sec] = ps
		if sec > b.newest {
			b.newest = sec
			for k := range b.perSecond {
				if k <= sec-statsWindow {
					delete(b.perSecond, k)
				}
			}
		}
	}
	switch name {
	case "accepted":
		ps.Accepted += n
	case "throttled":
		ps.Throttled += n
	case "issued":
		ps.Issued += n
	}
}

func (b *statsBook) countCode(code string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errors[code]++
}

func (b *statsBook) countFault(kind string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.faults[kind]++
}

func (b *statsBook) snapshot() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := Stats{
		Requests:         b.totals["request"],
		SignErrors:       b.totals["sign_error"],
		Accepted:         b.totals["accepted"],
		Throttled:        b.totals["throttled"],
		Issued:           b.totals["issued"],
		Replayed:         b.totals["replayed"],
		Redeemed:         b.totals["redeemed"],
		Refunded:         b.totals["refunded"],
		Callbacks:        b.totals["callback"],
		CallbackFailures: b.totals["callback_failure"],
		Errors:           make(map[string]int64, len(b.errors)),
		Faults:           make(map[string]int64, len(b.faults)),
		PerSecond:        make([]SecondStats, 0, len(b.perSecond)),
	}
	for k, v := range b.errors {
		st.Errors[k] = v
	}
	for k, v := range b.faults {
		st.Faults[k] = v
	}
	for _, ps := range b.perSecond {
		st.PerSecond = append(st.PerSecond, *ps)
	}
	sort.Slice(st.PerSecond, func(i, j int) bool { return st.PerSecond[i].Unix < st.PerSecond[j].Unix })
	return st
}
