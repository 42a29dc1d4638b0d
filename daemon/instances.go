package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"
)

// Instances keeps this process's heartbeat in the instances table and
// reports how many instances of the merchant are alive, so that each can
// take its share of the merchant's rate budget. WeChat Pay's limit is per
// merchant, not per process.
type Instances struct {
	DB       *sqlx.DB
	ID       string
	MchID    string
	Hostname string
	PID      int
	Version  string
	// Interval between heartbeats (default 5s); an instance whose
	// heartbeat is older than TTL (default 3 intervals) no longer counts.
	Interval time.Duration
	TTL      time.Duration
	Logger   *slog.Logger
}

func (in *Instances) defaults() (time.Duration, time.Duration) {
	iv := in.Interval
	if iv <= 0 {
		iv = 5 * time.Second
	}
	ttl := in.TTL
	if ttl <= 0 {
		ttl = 3 * iv
	}
	return iv, ttl
}

// Beat records a heartbeat and returns the number of live instances of
// the merchant, this one included.
func (in *Instances) Beat(ctx context.Context) (int, error) {
	_, ttl := in.defaults()
	_, err := in.DB.ExecContext(ctx, `
		INSERT INTO instances (id, mchid, hostname, pid, version) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()`, in.ID, in.MchID, in.Hostname, in.PID, in.Version)
	if err != nil {
		return 0, fmt.Errorf("heartbeat: %w", err)
	}
	var live int
	err = in.DB.GetContext(ctx, &live, `SELECT count(*) FROM instances WHERE mchid = $1 AND heartbeat_at > now() - $2 * interval '1 millisecond'`,
		in.MchID, ttl.Milliseconds())
	if err != nil {
		return 0, fmt.Errorf("count instances: %w", err)
	}
	return max(live, 1), nil
}

// Run beats until ctx is done, calling onLive with each count, then removes
// this instance so the others take its share at once.
func (in *Instances) Run(ctx context.Context, onLive func(live int)) {
	iv, _ := in.defaults()
	for {
		live, err := in.Beat(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if in.Logger != nil {
				in.Logger.Warn("instance heartbeat", "err", err)
			}
		} else {
			onLive(live)
		}
		select {
		case <-ctx.Done():
		case <-time.After(iv):
			continue
		}
		break
	}
	dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = in.DB.ExecContext(dctx, `DELETE FROM instances WHERE id = $1`, in.ID)
}

// Prune removes instances whose heartbeat stopped long ago (housekeeping).
func (in *Instances) Prune(ctx context.Context, olderThan time.Duration) (int64, error) {
	res, err := in.DB.ExecContext(ctx, `DELETE FROM instances WHERE heartbeat_at < now() - $1 * interval '1 millisecond'`, olderThan.Milliseconds())
	if err != nil {
		return 0, fmt.Errorf("prune instances: %w", err)
	}
	return res.RowsAffected()
}

// InstancesKept is how long a stopped instance's row stays in instances
// before housekeeping prunes it: a day, so that yesterday's crash can
// still be seen.
const InstancesKept = 24 * time.Hour
