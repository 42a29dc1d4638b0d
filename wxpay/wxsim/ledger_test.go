package wxsim_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/wxpay"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

func TestLedgerSurvivesRestart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ledger.jsonl")
	opts := wxsim.Options{
		Stocks: []wxsim.StockSpec{
			{ID: "F", Budget: 3, PerUser: 1},
			{ID: "P", Kind: wxsim.KindProduct, Budget: 5},
		},
		LedgerPath: path,
		EarlyFlows: true, // files before the stock ends: this is about the ledger
	}
	ctx := context.Background()

	var before []wxsim.Coupon
	var favorID string
	{
		b := setup(t, opts)
		res, err := b.send(ctx, wxsim.KindFavor, "F", "u1", "ORN-1")
		require.NoError(t, err)
		favorID = res.CouponID
		_, err = b.send(ctx, wxsim.KindFavor, "F", "u2", "ORN-2")
		require.NoError(t, err)
		_, err = b.send(ctx, wxsim.KindProduct, "P", "u1", "ORN-P1")
		require.NoError(t, err)
		n, err := b.sim.Redeem("F", 1)
		require.NoError(t, err)
		require.Equal(t, 2, n)
		n, err = b.sim.Refund("F", 0.5)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		before = b.sim.Ledger("")
		require.NoError(t, b.sim.Close())
	}
	info, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	b := setup(t, opts)
	require.Equal(t, before, b.sim.Ledger(""), "the ledger is reloaded as it was")

	res, err := b.send(ctx, wxsim.KindFavor, "F", "u1", "ORN-1")
	require.NoError(t, err)
	require.Equal(t, favorID, res.CouponID, "a replay after the restart answers the same coupon_id")
	res, err = b.send(ctx, wxsim.KindProduct, "P", "u1", "ORN-P1")
	require.Equal(t, wxpay.OutcomeAlreadyIssued, wxpay.Classify(res, err))

	res, err = b.send(ctx, wxsim.KindFavor, "F", "u1", "ORN-again")
	require.Equal(t, wxpay.OutcomeUserLimited, wxpay.Classify(res, err), "per-user counts survive")
	res, err = b.send(ctx, wxsim.KindFavor, "F", "u3", "ORN-3")
	require.NoError(t, err)
	require.NotContains(t, []string{before[0].CouponID, before[1].CouponID, before[2].CouponID}, res.CouponID, "ids do not repeat")
	res, err = b.send(ctx, wxsim.KindFavor, "F", "u4", "ORN-4")
	require.Equal(t, wxpay.OutcomeBudgetExhausted, wxpay.Classify(res, err), "the budget stays spent")

	meta, err := b.client.UseFlow(ctx, "F")
	require.NoError(t, err, "redemptions survive too")
	require.Equal(t, "SHA1", meta.HashType)
}

func TestLedgerTornLastLine(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ledger.jsonl")
	opts := wxsim.Options{Stocks: []wxsim.StockSpec{{ID: "F", Budget: 10}}, LedgerPath: path}
	{
		b := setup(t, opts)
		_, err := b.send(context.Background(), wxsim.KindFavor, "F", "u1", "ORN-1")
		require.NoError(t, err)
		require.NoError(t, b.sim.Close())
	}
	// A crash in the middle of an append leaves a line without its newline.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"type":"coupon","coupon":{"coupon_id":"9`)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	b := setup(t, opts)
	require.Len(t, b.sim.Ledger(""), 1)
	_, err = b.send(context.Background(), wxsim.KindFavor, "F", "u2", "ORN-2")
	require.NoError(t, err)
	require.NoError(t, b.sim.Close())

	b = setup(t, opts)
	require.Len(t, b.sim.Ledger(""), 2, "the torn line was cut before appending")
}

func TestLedgerCorrupt(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ledger.jsonl")
	require.NoError(t, os.WriteFile(path, []byte("{\"type\":\"coupon\"}\n{}\n"), 0o600))
	_, err := wxsim.New(wxsim.Options{Keys: testKeys(t), LedgerPath: path})
	require.ErrorContains(t, err, "line 1")
}
