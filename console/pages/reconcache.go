package pages

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/issuer-dev/issuer/report"
)

// maxReconLines bounds the per-batch lines the reconciliation page shows
// (the newest batches'); the downloads hold every line.
const maxReconLines = 200

// newestLines picks the batch ids of the n newest batches among lines.
func newestLines(lines []report.Line, n int) map[int64]bool {
	ids := make([]int64, 0, len(lines))
	for _, l := range lines {
		if l.BatchID != 0 {
			ids = append(ids, l.BatchID)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) > n {
		ids = ids[len(ids)-n:]
	}
	out := make(map[int64]bool, len(ids)+1)
	for _, id := range ids {
		out[id] = true
	}
	out[0] = true // a stock's coupons issuer never issued: always shown
	return out
}

// Reconciliation figures are read from every recipient of the stocks in
// one snapshot: seconds at a busy year's size. The page shows the figures
// last read, saying when, and reads them again in the background once they
// are older than reconFresh or ten times the last read's duration,
// whichever is longer; a fetch of flow files reads them at once. Only the
// first view after a start waits (up to reconWait, then it says the figures
// are being read and looks again).
const (
	reconFresh     = 30 * time.Second
	reconWait      = 10 * time.Second
	reconBuildTime = 10 * time.Minute // a background read's bound
)

// errReconBuilding: nothing is read yet and the first read takes longer
// than reconWait.
var errReconBuilding = errors.New("reconciliation figures are being read")

// reconCache keeps the page's figures per stock ("" for all). Close waits
// for the background reads.
type reconCache struct {
	ctx    context.Context // ends at close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	entries map[string]*reconEntry
}

type reconEntry struct {
	data     *reconData
	read     time.Time     // when data was read
	took     time.Duration // how long that read took
	building chan struct{} // closed when the read under way ends; nil when none
	err      error         // the last read's error, while no data
}

func newReconCache() *reconCache {
	ctx, cancel := context.WithCancel(context.Background())
	return &reconCache{ctx: ctx, cancel: cancel, entries: map[string]*reconEntry{}}
}

func (c *reconCache) close() {
	c.cancel()
	c.wg.Wait()
}

// get returns the figures of key: read now when fresh, else those kept
// (starting a read in the background when they are old), else those of a
// read it waits for. An ErrNoData and other errors are not kept.
func (c *reconCache) get(ctx context.Context, key string, fresh bool, build func(context.Context) (*reconData, error)) (*reconData, error) {
	if fresh {
		start := time.Now()
		d, err := build(ctx)
		if err == nil {
			c.mu.Lock()
			c.store(key, d, start)
			c.mu.Unlock()
		}
		return d, err
	}
	c.mu.Lock()
	e := c.entries[key]
	if e == nil {
		e = &reconEntry{}
		c.entries[key] = e
	}
	if e.data != nil {
		if time.Since(e.read) > max(reconFresh, 10*e.took) && e.building == nil {
			c.start(key, e, build)
		}
		d := *e.data
		d.Building = e.building != nil
		c.mu.Unlock()
		return &d, nil
	}
	if e.building == nil {
		c.start(key, e, build)
	}
	done := e.building
	c.mu.Unlock()
	select {
	case <-done:
	case <-time.After(reconWait):
		return nil, errReconBuilding
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.data == nil {
		if e.err == nil {
			return nil, errReconBuilding
		}
		return nil, e.err
	}
	d := *e.data
	return &d, nil
}

// start reads key's figures in the background; c.mu is held.
func (c *reconCache) start(key string, e *reconEntry, build func(context.Context) (*reconData, error)) {
	done := make(chan struct{})
	e.building = done
	c.wg.Go(func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(c.ctx, reconBuildTime)
		defer cancel()
		start := time.Now()
		d, err := build(ctx)
		c.mu.Lock()
		defer c.mu.Unlock()
		e.building = nil
		if err != nil {
			e.err = err
			if e.data == nil {
				delete(c.entries, key) // nothing to keep: the next view tries again
			}
			return
		}
		c.store(key, d, start)
	})
}

// store keeps d, read from start, unless newer figures are kept; c.mu is
// held.
func (c *reconCache) store(key string, d *reconData, start time.Time) {
	e := c.entries[key]
	if e == nil {
		e = &reconEntry{}
		c.entries[key] = e
	}
	if e.data != nil && e.read.After(start) {
		return
	}
	e.data, e.read, e.took, e.err = d, start, time.Since(start), nil
}
