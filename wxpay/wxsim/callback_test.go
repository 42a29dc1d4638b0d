package wxsim_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/wxpay"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

type delivery struct {
	header http.Header
	body   []byte
}

// receiver is a merchant's callback endpoint answering status(attempt).
func receiver(t *testing.T, status func(attempt int64) int) (string, <-chan delivery) {
	t.Helper()
	got := make(chan delivery, 100)
	var attempts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- delivery{header: r.Header.Clone(), body: body}
		w.WriteHeader(status(attempts.Add(1)))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/callbacks/wxpay", got
}

func next(t *testing.T, ch <-chan delivery) delivery {
	t.Helper()
	select {
	case d := <-ch:
		return d
	case <-time.After(20 * time.Second): // deadlock guard
		t.Fatal("no callback arrived")
		return delivery{}
	}
}

func TestCallbackDelivery(t *testing.T) {
	t.Parallel()
	// The first attempt is refused: the notification comes again.
	url, got := receiver(t, func(attempt int64) int {
		if attempt == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	b := setup(t, wxsim.Options{
		Stocks:          []wxsim.StockSpec{{ID: "F", Budget: 10, CouponValue: 300, CouponMinimum: 1000}},
		CallbackURL:     url,
		CallbackBackoff: time.Millisecond,
	})
	id := couponID(t, b.sendFavor(t, "F", "u1", "ORN-1"))
	n, err := b.admin.Redeem(context.Background(), "F", 1)
	require.NoError(t, err)
	require.Equal(t, 1, n)

	first, second := next(t, got), next(t, got)
	require.Equal(t, first.body, second.body, "a retry repeats the notification")
	for _, d := range []delivery{first, second} {
		n, use, err := wxpay.ParseNotification(d.header, d.body, b.keys.Verifier(), b.keys.APIv3Key, time.Now())
		require.NoError(t, err)
		require.Equal(t, wxpay.EventCouponUse, n.EventType)
		require.Equal(t, "encrypt-resource", n.ResourceType)
		require.Equal(t, wxpay.AEADAlgorithm, n.Resource.Algorithm)
		require.Equal(t, id, use.CouponID)
		require.Equal(t, "F", use.StockID)
		require.Equal(t, b.keys.MchID, use.StockCreatorMchID)
		require.Equal(t, wxpay.CouponUsed, use.Status)
		require.Equal(t, &wxpay.NormalCouponInformation{CouponAmount: 300, TransactionMinimum: 1000}, use.NormalCouponInformation)
		ledger := b.sim.Ledger("F")[0]
		require.Equal(t, ledger.Use.TransactionID, use.ConsumeInformation.TransactionID)
		require.Equal(t, b.keys.MchID, use.ConsumeInformation.ConsumeMchID)
	}
	waitFor(t, "the delivery to be counted", func() bool { return b.sim.Stats().Callbacks == 1 })

	// A tampered callback does not verify.
	tampered := append([]byte(nil), first.body...)
	tampered[len(tampered)-3] ^= 1
	_, _, err = wxpay.ParseNotification(first.header, tampered, b.keys.Verifier(), b.keys.APIv3Key, time.Now())
	require.ErrorIs(t, err, wxpay.ErrSignature)

	// The coupon query shows the redemption.
	c, err := b.client.QueryCoupon(context.Background(), "u1", id, "")
	require.NoError(t, err)
	require.Equal(t, wxpay.CouponUsed, c.Status)
	require.NotNil(t, c.ConsumeInformation)
}

func TestCallbackGivesUp(t *testing.T) {
	t.Parallel()
	url, got := receiver(t, func(int64) int { return http.StatusBadGateway })
	b := setup(t, wxsim.Options{
		Stocks:           []wxsim.StockSpec{{ID: "F", Budget: 10}},
		CallbackURL:      url,
		CallbackAttempts: 3,
		CallbackBackoff:  time.Millisecond,
	})
	couponID(t, b.sendFavor(t, "F", "u1", "ORN-1"))
	_, err := b.sim.Redeem("F", 1)
	require.NoError(t, err)
	for range 3 {
		next(t, got)
	}
	waitFor(t, "the failure to be counted", func() bool { return b.sim.Stats().CallbackFailures == 1 })
	require.EqualValues(t, 0, b.sim.Stats().Callbacks)
	require.Empty(t, got, "no attempt beyond the third")
}

func TestCallbackURLChange(t *testing.T) {
	t.Parallel()
	url, got := receiver(t, func(int64) int { return http.StatusOK })
	b := setup(t, wxsim.Options{Stocks: []wxsim.StockSpec{{ID: "F", Budget: 10}}})
	ctx := context.Background()
	couponID(t, b.sendFavor(t, "F", "u1", "ORN-1"))
	couponID(t, b.sendFavor(t, "F", "u2", "ORN-2"))

	_, err := b.admin.Redeem(ctx, "F", 0.5) // no URL yet: no notification
	require.NoError(t, err)
	var later string
	for _, c := range b.sim.Ledger("F") {
		if c.Use == nil {
			later = c.CouponID
		}
	}
	require.NotEmpty(t, later)
	require.NoError(t, b.admin.SetCallbackURL(ctx, url))
	got2, err := b.admin.CallbackURL(ctx)
	require.NoError(t, err)
	require.Equal(t, url, got2)
	_, err = b.admin.Redeem(ctx, "F", 1)
	require.NoError(t, err)
	d := next(t, got)
	_, use, err := wxpay.ParseNotification(d.header, d.body, b.keys.Verifier(), b.keys.APIv3Key, time.Now())
	require.NoError(t, err)
	require.Equal(t, later, use.CouponID, "only the coupon redeemed after the URL was set")
	require.Error(t, b.admin.SetCallbackURL(ctx, "not a url"))
}
