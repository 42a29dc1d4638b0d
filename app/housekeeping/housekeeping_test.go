package housekeeping_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/alert"
	"github.com/issuer-dev/issuer/app/housekeeping"
	"github.com/issuer-dev/issuer/daemon"
	"github.com/issuer-dev/issuer/intake"
	"github.com/issuer-dev/issuer/internal/dbtest"
	"github.com/issuer-dev/issuer/internal/simtest"
	"github.com/issuer-dev/issuer/jobs"
	"github.com/issuer-dev/issuer/queue"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

type testBundle struct {
	db    *sqlx.DB
	store *queue.Store
	batch int64
}

// setup imports one batch of openids for stock 9856000.
func setup(t *testing.T, openids ...string) *testBundle {
	t.Helper()
	db := dbtest.New(t).DB
	rep, err := intake.Import(context.Background(), db, strings.NewReader("openid\n"+strings.Join(openids, "\n")+"\n"), intake.Options{
		StockID: "9856000", Kind: "favor", MchID: "1900000109", AppID: "wx1", Source: "hk.csv"})
	require.NoError(t, err)
	return &testBundle{db: db, store: queue.NewStore(db), batch: rep.BatchID}
}

func (b *testBundle) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	_, err := b.db.Exec(q, args...)
	require.NoError(t, err)
}

func (b *testBundle) status(t *testing.T, openid string) string {
	t.Helper()
	var s string
	require.NoError(t, b.db.Get(&s, `SELECT status FROM recipients WHERE openid = $1`, openid))
	return s
}

func TestRescue(t *testing.T) {
	t.Parallel()
	b := setup(t, "oA", "oB")
	b.exec(t, `UPDATE recipients SET status = 'in_flight', attempts = 1, lease_owner = 'dead', lease_expires_at = now() - interval '1 second'
		WHERE openid = 'oA'`)
	counts, err := (&housekeeping.Rescue{Store: b.store, MaxAttempts: 5}).Run(context.Background())
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"rescued": 1, "to_review": 0}, counts)
	require.Equal(t, "pending", b.status(t, "oA"))
	var doubt bool
	require.NoError(t, b.db.Get(&doubt, `SELECT in_doubt FROM recipients WHERE openid = 'oA'`))
	require.True(t, doubt, "the expired send may have reached WeChat Pay")
}

func TestSeal(t *testing.T) {
	t.Parallel()
	b := setup(t, "oA", "oB")
	// A cancel cut short: the batch is cancelled, its rows still pending,
	// one of them in doubt.
	b.exec(t, `UPDATE batches SET status = 'cancelled' WHERE id = $1`, b.batch)
	b.exec(t, `UPDATE recipients SET outcome = 'unknown', doubt_since = now(), attempts = 1 WHERE openid = 'oB'`)
	counts, err := (&housekeeping.Seal{Store: b.store}).Run(context.Background())
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"sealed_cancelled": 1, "sealed_in_doubt": 1}, counts)
	require.Equal(t, "cancelled", b.status(t, "oA"))
	require.Equal(t, "review", b.status(t, "oB"))
}

func TestSettle(t *testing.T) {
	t.Parallel()
	b := setup(t, "oA", "oB")
	sim := simtest.Start(t, wxsim.Options{Stocks: []wxsim.StockSpec{{ID: "9856000", Budget: 10}}})
	b.exec(t, `UPDATE batches SET mchid = $1, appid = $2, stock_creator_mchid = $1`, sim.Keys.MchID, sim.Keys.AppID)
	b.exec(t, `UPDATE recipients SET status = 'review', outcome = 'unknown', doubt_since = now(), attempts = 3,
		first_attempt_at = now() - interval '2 minutes', last_attempt_at = now() - interval '1 minute'`)
	// oA's send did issue its coupon; oB's did not.
	_, err := sim.Server.GrantCoupon("9856000", "oA", time.Now().Add(-90*time.Second))
	require.NoError(t, err)
	settler := &jobs.Settle{Store: b.store, Lister: sim.Client(t, 1), Grace: time.Second, MaxAttempts: 5}
	counts, err := (&housekeeping.Settle{Settler: settler}).Run(context.Background())
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"settle_checked": 2, "settle_issued": 1, "settle_not_issued": 1, "settle_still_in_doubt": 0}, counts)
	require.Equal(t, "issued", b.status(t, "oA"))
	require.Equal(t, "pending", b.status(t, "oB"), "not issued: sent again with the same out_request_no")
}

func TestPrune(t *testing.T) {
	t.Parallel()
	b := setup(t, "oA")
	ctx := context.Background()
	insts := &daemon.Instances{DB: b.db, ID: "old", MchID: "1900000109"}
	_, err := insts.Beat(ctx)
	require.NoError(t, err)
	runs := &daemon.Runs{DB: b.db, Instance: "old"}
	require.NoError(t, runs.Execute(ctx, "issue", time.Now(), false, func(context.Context, time.Time) (map[string]int64, error) { return nil, nil }))
	b.exec(t, `UPDATE instances SET heartbeat_at = now() - interval '2 days', started_at = now() - interval '2 days'`)
	b.exec(t, `UPDATE job_runs SET started_at = now() - interval '100 days'`)
	p := &housekeeping.Prune{Instances: insts, InstancesKept: daemon.InstancesKept, Runs: runs, RunsKept: daemon.RunsKept}
	counts, err := p.Run(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"instances_pruned": 1, "job_runs_pruned": 1}, counts)
}

func TestReviewAlert(t *testing.T) {
	t.Parallel()
	b := setup(t, "oA", "oB", "oC")
	var got []alert.Alert
	task := &housekeeping.ReviewAlert{Store: b.store, MchID: "1900000109", Notify: func(a alert.Alert) { got = append(got, a) }}
	counts, err := task.Run(context.Background())
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"in_review": 0}, counts)
	require.Empty(t, got, "nothing waits: no alert")

	b.exec(t, `UPDATE recipients SET status = 'review', outcome = 'unknown', doubt_since = now() WHERE openid <> 'oC'`)
	counts, err = task.Run(context.Background())
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"in_review": 2}, counts)
	require.Len(t, got, 1)
	require.Equal(t, alert.KindReview, got[0].Kind)
	require.Contains(t, got[0].Message, "2 recipients need review")
}

type failing struct{}

func (failing) Name() string { return "failing" }
func (failing) Run(context.Context) (map[string]int64, error) {
	return map[string]int64{"tried": 1}, errors.New("database gone")
}

// A task that fails keeps none of the others from running.
func TestJobRunsEveryTask(t *testing.T) {
	t.Parallel()
	b := setup(t, "oA")
	b.exec(t, `UPDATE batches SET status = 'cancelled' WHERE id = $1`, b.batch)
	job := &housekeeping.Job{Tasks: []housekeeping.Task{failing{}, &housekeeping.Seal{Store: b.store}}}
	counts, err := job.Run(context.Background(), time.Now())
	require.ErrorContains(t, err, "failing: database gone")
	require.Equal(t, map[string]int64{"tried": 1, "sealed_cancelled": 1, "sealed_in_doubt": 0}, counts)
	require.Equal(t, "cancelled", b.status(t, "oA"))
}
