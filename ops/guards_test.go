package ops_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/internal/config"
	"github.com/issuer-dev/issuer/internal/dbtest"
	"github.com/issuer-dev/issuer/ops"
	"github.com/issuer-dev/issuer/queue"
)

type guardsBundle struct {
	svc   *ops.Service
	audit *auditLog
}

// guardsSetup is the operations on a private schema with approval as
// configured by approval.
func guardsSetup(t *testing.T, approval config.Approval) *guardsBundle {
	t.Helper()
	s := dbtest.New(t)
	cfg := config.Defaults()
	loc, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	cfg.Location, cfg.Approval = loc, approval
	cfg.WXPay.MchID, cfg.WXPay.AppID = "1900000109", "wx0000000000000001"
	log := &auditLog{}
	return &guardsBundle{svc: ops.New(s.DB, &cfg, nil, log, nil), audit: log}
}

func (b *guardsBundle) importList(t *testing.T, a auth.Actor, prefix string, n int) *queue.Batch {
	t.Helper()
	var sb strings.Builder
	sb.WriteString("openid\n")
	for i := range n {
		fmt.Fprintf(&sb, "%s%04d\n", prefix, i)
	}
	rep, err := b.svc.Import(context.Background(), a, ops.ImportRequest{Reader: strings.NewReader(sb.String()),
		Source: prefix + ".csv", StockID: "S1"})
	require.NoError(t, err)
	bt, err := b.svc.Queue.Batch(context.Background(), rep.BatchID)
	require.NoError(t, err)
	return bt
}

func (b *guardsBundle) outcomes(action string) []string {
	var out []string
	for _, e := range b.audit.all() {
		if e.Action == action {
			out = append(out, e.Actor+":"+string(e.Outcome))
		}
	}
	return out
}

// TestShellWithoutCredential: the command line without a credential
// imports, pauses and cancels, recorded as cli:<os user>, but never
// approves, rejects, resumes or reprioritises; its upload is approved by
// any operator, since no account is its uploader.
func TestShellWithoutCredential(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := guardsSetup(t, config.Approval{MinCoupons: 3})
	shell := auth.ShellActor("root")
	require.False(t, shell.Account())
	require.True(t, operator.Account())

	waiting := b.importList(t, shell, "oW", 3)
	require.Equal(t, queue.BatchAwaitingApproval, waiting.Status)
	require.Equal(t, "cli:root", waiting.UploadedBy)
	_, err := b.svc.ApproveBatch(ctx, shell, waiting.ID)
	require.ErrorIs(t, err, auth.ErrForbidden)
	require.ErrorContains(t, err, "without a credential")
	_, err = b.svc.RejectBatch(ctx, shell, waiting.ID, "no")
	require.ErrorIs(t, err, auth.ErrForbidden)

	running := b.importList(t, shell, "oR", 2)
	_, err = b.svc.PauseBatch(ctx, shell, running.ID)
	require.NoError(t, err, "an emergency stop needs no token")
	_, err = b.svc.ResumeBatch(ctx, shell, running.ID)
	require.ErrorIs(t, err, auth.ErrForbidden)
	_, err = b.svc.SetBatchPriority(ctx, shell, running.ID, 9)
	require.ErrorIs(t, err, auth.ErrForbidden)
	_, err = b.svc.CancelBatch(ctx, shell, running.ID)
	require.NoError(t, err)

	bt, err := b.svc.ApproveBatch(ctx, operator, waiting.ID)
	require.NoError(t, err)
	require.Equal(t, queue.BatchPending, bt.Status)

	// An account's own upload is still not its to approve.
	mine := b.importList(t, operator, "oM", 3)
	_, err = b.svc.ApproveBatch(ctx, operator, mine.ID)
	require.ErrorIs(t, err, auth.ErrForbidden)

	require.Equal(t, []string{"cli:root:denied", "olga:ok", "olga:denied"}, b.outcomes("approve"))
	require.Equal(t, []string{"cli:root:denied"}, b.outcomes("resume"))
	require.Equal(t, []string{"cli:root:denied"}, b.outcomes("priority"))
	require.Equal(t, []string{"cli:root:ok"}, b.outcomes("pause"))
	require.Equal(t, []string{"cli:root:ok"}, b.outcomes("cancel"))
}

// TestDailyApproval: the daily thresholds apply where the import's guards
// are, whoever imports.
func TestDailyApproval(t *testing.T) {
	t.Parallel()
	b := guardsSetup(t, config.Approval{MinCoupons: 100, DailyCoupons: 5})
	require.Equal(t, queue.BatchPending, b.importList(t, analyst, "oA", 4).Status)
	bt := b.importList(t, analyst, "oB", 4)
	require.Equal(t, queue.BatchAwaitingApproval, bt.Status, "8 today of stock S1")
	var detail string
	for _, e := range b.audit.all() {
		if e.Action == "import" && e.BatchID != nil && *e.BatchID == bt.ID {
			detail = string(e.Detail)
		}
	}
	require.Contains(t, detail, "approval.daily_coupons (5)")
}
