package wxpay_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/wxpay"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

// simBundle is a client talking to the simulator over real HTTP on
// loopback, both sides using the committed test keys.
type simBundle struct {
	k      testKeys
	sim    *wxsim.Server
	url    string
	client *wxpay.Client
}

func simKeys(k testKeys) *wxsim.Keys {
	return &wxsim.Keys{
		MchID: testMchID, AppID: testAppID, CertSerialNo: testCertSerial, PublicKeyID: testPublicKeyID,
		MerchantKey: k.merchant, MerchantPublic: k.merchantPub,
		PlatformKey: k.platform, PlatformPublic: k.platformPub,
		APIv3Key: testAPIv3Key, APIv2Key: "apiv2-test-key",
	}
}

func simSetup(t testing.TB, edit func(*wxsim.Options, *wxpay.Options)) *simBundle {
	t.Helper()
	k := loadTestKeys(t)
	so := wxsim.Options{
		Keys: simKeys(k),
		Stocks: []wxsim.StockSpec{
			{ID: "9856000", Budget: 1000, PerUser: 1},
			{ID: "1262260000000268", Kind: wxsim.KindProduct, Budget: 1000, PerUser: 1},
		},
		Seed: 1,
	}
	co := wxpay.Options{MchID: testMchID, AppID: testAppID, Signer: k.signer(), Verifier: k.verifier(), Timeout: 5 * time.Second}
	if edit != nil {
		edit(&so, &co)
	}
	sim, err := wxsim.New(so)
	require.NoError(t, err)
	hs := httptest.NewServer(sim.Handler())
	t.Cleanup(hs.Close)
	t.Cleanup(func() { _ = sim.Close() }) // first, so held answers return
	co.BaseURL = hs.URL
	c, err := wxpay.New(co)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return &simBundle{k: k, sim: sim, url: hs.URL, client: c}
}

func favor(openid, outRequestNo string) wxpay.FavorSendRequest {
	return wxpay.FavorSendRequest{OpenID: openid, StockID: "9856000", OutRequestNo: outRequestNo}
}

func product(openid, outRequestNo string) wxpay.ProductSendRequest {
	return wxpay.ProductSendRequest{OpenID: openid, StockID: "1262260000000268", OutRequestNo: outRequestNo}
}

// sendBoth sends one 代金券 or 商品券 and classifies the answer.
func (b *simBundle) send(t testing.TB, kind wxpay.Kind, openid, outRequestNo string) (wxpay.SendResult, wxpay.Outcome, error) {
	t.Helper()
	ctx := context.Background()
	var res wxpay.SendResult
	var err error
	if kind == wxpay.KindProduct {
		res, err = b.client.SendProduct(ctx, product(openid, outRequestNo))
	} else {
		res, err = b.client.SendFavor(ctx, favor(openid, outRequestNo))
	}
	return res, wxpay.Classify(res, err), err
}

