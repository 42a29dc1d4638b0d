package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/jobs"
	"github.com/issuer-dev/issuer/queue"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

func (b *testBundle) settle() *jobs.Settle {
	return &jobs.Settle{Store: b.store, Lister: b.client, Grace: 300 * time.Millisecond, MaxAttempts: 20}
}

// rowsByOutRequestNo reads the batch's rows keyed by out_request_no.
func (b *testBundle) rowsByOutRequestNo(t *testing.T, batch int64) map[string]struct {
	Status, CouponID, Note string
} {
	t.Helper()
	var rows []struct {
		OutRequestNo string `db:"out_request_no"`
		Status       string `db:"status"`
		CouponID     string `db:"coupon_id"`
		Note         string `db:"note"`
	}
	require.NoError(t, b.db.Select(&rows, `SELECT out_request_no, status, coalesce(coupon_id, '') AS coupon_id, coalesce(note, '') AS note
		FROM recipients WHERE batch_id = $1`, batch))
	out := map[string]struct{ Status, CouponID, Note string }{}
	for _, r := range rows {
		out[r.OutRequestNo] = struct{ Status, CouponID, Note string }{r.Status, r.CouponID, r.Note}
	}
	return out
}

// A batch cancelled mid-run while WeChat Pay answers 10% of sends "issued,
// then 500": every coupon WeChat Pay issued ends up on its row — issued
// with its coupon id, or in review with a note until `review resolve` —
// and none is left pending, cancelled or failed.
func TestCancelSettlesEveryIssuedCoupon(t *testing.T) {
	t.Parallel()
	b := setup(t, wxsim.Options{
		Stocks: []wxsim.StockSpec{{ID: "S1", Kind: wxsim.KindFavor, Budget: 100000}},
		Faults: wxsim.Faults{After500: 0.10, Latency: wxsim.Duration(2 * time.Millisecond)},
		Seed:   7,
	})
	ctx := context.Background()
	batch := b.importList(t, "S1", "favor", openids("o", 4000))

	j := b.job(16)
	j.Policy.BackoffBase, j.Policy.BackoffCap = 200*time.Millisecond, time.Second // rows in doubt wait a little
	passDone := make(chan error, 1)
	go func() {
		_, err := j.Run(ctx, jobs.IssueOptions{Batch: batch})
		passDone <- err
	}()
	// Cancel once a good part of the list has gone out.
	for len(b.sim.Ledger("S1")) < 800 {
		time.Sleep(10 * time.Millisecond)
	}
	res, err := b.settle().Cancel(ctx, batch)
	require.NoError(t, err)
	ledger := b.sim.Ledger("S1")
	require.Less(t, len(ledger), 4000, "cancelled mid-run")
	require.NoError(t, <-passDone)
	require.Len(t, b.sim.Ledger("S1"), len(ledger), "nothing is issued after the cancel completes")
	require.Positive(t, res.Sealed.Cancelled)
	require.Positive(t, res.Sealed.InDoubt, "some rows were in doubt when the batch was cancelled")
	require.Positive(t, res.Settled.Issued, "issued-then-500 rows are confirmed by query")

	rows := b.rowsByOutRequestNo(t, batch)
	for _, c := range ledger {
		r := rows[c.OutRequestNo]
		switch r.Status {
		case queue.StatusIssued:
			require.Equal(t, c.CouponID, r.CouponID, c.OutRequestNo)
		case queue.StatusReview:
			require.NotEmpty(t, r.Note, "a row in review says why: %s", c.OutRequestNo)
		default:
			t.Fatalf("coupon %s was issued but its row %s is %s", c.CouponID, c.OutRequestNo, r.Status)
		}
	}
	bt, err := b.store.Batch(ctx, batch)
	require.NoError(t, err)
	require.Equal(t, queue.BatchCancelled, bt.Status)
	require.Zero(t, bt.Counts[queue.StatusPending])
	require.Zero(t, bt.Counts[queue.StatusInFlight])
	require.Equal(t, 4000, bt.Counts[queue.StatusIssued]+bt.Counts[queue.StatusCancelled]+bt.Counts[queue.StatusReview]+bt.Counts[queue.StatusFailed])

	// review resolve settles whatever the cancel left in review.
	sum, err := b.settle().Run(ctx, 0)
	require.NoError(t, err)
	require.Zero(t, sum.StillInDoubt)
	bt, err = b.store.Batch(ctx, batch)
	require.NoError(t, err)
	require.Zero(t, bt.Counts[queue.StatusReview])
	require.Zero(t, bt.InDoubt)
	require.Equal(t, len(ledger), bt.Counts[queue.StatusIssued], "issued rows are exactly the ledger")
	b.sim.CheckExactlyOnce(t, b.db, "S1")
}

