package jobs

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/queue"
)

// Every freed slot reaches the producer and no wait is missed, however the
// frees and waits interleave.
func TestSlotsNoLostWakeup(t *testing.T) {
	t.Parallel()
	s := newSlots()
	const workers, rows = 8, 20_000
	var wg sync.WaitGroup
	per := make(chan struct{}, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range per {
				s.free()
			}
		}()
	}
	free, handed := workers, 0
	done := make(chan struct{})
	for handed < rows {
		if free == 0 {
			n, ok := s.await(3, done, nil)
			require.True(t, ok)
			free += n
			continue
		}
		free--
		handed++
		per <- struct{}{}
	}
	close(per)
	wg.Wait()
	require.Equal(t, workers, free+s.collect())
}

// The outbox delivers every result once, in batches, and ends.
func TestOutboxDeliversEverything(t *testing.T) {
	t.Parallel()
	o := newOutbox(64, 128)
	const writers, each = 8, 5_000
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				o.put(queue.Result{ID: int64(w*each + i)})
			}
		}()
	}
	go func() { wg.Wait(); o.close() }()
	seen := map[int64]bool{}
	var buf []queue.Result
	for {
		n, closed := o.state()
		if n == 0 {
			if closed {
				break
			}
			<-o.wake
			continue
		}
		buf = o.take(buf[:0])
		require.LessOrEqual(t, len(buf), 128)
		for _, r := range buf {
			require.False(t, seen[r.ID])
			seen[r.ID] = true
		}
	}
	require.Len(t, seen, writers*each)
}