func TestSimStockLifecycleAndFlows(t *testing.T) {
	t.Parallel()
	b := simSetup(t, nil)
	ctx := context.Background()
	c := b.client

	created, err := c.CreateStock(ctx, wxpay.CreateStockRequest{
		StockName:          "模拟批次",
		AvailableBeginTime: wxpay.FormatTime(time.Now().Add(time.Minute)),
		AvailableEndTime:   wxpay.FormatTime(time.Now().Add(30 * 24 * time.Hour)),
		StockUseRule:       wxpay.StockUseRule{MaxCoupons: 10, MaxAmount: 1000, MaxCouponsPerUser: 1},
		CouponUseRule:      wxpay.CouponUseRule{FixedNormalCoupon: &wxpay.FixedNormalCoupon{CouponAmount: 100, TransactionMinimum: 101}},
		OutRequestNo:       testMchID + "20240102000001",
	})
	require.NoError(t, err)
	require.NotEmpty(t, created.StockID)
	id := created.StockID

	st, err := c.QueryStock(ctx, id, "")
	require.NoError(t, err)
	require.Equal(t, wxpay.StockUnactivated, st.Status)

	res, err := c.SendFavor(ctx, wxpay.FavorSendRequest{OpenID: "o1", StockID: id, OutRequestNo: "r-unactivated"})
	require.Equal(t, wxpay.OutcomeStockUnavailable, wxpay.Classify(res, err))

	started, err := c.StartStock(ctx, id, "")
	require.NoError(t, err)
	require.Equal(t, id, started.StockID)
	require.NotEmpty(t, started.Time)

	issued := map[string]string{} // coupon id → openid
	for i := range 4 {
		openid := "o_user_" + strconv.Itoa(i)
		res, err := c.SendFavor(ctx, wxpay.FavorSendRequest{OpenID: openid, StockID: id, OutRequestNo: "r-" + strconv.Itoa(i)})
		require.NoError(t, err)
		require.Equal(t, wxpay.OutcomeIssued, wxpay.Classify(res, err))
		issued[res.CouponID] = openid
	}
	for couponID, openid := range issued {
		cp, err := c.QueryCoupon(ctx, openid, couponID, "")
		require.NoError(t, err)
		require.Equal(t, id, cp.StockID)
		require.Equal(t, wxpay.CouponSended, cp.Status)
	}

	paused, err := c.PauseStock(ctx, id, "")
	require.NoError(t, err)
	require.NotEmpty(t, paused.Time)
	res, err = c.SendFavor(ctx, wxpay.FavorSendRequest{OpenID: "o_late", StockID: id, OutRequestNo: "r-paused"})
	require.Equal(t, wxpay.OutcomeStockUnavailable, wxpay.Classify(res, err))
	st, err = c.QueryStock(ctx, id, "")
	require.NoError(t, err)
	require.Equal(t, wxpay.StockPaused, st.Status)
	_, err = c.RestartStock(ctx, id, "")
	require.NoError(t, err)

	list, err := c.ListStocks(ctx, wxpay.ListStocksRequest{Limit: 10})
	require.NoError(t, err)
	require.Equal(t, 2, list.TotalCount, "the 代金券 stocks: the default one and the new one")
	var found bool
	for _, s := range list.Data {
		if s.StockID == id {
			found = true
			require.Equal(t, wxpay.StockRunning, s.Status)
			require.Equal(t, int64(4), s.DistributedCoupons)
		}
	}
	require.True(t, found)

	// Nothing redeemed yet: the flow file does not exist.
	_, err = c.UseFlow(ctx, id)
	require.True(t, wxpay.IsNotFound(err), "%v", err)

	redeemed, err := b.sim.Redeem(id, 1)
	require.NoError(t, err)
	require.Equal(t, 4, redeemed)
	refunded, err := b.sim.Refund(id, 0.5)
	require.NoError(t, err)
	require.Equal(t, 2, refunded)

	// Files are published from 10:00 the day after the stock ends: not
	// while it runs, not right after it stops.
	_, err = c.UseFlow(ctx, id)
	require.True(t, wxpay.IsNotFound(err), "running: %v", err)
	stopped, err := c.StopStock(ctx, id, "")
	require.NoError(t, err)
	stopAt, err := time.Parse(time.RFC3339, stopped.Time)
	require.NoError(t, err)
	_, err = c.UseFlow(ctx, id)
	require.True(t, wxpay.IsNotFound(err), "stopped, before 10:00 the next day: %v", err)
	b.sim.SetClockOffset(time.Until(wxsim.FlowsAvailable(stopAt)) + time.Minute)

	for _, tc := range []struct {
		kind wxpay.FlowKind
		meta func(context.Context, string) (*wxpay.FlowDownload, error)
		rows int
	}{
		{wxpay.FlowUse, c.UseFlow, 4},
		{wxpay.FlowRefund, c.RefundFlow, 2},
	} {
		meta, err := tc.meta(ctx, id)
		require.NoError(t, err, tc.kind)
		var file bytes.Buffer
		n, err := c.Download(ctx, meta.URL, &file, meta.HashValue)
		require.NoError(t, err, tc.kind)
		require.Equal(t, int64(file.Len()), n)

		fr, err := wxpay.NewFlowReader(&file)
		require.NoError(t, err)
		require.Equal(t, tc.kind, fr.Kind())
		var rows []wxpay.FlowRow
		for {
			row, err := fr.Next()
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			rows = append(rows, row)
		}
		require.Len(t, rows, tc.rows, tc.kind)
		for _, r := range rows {
			require.Equal(t, id, r.StockID)
			require.Contains(t, issued, r.CouponID)
			require.Equal(t, int64(100), r.Amount)
		}

		_, err = c.Download(ctx, meta.URL, io.Discard, "0000000000000000000000000000000000000000")
		require.ErrorIs(t, err, wxpay.ErrChecksum)
	}

	used := firstKey(issued)
	cp, err := c.QueryCoupon(ctx, issued[used], used, "")
	require.NoError(t, err)
	require.Equal(t, wxpay.CouponUsed, cp.Status)
	require.NotNil(t, cp.ConsumeInformation)
}

