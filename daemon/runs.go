package daemon

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"
)

// Runs records every job run in job_runs and makes singleton jobs run on
// exactly one instance per activation.
//
// A singleton run holds a session advisory lock for the job while it runs
// (so two instances never run it at once, and a crashed instance's lock
// dies with its connection) and claims its activation in job_runs (so an
// activation that already succeeded anywhere is not run again).
type Runs struct {
	DB         *sqlx.DB
	Instance   string
	Singletons map[string]bool
	Logger     *slog.Logger
	// OnFinish, when set, is told about every finished run (metrics).
	OnFinish func(name string, result string, took time.Duration)
}

// Run results.
const (
	RunSuccess = "success"
	RunFailure = "failure"
	RunPanic   = "panic"
	// RunInterrupted: a shutdown cut the run short after it recorded what
	// it had done (see ErrInterrupted).
	RunInterrupted = "interrupted"
)

// ErrInterrupted is returned (wrapped) by a job that stopped early because
// the daemon is shutting down.
var ErrInterrupted = errors.New("interrupted by shutdown")

// ErrSkipped is returned by Execute when another instance has the
// activation.
var ErrSkipped = errors.New("run skipped: another instance has it")

// Execute runs fn for the activation scheduled and records it.
func (r *Runs) Execute(ctx context.Context, name string, scheduled time.Time, catchUp bool, fn RunFunc) error {
	log := r.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	singleton := r.Singletons[name]
	var conn *sql.Conn
	if singleton {
		c, ok, err := r.lock(ctx, name)
		if err != nil {
			log.Error("job lock", "job", name, "err", err)
			return err
		}
		if !ok {
			log.Info("job skipped: running on another instance", "job", name)
			return ErrSkipped
		}
		conn = c
		defer r.unlock(name, conn)
	}
	id, err := r.start(ctx, name, scheduled, catchUp, singleton)
	if errors.Is(err, ErrSkipped) {
		log.Info("job skipped: this activation already succeeded", "job", name, "scheduled", scheduled)
		return err
	}
	if err != nil {
		log.Error("record job start", "job", name, "err", err)
		return err
	}
	start := time.Now()
	result, counts, runErr := RunFailure, map[string]int64(nil), error(nil)
	defer func() {
		p := recover()
		if p != nil {
			result, runErr = RunPanic, fmt.Errorf("panic: %v", p)
		}
		r.finish(id, result, counts, runErr)
		if r.OnFinish != nil {
			r.OnFinish(name, result, time.Since(start))
		}
		log.Info("job finished", "job", name, "result", result, "took", time.Since(start).Round(time.Millisecond), "counts", counts, "err", runErr)
		if p != nil {
			panic(p) // cron.Recover logs it with the stack; the daemon lives on
		}
	}()
	counts, runErr = fn(ctx, scheduled)
	switch {
	case runErr == nil:
		result = RunSuccess
	case errors.Is(runErr, ErrInterrupted):
		result = RunInterrupted
	}
	return runErr
}

// lockKeySQL is a job's advisory lock key. Advisory locks belong to the
// whole database, so the key names the schema too: deployments kept in
// separate schemas of one database (or parallel tests) must not skip each
// other's jobs.
const lockKeySQL = `hashtextextended(current_schema() || '.issuer.job.' || $1, 0)`

func (r *Runs) lock(ctx context.Context, name string) (*sql.Conn, bool, error) {
	conn, err := r.DB.Conn(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("lock %s: %w", name, err)
	}
	var ok bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock(`+lockKeySQL+`)`, name).Scan(&ok); err != nil {
		conn.Close()
		return nil, false, fmt.Errorf("lock %s: %w", name, err)
	}
	if !ok {
		conn.Close()
		return nil, false, nil
	}
	return conn, true, nil
}

func (r *Runs) unlock(name string, conn *sql.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = conn.ExecContext(ctx, `SELECT pg_advisory_unlock(`+lockKeySQL+`)`, name)
	conn.Close()
}

// start inserts the run. For a singleton it claims the activation: a row
// that succeeded means skip; a row left running or failed (its instance
// died, or it failed) is taken over.
func (r *Runs) start(ctx context.Context, name string, scheduled time.Time, catchUp, singleton bool) (int64, error) {
	var id int64
	if !singleton {
		err := r.DB.GetContext(ctx, &id, `INSERT INTO job_runs (job, instance, scheduled_for, catch_up)
			VALUES ($1, $2, $3, $4) RETURNING id`, name, r.Instance, scheduled, catchUp)
		return id, err
	}
	err := r.DB.GetContext(ctx, &id, `
		INSERT INTO job_runs (job, instance, scheduled_for, singleton, catch_up) VALUES ($1, $2, $3, true, $4)
		ON CONFLICT (job, scheduled_for) WHERE singleton DO UPDATE
			SET instance = excluded.instance, started_at = now(), finished_at = NULL, result = 'running',
			    counts = '{}', error = NULL, catch_up = excluded.catch_up
			WHERE job_runs.result <> 'success'
		RETURNING id`, name, r.Instance, scheduled, catchUp)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrSkipped
	}
	return id, err
}

func (r *Runs) finish(id int64, result string, counts map[string]int64, runErr error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if counts == nil {
		counts = map[string]int64{}
	}
	b, _ := json.Marshal(counts)
	var msg *string
	if runErr != nil {
		s := runErr.Error()
		msg = &s
	}
	if _, err := r.DB.ExecContext(ctx, `UPDATE job_runs SET finished_at = now(), result = $2, counts = $3, error = $4 WHERE id = $1`,
		id, result, string(b), msg); err != nil && r.Logger != nil {
		r.Logger.Error("record job finish", "id", id, "err", err)
	}
}

// LastSuccess returns the latest activation of name that succeeded.
func (r *Runs) LastSuccess(ctx context.Context, name string) (time.Time, bool, error) {
	var t *time.Time
	err := r.DB.GetContext(ctx, &t, `SELECT max(scheduled_for) FROM job_runs WHERE job = $1 AND result = 'success'`, name)
	if err != nil || t == nil {
		return time.Time{}, false, err
	}
	return *t, true, nil
}

// RunsKept is how long job_runs keeps a run: long enough to look back over
// a quarter's nightly reconciliations.
const RunsKept = 90 * 24 * time.Hour

// Prune removes runs started more than olderThan ago (housekeeping) and
// returns how many.
func (r *Runs) Prune(ctx context.Context, olderThan time.Duration) (int64, error) {
	res, err := r.DB.ExecContext(ctx, `DELETE FROM job_runs WHERE started_at < now() - $1 * interval '1 millisecond'`,
		olderThan.Milliseconds())
	if err != nil {
		return 0, fmt.Errorf("prune job runs: %w", err)
	}
	return res.RowsAffected()
}
