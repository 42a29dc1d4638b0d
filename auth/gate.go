package auth

import (
	"errors"
	"runtime/debug"
	"sync"
	"time"
)

// Refusals of a password check that would exceed the bounds on hashes
// running at once: nothing was hashed and the attempt was not counted,
// so the client may simply try again shortly.
var (
	// ErrBusy: the process already runs its limit of hashes (503).
	ErrBusy = errors.New("too many sign-ins at once: try again in a moment")
	// ErrAddressBusy: the client's address already runs its limit (429).
	ErrAddressBusy = errors.New("too many sign-ins at once from this address: try again in a moment")
)

// Defaults of Options.MaxHashes and Options.MaxHashesPerAddress: with
// DefaultHashParams at most 4 × 64 MiB of argon2id memory at once, however
// many logins arrive, and one address never takes more than half of it.
const (
	DefaultMaxHashes           = 4
	DefaultMaxHashesPerAddress = 2
)

// hashGate bounds the password hashes running at once, in all and per
// client address. Each argon2id hash holds Hash.Memory (64 MiB by
// default) while it runs; unbounded, a flood of logins would take the
// memory of the process that issues the coupons. Beyond a bound a check
// is refused at once, never queued, so waiting requests hold no memory.
type hashGate struct {
	mu      sync.Mutex
	max     int
	perAddr int
	running int
	byAddr  map[string]int // only addresses with hashes running

	// giveBack returns the hashes' memory to the system once none runs,
	// at most every giveBackEvery: the 64 MiB blocks are garbage when a
	// hash ends, but without it the process would hold them until its
	// next collections and the scavenger's slow return, minutes later.
	giveBack     bool
	lastGiveBack time.Time
}

// Hashes with at least giveBackMemory KiB give their memory back; the
// cheap ones of tests do not need to.
const (
	giveBackMemory = 8 * 1024
	giveBackEvery  = 10 * time.Second
)

func newHashGate(max, perAddr int, p HashParams) *hashGate {
	return &hashGate{max: max, perAddr: perAddr, byAddr: map[string]int{}, giveBack: p.Memory >= giveBackMemory}
}

// enter takes a slot for one hash from address, or refuses with ErrBusy
// or ErrAddressBusy. The caller calls the returned leave exactly once.
func (g *hashGate) enter(address string) (leave func(), err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.byAddr[address] >= g.perAddr:
		return nil, ErrAddressBusy
	case g.running >= g.max:
		return nil, ErrBusy
	}
	g.running++
	g.byAddr[address]++
	var once sync.Once
	return func() {
		once.Do(func() {
			if g.leave(address) {
				debug.FreeOSMemory()
			}
		})
	}, nil
}

// leave frees address's slot and reports whether the memory should be
// given back now.
func (g *hashGate) leave(address string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.running--
	if g.byAddr[address]--; g.byAddr[address] <= 0 {
		delete(g.byAddr, address)
	}
	if !g.giveBack || g.running > 0 || time.Since(g.lastGiveBack) < giveBackEvery {
		return false
	}
	g.lastGiveBack = time.Now()
	return true
}
