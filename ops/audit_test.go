package ops_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/audit"
	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/internal/config"
	"github.com/issuer-dev/issuer/internal/dbtest"
	"github.com/issuer-dev/issuer/ops"
	"github.com/issuer-dev/issuer/queue"
)

// brokenAudit is the real audit log whose writes in a transaction fail
// while broken is set.
type brokenAudit struct {
	*audit.Store
	broken atomic.Bool
}

func (a *brokenAudit) RecordTx(ctx context.Context, ext sqlx.ExecerContext, e audit.Entry) error {
	if a.broken.Load() {
		return errors.New("disk full")
	}
	return a.Store.RecordTx(ctx, ext, e)
}

// A money act whose audit row cannot be written does not happen; a pause
// (an emergency stop) happens anyway.
func TestMoneyActNeedsItsAuditRow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.New(t)
	cfg := config.Defaults()
	cfg.Location = time.UTC
	cfg.Approval.MinCoupons = 2
	cfg.WXPay.MchID, cfg.WXPay.AppID = "1900000109", "wx0000000000000001"
	log := &brokenAudit{Store: audit.NewStore(s.DB, nil)}
	svc := ops.New(s.DB, &cfg, nil, log, nil)
	ann := auth.Actor{Name: "ann", Role: auth.RoleAnalyst, Source: "test"}
	olga := auth.Actor{Name: "olga", Role: auth.RoleOperator, Source: "test"}
	imp := func() (*ops.ImportAnswer, error) {
		return svc.Import(ctx, ann, ops.ImportRequest{Reader: strings.NewReader("openid\noA\noB\n"), Source: "list.csv", StockID: "S1"})
	}
	status := func(id int64) string {
		b, err := svc.Queue.Batch(ctx, id)
		require.NoError(t, err)
		return b.Status
	}
	outcomes := func(action string) []string {
		var got []string
		require.NoError(t, s.DB.Select(&got, `SELECT outcome FROM audit_log WHERE action = $1 ORDER BY id`, action))
		return got
	}

	log.broken.Store(true)
	_, err := imp()
	require.Equal(t, ops.EINTERNAL, ops.ErrorCode(err), "%v", err)
	bs, err := svc.Queue.Batches(ctx, queue.BatchFilter{})
	require.NoError(t, err)
	require.Empty(t, bs, "an import without its audit row stores nothing")

	log.broken.Store(false)
	rep, err := imp()
	require.NoError(t, err)
	require.Equal(t, queue.BatchAwaitingApproval, rep.Status)
	require.Equal(t, []string{"error", "ok"}, outcomes("import"))

	log.broken.Store(true)
	_, err = svc.ApproveBatch(ctx, olga, rep.BatchID)
	require.Equal(t, ops.EINTERNAL, ops.ErrorCode(err), "%v", err)
	require.Equal(t, queue.BatchAwaitingApproval, status(rep.BatchID))

	log.broken.Store(false)
	b, err := svc.ApproveBatch(ctx, olga, rep.BatchID)
	require.NoError(t, err)
	require.Equal(t, queue.BatchPending, b.Status)
	require.Equal(t, []string{"error", "ok"}, outcomes("approve"))

	log.broken.Store(true)
	b, err = svc.PauseBatch(ctx, olga, rep.BatchID)
	require.NoError(t, err, "an emergency stop does not wait on the audit log")
	require.Equal(t, queue.BatchPaused, b.Status)
	_, err = svc.ResumeBatch(ctx, olga, rep.BatchID)
	require.Equal(t, ops.EINTERNAL, ops.ErrorCode(err), "%v", err)
	require.Equal(t, queue.BatchPaused, status(rep.BatchID))
	_, err = svc.SetBatchPriority(ctx, olga, rep.BatchID, 5)
	require.Equal(t, ops.EINTERNAL, ops.ErrorCode(err), "%v", err)

	log.broken.Store(false)
	b, err = svc.ResumeBatch(ctx, olga, rep.BatchID)
	require.NoError(t, err)
	require.Equal(t, queue.BatchPending, b.Status)
	require.Equal(t, []string{"error", "ok"}, outcomes("resume"))
	require.Equal(t, []string{"ok"}, outcomes("pause"))

	var details []string
	require.NoError(t, s.DB.Select(&details, `SELECT detail #>> '{}' FROM audit_log WHERE outcome = 'ok' AND action IN ('approve', 'resume') ORDER BY id`))
	require.Equal(t, []string{"approved 2 recipients worth 0.00 yuan", "batch is pending"}, details)
}

// Reading the audit log is for operators and admins; an analyst is refused
// with the one refusal, not an empty list.
func TestAuditLogList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.New(t)
	store := audit.NewStore(s.DB, nil)
	require.NoError(t, store.Record(ctx, audit.Entry{Actor: "olga", Role: "operator", Action: "pause", Source: "test", Outcome: audit.OK}))
	l := ops.NewAuditLog(store)

	_, err := l.List(ctx, auth.Actor{Name: "ann", Role: auth.RoleAnalyst, Source: "test"}, ops.AuditFilter{Limit: 10})
	require.ErrorIs(t, err, auth.ErrForbidden)
	require.Equal(t, ops.EFORBIDDEN, ops.ErrorCode(err))

	got, err := l.List(ctx, auth.Actor{Name: "olga", Role: auth.RoleOperator, Source: "test"}, ops.AuditFilter{Limit: 10})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "pause", got[0].Action)
}
