package main

import (
	"encoding/json"
	"maps"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/internal/simtest"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

func TestReviewCommands(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sim := simtest.Start(t, wxsim.Options{Stocks: []wxsim.StockSpec{{ID: "9856000", Budget: 100}}})
	maps.Copy(b.env, sim.Env())
	b.env["ISSUER_DATABASE_URL"] = b.schema.URL

	csv := b.write(t, "list.csv", "openid\noA\noB\n")
	r := b.issuer(t, "", "import", "--stock", "9856000", csv)
	require.Equal(t, 0, r.code, r.stderr)
	// Both were sent a minute ago and the answers said nothing; oA's
	// coupon was in fact issued.
	_, err := b.schema.DB.Exec(`UPDATE recipients SET status = 'review', outcome = 'unknown', doubt_since = now(), wx_code = 'SYSTEM_ERROR', attempts = 10,
		first_attempt_at = now() - interval '2 minutes', last_attempt_at = now() - interval '1 minute'`)
	require.NoError(t, err)
	coupon, err := sim.Server.GrantCoupon("9856000", "oA", time.Now().Add(-90*time.Second))
	require.NoError(t, err)

	r = b.issuer(t, "", "review", "list", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var items []map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &items), r.stdout)
	require.Len(t, items, 2)
	for _, k := range []string{"batch_id", "openid", "out_request_no", "outcome", "wx_code", "wx_message", "attempts", "last_attempt_at"} {
		require.Contains(t, items[0], k)
	}
	require.Equal(t, "unknown", items[0]["outcome"])

	r = b.issuer(t, "", "batch", "show", "1", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, `"in_doubt": 2`)

	r = b.issuer(t, "", "review", "resolve", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var sum map[string]int
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &sum), r.stdout)
	require.Equal(t, 2, sum["checked"])
	require.Equal(t, 1, sum["issued"])
	require.Equal(t, 1, sum["not_issued"])
	require.Equal(t, 0, sum["still_in_doubt"])

	r = b.issuer(t, "", "batch", "export", "1")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "oA,")
	require.Contains(t, r.stdout, ",issued,confirmed_by_query,"+coupon+",")

	r = b.issuer(t, "", "review", "list")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "no recipients in review")

	// CLI acts are audited as the OS user.
	var acts []struct {
		Actor   string `db:"actor"`
		Action  string `db:"action"`
		BatchID *int64 `db:"batch_id"`
		Outcome string `db:"outcome"`
	}
	require.NoError(t, b.schema.DB.Select(&acts, `SELECT actor, action, batch_id, outcome FROM audit_log ORDER BY id`))
	require.Len(t, acts, 2)
	require.Equal(t, "import", acts[0].Action)
	require.Equal(t, int64(1), *acts[0].BatchID)
	require.Equal(t, "settle", acts[1].Action)
	require.Regexp(t, `^cli:`, acts[0].Actor)
	require.Equal(t, "ok", acts[1].Outcome)
}
