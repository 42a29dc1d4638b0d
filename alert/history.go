package alert

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// HistoryKept is how long housekeeping keeps raised alerts.
const HistoryKept = 30 * 24 * time.Hour

// historyQueue bounds the alerts waiting to be kept: Notify never blocks,
// so past it an alert is logged and not kept.
const historyQueue = 256

// History keeps every alert raised (Config.History), with what became of
// its delivery when it was queued.
type History interface {
	Keep(ctx context.Context, a Alert, title, delivery string) error
}

// Kept is a raised alert as the history holds it.
type Kept struct {
	ID       int64     `db:"id" json:"id"`
	At       time.Time `db:"at" json:"at"`
	Kind     string    `db:"kind" json:"kind"`
	Severity string    `db:"severity" json:"severity"`
	Title    string    `db:"title" json:"title"` // in Chinese, as the robots show it
	BatchID  *int64    `db:"batch_id" json:"batch_id,omitempty"`
	StockID  string    `db:"stock_id" json:"stock_id,omitempty"`
	MchID    string    `db:"mchid" json:"mchid,omitempty"`
	Message  string    `db:"message" json:"message"`
	Source   string    `db:"source" json:"source,omitempty"`
	Delivery string    `db:"delivery" json:"delivery"`
}

// HistoryStore keeps alerts in the alert_history table.
type HistoryStore struct{ db *sqlx.DB }

// NewHistoryStore returns a HistoryStore on db.
func NewHistoryStore(db *sqlx.DB) *HistoryStore { return &HistoryStore{db: db} }

// Keep writes one raised alert.
func (h *HistoryStore) Keep(ctx context.Context, a Alert, title, delivery string) error {
	var batch *int64
	if a.BatchID != 0 {
		batch = &a.BatchID
	}
	_, err := h.db.ExecContext(ctx, `INSERT INTO alert_history (at, kind, severity, title, batch_id, stock_id, mchid, message, source, delivery)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		a.Time, a.Kind, a.Severity, title, batch, a.StockID, a.MchID, a.Message, a.Source, delivery)
	if err != nil {
		return fmt.Errorf("keep alert: %w", err)
	}
	return nil
}

// Recent returns the newest alerts kept, at most limit.
func (h *HistoryStore) Recent(ctx context.Context, limit int) ([]Kept, error) {
	out := []Kept{}
	err := h.db.SelectContext(ctx, &out, `SELECT id, at, kind, severity, title, batch_id, stock_id, mchid, message, source, delivery
		FROM alert_history ORDER BY at DESC, id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("alert history: %w", err)
	}
	return out, nil
}

// Prune deletes the alerts older than olderThan (housekeeping.Pruner).
func (h *HistoryStore) Prune(ctx context.Context, olderThan time.Duration) (int64, error) {
	res, err := h.db.ExecContext(ctx, `DELETE FROM alert_history WHERE at < now() - $1 * interval '1 millisecond'`,
		olderThan.Milliseconds())
	if err != nil {
		return 0, fmt.Errorf("prune alert history: %w", err)
	}
	return res.RowsAffected()
}

// keptAlert is an alert waiting for the history.
type keptAlert struct {
	a        Alert
	delivery string
}

// keep queues a for the history without blocking.
func (n *Notifier) keep(a Alert, delivery string) {
	if n.history == nil {
		return
	}
	select {
	case n.history <- keptAlert{a: a, delivery: delivery}:
	default:
		n.log.Warn("alert history: queue full, alert not kept", "kind", a.Kind)
	}
}

// keepHistory writes queued alerts to the history until ctx is done, then
// what is still queued, within DrainTimeout. A write never runs on ctx
// itself: an alert taken just as ctx ends is still kept.
func (n *Notifier) keepHistory(ctx context.Context) {
	base := context.WithoutCancel(ctx)
	write := func(ctx context.Context, k keptAlert) {
		ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
		defer cancel()
		if err := n.cfg.History.Keep(ctx, k.a, title(k.a), k.delivery); err != nil {
			n.log.Error("alert history: alert not kept", "kind", k.a.Kind, "err", err)
		}
	}
	for {
		select {
		case k := <-n.history:
			write(base, k)
		case <-ctx.Done():
			drain, cancel := context.WithTimeout(base, n.cfg.DrainTimeout)
			defer cancel()
			for {
				select {
				case k := <-n.history:
					write(drain, k)
				default:
					return
				}
			}
		}
	}
}
