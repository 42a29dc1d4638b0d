package wxsim_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/wxpay"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

func TestFaultBefore500(t *testing.T) {
	t.Parallel()
	for _, kind := range []wxsim.Kind{wxsim.KindFavor, wxsim.KindProduct} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			b := setup(t, wxsim.Options{
				Stocks: []wxsim.StockSpec{{ID: "S", Kind: kind, Budget: 10}},
				Faults: wxsim.Faults{Before500: 1},
			})
			ctx := context.Background()
			res, err := b.send(ctx, kind, "S", "u", "ORN-1")
			var apiErr *wxpay.APIError
			require.ErrorAs(t, err, &apiErr)
			require.Equal(t, http.StatusInternalServerError, apiErr.Status)
			require.Equal(t, "SYSTEM_ERROR", apiErr.Code)
			require.Equal(t, wxpay.OutcomeUnknown, wxpay.Classify(res, err))
			require.Empty(t, b.sim.Ledger(""), "nothing issued before the fault")

			require.NoError(t, b.admin.SetFaults(ctx, wxsim.Faults{}))
			res, err = b.send(ctx, kind, "S", "u", "ORN-1")
			require.NoError(t, err)
			require.Equal(t, wxpay.OutcomeIssued, wxpay.Classify(res, err))
			require.Len(t, b.sim.Ledger(""), 1)
			require.EqualValues(t, 1, b.sim.Stats().Faults["before_500"])
		})
	}
}

func TestFaultAfter500(t *testing.T) {
	t.Parallel()
	b := setup(t, wxsim.Options{
		Stocks: []wxsim.StockSpec{{ID: "F", Budget: 10}, {ID: "P", Kind: wxsim.KindProduct, Budget: 10}},
		Faults: wxsim.Faults{After500: 1},
	})
	ctx := context.Background()

	res, err := b.send(ctx, wxsim.KindFavor, "F", "u", "ORN-F")
	require.Equal(t, wxpay.OutcomeUnknown, wxpay.Classify(res, err))
	res, err = b.send(ctx, wxsim.KindProduct, "P", "u", "ORN-P")
	require.Equal(t, wxpay.OutcomeUnknown, wxpay.Classify(res, err))
	ledger := b.sim.Ledger("")
	require.Len(t, ledger, 2, "the coupons were issued; only the answers were lost")

	require.NoError(t, b.sim.SetFaults(wxsim.Faults{}))
	res, err = b.send(ctx, wxsim.KindFavor, "F", "u", "ORN-F")
	require.NoError(t, err)
	require.Equal(t, ledger[0].CouponID, res.CouponID, "the retry learns the coupon issued before")
	res, err = b.send(ctx, wxsim.KindProduct, "P", "u", "ORN-P")
	require.Equal(t, wxpay.OutcomeAlreadyIssued, wxpay.Classify(res, err))
	require.Len(t, b.sim.Ledger(""), 2)
}

