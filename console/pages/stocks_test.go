package pages_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/audit"
)

// stockStatus asks the API for the stock's status at the simulator.
func (b *testBundle) stockStatus(t *testing.T, tok string) string {
	t.Helper()
	a := b.get(t, nil, "/api/v1/stocks/"+simStock, bearer(tok))
	require.Equal(t, http.StatusOK, a.Status, a.Body)
	var st struct {
		StockID string `json:"stock_id"`
		Status  string `json:"status"`
	}
	a.JSON(t, &st)
	require.Equal(t, simStock, st.StockID)
	return st.Status
}

func TestStocksAPI(t *testing.T) {
	t.Parallel()
	b := setup(t, withSim)
	annTok, ottoTok := b.token(t, "ann"), b.token(t, "otto")
	otto := b.login(t, "otto")

	for _, path := range []string{"/api/v1/stocks", "/api/v1/stocks/" + simStock, "/api/v1/coupons?openid=o1"} {
		requireJSONError(t, b.get(t, nil, path, nil), http.StatusUnauthorized)
	}
	a := b.get(t, nil, "/api/v1/stocks?status=unactivated", bearer(annTok))
	require.Equal(t, http.StatusOK, a.Status, a.Body)
	var list []map[string]any
	a.JSON(t, &list)
	require.Len(t, list, 1)
	require.Equal(t, simStock, list[0]["stock_id"])
	requireJSONError(t, b.get(t, nil, "/api/v1/stocks?status=bogus", bearer(annTok)), http.StatusBadRequest)
	requireJSONError(t, b.get(t, nil, "/api/v1/stocks/abc", bearer(annTok)), http.StatusBadRequest)
	require.Equal(t, "unactivated", b.stockStatus(t, annTok))

	// An analyst may look, not act; a cookie from another origin is refused
	// before anything is asked.
	requireJSONError(t, b.post(t, nil, "/api/v1/stocks/"+simStock+"/start", nil, bearer(annTok)), http.StatusForbidden)
	evil := http.Header{"Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}}
	requireJSONError(t, b.post(t, otto, "/api/v1/stocks/"+simStock+"/start", nil, evil), http.StatusForbidden)
	require.Equal(t, "unactivated", b.stockStatus(t, annTok))

	// WeChat Pay refuses to pause a stock that never started: a state
	// that forbids.
	requireJSONError(t, b.post(t, otto, "/api/v1/stocks/"+simStock+"/pause", nil, nil), http.StatusConflict)

	for _, step := range []struct{ action, status string }{
		{"start", "running"}, {"pause", "paused"}, {"restart", "running"}, {"stop", "stoped"},
	} {
		a := b.post(t, nil, "/api/v1/stocks/"+simStock+"/"+step.action, nil, bearer(ottoTok))
		require.Equal(t, http.StatusOK, a.Status, a.Body)
		var res map[string]string
		a.JSON(t, &res)
		require.Equal(t, simStock, res["stock_id"])
		require.Equal(t, step.action, res["action"])
		require.NotEmpty(t, res["time"])
		require.Equal(t, step.status, b.stockStatus(t, annTok), step.action)
	}

	var outcomes []string
	for _, e := range b.auditRows(t, "stock") {
		require.Equal(t, simStock, e.StockID)
		outcomes = append(outcomes, e.Actor+":"+string(e.Outcome))
	}
	require.ElementsMatch(t, []string{"ann:" + string(audit.Denied), "otto:" + string(audit.Error), "otto:ok", "otto:ok", "otto:ok", "otto:ok"},
		outcomes, "every act is audited, refusals too")
}

func TestStocksPages(t *testing.T) {
	t.Parallel()
	b := setup(t, withSim)
	ann, otto := b.login(t, "ann"), b.login(t, "otto")

	for _, path := range []string{"/stocks", "/stocks/" + simStock, "/coupons"} {
		a := b.get(t, nil, path, nil)
		require.Equal(t, http.StatusSeeOther, a.Status, path)
	}
	a := b.get(t, ann, "/stocks", nil)
	require.Equal(t, http.StatusOK, a.Status, a.Body)
	require.Contains(t, a.Body, `href="/stocks/`+simStock+`"`)
	require.Contains(t, a.Body, `href="/stocks"`, "in the navigation")
	page := b.get(t, ann, "/stocks/"+simStock, nil).Body
	require.Contains(t, page, "unactivated")
	require.NotContains(t, page, "btn-stock-", "an analyst is not shown what they may not use")
	a = b.post(t, ann, "/stocks/"+simStock+"/start", url.Values{}, nil)
	require.Equal(t, http.StatusForbidden, a.Status)

	page = b.get(t, otto, "/stocks/"+simStock, nil).Body
	require.Contains(t, page, `id="btn-stock-start"`)
	require.NotContains(t, page, `id="btn-stock-stop"`, "only what the stock's status allows")
	require.Contains(t, page, "data-confirm=", "asks first")
	// A refusal by WeChat Pay is shown on the page, with its code.
	a = b.post(t, otto, "/stocks/"+simStock+"/pause", url.Values{}, nil)
	require.Equal(t, "/stocks/"+simStock, a.Header.Get("Location"), "redirect-after-POST, also for a refusal")
	a = b.follow(t, otto, a)
	require.Contains(t, a.Body, "INVALID_REQUEST")
	require.Contains(t, a.Body, `id="btn-stock-start"`, "the page shows the stock as it is")
	a = b.post(t, otto, "/stocks/"+simStock+"/start", url.Values{}, nil)
	require.Equal(t, http.StatusSeeOther, a.Status, a.Body)
	require.Equal(t, "/stocks/"+simStock+"?ok=start", a.Header.Get("Location"))
	page = b.get(t, otto, "/stocks/"+simStock+"?ok=start&lang=en", nil).Body
	require.Contains(t, page, "Stock started.")
	require.Contains(t, page, `id="btn-stock-pause"`)
	require.Contains(t, page, `id="btn-stock-stop"`)
}

func TestUserCoupons(t *testing.T) {
	t.Parallel()
	b := setup(t, withSim)
	id := b.importBatch(t, "b", 2)
	b.issue(t, id)
	ann, annTok := b.login(t, "ann"), b.token(t, "ann")

	a := b.get(t, nil, "/api/v1/coupons?openid=ob00000", bearer(annTok))
	require.Equal(t, http.StatusOK, a.Status, a.Body)
	var coupons []map[string]any
	a.JSON(t, &coupons)
	require.Len(t, coupons, 1)
	require.Equal(t, "S1", coupons[0]["stock_id"])
	requireJSONError(t, b.get(t, nil, "/api/v1/coupons", bearer(annTok)), http.StatusBadRequest)

	page := b.get(t, ann, "/coupons?openid=ob00001", nil)
	require.Equal(t, http.StatusOK, page.Status, page.Body)
	require.Contains(t, page.Body, coupons[0]["stock_id"])
	require.Equal(t, 1, strings.Count(page.Body, "<tr><td><code>"), "one coupon row")
	page = b.get(t, ann, "/coupons?openid=onobody&lang=en", nil)
	require.Contains(t, page.Body, "This user holds no coupon")
}

func TestReconcileNow(t *testing.T) {
	t.Parallel()
	b := setup(t, withSim)
	ann, annTok := b.login(t, "ann"), b.token(t, "ann")
	otto, ottoTok := b.login(t, "otto"), b.token(t, "otto")

	requireJSONError(t, b.postJSON(t, nil, "/api/v1/reconcile", map[string]string{}, nil), http.StatusUnauthorized)
	requireJSONError(t, b.postJSON(t, nil, "/api/v1/reconcile", map[string]string{"stock": simStock}, bearer(annTok)), http.StatusForbidden)
	requireJSONError(t, b.postJSON(t, nil, "/api/v1/reconcile", map[string]string{"date": "03/01"}, bearer(ottoTok)), http.StatusBadRequest)
	evil := http.Header{"Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}}
	requireJSONError(t, b.postJSON(t, otto, "/api/v1/reconcile", map[string]string{"stock": simStock}, evil), http.StatusForbidden)

	a := b.postJSON(t, nil, "/api/v1/reconcile", map[string]string{"stock": simStock}, bearer(ottoTok))
	require.Equal(t, http.StatusOK, a.Status, a.Body)
	var sum struct {
		Date    string `json:"date"`
		Results []struct {
			StockID string `json:"stock_id"`
			Kind    string `json:"kind"`
			Outcome string `json:"outcome"`
		} `json:"results"`
	}
	a.JSON(t, &sum)
	require.NotEmpty(t, sum.Date)
	require.NotEmpty(t, sum.Results)
	for _, r := range sum.Results {
		require.Equal(t, simStock, r.StockID)
	}

	require.NotContains(t, b.get(t, ann, "/reconciliation", nil).Body, `id="btn-fetch"`)
	require.Contains(t, b.get(t, otto, "/reconciliation", nil).Body, `id="btn-fetch"`)
	require.Equal(t, http.StatusForbidden, b.post(t, ann, "/reconciliation/fetch", url.Values{"stock": {simStock}}, nil).Status)
	a = b.post(t, otto, "/reconciliation/fetch?lang=en", url.Values{"stock": {simStock}}, nil)
	require.Equal(t, "/reconciliation?lang=en&stock="+simStock, a.Header.Get("Location"), "redirect-after-POST")
	a = b.follow(t, otto, a)
	require.Contains(t, a.Body, "Flow files for "+sum.Date)

	var outcomes []string
	for _, e := range b.auditRows(t, "reconcile") {
		outcomes = append(outcomes, e.Actor+":"+string(e.Outcome))
	}
	require.ElementsMatch(t, []string{"ann:denied", "ann:denied", "otto:ok", "otto:ok"}, outcomes)
}
