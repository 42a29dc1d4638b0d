package daemon_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/daemon"
	"github.com/issuer-dev/issuer/internal/dbtest"
)

// fakeClock moves only when the test says so.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
	blocked chan struct{} // signalled whenever a waiter registers
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(t time.Time) *fakeClock {
	return &fakeClock{now: t, blocked: make(chan struct{}, 100)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, waiter{at: c.now.Add(d), ch: ch})
	select {
	case c.blocked <- struct{}{}:
	default:
	}
	return ch
}

// Advance moves time forward, firing due timers.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

// waitBlocked waits until the scheduler waits on the clock again.
func (c *fakeClock) waitBlocked(t *testing.T) {
	t.Helper()
	select {
	case <-c.blocked:
	case <-time.After(10 * time.Second):
		t.Fatal("scheduler never waited on the clock")
	}
}

type run struct {
	name      string
	scheduled time.Time
}

func TestSchedulerFires(t *testing.T) {
	t.Parallel()
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	// 10:29 in Shanghai
	start := time.Date(2026, 11, 22, 10, 29, 0, 0, shanghai)
	clock := newFakeClock(start)
	s := daemon.NewScheduler(shanghai, clock, nil)
	runs := make(chan run, 10)
	ctx, cancel := context.WithCancel(context.Background())
	record := func(name string) daemon.RunFunc {
		return func(ctx context.Context, at time.Time) (map[string]int64, error) {
			runs <- run{name, at}
			return nil, nil
		}
	}
	require.NoError(t, s.Add(ctx, "reconcile", "30 10 * * *", record("reconcile")))
	require.NoError(t, s.Add(ctx, "issue", "@every 30s", record("issue")))
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()

	clock.waitBlocked(t)
	clock.Advance(30 * time.Second)
	r := <-runs
	require.Equal(t, "issue", r.name)
	clock.waitBlocked(t)
	// The run has sent its record but may not have left its wrappers yet;
	// firing again before it has would skip the next run as an overlap.
	require.Eventually(t, func() bool { return s.Active() == 0 }, 10*time.Second, time.Millisecond)
	clock.Advance(30 * time.Second) // 10:30:00 Shanghai: both
	got := map[string]time.Time{}
	for range 2 {
		r := <-runs
		got[r.name] = r.scheduled
	}
	require.Equal(t, time.Date(2026, 11, 22, 10, 30, 0, 0, shanghai), got["reconcile"].In(shanghai), "in the configured time zone")
	require.Contains(t, got, "issue")
	cancel()
	<-done
}

func TestSchedulerSurvivesPanicAndSkipsOverlap(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := daemon.NewScheduler(time.UTC, clock, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	calls := map[string]int{}
	release := make(chan struct{})
	started := make(chan string, 10)
	require.NoError(t, s.Add(ctx, "boom", "@every 1m", func(ctx context.Context, at time.Time) (map[string]int64, error) {
		mu.Lock()
		calls["boom"]++
		mu.Unlock()
		started <- "boom"
		panic("job exploded")
	}))
	require.NoError(t, s.Add(ctx, "slow", "@every 1m", func(ctx context.Context, at time.Time) (map[string]int64, error) {
		mu.Lock()
		calls["slow"]++
		mu.Unlock()
		started <- "slow"
		<-release
		return nil, nil
	}))
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()

	clock.waitBlocked(t)
	clock.Advance(time.Minute)
	first := []string{<-started, <-started}
	require.ElementsMatch(t, []string{"boom", "slow"}, first, "the first activation runs both")
	// The first boom run has panicked and been recovered, and its wrapper
	// has let go of the job, before the next activation: otherwise that
	// one would be skipped as still running, and nothing would start.
	require.Eventually(t, func() bool { return s.Active() == 1 }, 10*time.Second, time.Millisecond, "only slow runs on")
	clock.waitBlocked(t)
	clock.Advance(time.Minute) // slow is still running: skipped; boom panics again
	require.Equal(t, "boom", <-started)
	clock.waitBlocked(t) // the activation has fired both jobs
	// The second slow run has been skipped (and boom's second run is over)
	// before the first slow run may finish: only then is "skipped" sure.
	require.Eventually(t, func() bool { return s.Active() == 1 }, 10*time.Second, time.Millisecond, "only the first slow run is left")
	close(release)
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, 2, calls["boom"], "a panicking job does not stop the scheduler")
	require.Equal(t, 1, calls["slow"], "an overlapping run is skipped")
}