func firstKey(m map[string]string) string {
	for k := range m {
		return k
	}
	return ""
}

// TestSimOutcomes reaches every row of the classification table through the
// simulator, over real HTTP, both coupon kinds where the row exists.
func TestSimOutcomes(t *testing.T) {
	t.Parallel()
	b := simSetup(t, nil)
	both := []wxpay.Kind{wxpay.KindFavor, wxpay.KindProduct}
	cases := []struct {
		openid string
		kinds  []wxpay.Kind
		want   wxpay.Outcome
	}{
		{"o_plain", both, wxpay.OutcomeIssued},
		{"throttle_x", both, wxpay.OutcomeThrottled},
		{"busy_x", both, wxpay.OutcomeThrottled},
		{"syserr_x", both, wxpay.OutcomeUnknown},
		{"nobudget_x", both, wxpay.OutcomeBudgetExhausted},
		{"notrunning_x", both, wxpay.OutcomeStockUnavailable},
		{"expired_x", both, wxpay.OutcomeStockUnavailable},
		{"noproduct_x", both, wxpay.OutcomeStockUnavailable},
		{"noauth_x", both, wxpay.OutcomeConfigError},
		{"noperm_x", both, wxpay.OutcomeConfigError},
		{"crossmch_x", both, wxpay.OutcomeConfigError},
		{"badmch_x", both, wxpay.OutcomeConfigError},
		{"appmismatch_x", both, wxpay.OutcomeConfigError},
		{"badmode_x", both, wxpay.OutcomeConfigError},
		{"signerr_x", both, wxpay.OutcomeConfigError},
		{"limited_x", both, wxpay.OutcomeUserLimited},
		{"received_x", both, wxpay.OutcomeUserLimited},
		{"daylimit_x", both, wxpay.OutcomeUserDailyLimit},
		{"abnormal_x", both, wxpay.OutcomeUserAbnormal},
		{"badapp_x", both, wxpay.OutcomeInvalidUser},
		{"nouser_x", both, wxpay.OutcomeInvalidUser},
		{"nomember_x", both, wxpay.OutcomeInvalidUser},
		{"param_x", both, wxpay.OutcomeInvalidRequest},
		{"weird_x", both, wxpay.OutcomeUnclassified},
	}
	for _, tc := range cases {
		for _, kind := range tc.kinds {
			res, got, err := b.send(t, kind, tc.openid, "r-"+tc.openid)
			require.Equal(t, tc.want, got, "%s %s: %v", kind, tc.openid, err)
			if tc.want != wxpay.OutcomeIssued {
				var apiErr *wxpay.APIError
				require.ErrorAs(t, err, &apiErr, "%s %s", kind, tc.openid)
				require.Equal(t, apiErr.Status, res.Status)
				require.NotEmpty(t, apiErr.Code)
			}
		}
	}
}

