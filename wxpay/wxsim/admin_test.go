package wxsim_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

func TestAdmin(t *testing.T) {
	t.Parallel()
	b := setup(t, wxsim.Options{})
	ctx := context.Background()
	a := b.admin

	require.NoError(t, a.AddStock(ctx, wxsim.StockSpec{ID: "A1", Budget: 5, PerUser: 2}))
	require.NoError(t, a.AddStock(ctx, wxsim.StockSpec{ID: "A2", Kind: wxsim.KindProduct, Budget: 1}))
	require.Error(t, a.AddStock(ctx, wxsim.StockSpec{ID: "A3", Kind: "gift"}))
	couponID(t, b.sendFavor(t, "A1", "u1", "ORN-1"))

	stocks, err := a.Stocks(ctx)
	require.NoError(t, err)
	require.Len(t, stocks, 2)
	require.Equal(t, "A1", stocks[0].ID)
	require.Equal(t, 1, stocks[0].Issued)
	require.Equal(t, wxsim.StatusRunning, stocks[0].Status)

	require.NoError(t, a.PauseStock(ctx, "A1"))
	require.Equal(t, http.StatusBadRequest, b.sendFavor(t, "A1", "u2", "ORN-2").status)
	require.NoError(t, a.ResumeStock(ctx, "A1"))
	couponID(t, b.sendFavor(t, "A1", "u2", "ORN-2"))
	require.ErrorContains(t, a.PauseStock(ctx, "NOPE"), "404")

	f := wxsim.Faults{Before500: 0.1, Probe: 0.2, Latency: wxsim.Duration(5 * time.Millisecond), HangMax: wxsim.Duration(time.Second)}
	require.NoError(t, a.SetFaults(ctx, f))
	got, err := a.Faults(ctx)
	require.NoError(t, err)
	require.Equal(t, f, got)
	require.Error(t, a.SetFaults(ctx, wxsim.Faults{After500: 2}))
	require.NoError(t, a.SetFaults(ctx, wxsim.Faults{}))

	ledger, err := a.Ledger(ctx, "A1")
	require.NoError(t, err)
	require.Equal(t, b.sim.Ledger("A1"), ledger)
	require.Len(t, ledger, 2)

	n, err := a.Redeem(ctx, "A1", 1)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	n, err = a.Refund(ctx, "", 0.5)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, err = a.Redeem(ctx, "A1", 1.5)
	require.Error(t, err)
	_, err = a.Redeem(ctx, "A2", 1)
	require.Error(t, err, "商品券 are not redeemed")

	st, err := a.Stats(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 2, st.Issued)
	require.EqualValues(t, 2, st.Redeemed)
	require.EqualValues(t, 1, st.Refunded)
}

func TestAdminLoopbackOnly(t *testing.T) {
	t.Parallel()
	b := setup(t, wxsim.Options{})
	for _, remote := range []string{"10.1.2.3:4567", "[2001:db8::1]:80"} {
		req := httptest.NewRequest(http.MethodGet, "/sim/ledger", nil)
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		b.sim.Handler().ServeHTTP(rec, req)
		require.Equal(t, http.StatusForbidden, rec.Code)
	}
	req := httptest.NewRequest(http.MethodGet, "/sim/", nil)
	req.RemoteAddr = "[::1]:1234"
	rec := httptest.NewRecorder()
	b.sim.Handler().ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Body.String(), "/sim/ledger")
}

func TestStart(t *testing.T) {
	t.Parallel()
	sim, err := wxsim.New(wxsim.Options{Keys: testKeys(t), Stocks: []wxsim.StockSpec{{ID: "F", Budget: 1}}})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, sim.Start(ctx, "127.0.0.1:0"))
	require.Regexp(t, `^http://127\.0\.0\.1:\d+$`, sim.URL())
	require.Error(t, sim.Start(ctx, "127.0.0.1:0"), "one listener per server")

	stocks, err := wxsim.NewAdminClient(sim.URL(), nil).Stocks(ctx)
	require.NoError(t, err)
	require.Len(t, stocks, 1)

	cancel() // stops serving; Close still releases the rest
	require.NoError(t, sim.Close())
	require.NoError(t, sim.Close(), "Close is idempotent")
	_, err = wxsim.NewAdminClient(sim.URL(), nil).Stocks(context.Background())
	require.Error(t, err)
}