// A singleton's lock is held per schema: a run in one schema does not
// make the same job skip in another schema of the same database.
func TestSingletonLockIsPerSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	day := time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)
	singletons := map[string]bool{"reconcile": true}
	runsA := &daemon.Runs{DB: dbtest.New(t).DB, Instance: "a", Singletons: singletons}
	runsB := &daemon.Runs{DB: dbtest.New(t).DB, Instance: "b", Singletons: singletons}
	runsA2 := &daemon.Runs{DB: runsA.DB, Instance: "a2", Singletons: singletons}

	holding, release := make(chan struct{}), make(chan struct{})
	doneA := make(chan error, 1)
	go func() {
		doneA <- runsA.Execute(ctx, "reconcile", day, false, func(ctx context.Context, at time.Time) (map[string]int64, error) {
			close(holding)
			<-release
			return nil, nil
		})
	}()
	<-holding
	noop := func(ctx context.Context, at time.Time) (map[string]int64, error) { return nil, nil }
	require.ErrorIs(t, runsA2.Execute(ctx, "reconcile", day.Add(time.Hour), false, noop), daemon.ErrSkipped,
		"the same schema: the run in progress holds the lock")
	require.NoError(t, runsB.Execute(ctx, "reconcile", day, false, noop), "another schema runs its own")
	close(release)
	require.NoError(t, <-doneA)
}

func TestCatchUpAndSingleton(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t).DB
	ctx := context.Background()
	day := time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)

	runsA := &daemon.Runs{DB: db, Instance: "a", Singletons: map[string]bool{"reconcile": true}}
	runsB := &daemon.Runs{DB: db, Instance: "b", Singletons: map[string]bool{"reconcile": true}}
	var mu sync.Mutex
	ran := 0
	fn := func(ctx context.Context, at time.Time) (map[string]int64, error) {
		mu.Lock()
		ran++
		mu.Unlock()
		return map[string]int64{"files": 2}, nil
	}
	// Two instances fire the same activation: it runs once.
	require.NoError(t, runsA.Execute(ctx, "reconcile", day, false, fn))
	require.ErrorIs(t, runsB.Execute(ctx, "reconcile", day, false, fn), daemon.ErrSkipped)
	require.Equal(t, 1, ran)

	// A failed activation is retried by whoever fires it next.
	failing := func(ctx context.Context, at time.Time) (map[string]int64, error) {
		return nil, errors.New("download failed")
	}
	next := day.Add(24 * time.Hour)
	require.Error(t, runsA.Execute(ctx, "reconcile", next, false, failing))
	require.NoError(t, runsB.Execute(ctx, "reconcile", next, false, fn))
	var results []string
	require.NoError(t, db.Select(&results, `SELECT result FROM job_runs WHERE job = 'reconcile' ORDER BY scheduled_for`))
	require.Equal(t, []string{"success", "success"}, results)

	// Catch-up after downtime: the daemon was down over the 10:30 run of
	// the 24th; on start at 12:00 it runs once at once, for that activation.
	clock := newFakeClock(time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC))
	s := daemon.NewScheduler(time.UTC, clock, nil)
	s.LastSuccess = runsA.LastSuccess
	caught := make(chan time.Time, 2)
	s.OnRun = func(ctx context.Context, name string, at time.Time, catchUp bool, fn daemon.RunFunc) {
		require.True(t, catchUp)
		_ = runsA.Execute(ctx, name, at, catchUp, fn)
		caught <- at
	}
	cctx, cancel := context.WithCancel(ctx)
	require.NoError(t, s.Add(cctx, "reconcile", "30 10 * * *", fn))
	done := make(chan struct{})
	go func() { s.Run(cctx); close(done) }()
	require.Equal(t, time.Date(2026, 11, 24, 10, 30, 0, 0, time.UTC), (<-caught).UTC())
	clock.waitBlocked(t)
	cancel()
	<-done
	var catchUps int
	require.NoError(t, db.Get(&catchUps, `SELECT count(*) FROM job_runs WHERE catch_up AND result = 'success'`))
	require.Equal(t, 1, catchUps)
}

func TestPanicRecorded(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t).DB
	r := &daemon.Runs{DB: db, Instance: "a"}
	require.Panics(t, func() {
		_ = r.Execute(context.Background(), "boom", time.Now(), false, func(ctx context.Context, at time.Time) (map[string]int64, error) {
			panic("boom")
		})
	})
	var res string
	require.NoError(t, db.Get(&res, `SELECT result FROM job_runs WHERE job = 'boom'`))
	require.Equal(t, "panic", res)
}

func TestInstancesShareBudget(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t).DB
	ctx := context.Background()
	a := &daemon.Instances{DB: db, ID: "a", MchID: "m", Hostname: "h", PID: 1, Version: "v", Interval: time.Second}
	b := &daemon.Instances{DB: db, ID: "b", MchID: "m", Hostname: "h", PID: 2, Version: "v", Interval: time.Second}
	n, err := a.Beat(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	n, err = b.Beat(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	// b dies: its heartbeat ages past the TTL.
	_, err = db.Exec(`UPDATE instances SET heartbeat_at = now() - interval '1 minute' WHERE id = 'b'`)
	require.NoError(t, err)
	n, err = a.Beat(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
}