func TestSimStateOutcomes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("replays", func(t *testing.T) {
		t.Parallel()
		b := simSetup(t, nil)
		first, got, err := b.send(t, wxpay.KindFavor, "o_replay", "r-replay")
		require.NoError(t, err)
		require.Equal(t, wxpay.OutcomeIssued, got)
		// 代金券: 200 with the same coupon_id, indistinguishable from a first send.
		again, got, err := b.send(t, wxpay.KindFavor, "o_replay", "r-replay")
		require.NoError(t, err)
		require.Equal(t, wxpay.OutcomeIssued, got)
		require.Equal(t, first.CouponID, again.CouponID)

		_, got, err = b.send(t, wxpay.KindProduct, "o_replay", "r-replay")
		require.NoError(t, err)
		require.Equal(t, wxpay.OutcomeIssued, got)
		_, got, err = b.send(t, wxpay.KindProduct, "o_replay", "r-replay")
		require.Equal(t, wxpay.OutcomeAlreadyIssued, got, "%v", err)
		require.Len(t, b.sim.Ledger(""), 2, "replays issue nothing")
	})

	t.Run("per-user limit and budget", func(t *testing.T) {
		t.Parallel()
		b := simSetup(t, func(so *wxsim.Options, _ *wxpay.Options) {
			so.Stocks = []wxsim.StockSpec{
				{ID: "9856000", Budget: 2, PerUser: 1},
				{ID: "1262260000000268", Kind: wxsim.KindProduct, Budget: 2, PerUser: 1},
			}
		})
		for _, kind := range []wxpay.Kind{wxpay.KindFavor, wxpay.KindProduct} {
			_, got, _ := b.send(t, kind, "o_a", "r-a1")
			require.Equal(t, wxpay.OutcomeIssued, got)
			_, got, _ = b.send(t, kind, "o_a", "r-a2")
			require.Equal(t, wxpay.OutcomeUserLimited, got, kind)
			_, got, _ = b.send(t, kind, "o_b", "r-b1")
			require.Equal(t, wxpay.OutcomeIssued, got)
			_, got, _ = b.send(t, kind, "o_c", "r-c1")
			require.Equal(t, wxpay.OutcomeBudgetExhausted, got, kind)
		}
	})

	t.Run("stock not running", func(t *testing.T) {
		t.Parallel()
		b := simSetup(t, nil)
		require.NoError(t, b.sim.SetStockStatus("9856000", wxsim.StatusPaused))
		require.NoError(t, b.sim.SetStockStatus("1262260000000268", wxsim.StatusExpired))
		_, got, _ := b.send(t, wxpay.KindFavor, "o", "r1")
		require.Equal(t, wxpay.OutcomeStockUnavailable, got)
		_, got, _ = b.send(t, wxpay.KindProduct, "o", "r1")
		require.Equal(t, wxpay.OutcomeStockUnavailable, got)
		res, err := b.client.SendFavor(ctx, wxpay.FavorSendRequest{OpenID: "o", StockID: "404404", OutRequestNo: "r2"})
		require.Equal(t, wxpay.OutcomeStockUnavailable, wxpay.Classify(res, err), "unknown stock")
		res, err = b.client.SendProduct(ctx, wxpay.ProductSendRequest{OpenID: "o", StockID: "404404", OutRequestNo: "r2"})
		require.Equal(t, wxpay.OutcomeStockUnavailable, wxpay.Classify(res, err), "unknown stock")
	})

	t.Run("rate limit", func(t *testing.T) {
		t.Parallel()
		b := simSetup(t, func(so *wxsim.Options, _ *wxpay.Options) { so.Limit = 2 })
		throttled := 0
		for i := range 10 {
			_, got, _ := b.send(t, wxpay.KindFavor, "o_"+strconv.Itoa(i), "r-"+strconv.Itoa(i))
			if got == wxpay.OutcomeThrottled {
				throttled++
			} else {
				require.Equal(t, wxpay.OutcomeIssued, got)
			}
		}
		require.Positive(t, throttled, "a burst over the hidden limit is throttled")
	})

	t.Run("wrong merchant key", func(t *testing.T) {
		t.Parallel()
		b := simSetup(t, func(_ *wxsim.Options, co *wxpay.Options) {
			co.Signer = &wxpay.Signer{MchID: testMchID, SerialNo: testCertSerial, Key: loadTestKeys(t).platform}
		})
		res, got, err := b.send(t, wxpay.KindFavor, "o", "r1")
		require.Equal(t, wxpay.OutcomeConfigError, got)
		require.Equal(t, http.StatusUnauthorized, res.Status)
		var apiErr *wxpay.APIError
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, "SIGN_ERROR", apiErr.Code)
	})
}