func TestFaultHangAfter(t *testing.T) {
	t.Parallel()

	t.Run("client gives up", func(t *testing.T) {
		t.Parallel()
		b := setup(t, wxsim.Options{
			Stocks: []wxsim.StockSpec{{ID: "F", Budget: 10}},
			Faults: wxsim.Faults{HangAfter: 1, HangMax: wxsim.Duration(time.Hour)},
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		outcome := make(chan wxpay.Outcome, 1)
		go func() {
			res, err := b.send(ctx, wxsim.KindFavor, "F", "u", "ORN-1")
			outcome <- wxpay.Classify(res, err)
			done <- err
		}()
		waitFor(t, "the coupon to be issued", func() bool { return len(b.sim.Ledger("")) == 1 })
		cancel()
		require.Equal(t, wxpay.OutcomeUnknown, <-outcome)
		require.ErrorIs(t, <-done, context.Canceled)
		require.EqualValues(t, 1, b.sim.Stats().Faults["hang_after"])
	})

	t.Run("late answer after hang max", func(t *testing.T) {
		t.Parallel()
		b := setup(t, wxsim.Options{
			Stocks: []wxsim.StockSpec{{ID: "F", Budget: 10}},
			Faults: wxsim.Faults{HangAfter: 1, HangMax: wxsim.Duration(time.Millisecond)},
		})
		res, err := b.send(context.Background(), wxsim.KindFavor, "F", "u", "ORN-1")
		require.NoError(t, err)
		require.Equal(t, b.sim.Ledger("")[0].CouponID, res.CouponID)
	})

	t.Run("close releases held answers", func(t *testing.T) {
		t.Parallel()
		b := setup(t, wxsim.Options{
			Stocks: []wxsim.StockSpec{{ID: "F", Budget: 10}},
			Faults: wxsim.Faults{HangAfter: 1, HangMax: wxsim.Duration(time.Hour)},
		})
		done := make(chan error, 1)
		go func() {
			_, err := b.send(context.Background(), wxsim.KindFavor, "F", "u", "ORN-1")
			done <- err
		}()
		waitFor(t, "the coupon to be issued", func() bool { return len(b.sim.Ledger("")) == 1 })
		require.NoError(t, b.sim.Close())
		err := <-done
		require.ErrorIs(t, err, wxpay.ErrTransport, "the connection drops without an answer")
	})
}

func TestFaultResetAfter(t *testing.T) {
	t.Parallel()
	b := setup(t, wxsim.Options{
		Stocks: []wxsim.StockSpec{{ID: "F", Budget: 10}},
		Faults: wxsim.Faults{ResetAfter: 1},
	})
	res, err := b.send(context.Background(), wxsim.KindFavor, "F", "u", "ORN-1")
	require.ErrorIs(t, err, wxpay.ErrTransport)
	require.ErrorIs(t, err, syscall.ECONNRESET)
	require.Equal(t, wxpay.OutcomeUnknown, wxpay.Classify(res, err))
	require.Len(t, b.sim.Ledger(""), 1)
	require.EqualValues(t, 1, b.sim.Stats().Faults["reset_after"])
}

func TestFaultLatency(t *testing.T) {
	t.Parallel()
	b := setup(t, wxsim.Options{
		Stocks: []wxsim.StockSpec{{ID: "F", Budget: 10}},
		Faults: wxsim.Faults{Latency: wxsim.Duration(time.Millisecond), Jitter: wxsim.Duration(2 * time.Millisecond)},
	})
	a := b.sendFavor(t, "F", "u", "ORN-1")
	b.verified(t, a)
	couponID(t, a)

	t.Run("client leaves during latency", func(t *testing.T) {
		require.NoError(t, b.sim.SetFaults(wxsim.Faults{Latency: wxsim.Duration(time.Hour)}))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := b.send(ctx, wxsim.KindFavor, "F", "v", "ORN-2")
			done <- err
		}()
		waitFor(t, "the send to be admitted", func() bool { return b.sim.Stats().Accepted == 2 })
		cancel()
		require.ErrorIs(t, <-done, context.Canceled)
		require.Len(t, b.sim.Ledger(""), 1, "nothing issued while waiting")
	})
}

func TestFaultSignatures(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		faults wxsim.Faults
		check  func(t *testing.T, sig string)
	}{
		{"forged", wxsim.Faults{ForgedSig: 1}, func(t *testing.T, sig string) {
			require.False(t, strings.HasPrefix(sig, wxpay.SignatureProbePrefix))
		}},
		{"probe", wxsim.Faults{Probe: 1}, func(t *testing.T, sig string) {
			require.True(t, strings.HasPrefix(sig, wxpay.SignatureProbePrefix))
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, wxsim.Options{
				Stocks: []wxsim.StockSpec{{ID: "F", Budget: 10}, {ID: "P", Kind: wxsim.KindProduct, Budget: 10}},
				Faults: tt.faults,
			})
			a := b.sendFavor(t, "F", "u", "ORN-raw")
			require.Equal(t, http.StatusOK, a.status)
			tt.check(t, a.header.Get(wxpay.HeaderSignature))
			err := b.keys.Verifier().Verify(a.header, a.body, b.now())
			require.ErrorIs(t, err, wxpay.ErrSignature)

			for _, kind := range []wxsim.Kind{wxsim.KindFavor, wxsim.KindProduct} {
				stock := map[wxsim.Kind]string{wxsim.KindFavor: "F", wxsim.KindProduct: "P"}[kind]
				res, err := b.send(context.Background(), kind, stock, "u", "ORN-client")
				require.ErrorIs(t, err, wxpay.ErrSignature)
				require.Equal(t, wxpay.OutcomeUnknown, wxpay.Classify(res, err))
			}
			require.Len(t, b.sim.Ledger(""), 3, "the coupons were issued; the answers cannot be trusted")
		})
	}
}

// TestFaultSeed: the same seed draws the same faults.
func TestFaultSeed(t *testing.T) {
	t.Parallel()
	run := func(seed uint64) []string {
		b := setup(t, wxsim.Options{
			Stocks: []wxsim.StockSpec{{ID: "F", Budget: 1000}},
			Faults: wxsim.Faults{Before500: 0.3, After500: 0.3, ForgedSig: 0.3},
			Seed:   seed,
		})
		var got []string
		for i := range 30 {
			res, err := b.send(context.Background(), wxsim.KindFavor, "F", "u", "ORN-"+strings.Repeat("x", i+1))
			outcome := string(wxpay.Classify(res, err))
			if errors.Is(err, wxpay.ErrSignature) {
				outcome += "/signature"
			}
			got = append(got, outcome)
		}
		return got
	}
	a, b := run(42), run(42)
	require.Equal(t, a, b)
	require.Contains(t, a, "issued")
	require.Contains(t, a, "unknown")
	require.Contains(t, a, "unknown/signature")
	require.NotEqual(t, a, run(43))
}
