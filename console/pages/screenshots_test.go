package pages_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/ops"
)

// TestScreenshots saves PNGs of the console's main pages in
// $ISSUER_SCREENSHOTS (scripts/screenshots.sh, make demo): a completed
// batch issued by the simulator, a halted one with rows in review, a
// paused and a pending one, job runs and an instance.
func TestScreenshots(t *testing.T) {
	dir := os.Getenv("ISSUER_SCREENSHOTS")
	if dir == "" {
		t.Skip("set ISSUER_SCREENSHOTS=DIR to save the console's screenshots")
	}
	ctx := browser(t)
	b := setup(t, withSim)
	bg := context.Background()

	done := b.importBatch(t, "春季会员回馈", 120)
	b.issue(t, done)
	// Issued three days ago, used since: the daily redemptions have days.
	_, err := b.schema.DB.Exec(`UPDATE recipients SET issued_at = now() - interval '3 days' WHERE batch_id = $1`, done)
	require.NoError(t, err)
	_, err = b.schema.DB.Exec(`INSERT INTO coupon_use_callbacks (notification_id, event_type, event_time, summary, stock_id,
			coupon_id, stock_creator_mchid, coupon_name, status, coupon_type, no_cash, coupon_amount, transaction_minimum,
			consume_time, consume_mchid, transaction_id, coupon)
		SELECT 'n' || r.id, 'COUPON.USE', now(), '代金券核销通知', 'S1', r.coupon_id, r.mchid, '满100减10', 'USED', 'NORMAL', false,
			1000, 10000, now() - (r.id % 3) * interval '1 day', r.mchid, 'tx' || r.id, '{}'::jsonb
		FROM recipients r WHERE r.batch_id = $1 AND r.status = 'issued' AND r.id % 4 = 0`, done)
	require.NoError(t, err)

	halted := b.importBatch(t, "double-11", 60)
	_, err = b.schema.DB.Exec(`UPDATE recipients SET status = 'issued', outcome = 'issued', coupon_id = 'c' || id, attempts = 1,
			last_attempt_at = now(), first_attempt_at = now(), issued_at = now()
		WHERE batch_id = $1 AND id % 3 = 0`, halted)
	require.NoError(t, err)
	_, err = b.schema.DB.Exec(`UPDATE recipients SET status = 'review', outcome = 'unknown', doubt_since = now(), wx_code = 'SYSTEM_ERROR',
			wx_message = '系统错误，请稍后重试', attempts = 3, last_attempt_at = now(), first_attempt_at = now(),
			note = 'the answer did not say whether the coupon was issued; settle by asking WeChat Pay'
		WHERE batch_id = $1 AND id % 7 = 1`, halted)
	require.NoError(t, err)
	_, err = b.schema.DB.Exec(`UPDATE recipients SET status = 'failed', outcome = 'user_limited', wx_code = 'USER_ACCOUNT_ABNORMAL',
			wx_message = '用户非法', attempts = 1, last_attempt_at = now() WHERE batch_id = $1 AND id % 11 = 2`, halted)
	require.NoError(t, err)
	_, err = b.schema.DB.Exec(`UPDATE batches SET status = 'halted', halt_reason = 'budget_exhausted: NOT_ENOUGH 批次预算不足' WHERE id = $1`, halted)
	require.NoError(t, err)

	paused := b.importBatch(t, "new-users", 30)
	_, err = b.svc.PauseBatch(bg, b.cli, paused)
	require.NoError(t, err)
	b.importBatch(t, "VIP-12月", 45)

	_, err = b.schema.DB.Exec(`INSERT INTO instances (id, mchid, hostname, pid, version) VALUES ('app-1:4242', $1, 'app-1', 4242, 'v1.4.0')`,
		b.sim.Keys.MchID)
	require.NoError(t, err)
	_, err = b.schema.DB.Exec(`INSERT INTO job_runs (job, instance, scheduled_for, started_at, finished_at, result, counts, error) VALUES
		('issue', 'app-1:4242', now() - interval '2 minutes', now() - interval '2 minutes', now() - interval '1 minute', 'success', '{"issued": 120}', NULL),
		('reconcile', 'app-1:4242', now() - interval '1 hour', now() - interval '1 hour', now() - interval '59 minutes', 'failure', '{}', 'download use flow: stock S1: not yet available'),
		('housekeeping', 'app-1:4242', now() - interval '3 hours', now() - interval '3 hours', now() - interval '3 hours', 'success', '{"sessions": 3}', NULL)`)
	require.NoError(t, err)
	_, err = b.svc.ResumeBatch(bg, auth.Actor{Name: "otto", Role: auth.RoleOperator, Source: "127.0.0.1"}, paused)
	require.NoError(t, err)
	_, err = b.svc.PauseBatch(bg, b.cli, paused)
	require.NoError(t, err)

	list := filepath.Join(t.TempDir(), "会员名单.csv")
	require.NoError(t, os.WriteFile(list, []byte(csvOf("vip", 200, "bad openid!", "vip00003", "o-<script>", "")), 0o644))

	signIn(t, ctx, b, "ada", "/batches?lang=zh")
	shoot := func(name, path, wait string) {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(b.srv.URL+path), chromedp.WaitVisible(chromedp.CSS(wait))))
		t.Log("screenshot:", screenshot(t, ctx, name))
	}
	shoot("batches", "/batches?lang=zh", "main table")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(b.srv.URL+"/upload?lang=zh"),
		chromedp.WaitVisible(chromedp.CSS(`#upload-form`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=stock]`), "S1"),
		chromedp.SetUploadFiles(chromedp.CSS(`input[name=file]`), []string{list}),
		chromedp.Click(chromedp.CSS(`#btn-dryrun`)),
		chromedp.WaitVisible(chromedp.CSS(`#dryrun`)),
	))
	t.Log("screenshot:", screenshot(t, ctx, "upload-dryrun"))
	shoot("batch", "/batches/"+strconv.FormatInt(halted, 10)+"?lang=zh", "#progress")
	shoot("batch-completed-en", "/batches/"+strconv.FormatInt(done, 10)+"?lang=en", "#progress")
	shoot("reconciliation", "/reconciliation?lang=zh", "main table")
	shoot("operations", "/operations?lang=zh", "main table")
	shoot("users", "/users?lang=zh", "main table")
	shoot("audit", "/audit?lang=zh", "main table")
	_ = ops.RateWindow
}