// TestSimFaults injects each fault on every send and checks that the answer
// classifies as unknown, then that a retry with the same out_request_no,
// once the fault is gone, lands on exactly one coupon.
func TestSimFaults(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		faults      wxsim.Faults
		issuedFirst bool // the fault strikes after the coupon was issued
	}{
		"500 before issuing": {faults: wxsim.Faults{Before500: 1}},
		"500 after issuing":  {faults: wxsim.Faults{After500: 1}, issuedFirst: true},
		"hang after issuing": {faults: wxsim.Faults{HangAfter: 1}, issuedFirst: true},
		"reset after issue":  {faults: wxsim.Faults{ResetAfter: 1}, issuedFirst: true},
		"forged signature":   {faults: wxsim.Faults{ForgedSig: 1}, issuedFirst: true},
		"signature probe":    {faults: wxsim.Faults{Probe: 1}, issuedFirst: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := simSetup(t, func(so *wxsim.Options, co *wxpay.Options) {
				so.Faults = tc.faults
				co.Timeout = 300 * time.Millisecond
			})
			for _, kind := range []wxpay.Kind{wxpay.KindFavor, wxpay.KindProduct} {
				res, got, err := b.send(t, kind, "o_fault", "r-fault")
				require.Equal(t, wxpay.OutcomeUnknown, got, "%s: %v", kind, err)
				require.Empty(t, res.CouponID)
			}
			require.NoError(t, b.sim.SetFaults(wxsim.Faults{}))
			if tc.issuedFirst {
				require.Len(t, b.sim.Ledger(""), 2)
			} else {
				require.Empty(t, b.sim.Ledger(""))
			}
			res, got, err := b.send(t, wxpay.KindFavor, "o_fault", "r-fault")
			require.NoError(t, err)
			require.Equal(t, wxpay.OutcomeIssued, got)
			_, got, err = b.send(t, wxpay.KindProduct, "o_fault", "r-fault")
			if tc.issuedFirst {
				require.Equal(t, wxpay.OutcomeAlreadyIssued, got, "%v", err)
			} else {
				require.Equal(t, wxpay.OutcomeIssued, got, "%v", err)
			}
			ledger := b.sim.Ledger("9856000")
			require.Len(t, ledger, 1, "exactly one 代金券")
			require.Equal(t, ledger[0].CouponID, res.CouponID)
			require.Len(t, b.sim.Ledger(""), 2, "exactly one of each")
		})
	}
}

func TestSimCouponUseCallback(t *testing.T) {
	t.Parallel()
	type received struct {
		n   *wxpay.Notification
		use *wxpay.CouponUse
		err error
	}
	got := make(chan received, 8)
	k := loadTestKeys(t)
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		n, use, err := wxpay.ParseNotification(r.Header, body, k.verifier(), testAPIv3Key, time.Now())
		got <- received{n, use, err}
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(cb.Close)
	b := simSetup(t, func(so *wxsim.Options, _ *wxpay.Options) { so.CallbackURL = cb.URL })

	res, _, err := b.send(t, wxpay.KindFavor, "o_cb", "r-cb")
	require.NoError(t, err)
	n, err := b.sim.Redeem("9856000", 1)
	require.NoError(t, err)
	require.Equal(t, 1, n)

	select {
	case r := <-got:
		require.NoError(t, r.err)
		require.Equal(t, wxpay.EventCouponUse, r.n.EventType)
		require.Equal(t, res.CouponID, r.use.CouponID)
		require.Equal(t, "9856000", r.use.StockID)
		require.NotNil(t, r.use.ConsumeInformation)
		require.NotEmpty(t, r.use.ConsumeInformation.TransactionID)
	case <-time.After(30 * time.Second):
		t.Fatal("no COUPON.USE notification")
	}
}
