package campaign

import (
	"database/sql"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/issuer-dev/issuer/internal/money"
	"github.com/issuer-dev/issuer/queue"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

// Invariants, as the campaign's table names them. Check documents each.
var Invariants = []string{
	"ledger-unique", "ledger-row", "issued-has-coupon", "coupon-once", "spend-cap", "reservations",
	"claimed-open", "claims-open", "cancelled-sealed", "at-rest", "counters", "settled", "views-agree",
	"errors", "instances", "quiescence",
}

// claimSlack is how long after a batch's state was stamped a claim may
// still have seen the state before it: the stamp is taken by a deferred
// trigger just before the transaction commits.
const claimSlack = 100 * time.Millisecond

// checker counts checks and keeps the failed ones.
type checker struct {
	checked    int
	violations []Violation
}

// check counts one check of invariant; when ok is false the message,
// formatted, is a violation.
func (c *checker) check(invariant string, ok bool, format string, args ...any) {
	c.checked++
	if !ok {
		c.violations = append(c.violations, Violation{Invariant: invariant, Detail: fmt.Sprintf(format, args...)})
	}
}

type rowState struct {
	ID           int64          `db:"id"`
	BatchID      int64          `db:"batch_id"`
	OpenID       string         `db:"openid"`
	OutRequestNo string         `db:"out_request_no"`
	Status       string         `db:"status"`
	Outcome      sql.NullString `db:"outcome"`
	CouponID     sql.NullString `db:"coupon_id"`
	CouponCode   sql.NullString `db:"coupon_code"`
	ReservedFen  int64          `db:"reserved_fen"`
	Kind         string         `db:"kind"`
	StockID      string         `db:"stock_id"`
}

// holds says whether the row records coupon cp: a 代金券 by its coupon id,
// a 商品券 by its code, or (a 商品券 replay, RESOURCE_ALREADY_EXISTS, which
// confirms the coupon without repeating its code) by outcome
// already_issued and no code.
func (r *rowState) holds(cp wxsim.Coupon) bool {
	if r.Kind == string(wxsim.KindProduct) {
		return r.CouponCode.String == cp.CouponCode || (!r.CouponCode.Valid && r.Outcome.String == "already_issued")
	}
	return r.CouponID.String == cp.CouponID
}

// coupon is the coupon the row records: its id, or a 商品券's code.
func (r *rowState) coupon() string {
	if r.Kind == string(wxsim.KindProduct) {
		return r.CouponCode.String
	}
	return r.CouponID.String
}

type batchState struct {
	ID           int64         `db:"id"`
	Name         string        `db:"name"`
	Status       string        `db:"status"`
	Kind         string        `db:"kind"`
	MaxAmountFen sql.NullInt64 `db:"max_amount_fen"`
	ReservedFen  int64         `db:"reserved_fen"`
}

// checkStore checks the database against the simulator's ledger, once
// everything is at rest and the instances have stopped:
//
//   - ledger-unique: the ledger has at most one coupon per out_request_no,
//     and per stock at most one per openid (the campaign's openids are
//     distinct).
//   - ledger-row: each coupon is on exactly one row, of the same openid,
//     which is issued with that coupon id or in review (flagged for a
//     person): money that went out is never on a row marked pending,
//     failed or cancelled.
//   - issued-has-coupon: no row is issued without its coupon in the ledger.
//   - coupon-once: no coupon id is on two rows.
//   - spend-cap: per batch with a cap, the face value of its coupons in
//     the ledger is at most the cap.
//   - reservations: a batch's reserved face value is the sum of its rows'
//     reservations, within its cap; a row issued or in doubt holds its
//     face value (without a cap: or nothing) and no other row anything.
//   - claimed-open: each coupon's send was claimed while its batch could be
//     claimed (pending or running, started, inside its window): the send
//     that created a coupon after a cancel, a halt or a pause was in flight
//     when that was recorded. Precisely: the latest claim of the coupon's
//     out_request_no that began at or before the coupon's create time found
//     its batch open in a state in force while it ran — from claimSlack
//     before the claiming statement began to the moment it leased the row
//     (a statement reads the batch at some moment in between).
//   - claims-open: the same for every claim, whether or not it issued.
//   - cancelled-sealed: nothing pending or in flight in a cancelled batch.
//   - at-rest: nothing in flight; nothing pending in a completed batch.
//   - counters: the counters equal a count of the rows (CountDrift), and
//     batch_outcome_counts, by batch, status, outcome and doubt, the rows'
//     number, face value and rows of unknown value.
//   - settled: no 代金券 row is left in review: each user holds at most
//     one coupon of a stock, so a query always decides.
func (r *run) checkStore(c *checker) {
	ctx := r.ctx
	var rows []rowState
	if err := r.db.SelectContext(ctx, &rows, `SELECT r.id, r.batch_id, r.openid, r.out_request_no, r.status, r.outcome, r.coupon_id,
			r.coupon_code, r.reserved_fen, b.kind, b.stock_id
		FROM recipients r JOIN batches b ON b.id = r.batch_id ORDER BY r.id`); err != nil {
		r.fatal("read rows: %v", err)
	}
	var batches []batchState
	if err := r.db.SelectContext(ctx, &batches, `SELECT id, name, status, kind, max_amount_fen, reserved_fen FROM batches ORDER BY id`); err != nil {
		r.fatal("read batches: %v", err)
	}
	ledger := r.sim.Server.Ledger("")
	seenNo, spent := checkLedger(c, ledger, rows)
	checkIssuedRows(c, rows, seenNo)
	checkSpend(c, batches, rows, spent)
	r.checkReservations(c)
	r.checkClaims(c, ledger)
	checkAtRest(c, batches, rows)
	r.checkCounters(c)
}

// checkLedger checks each coupon of the simulator's ledger against the
// row of its out_request_no: one coupon per out_request_no and per user
// of a stock, on a row of that user that is issued with it (or in review).
// It returns the ledger's coupons by out_request_no and the face value
// issued per batch.
func checkLedger(c *checker, ledger []wxsim.Coupon, rows []rowState) (map[string]wxsim.Coupon, map[int64]int64) {
	byNo := map[string]*rowState{}
	for i := range rows {
		byNo[rows[i].OutRequestNo] = &rows[i]
	}
	seenNo := map[string]wxsim.Coupon{}
	perUser := map[string]string{}
	spent := map[int64]int64{}
	for _, cp := range ledger {
		prev, twice := seenNo[cp.OutRequestNo]
		c.check("ledger-unique", !twice, "out_request_no %s has coupons %s and %s", cp.OutRequestNo, prev.CouponID, cp.CouponID)
		seenNo[cp.OutRequestNo] = cp
		user := cp.StockID + "/" + cp.OpenID
		other, two := perUser[user]
		c.check("ledger-unique", !two, "openid %s holds coupons %s and %s of stock %s", cp.OpenID, other, cp.CouponID, cp.StockID)
		perUser[user] = cp.CouponID

		row := byNo[cp.OutRequestNo]
		switch {
		case row == nil:
			c.check("ledger-row", false, "coupon %s (out_request_no %s) is on no row", cp.CouponID, cp.OutRequestNo)
		case row.OpenID != cp.OpenID:
			c.check("ledger-row", false, "coupon %s went to %s, its row is %s's", cp.CouponID, cp.OpenID, row.OpenID)
		case row.Status == queue.StatusReview:
			c.check("ledger-row", true, "")
		default:
			c.check("ledger-row", row.Status == queue.StatusIssued && row.holds(cp),
				"coupon %s (%s yuan, out_request_no %s) was issued but its row in batch %d is %s (outcome %s, coupon %q)",
				cp.CouponID, money.Yuan(cp.CouponAmount), cp.OutRequestNo, row.BatchID, row.Status, row.Outcome.String, row.coupon())
		}
		if row != nil {
			spent[row.BatchID] += cp.CouponAmount
		}
	}
	return seenNo, spent
}

// checkIssuedRows checks that every issued row holds the ledger's coupon
// of its out_request_no, and that no coupon is on two rows.
func checkIssuedRows(c *checker, rows []rowState, seenNo map[string]wxsim.Coupon) {
	owner := map[string]int64{}
	for _, row := range rows {
		if row.Status == queue.StatusIssued {
			cp, ok := seenNo[row.OutRequestNo]
			c.check("issued-has-coupon", ok && row.holds(cp),
				"row %d (batch %d, out_request_no %s) is issued with coupon %q; the ledger has %q", row.ID, row.BatchID,
				row.OutRequestNo, row.coupon(), cp.CouponID)
		}
		if id := row.coupon(); id != "" {
			prev, dup := owner[row.StockID+"/"+id]
			c.check("coupon-once", !dup, "coupon %s of stock %s is on rows %d and %d", id, row.StockID, prev, row.ID)
			owner[row.StockID+"/"+id] = row.ID
		}
	}
}

// checkSpend checks each batch's issued face value against its cap, and
// its reservation against its rows'.
func checkSpend(c *checker, batches []batchState, rows []rowState, spent map[int64]int64) {
	rowReserved := map[int64]int64{}
	for _, row := range rows {
		rowReserved[row.BatchID] += row.ReservedFen
	}
	for _, b := range batches {
		if b.MaxAmountFen.Valid {
			c.check("spend-cap", spent[b.ID] <= b.MaxAmountFen.Int64, "batch %d (%s) issued %s yuan in the ledger, over its cap of %s yuan",
				b.ID, b.Name, money.Yuan(spent[b.ID]), money.Yuan(b.MaxAmountFen.Int64))
		}
		c.check("reservations", b.ReservedFen == rowReserved[b.ID] && (!b.MaxAmountFen.Valid || b.ReservedFen <= b.MaxAmountFen.Int64),
			"batch %d (%s) reserves %s yuan, its rows %s yuan (cap %v)", b.ID, b.Name, money.Yuan(b.ReservedFen), money.Yuan(rowReserved[b.ID]), b.MaxAmountFen)
	}
}

// checkReservations checks the reservation of each row.
func (r *run) checkReservations(c *checker) {
	// Row by row: under a cap, a row issued or in doubt holds its face
	// value reserved and every other row holds nothing; without a cap a
	// row holds nothing, or its face value if issued or in doubt (the cap
	// may have been lifted: `batch guards --max-amount-yuan none` leaves
	// what was reserved as it was).
	var held []struct {
		ID       int64         `db:"id"`
		BatchID  int64         `db:"batch_id"`
		Status   string        `db:"status"`
		InDoubt  bool          `db:"in_doubt"`
		Reserved int64         `db:"reserved_fen"`
		Value    sql.NullInt64 `db:"value"`
		Capped   bool          `db:"capped"`
	}
	if err := r.db.SelectContext(r.ctx, &held, `SELECT r.id, r.batch_id, r.status, r.in_doubt, r.reserved_fen,
			coalesce(r.coupon_value, b.face_value_fen) AS value, b.max_amount_fen IS NOT NULL AS capped
		FROM recipients r JOIN batches b ON b.id = r.batch_id ORDER BY r.id`); err != nil {
		r.fatal("read reservations: %v", err)
	}
	wrong := 0
	for _, h := range held {
		want := int64(0)
		if h.Status == queue.StatusIssued || h.InDoubt {
			want = h.Value.Int64
			if !h.Capped && h.Reserved == 0 {
				want = 0
			}
		}
		if h.Reserved != want {
			wrong++
			if wrong <= 5 {
				c.check("reservations", false, "row %d of batch %d (%s, in doubt %v) reserves %s yuan, want %s", h.ID, h.BatchID,
					h.Status, h.InDoubt, money.Yuan(h.Reserved), money.Yuan(want))
				continue
			}
		}
		c.checked++
	}
	if wrong > 5 {
		c.check("reservations", false, "and %d more rows whose reservation is wrong", wrong-5)
	}

}

// checkAtRest checks the rows of each batch at rest: none in flight, a
// cancelled batch sealed, a completed one with nothing pending, and
// nothing left in review after settlement.
func checkAtRest(c *checker, batches []batchState, rows []rowState) {
	counts := map[int64]map[string]int{}
	for _, row := range rows {
		if counts[row.BatchID] == nil {
			counts[row.BatchID] = map[string]int{}
		}
		counts[row.BatchID][row.Status]++
	}
	for _, b := range batches {
		n := counts[b.ID]
		if b.Status == queue.BatchCancelled {
			c.check("cancelled-sealed", n[queue.StatusPending]+n[queue.StatusInFlight] == 0,
				"cancelled batch %d (%s) has %d rows pending and %d in flight", b.ID, b.Name, n[queue.StatusPending], n[queue.StatusInFlight])
		}
		c.check("at-rest", n[queue.StatusInFlight] == 0, "batch %d (%s) has %d rows in flight at rest", b.ID, b.Name, n[queue.StatusInFlight])
		if b.Status == queue.BatchCompleted {
			c.check("at-rest", n[queue.StatusPending] == 0, "completed batch %d (%s) has %d rows pending", b.ID, b.Name, n[queue.StatusPending])
		}
		if b.Kind == string(wxsim.KindFavor) {
			c.check("settled", n[queue.StatusReview] == 0, "batch %d (%s) has %d rows left in review after review resolve",
				b.ID, b.Name, n[queue.StatusReview])
		}
	}
}

// checkCounters checks the counters the triggers keep against a count of
// the rows.
func (r *run) checkCounters(c *checker) {
	ctx := r.ctx
	drift, err := queue.NewStore(r.db).CountDrift(ctx)
	if err != nil {
		r.fatal("count drift: %v", err)
	}
	c.check("counters", len(drift) == 0, "the counters drifted from the rows: %s", strings.Join(drift, "; "))
	// Beyond CountDrift: every counter of batch_outcome_counts (rows, face
	// value, rows of unknown value) by batch, status, outcome and doubt.
	var outcomeDrift []string
	if err := r.db.SelectContext(ctx, &outcomeDrift, `
		SELECT format('%s/%s/%s/doubt=%s: counted %s rows %s fen %s unvalued, the rows %s %s %s',
			coalesce(c.batch_id, x.batch_id), coalesce(c.status, x.status), coalesce(c.outcome, x.outcome), coalesce(c.doubt, x.doubt),
			coalesce(c.n, 0), coalesce(c.fen, 0), coalesce(c.unvalued, 0), coalesce(x.n, 0), coalesce(x.fen, 0), coalesce(x.unvalued, 0))
		FROM batch_outcome_counts c
		FULL JOIN (SELECT batch_id, status, coalesce(outcome, '') AS outcome, in_doubt AS doubt, count(*) AS n,
				coalesce(sum(coupon_value), 0) AS fen, count(*) FILTER (WHERE coupon_value IS NULL) AS unvalued
			FROM recipients GROUP BY 1, 2, 3, 4) x
			ON x.batch_id = c.batch_id AND x.status = c.status AND x.outcome = c.outcome AND x.doubt = c.doubt
		WHERE coalesce(c.n, 0) <> coalesce(x.n, 0) OR coalesce(c.fen, 0) <> coalesce(x.fen, 0)
			OR coalesce(c.unvalued, 0) <> coalesce(x.unvalued, 0)
		ORDER BY 1`); err != nil {
		r.fatal("check outcome counters: %v", err)
	}
	c.check("counters", len(outcomeDrift) == 0, "batch_outcome_counts drifted from the rows: %s", strings.Join(outcomeDrift, "; "))
}

// checkClaims checks claimed-open and claims-open against the claim log
// and the batches' committed states.
func (r *run) checkClaims(c *checker, ledger []wxsim.Coupon) {
	nos := make([]string, 0, len(ledger))
	ats := make([]time.Time, 0, len(ledger))
	for _, cp := range ledger {
		nos = append(nos, cp.OutRequestNo)
		ats = append(ats, cp.IssuedAt)
	}
	// openAt is whether batch %[1]s could be claimed by a statement that
	// began at %[2]s (its now(), which start times and windows are judged
	// at) and leased the row at %[3]s: the statement read the batch at some
	// moment between, so the batch was open in a state in force then — the
	// one in force claimSlack before the start, or one committed since,
	// up to the lease.
	openAt := `(SELECT bool_or(batch_open(s.status, s.start_at, s.window_start, s.window_end, s.window_tz, %[2]s))
		FROM campaign_batch_states s
		WHERE s.batch_id = %[1]s AND s.at <= %[3]s
		  AND s.at >= coalesce((SELECT max(s2.at) FROM campaign_batch_states s2
				WHERE s2.batch_id = %[1]s AND s2.at <= %[2]s - interval '%[4]d microseconds'), '-infinity'))`
	var coupons []struct {
		No      string       `db:"no"`
		Created time.Time    `db:"created"`
		Batch   int64        `db:"batch_id"`
		Claimed sql.NullTime `db:"claimed"`
		Open    sql.NullBool `db:"open"`
	}
	err := r.db.SelectContext(r.ctx, &coupons, `
		WITH l AS (SELECT * FROM unnest($1::text[], $2::timestamptz[]) AS l(no, created)),
		c AS (
			SELECT l.no, l.created, r.batch_id, cl.at AS claimed, cl.done
			FROM l JOIN recipients r ON r.out_request_no = l.no
			LEFT JOIN LATERAL (SELECT cl.at, cl.done FROM campaign_claims cl
				WHERE cl.recipient_id = r.id AND cl.at <= l.created ORDER BY cl.at DESC LIMIT 1) cl ON true
		)
		SELECT c.no, c.created, c.batch_id, c.claimed, `+fmt.Sprintf(openAt, "c.batch_id", "c.claimed", "c.done", claimSlack.Microseconds())+` AS open FROM c`,
		pq.Array(nos), pq.Array(ats))
	if err != nil {
		r.fatal("check claims of coupons: %v", err)
	}
	for _, cp := range coupons {
		c.check("claimed-open", cp.Claimed.Valid && cp.Open.Valid && cp.Open.Bool,
			"the coupon of out_request_no %s (batch %d) was created at %s by a send claimed at %s, when its batch was %s",
			cp.No, cp.Batch, cp.Created.UTC().Format(stamp), fmtTime(cp.Claimed), r.stateAt(cp.Batch, cp.Claimed))
	}
	var claims []struct {
		No    string       `db:"out_request_no"`
		Batch int64        `db:"batch_id"`
		At    sql.NullTime `db:"at"`
		Open  sql.NullBool `db:"open"`
	}
	err = r.db.SelectContext(r.ctx, &claims, `SELECT cl.out_request_no, cl.batch_id, cl.at, `+
		fmt.Sprintf(openAt, "cl.batch_id", "cl.at", "cl.done", claimSlack.Microseconds())+` AS open FROM campaign_claims cl ORDER BY cl.at`)
	if err != nil {
		r.fatal("check claims: %v", err)
	}
	bad := 0
	for _, cl := range claims {
		if !cl.Open.Valid || !cl.Open.Bool {
			bad++
			if bad <= 5 {
				c.check("claims-open", false, "out_request_no %s was claimed at %s, when batch %d was %s",
					cl.No, fmtTime(cl.At), cl.Batch, r.stateAt(cl.Batch, cl.At))
				continue
			}
		}
		c.checked++
	}
	if bad > 5 {
		c.check("claims-open", false, "and %d more claims while their batch was closed", bad-5)
	}
}

const stamp = "15:04:05.000000"

func fmtTime(t sql.NullTime) string {
	if !t.Valid {
		return "(never)"
	}
	return t.Time.UTC().Format(stamp)
}

// stateAt describes the batch's committed states around t, for a message.
func (r *run) stateAt(batch int64, t sql.NullTime) string {
	if !t.Valid {
		return "(no claim)"
	}
	var states []string
	err := r.db.SelectContext(r.ctx, &states, `SELECT format('%s since %s%s', status, to_char(at AT TIME ZONE 'UTC', 'HH24:MI:SS.US'),
			CASE WHEN start_at IS NOT NULL THEN ' (start ' || to_char(start_at AT TIME ZONE 'UTC', 'HH24:MI:SS') || ')' ELSE '' END)
		FROM campaign_batch_states WHERE batch_id = $1 AND at <= $2::timestamptz + interval '1 second' ORDER BY at DESC LIMIT 4`, batch, t.Time)
	if err != nil {
		return err.Error()
	}
	slices.Reverse(states)
	return strings.Join(states, ", ")
}

// internalError is an error no operator act should end with while
// PostgreSQL is up: the database's own (a deadlock, a serialization
// failure, any raw driver error) or a crash.
var internalError = regexp.MustCompile(`(?i)deadlock|SQLSTATE|\bpq: |panic|runtime error|goroutine \d+ \[`)

// checkErrors checks errors: every command the campaign ran either
// succeeded or was refused (exit 1) for a reason of the batch's state or
// its guards, never with an internal error while PostgreSQL was up, nor
// with a crash, a usage error or a hang (any other exit); and no instance
// logged a deadlock.
func (r *run) checkErrors(c *checker) {
	r.mu.Lock()
	calls := slices.Clone(r.calls)
	down := slices.Clone(r.pgDown)
	r.mu.Unlock()
	pgWasDown := func(from, to time.Time) bool {
		for _, w := range down {
			if from.Before(w.to) && to.After(w.from) {
				return true
			}
		}
		return false
	}
	for _, call := range calls {
		lines := strings.Split(strings.TrimSpace(call.res.Stderr), "\n")
		last := lines[len(lines)-1]
		switch {
		case call.res.Code == 0:
			c.checked++
		case call.res.Code != 1:
			c.check("errors", false, "issuer %s at %s: exit %d (a crash, a usage error or a hang): %s", strings.Join(call.args, " "),
				call.start.UTC().Format(stamp), call.res.Code, last)
		default:
			c.check("errors", pgWasDown(call.start, call.end) || !internalError.MatchString(last),
				"issuer %s at %s failed with an internal error while PostgreSQL was up: %s", strings.Join(call.args, " "),
				call.start.UTC().Format(stamp), last)
		}
	}
	for _, in := range r.insts {
		b, err := os.ReadFile(in.logf.Name())
		if err != nil {
			r.fatal("read %s: %v", in.logf.Name(), err)
		}
		n := strings.Count(string(b), "deadlock detected")
		c.check("errors", n == 0, "i%d logged %d deadlocks (see %s)", in.n, n, in.logf.Name())
	}
}
