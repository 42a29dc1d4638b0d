package ratelimit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync/atomic"
	"time"
)

// DB is what EstimateStore needs of a database handle; *sql.DB and
// *sqlx.DB have it.
type DB interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Learned is a merchant's hidden limit as last measured.
type Learned struct {
	Estimate float64   // requests/s, for the whole merchant
	At       time.Time // when it was last measured
}

// learnedFresh is how long a learned limit is trusted as it is; after it,
// the start decays towards Config.Initial, halving the difference a day.
const learnedFresh = 24 * time.Hour

// Start is the rate a limiter starts from given a learned limit: near it
// while it is fresh, decaying towards initial once it is older than a day
// (limits change), and never above it. A zero Learned gives initial.
func (l Learned) Start(now time.Time, initial float64) float64 {
	if l.Estimate <= 0 {
		return initial
	}
	age := now.Sub(l.At)
	if age <= learnedFresh {
		return l.Estimate
	}
	w := math.Exp2(-(age - learnedFresh).Hours() / learnedFresh.Hours())
	return w*l.Estimate + (1-w)*min(initial, l.Estimate)
}

// EstimateStore keeps each merchant's learned limit in PostgreSQL (table
// rate_estimates), shared by every instance of the merchant.
type EstimateStore struct {
	DB DB
}

// Load returns the merchant's learned limit; false when none is stored.
func (s *EstimateStore) Load(ctx context.Context, mchid string) (Learned, bool, error) {
	var l Learned
	err := s.DB.QueryRowContext(ctx, `SELECT estimate, updated_at FROM rate_estimates WHERE mchid = $1`, mchid).Scan(&l.Estimate, &l.At)
	if errors.Is(err, sql.ErrNoRows) {
		return Learned{}, false, nil
	}
	if err != nil {
		return Learned{}, false, fmt.Errorf("load rate estimate: %w", err)
	}
	return l, true, nil
}

// Save stores the merchant's learned limit, replacing the last one: the
// latest measurement wins, so a limit that fell, or a stale estimate that
// throttling contradicted, is overwritten by the first pass that sees it.
func (s *EstimateStore) Save(ctx context.Context, mchid string, estimate float64) error {
	if !(estimate > 0) || math.IsInf(estimate, 0) {
		return fmt.Errorf("save rate estimate: %v is not a rate", estimate)
	}
	_, err := s.DB.ExecContext(ctx, `
		INSERT INTO rate_estimates (mchid, estimate) VALUES ($1, $2)
		ON CONFLICT (mchid) DO UPDATE SET estimate = EXCLUDED.estimate, updated_at = now()`, mchid, estimate)
	if err != nil {
		return fmt.Errorf("save rate estimate: %w", err)
	}
	return nil
}

// Keeper carries a merchant's learned limit across passes and restarts: Seed
// starts a Limiter near it, Run saves what the limiter measures.
type Keeper struct {
	Store *EstimateStore
	MchID string
	// Interval between saves while running. Default 10s.
	Interval time.Duration
	Logger   *slog.Logger
	Now      func() time.Time // default time.Now

	live atomic.Int64 // instances sharing the merchant's limit; 0 means one
}

// SetInstances tells how many instances share the merchant's limit now: a
// limiter measures only its own share of it.
func (k *Keeper) SetInstances(n int) { k.live.Store(int64(n)) }

func (k *Keeper) instances() float64 { return float64(max(1, k.live.Load())) }

// Seed returns cfg set to start from the merchant's learned limit, if one
// is stored; a failure to read it is logged and leaves cfg as it is.
func (k *Keeper) Seed(ctx context.Context, cfg Config) Config {
	if k == nil {
		return cfg // nothing learned is kept: start at cfg.Initial
	}
	l, ok, err := k.Store.Load(ctx, k.MchID)
	if err != nil {
		k.log().Warn("rate limiter starts without the learned limit", "err", err)
		return cfg
	}
	if !ok {
		return cfg
	}
	now := time.Now
	if k.Now != nil {
		now = k.Now
	}
	initial := positiveOr(cfg.Initial, positiveOr(cfg.Max, defaultMax)/5)
	cfg.Learned = l.Start(now(), initial) / k.instances()
	k.log().Info("rate limiter starts near the learned limit", "learned", l.Estimate, "measured_at", l.At, "start", cfg.Learned)
	return cfg
}

// Run saves the strategy's estimate of the limit every Interval while it
// changes, and once more when ctx is done; it returns then. Only a Limiter
// estimates the limit; other strategies make Run return at once.
func (k *Keeper) Run(ctx context.Context, s Strategy) {
	lim, ok := s.(*Limiter)
	if !ok {
		return
	}
	iv := k.Interval
	if iv <= 0 {
		iv = 10 * time.Second
	}
	var saved float64
	save := func(ctx context.Context) {
		est := lim.Stats().Estimate
		if est <= 0 || est == saved {
			return
		}
		if err := k.Store.Save(ctx, k.MchID, est*k.instances()); err != nil {
			k.log().Warn("rate limiter: keep learned limit", "err", err)
			return
		}
		saved = est
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			save(sctx)
			cancel()
			return
		case <-t.C:
			save(ctx)
		}
	}
}

func (k *Keeper) log() *slog.Logger {
	if k.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return k.Logger
}
