package pages_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/auth"
)

// demoData fills b (with the simulator) as a campaign's console looks
// after a while: a batch issued by the simulator and partly used, one
// halted by WeChat Pay with rows in review and failed, one halted because
// its stock was stopped, one at its spending cap, a paused one, one
// awaiting approval, one with a 276-character name from before names were
// bounded, job runs, an instance, and the audit log of it all. It returns
// the ids shotlist.Pages name.
func demoData(t *testing.T, b *testBundle) map[string]string {
	t.Helper()
	bg := context.Background()
	exec := func(q string, args ...any) {
		t.Helper()
		_, err := b.schema.DB.Exec(q, args...)
		require.NoError(t, err)
	}

	done := b.importBatch(t, "春季会员回馈", 120)
	b.issue(t, done)
	// Issued three days ago, used since: the daily redemptions have days.
	exec(`UPDATE recipients SET issued_at = now() - interval '3 days' WHERE batch_id = $1`, done)
	exec(`INSERT INTO coupon_use_callbacks (notification_id, event_type, event_time, summary, stock_id,
			coupon_id, stock_creator_mchid, coupon_name, status, coupon_type, no_cash, coupon_amount, transaction_minimum,
			consume_time, consume_mchid, transaction_id, coupon)
		SELECT 'n' || r.id, 'COUPON.USE', now(), '代金券核销通知', 'S1', r.coupon_id, r.mchid, '满100减10', 'USED', 'NORMAL', false,
			1000, 10000, now() - (r.id % 3) * interval '1 day', r.mchid, 'tx' || r.id, '{}'::jsonb
		FROM recipients r WHERE r.batch_id = $1 AND r.status = 'issued' AND r.id % 4 = 0`, done)

	halted := b.importBatch(t, "double-11", 60)
	exec(`UPDATE recipients SET status = 'issued', outcome = 'issued', coupon_id = 'c' || id, attempts = 1,
			last_attempt_at = now(), first_attempt_at = now(), issued_at = now()
		WHERE batch_id = $1 AND id % 3 = 0`, halted)
	exec(`UPDATE recipients SET status = 'review', outcome = 'unknown', doubt_since = now(), wx_code = 'SYSTEM_ERROR',
			wx_message = '系统错误，请稍后重试', attempts = 3, last_attempt_at = now(), first_attempt_at = now(),
			note = 'the lease expired while this row was being sent: the send may have reached WeChat Pay'
		WHERE batch_id = $1 AND id % 7 = 1`, halted)
	exec(`UPDATE recipients SET status = 'failed', outcome = 'user_limited', wx_code = 'USER_ACCOUNT_ABNORMAL',
			wx_message = '用户非法', attempts = 1, last_attempt_at = now() WHERE batch_id = $1 AND id % 11 = 2`, halted)
	exec(`UPDATE batches SET status = 'halted', halt_reason = 'budget_exhausted: NOT_ENOUGH 批次预算不足' WHERE id = $1`, halted)

	stopped := b.importBatch(t, "元旦焕新-ny", 40)
	exec(`UPDATE batches SET status = 'halted', halt_reason = format('stock_unavailable: stock S1 is stopped in WeChat Pay and cannot issue again: import the list for another stock; then issuer batch resume %s', id) WHERE id = $1`, stopped)

	capped := b.importBatch(t, "满50封顶-cap", 80)
	exec(`UPDATE recipients SET status = 'issued', outcome = 'issued', coupon_id = 'k' || id, attempts = 1,
			last_attempt_at = now(), first_attempt_at = now(), issued_at = now()
		WHERE batch_id = $1 AND id % 2 = 0`, capped)
	exec(`UPDATE batches SET status = 'halted', halt_reason = 'spend_cap: 50.00 of the 50.00 yuan cap is issued or in doubt; no remaining recipient fits under it' WHERE id = $1`, capped)

	paused := b.importBatch(t, "new-users", 30)
	_, err := b.svc.PauseBatch(bg, b.cli, paused)
	require.NoError(t, err)
	_, err = b.svc.ResumeBatch(bg, auth.Actor{Name: "otto", Role: auth.RoleOperator, Source: "127.0.0.1"}, paused)
	require.NoError(t, err)
	_, err = b.svc.PauseBatch(bg, b.cli, paused)
	require.NoError(t, err)

	awaiting := b.importBatch(t, "VIP-12月", 45)
	exec(`UPDATE batches SET status = 'awaiting_approval' WHERE id = $1`, awaiting)
	// An analyst tries to approve it: refused, and audited.
	_, err = b.svc.ApproveBatch(bg, auth.Actor{Name: "ann", Role: auth.RoleAnalyst, Source: "10.0.0.7"}, awaiting)
	require.Error(t, err)

	long := b.importBatch(t, "long", 25)
	exec(`UPDATE batches SET name = $2 WHERE id = $1`, long,
		strings.Repeat("双十二全渠道会员专享满减券定向发放", 17)[:276])

	exec(`INSERT INTO instances (id, mchid, hostname, pid, version) VALUES ('app-1:4242', $1, 'app-1', 4242, 'v1.4.0')`,
		b.sim.Keys.MchID)
	exec(`INSERT INTO job_runs (job, instance, scheduled_for, started_at, finished_at, result, counts, error) VALUES
		('issue', 'app-1:4242', now() - interval '2 minutes', now() - interval '2 minutes', now() - interval '1 minute', 'success', '{"claimed": 120, "issued": 118, "throttled": 2}', NULL),
		('reconcile', 'app-1:4242', now() - interval '1 hour', now() - interval '1 hour', now() - interval '59 minutes', 'failure', '{"failed": 1}', 'download use flow: stock S1: not yet available'),
		('housekeeping', 'app-1:4242', now() - interval '3 hours', now() - interval '3 hours', now() - interval '3 hours', 'success', '{"rescued": 0, "job_runs_pruned": 12, "settle_checked": 3, "settle_issued": 2}', NULL)`)

	ctx := context.Background()
	require.NoError(t, b.auth.SetRole(ctx, b.cli, "ann", auth.RoleOperator))
	require.NoError(t, b.auth.SetRole(ctx, b.cli, "ann", auth.RoleAnalyst))
	_, _, err = b.auth.CreateToken(ctx, auth.Actor{Name: "otto", Role: auth.RoleOperator, Source: "10.0.0.8"}, "otto", 0)
	require.NoError(t, err)

	id := func(n int64) string { return strconv.FormatInt(n, 10) }
	return map[string]string{
		"completed": id(done), "halted": id(halted), "stock_halted": id(stopped), "spend_cap": id(capped),
		"paused": id(paused), "awaiting": id(awaiting), "long_name": id(long), "stock": simStock, "openid": "odouble1100001",
	}
}
