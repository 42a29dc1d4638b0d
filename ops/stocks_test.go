package ops_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/audit"
	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/internal/config"
	"github.com/issuer-dev/issuer/internal/simtest"
	"github.com/issuer-dev/issuer/ops"
	"github.com/issuer-dev/issuer/wxpay"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

// auditLog keeps the acts in memory: the stock operations need no
// database, so neither does their test.
type auditLog struct {
	mu      sync.Mutex
	entries []audit.Entry
}

func (l *auditLog) Record(_ context.Context, e audit.Entry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, e)
	return nil
}

func (l *auditLog) all() []audit.Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]audit.Entry(nil), l.entries...)
}

// sharedClient is the test's simulator client; the test, not the
// operation, closes it.
type sharedClient struct{ *wxpay.Client }

func (sharedClient) Close() {}

type testBundle struct {
	svc   *ops.Service
	audit *auditLog
	sim   *simtest.Sim
}

var (
	analyst  = auth.Actor{Name: "ana", Role: auth.RoleAnalyst, Source: "test"}
	operator = auth.Actor{Name: "olga", Role: auth.RoleOperator, Source: "test"}
)

func stockSetup(t *testing.T, specs ...wxsim.StockSpec) *testBundle {
	t.Helper()
	sim := simtest.Start(t, wxsim.Options{Stocks: specs})
	client := sharedClient{sim.Client(t, 2)}
	cfg := &config.Config{Location: time.FixedZone("CST", 8*3600)}
	cfg.WXPay.MchID = sim.Keys.MchID
	log := &auditLog{}
	svc := ops.New(nil, cfg, func() (ops.WXClient, error) { return client, nil }, log, nil)
	return &testBundle{svc: svc, audit: log, sim: sim}
}

func TestStockActionsAuthorizedAndAudited(t *testing.T) {
	t.Parallel()
	b := stockSetup(t, wxsim.StockSpec{ID: "9856000", Budget: 5, Status: wxsim.StatusUnactivated})
	ctx := context.Background()

	// An analyst may look but not start.
	st, err := b.svc.Stock(ctx, analyst, "9856000")
	require.NoError(t, err)
	require.Equal(t, wxpay.StockUnactivated, st.Status)
	_, err = b.svc.ChangeStock(ctx, analyst, ops.StockStart, "9856000")
	require.ErrorIs(t, err, auth.ErrForbidden)

	// A refusal by WeChat Pay is audited as an error, with its code.
	_, err = b.svc.ChangeStock(ctx, operator, ops.StockPause, "9856000")
	var we ops.WXError
	require.ErrorAs(t, err, &we)
	require.Regexp(t, `^stock pause 9856000: INVALID_REQUEST: .* \(HTTP 400`, err.Error())

	a, err := b.svc.ChangeStock(ctx, operator, ops.StockStart, "9856000")
	require.NoError(t, err)
	require.Equal(t, "9856000", a.StockID)
	st, err = b.svc.Stock(ctx, analyst, "9856000")
	require.NoError(t, err)
	require.Equal(t, wxpay.StockRunning, st.Status)

	got := b.audit.all()
	require.Len(t, got, 3, "reads are not audited; acts are, allowed or not")
	for i, want := range []struct {
		actor   string
		outcome audit.Outcome
	}{{"ana", audit.Denied}, {"olga", audit.Error}, {"olga", audit.OK}} {
		require.Equal(t, want.actor, got[i].Actor, i)
		require.Equal(t, want.outcome, got[i].Outcome, i)
		require.Equal(t, string(auth.ActStock), got[i].Action, i)
		require.Equal(t, "9856000", got[i].StockID, i)
	}
}

func TestCreateStockChecksBeforeSending(t *testing.T) {
	t.Parallel()
	b := stockSetup(t)
	ctx := context.Background()
	ok := ops.StockCreate{Name: "n", MaxCoupons: 5, CouponValue: 100, Minimum: 200, MaxPerUser: 1,
		Start: "2030-01-01", End: "2030-01-31"}
	for _, tc := range []struct {
		name   string
		change func(*ops.StockCreate)
		want   string
	}{
		{"no name", func(c *ops.StockCreate) { c.Name = "" }, "--name is required"},
		{"minimum at value", func(c *ops.StockCreate) { c.Minimum = 100 }, "must exceed --coupon-value"},
		{"budget and count disagree", func(c *ops.StockCreate) { c.BudgetYuan = "10" }, "buys 10 coupons of 1.00 yuan, not --max-coupons 5"},
		{"over 90 days", func(c *ops.StockCreate) { c.End = "2030-06-01" }, "longer than WeChat Pay's 90 days"},
		{"end before start", func(c *ops.StockCreate) { c.End = "2029-12-31" }, "is not after --start"},
		{"not a time", func(c *ops.StockCreate) { c.Start = "soon" }, `--start: "soon" is not a time`},
	} {
		c := ok
		tc.change(&c)
		sent := false
		c.OnSend = func(string) { sent = true }
		_, err := b.svc.CreateStock(ctx, operator, c)
		require.Equal(t, ops.EINVALID, ops.ErrorCode(err), tc.name)
		require.Contains(t, err.Error(), tc.want, tc.name)
		require.False(t, sent, tc.name)
	}
	require.Empty(t, b.audit.all(), "nothing was attempted")

	var orn string
	ok.OnSend = func(n string) { orn = n }
	res, err := b.svc.CreateStock(ctx, operator, ok)
	require.NoError(t, err)
	require.Equal(t, orn, res.Request.OutRequestNo)
	require.Equal(t, int64(500), res.Request.StockUseRule.MaxAmount)
	require.Equal(t, "2030-01-31T23:59:59.000+08:00", res.Request.AvailableEndTime, "a bare end date is its last second")
	got := b.audit.all()
	require.Len(t, got, 1)
	require.Equal(t, res.StockID, got[0].StockID)
}

func TestStocksPagesAndFilters(t *testing.T) {
	t.Parallel()
	var specs []wxsim.StockSpec
	for i := range 12 {
		specs = append(specs, wxsim.StockSpec{ID: fmt.Sprint(9856000 + i), Budget: 1})
	}
	b := stockSetup(t, specs...)
	ctx := context.Background()
	l, err := b.svc.Stocks(ctx, analyst, ops.StockFilter{})
	require.NoError(t, err)
	require.Len(t, l.Stocks, 12)
	l, err = b.svc.Stocks(ctx, analyst, ops.StockFilter{Limit: 11})
	require.NoError(t, err)
	require.Len(t, l.Stocks, 11)
	require.Equal(t, 12, l.Total)
	_, err = b.svc.Stocks(ctx, analyst, ops.StockFilter{Status: "bogus"})
	require.Equal(t, ops.EINVALID, ops.ErrorCode(err))
	_, err = b.svc.Stocks(ctx, auth.Actor{Name: "nobody"}, ops.StockFilter{})
	require.True(t, errors.Is(err, auth.ErrForbidden))
}
