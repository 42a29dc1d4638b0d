package jobs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/intake"
	"github.com/issuer-dev/issuer/internal/dbtest"
	"github.com/issuer-dev/issuer/queue"
	"github.com/issuer-dev/issuer/wxpay"
)

// rowState is what the state machine of ARCHITECTURE.md ("A recipient
// row") says about one row: its status, the doubt flag, and whether it
// holds its face value reserved against the batch's spend cap.
type rowState struct {
	Status   string
	InDoubt  bool
	Reserved bool
}

func (s rowState) String() string {
	return fmt.Sprintf("%s doubt=%t reserved=%t", s.Status, s.InDoubt, s.Reserved)
}

// stateMachine is one schema with a capped batch per case: each case's
// row is brought to its starting state through the real claim and record,
// then given one more answer or act.
type stateMachine struct {
	db    *sqlx.DB
	store *queue.Store
	n     int
}

const (
	smValue   = 500 // fen per coupon
	smOwner   = "sm"
	smOpenID  = "oStateMachine"
	smAttempt = 3 // MaxAttempts of the policy below
)

var smPolicy = Policy{MaxAttempts: smAttempt, MaxUnclassified: smAttempt, BackoffBase: time.Millisecond, BackoffCap: time.Millisecond}.withDefaults()

// newRow imports a one-row batch capped at ten coupons and returns it.
func (m *stateMachine) newRow(t *testing.T) (batch int64, row int64) {
	t.Helper()
	m.n++
	rep, err := intake.Import(context.Background(), m.db, strings.NewReader("openid\n"+smOpenID+"\n"), intake.Options{
		StockID: fmt.Sprint("S", m.n), Kind: "favor", MchID: "1900000109", AppID: "wx1", Source: "sm.csv",
		Guards: intake.Guards{FaceValueFen: smValue, MaxAmountFen: 10 * smValue},
	})
	require.NoError(t, err)
	require.NoError(t, m.db.Get(&row, `SELECT id FROM recipients WHERE batch_id = $1`, rep.BatchID))
	return rep.BatchID, row
}

// claim leases the batch's row, due or not.
func (m *stateMachine) claim(t *testing.T, batch int64) queue.Claimed {
	t.Helper()
	_, err := m.db.Exec(`UPDATE recipients SET next_attempt_at = now() - interval '1 second' WHERE batch_id = $1`, batch)
	require.NoError(t, err)
	rows, err := m.store.Claim(context.Background(), queue.ClaimOptions{Owner: smOwner, Limit: 1, Lease: time.Minute, Batch: batch})
	require.NoError(t, err)
	require.Len(t, rows, 1, "the row is claimable")
	return rows[0]
}

// answer sends the claimed row's answer through decide and Record, as the
// executor and the completer do.
func (m *stateMachine) answer(t *testing.T, row queue.Claimed, o wxpay.Outcome) {
	t.Helper()
	var res wxpay.SendResult
	var err error
	switch {
	case o.Success() && o == wxpay.OutcomeIssued:
		res.CouponID = fmt.Sprint("C", row.ID)
	case o.InDoubt():
		err = errors.New("read: connection reset by peer")
	default:
		err = &wxpay.APIError{Status: 400, Code: "CODE_" + strings.ToUpper(string(o)), Message: string(o)}
	}
	r, _ := decide(smPolicy, row, res, err, o, time.Now(), rand.New(rand.NewPCG(1, 2)))
	_, stale, rerr := m.store.Record(context.Background(), smOwner, []queue.Result{r})
	require.NoError(t, rerr)
	require.Zero(t, stale)
}

func (m *stateMachine) state(t *testing.T, row int64) rowState {
	t.Helper()
	var s struct {
		Status   string `db:"status"`
		InDoubt  bool   `db:"in_doubt"`
		Reserved int64  `db:"reserved_fen"`
		Batch    int64  `db:"batch_reserved"`
	}
	require.NoError(t, m.db.Get(&s, `SELECT r.status, r.in_doubt, r.reserved_fen, b.reserved_fen AS batch_reserved
		FROM recipients r JOIN batches b ON b.id = r.batch_id WHERE r.id = $1`, row))
	require.Equal(t, s.Reserved, s.Batch, "the batch's reservation is its row's")
	return rowState{Status: s.Status, InDoubt: s.InDoubt, Reserved: s.Reserved > 0}
}