func TestSettleEdgeCases(t *testing.T) {
	t.Parallel()
	b := setup(t, wxsim.Options{Stocks: []wxsim.StockSpec{
		{ID: "S1", Kind: wxsim.KindFavor, Budget: 100000, PerUser: 5},
		{ID: "P1", Kind: wxsim.KindProduct, Budget: 100000},
	}})
	ctx := context.Background()
	now := time.Now()
	grant := func(openid string, at time.Time) string {
		id, err := b.sim.Server.GrantCoupon("S1", openid, at)
		require.NoError(t, err)
		return id
	}
	// Batch 1 issued oOwned a coupon; batch 2's row for the same user is
	// in doubt, and that coupon is its only candidate.
	owner := b.importList(t, "S1", "favor", []string{"oOwned"})
	owned := grant("oOwned", now.Add(-90*time.Second))
	_, err := b.db.Exec(`UPDATE recipients SET status = 'issued', outcome = 'issued', coupon_id = $2 WHERE batch_id = $1`, owner, owned)
	require.NoError(t, err)

	batch := b.importList(t, "S1", "favor", []string{"oNone", "oOne", "oTwo", "oOwned", "oOld"})
	product := b.importList(t, "P1", "product", []string{"oProduct"})
	// Every row of both batches was sent between 2 and 1 minutes ago and
	// the answers said nothing: in review.
	_, err = b.db.Exec(`UPDATE recipients SET status = 'review', outcome = 'unknown', doubt_since = now(), attempts = 20,
		first_attempt_at = now() - interval '2 minutes', last_attempt_at = now() - interval '1 minute'
		WHERE batch_id IN ($1, $2)`, batch, product)
	require.NoError(t, err)
	one := grant("oOne", now.Add(-80*time.Second))
	grant("oTwo", now.Add(-100*time.Second))
	grant("oTwo", now.Add(-70*time.Second))
	grant("oOld", now.Add(-48*time.Hour)) // long before this row was sent

	sum, err := b.settle().Run(ctx, 0)
	require.NoError(t, err)
	require.Equal(t, jobs.SettleSummary{Checked: 6, Issued: 1, NotIssued: 3, StillInDoubt: 2}, sum)

	rows := map[string]struct{ Status, CouponID, Note string }{}
	for _, id := range []int64{batch, product} {
		var rs []struct {
			OpenID   string `db:"openid"`
			Status   string `db:"status"`
			CouponID string `db:"coupon_id"`
			Note     string `db:"note"`
		}
		require.NoError(t, b.db.Select(&rs, `SELECT openid, status, coalesce(coupon_id, '') AS coupon_id, coalesce(note, '') AS note
			FROM recipients WHERE batch_id = $1`, id))
		for _, r := range rs {
			rows[r.OpenID] = struct{ Status, CouponID, Note string }{r.Status, r.CouponID, r.Note}
		}
	}
	require.Equal(t, queue.StatusPending, rows["oNone"].Status, "holds none: not issued, sent again")
	require.Equal(t, queue.StatusIssued, rows["oOne"].Status, "holds exactly one")
	require.Equal(t, one, rows["oOne"].CouponID)
	require.Equal(t, queue.StatusReview, rows["oTwo"].Status, "two candidates: a person decides")
	require.Contains(t, rows["oTwo"].Note, "2 coupons")
	require.Equal(t, queue.StatusPending, rows["oOwned"].Status, "the only coupon belongs to another row")
	require.Contains(t, rows["oOwned"].Note, owned)
	require.Equal(t, queue.StatusPending, rows["oOld"].Status, "a coupon created long before the row was sent is not its")
	require.Equal(t, queue.StatusReview, rows["oProduct"].Status, "商品券 have no query")
	require.Contains(t, rows["oProduct"].Note, "商品券")

	// Rows sent within the grace period are not asked about yet.
	_, err = b.db.Exec(`UPDATE recipients SET last_attempt_at = now() WHERE batch_id = $1 AND openid = 'oTwo'`, batch)
	require.NoError(t, err)
	sum, err = b.settle().Run(ctx, batch)
	require.NoError(t, err)
	require.Equal(t, jobs.SettleSummary{Waiting: 1}, sum)
}
