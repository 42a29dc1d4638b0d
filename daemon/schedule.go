package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/issuer-dev/issuer/internal/cronspec"
)

// Clock is the scheduler's time source; tests inject a fake one.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// RunFunc is one scheduled job's work. scheduled is the activation it runs
// for (for a catch-up run, the missed one).
type RunFunc func(ctx context.Context, scheduled time.Time) (counts map[string]int64, err error)

// Scheduler runs jobs on robfig/cron schedules in a time zone. Each job is
// wrapped in cron.Recover (a panicking job is logged, the daemon lives on)
// and cron.SkipIfStillRunning (a run that would overlap the previous one is
// skipped). It keeps its own loop, rather than cron.Cron's, so that its
// clock can be injected; parsing and wrappers are robfig/cron's.
type Scheduler struct {
	clock   Clock
	loc     *time.Location
	logger  *slog.Logger
	entries []*entry
	running sync.WaitGroup
	active  atomic.Int64 // runs under way, for Active
	// OnRun, when set, runs each job: it is where runs are recorded and
	// singletons decided (see Runs). Default: call the job.
	OnRun func(ctx context.Context, name string, scheduled time.Time, catchUp bool, fn RunFunc)
	// LastSuccess, when set, tells catch-up when a job last succeeded.
	LastSuccess func(ctx context.Context, name string) (time.Time, bool, error)
}

type entry struct {
	name     string
	spec     string
	schedule cron.Schedule
	fn       RunFunc
	job      cron.Job // wrapped
	// pending holds the activation the wrapped job runs for next; the
	// wrapper takes no arguments.
	mu      sync.Mutex
	pending struct {
		at      time.Time
		catchUp bool
	}
	next time.Time
}

// NewScheduler returns a scheduler in loc; clock nil means real time.
func NewScheduler(loc *time.Location, clock Clock, logger *slog.Logger) *Scheduler {
	if clock == nil {
		clock = realClock{}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Scheduler{clock: clock, loc: loc, logger: logger}
}

// ParseSpec checks a schedule: five cron fields or a descriptor such as
// "@every 30s" or "@daily". The parser is internal/cronspec's, which the
// configuration checks schedules.* with.
func ParseSpec(spec string) (cron.Schedule, error) { return cronspec.Parse(spec) }

// Add registers a job. ctx is handed to the job's runs.
func (s *Scheduler) Add(ctx context.Context, name, spec string, fn RunFunc) error {
	sched, err := ParseSpec(spec)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	e := &entry{name: name, spec: spec, schedule: sched, fn: fn}
	logger := cronLogger{s.logger.With("job", name)}
	// Recover must sit inside SkipIfStillRunning: robfig/cron v3.0.1's skip
	// wrapper hands its token back without defer, so a panic escaping it
	// would make every later run of the job "still running".
	e.job = cron.NewChain(cron.SkipIfStillRunning(logger), cron.Recover(logger)).Then(cron.FuncJob(func() {
		e.mu.Lock()
		p := e.pending
		e.mu.Unlock()
		if s.OnRun != nil {
			s.OnRun(ctx, name, p.at, p.catchUp, fn)
			return
		}
		_, _ = fn(ctx, p.at)
	}))
	s.entries = append(s.entries, e)
	return nil
}

// Run fires jobs until ctx is done, then waits for running jobs to return
// (they see ctx cancelled). First it catches up: a job whose last success
// precedes its previous activation runs once at once, because cron drops
// activations missed while the process was down.
func (s *Scheduler) Run(ctx context.Context) {
	now := s.clock.Now().In(s.loc)
	for _, e := range s.entries {
		e.next = e.schedule.Next(now)
		if s.LastSuccess == nil {
			continue
		}
		prev, ok := previousActivation(e.schedule, now)
		if !ok {
			continue
		}
		last, found, err := s.LastSuccess(ctx, e.name)
		if err != nil {
			s.logger.Error("catch-up check", "job", e.name, "err", err)
			continue
		}
		if !found || last.Before(prev) {
			s.logger.Info("catching up a missed run", "job", e.name, "missed", prev, "last_success", last)
			s.fire(e, prev, true)
		}
	}
	for {
		sort.Slice(s.entries, func(i, j int) bool { return s.entries[i].next.Before(s.entries[j].next) })
		if len(s.entries) == 0 {
			<-ctx.Done()
			break
		}
		first := s.entries[0]
		wait := first.next.Sub(s.clock.Now())
		select {
		case <-ctx.Done():
		case <-s.clock.After(max(wait, 0)):
			now := s.clock.Now().In(s.loc)
			for _, e := range s.entries {
				if e.next.After(now) {
					break
				}
				s.fire(e, e.next, false)
				e.next = e.schedule.Next(now)
			}
			continue
		}
		break
	}
	s.running.Wait()
}

func (s *Scheduler) fire(e *entry, at time.Time, catchUp bool) {
	s.running.Add(1)
	s.active.Add(1)
	go func() {
		defer s.running.Done()
		defer s.active.Add(-1)
		e.mu.Lock()
		e.pending.at, e.pending.catchUp = at, catchUp
		e.mu.Unlock()
		e.job.Run()
	}()
}

// Active counts the job runs under way: a run counts until its wrappers
// (recover, skip-if-still-running) have returned, so when Active drops, a
// next activation of that job will run rather than be skipped.
func (s *Scheduler) Active() int { return int(s.active.Load()) }

// previousActivation is the latest activation at or before now, looked for
// within the last eight days (enough for any daily or weekly schedule).
func previousActivation(s cron.Schedule, now time.Time) (time.Time, bool) {
	// @every schedules count from their start: the previous is one period ago.
	if c, ok := s.(cron.ConstantDelaySchedule); ok {
		return now.Add(-c.Delay), true
	}
	var prev time.Time
	found := false
	for t := s.Next(now.Add(-8 * 24 * time.Hour)); !t.After(now) && !t.IsZero(); t = s.Next(t) {
		prev, found = t, true
	}
	return prev, found
}

// cronLogger adapts slog to robfig/cron's logger for its wrappers.
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Info(msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error(msg, append(kv, "err", err)...)
}