// TestRowStateMachine walks every (state, answer) pair of the recipient
// state machine in ARCHITECTURE.md against the real claim and record: a
// row never sent, and a row that an earlier answer left in doubt, each
// given every outcome WeChat Pay's answers classify to, an unsent release,
// a lease that expires, a cancel and both verdicts of a settlement.
func TestRowStateMachine(t *testing.T) {
	t.Parallel()
	m := &stateMachine{db: dbtest.New(t).DB}
	m.store = queue.NewStore(m.db)
	ctx := context.Background()

	var (
		pendingFree   = rowState{Status: queue.StatusPending}
		pendingDoubt  = rowState{Status: queue.StatusPending, InDoubt: true, Reserved: true}
		issued        = rowState{Status: queue.StatusIssued, Reserved: true}
		failed        = rowState{Status: queue.StatusFailed}
		reviewDoubt   = rowState{Status: queue.StatusReview, InDoubt: true, Reserved: true}
		cancelledFree = rowState{Status: queue.StatusCancelled}
	)
	// What each answer does to a row never answered in doubt (fresh) and
	// to one in doubt. The second column is the whole point: nothing but
	// an answer naming the coupon (or a query) takes a row out of doubt.
	answers := map[wxpay.Outcome][2]rowState{
		wxpay.OutcomeIssued:           {issued, issued},
		wxpay.OutcomeAlreadyIssued:    {issued, issued},
		wxpay.OutcomeThrottled:        {pendingFree, pendingDoubt},
		wxpay.OutcomeUnknown:          {pendingDoubt, pendingDoubt},
		wxpay.OutcomeUnclassified:     {pendingDoubt, pendingDoubt},
		wxpay.OutcomeBudgetExhausted:  {pendingFree, pendingDoubt},
		wxpay.OutcomeStockUnavailable: {pendingFree, pendingDoubt},
		wxpay.OutcomeConfigError:      {pendingFree, pendingDoubt},
		wxpay.OutcomeUserDailyLimit:   {pendingFree, pendingDoubt},
		wxpay.OutcomeUserLimited:      {failed, reviewDoubt},
		wxpay.OutcomeUserAbnormal:     {failed, reviewDoubt},
		wxpay.OutcomeInvalidUser:      {failed, reviewDoubt},
		wxpay.OutcomeInvalidRequest:   {failed, reviewDoubt},
	}
	for _, o := range wxpay.Outcomes() {
		_, ok := answers[o]
		require.True(t, ok, "outcome %s is missing from the state machine's table", o)
	}

	// start brings a fresh row to its starting state: never answered, or
	// in doubt after a reset.
	start := func(t *testing.T, doubt bool) (batch, row int64) {
		batch, row = m.newRow(t)
		if doubt {
			m.answer(t, m.claim(t, batch), wxpay.OutcomeUnknown)
			require.Equal(t, pendingDoubt, m.state(t, row))
		}
		return batch, row
	}
	for _, doubt := range []bool{false, true} {
		from := map[bool]string{false: "Fresh", true: "InDoubt"}[doubt]
		for o, want := range answers {
			t.Run(from+"/"+string(o), func(t *testing.T) {
				batch, row := start(t, doubt)
				m.answer(t, m.claim(t, batch), o)
				got := m.state(t, row)
				require.Equal(t, want[map[bool]int{false: 0, true: 1}[doubt]], got)
				if got.Status == queue.StatusReview {
					var note string
					require.NoError(t, m.db.Get(&note, `SELECT note FROM recipients WHERE id = $1`, row))
					require.Contains(t, note, "settled by query")
				}
			})
		}
		t.Run(from+"/ReleasedUnsent", func(t *testing.T) {
			batch, row := start(t, doubt)
			_, _, err := m.store.Record(ctx, smOwner, []queue.Result{release(m.claim(t, batch))})
			require.NoError(t, err)
			require.Equal(t, map[bool]rowState{false: pendingFree, true: pendingDoubt}[doubt], m.state(t, row))
		})
		t.Run(from+"/LeaseExpired", func(t *testing.T) {
			batch, row := start(t, doubt)
			m.claim(t, batch)
			_, err := m.db.Exec(`UPDATE recipients SET lease_expires_at = now() - interval '1 second' WHERE id = $1`, row)
			require.NoError(t, err)
			_, _, err = m.store.RescueExpired(ctx, 100)
			require.NoError(t, err)
			require.Equal(t, pendingDoubt, m.state(t, row), "the expired send may have reached WeChat Pay")
		})
		t.Run(from+"/Cancelled", func(t *testing.T) {
			batch, row := start(t, doubt)
			_, err := m.store.Cancel(ctx, batch)
			require.NoError(t, err)
			require.Equal(t, map[bool]rowState{false: cancelledFree, true: reviewDoubt}[doubt], m.state(t, row))
		})
		t.Run(from+"/ThrottledThenCancelled", func(t *testing.T) {
			// The case: issued then 500, throttled on the retry, then
			// cancelled. The row must go to review, never to cancelled.
			batch, row := start(t, doubt)
			m.answer(t, m.claim(t, batch), wxpay.OutcomeThrottled)
			_, err := m.store.Cancel(ctx, batch)
			require.NoError(t, err)
			require.Equal(t, map[bool]rowState{false: cancelledFree, true: reviewDoubt}[doubt], m.state(t, row))
		})
		t.Run(from+"/HaltedThenCancelled", func(t *testing.T) {
			batch, row := start(t, doubt)
			m.answer(t, m.claim(t, batch), wxpay.OutcomeBudgetExhausted)
			_, err := m.store.Halt(ctx, batch, "budget_exhausted")
			require.NoError(t, err)
			_, err = m.store.Cancel(ctx, batch)
			require.NoError(t, err)
			require.Equal(t, map[bool]rowState{false: cancelledFree, true: reviewDoubt}[doubt], m.state(t, row))
		})
	}
	// A settlement is the other way out of doubt.
	settle := func(t *testing.T, candidates []string) (batch, row int64) {
		batch, row = start(t, true)
		m.answer(t, m.claim(t, batch), wxpay.OutcomeUserLimited)
		require.Equal(t, reviewDoubt, m.state(t, row))
		rows, err := m.store.Review(ctx, queue.ReviewFilter{Batch: batch})
		require.NoError(t, err)
		require.Len(t, rows, 1)
		_, _, ok, err := m.store.Settle(ctx, queue.Settlement{Row: rows[0], Candidates: candidates})
		require.NoError(t, err)
		require.True(t, ok)
		return batch, row
	}
	t.Run("InDoubt/SettledIssued", func(t *testing.T) {
		_, row := settle(t, []string{"Cq1"})
		require.Equal(t, issued, m.state(t, row))
	})
	t.Run("InDoubt/SettledNotIssued", func(t *testing.T) {
		batch, row := settle(t, nil)
		require.Equal(t, pendingFree, m.state(t, row), "sent again with the same out_request_no")
		m.answer(t, m.claim(t, batch), wxpay.OutcomeUserLimited)
		require.Equal(t, failed, m.state(t, row), "a refusal after a settled doubt is final")
	})
	t.Run("InDoubt/MaxAttemptsToReview", func(t *testing.T) {
		batch, row := start(t, true)
		for range smAttempt - 1 {
			m.answer(t, m.claim(t, batch), wxpay.OutcomeUnknown)
		}
		require.Equal(t, reviewDoubt, m.state(t, row))
	})
	drift, err := m.store.CountDrift(ctx)
	require.NoError(t, err)
	require.Empty(t, drift, "the counters equal a count of the rows")
}
