package guard_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/guard"
	"github.com/issuer-dev/issuer/internal/dbtest"
)

// existing is a batch already stored: its file, status and recipients
// (openid[:status][:coupon_value], pending by default).
type existing struct {
	sha, status string
	rows        []string
}

// TestApply runs the guards of an import against PostgreSQL: each case
// stores the batches already there and the new batch's rows, applies the
// guards in a transaction and checks what they decided and stored.
func TestApply(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		before []existing
		rows   []string // the new batch's: openid[:coupon_value]
		face   int64
		g      guard.Import
		want   guard.Outcome
		err    string
	}{
		{name: "Plain", rows: []string{"oA", "oB"},
			want: guard.Outcome{Accepted: 2, Status: "pending", Unvalued: 2}},
		{name: "DuplicateFile", before: []existing{{sha: "f1", status: "running"}}, rows: []string{"oA"},
			err: "the same file (SHA-256) is already batch 1 of this stock (running)"},
		{name: "DuplicateOfCancelled", before: []existing{{sha: "f1", status: "cancelled"}}, rows: []string{"oA"},
			want: guard.Outcome{Accepted: 1, Status: "pending", Unvalued: 1}},
		{name: "DuplicateAllowed", before: []existing{{sha: "f1", status: "running"}}, rows: []string{"oA"},
			g: guard.Import{AllowDuplicate: true}, want: guard.Outcome{Accepted: 1, Status: "pending", Unvalued: 1}},
		{name: "Repeats", before: []existing{{sha: "f0", status: "running", rows: []string{"oA:issued", "oB:review", "oC:failed"}}},
			rows: []string{"oA", "oB", "oC", "oD"}, want: guard.Outcome{Repeats: 2, Accepted: 2, Status: "pending", Unvalued: 2}},
		{name: "RepeatsAllowed", before: []existing{{sha: "f0", status: "running", rows: []string{"oA:issued"}}},
			rows: []string{"oA", "oB"}, g: guard.Import{AllowRepeats: true}, want: guard.Outcome{Accepted: 2, Status: "pending", Unvalued: 2}},
		{name: "AmountFromValuesAndFace", rows: []string{"oA:300", "oB"}, face: 500, g: guard.Import{MaxAmountFen: 10_000},
			want: guard.Outcome{Accepted: 2, AmountFen: 800, Status: "pending"}},
		{name: "CapWithoutFace", rows: []string{"oA:300", "oB"}, g: guard.Import{MaxAmountFen: 10_000},
			err: "1 rows have no coupon_value and the stock's face value is unknown"},
		{name: "ApprovalByCoupons", rows: []string{"oA", "oB"}, g: guard.Import{ApprovalMinCoupons: 2, Paused: true},
			want: guard.Outcome{Accepted: 2, Status: "awaiting_approval", ApprovalReason: "2 recipients, at or over approval.min_coupons (2)",
				ApprovalRule: guard.RuleMinCoupons, Unvalued: 2}},
		{name: "ApprovalByDay", before: []existing{{sha: "f0", status: "pending", rows: []string{"oX:pending:700"}}},
			rows: []string{"oA:300"}, g: guard.Import{ApprovalDailyAmountFen: 1000},
			want: guard.Outcome{Accepted: 1, AmountFen: 300, Status: "awaiting_approval",
				ApprovalReason: "stock S1 on 2030-01-02: 10.00 yuan with the day's other batches (7.00), at or over approval.daily_amount_yuan (10.00)",
				ApprovalRule:   guard.RuleDailyAmount, Day: guard.Day{Date: "2030-01-02", Coupons: 1, Fen: 700}}},
		{name: "Paused", rows: []string{"oA"}, g: guard.Import{Paused: true}, want: guard.Outcome{Accepted: 1, Status: "paused", Unvalued: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := dbtest.New(t)
			day := time.Date(2030, 1, 2, 12, 0, 0, 0, time.UTC)
			insert := func(sha, status string, rows []string) int64 {
				var id int64
				require.NoError(t, s.DB.Get(&id, `INSERT INTO batches (name, stock_id, kind, mchid, appid, stock_creator_mchid, source_sha256, status, created_at)
					VALUES ('b', 'S1', 'favor', 'M', 'A', 'M', $1, $2, $3) RETURNING id`, sha, status, day))
				for i, r := range rows {
					parts := strings.Split(r, ":")
					st, value := "pending", any(nil)
					for _, p := range parts[1:] {
						if p[0] >= '0' && p[0] <= '9' {
							value = p
						} else {
							st = p
						}
					}
					orn := fmt.Sprintf("M%d_%d", id, i)
					_, err := s.DB.Exec(`INSERT INTO recipients (batch_id, mchid, openid, out_request_no, source_line, coupon_value, status, coupon_id, attempts)
						VALUES ($1, 'M', $2, $3, $4, $5, $6, CASE WHEN $6 = 'issued' THEN 'c' || $3 END, CASE WHEN $6 = 'review' THEN 1 ELSE 0 END)`,
						id, parts[0], orn, i+2, value, st)
					require.NoError(t, err)
				}
				if len(rows) > 0 {
					_, err := s.DB.Exec(`UPDATE batches SET accepted = $2, amount_fen = (SELECT coalesce(sum(coupon_value), 0) FROM recipients WHERE batch_id = $1) WHERE id = $1`, id, len(rows))
					require.NoError(t, err)
				}
				return id
			}
			for _, b := range tc.before {
				insert(b.sha, b.status, b.rows)
			}
			id := insert("", "pending", tc.rows)
			tc.g.FaceValueFen = tc.face
			tx, err := s.DB.BeginTxx(ctx, nil)
			require.NoError(t, err)
			defer tx.Rollback() //nolint:errcheck // the test's
			out, err := tc.g.Apply(ctx, tx, guard.Batch{ID: id, StockID: "S1", Source: "list.csv", SHA256: "f1",
				Accepted: len(tc.rows), Location: time.UTC, Now: day})
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, out)
			var stored struct {
				Status   string `db:"status"`
				Accepted int    `db:"accepted"`
				Repeats  int    `db:"repeats"`
				Amount   int64  `db:"amount_fen"`
				Priority int    `db:"priority"`
				Paused   bool   `db:"start_paused"`
			}
			require.NoError(t, tx.Get(&stored, `SELECT status, accepted, repeats, amount_fen, priority, start_paused FROM batches WHERE id = $1`, id))
			require.Equal(t, tc.want.Status, stored.Status)
			require.Equal(t, tc.want.Accepted, stored.Accepted)
			require.Equal(t, tc.want.Repeats, stored.Repeats)
			require.Equal(t, tc.want.AmountFen, stored.Amount)
			require.Equal(t, tc.g.Paused, stored.Paused)
		})
	}
}
