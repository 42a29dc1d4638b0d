package limitmodel

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/wxpay"
)

type testBundle struct {
	srv    *Server
	client *wxpay.Client
}

// testMerchant and testKeys are generated once: RSA-2048 key generation is
// slow.
var testMerchant, testKeys = func() (*rsa.PrivateKey, Keys) {
	merchant, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	platform, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return merchant, Keys{MchID: "1900000109", CertSerialNo: "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
		MerchantPublic: &merchant.PublicKey, PublicKeyID: "PUB_KEY_ID_0114232019112100000000000000", PlatformKey: platform}
}()

func setup(t *testing.T, cfg Config) *testBundle {
	t.Helper()
	cfg.Keys = testKeys
	srv, err := New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, srv.Start(ctx, "127.0.0.1:0"))
	t.Cleanup(func() {
		cancel()
		srv.Wait()
	})
	client, err := wxpay.New(wxpay.Options{BaseURL: srv.URL(), MchID: testKeys.MchID, AppID: "wx8888888888888888",
		Signer:   &wxpay.Signer{MchID: testKeys.MchID, SerialNo: testKeys.CertSerialNo, Key: testMerchant},
		Verifier: wxpay.NewPublicKeyVerifier(testKeys.PublicKeyID, &testKeys.PlatformKey.PublicKey)})
	require.NoError(t, err)
	t.Cleanup(client.Close)
	return &testBundle{srv: srv, client: client}
}

func send(t *testing.T, b *testBundle, n int) wxpay.Outcome {
	t.Helper()
	res, err := b.client.SendFavor(context.Background(), wxpay.FavorSendRequest{OpenID: "o-limit-model",
		StockID: "9856000", OutRequestNo: fmt.Sprintf("MODEL%010d", n)})
	return wxpay.Classify(res, err)
}

func TestServer(t *testing.T) {
	t.Parallel()

	t.Run("a send is issued once per out_request_no, signed", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{Limit: 100, Latency: time.Millisecond})
		req := wxpay.FavorSendRequest{OpenID: "o-1", StockID: "9856000", OutRequestNo: "MODEL0000000001"}
		first, err := b.client.SendFavor(context.Background(), req)
		require.NoError(t, err)
		require.Equal(t, wxpay.OutcomeIssued, wxpay.Classify(first, nil))
		again, err := b.client.SendFavor(context.Background(), req)
		require.NoError(t, err)
		require.Equal(t, first.CouponID, again.CouponID)
		require.Len(t, b.srv.Log(), 2)
	})

	t.Run("any stock is running at a fixed face value", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{Limit: 100})
		st, err := b.client.QueryStock(context.Background(), "9856000", "")
		require.NoError(t, err)
		require.Equal(t, wxpay.StockRunning, st.Status)
		require.Equal(t, int64(1000), st.StockUseRule.FixedNormalCoupon.CouponAmount)
		require.Empty(t, b.srv.Log(), "a stock query is not a send")
	})

	t.Run("over the limit: 429 FREQUENCY_LIMITED, signed", func(t *testing.T) {
		t.Parallel()
		// 1/s, one token deep: the second send within the second is over.
		b := setup(t, Config{Limit: 1, Depth: time.Millisecond, Jitter: -1})
		require.Equal(t, wxpay.OutcomeIssued, send(t, b, 0))
		require.Equal(t, wxpay.OutcomeThrottled, send(t, b, 1))
		log := b.srv.Log()
		require.Len(t, log, 2)
		require.True(t, log[0].Admitted)
		require.False(t, log[1].Admitted)
	})

	t.Run("an unsigned request is refused", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{Limit: 100})
		resp, err := http.Post(b.srv.URL()+"/v3/marketing/favor/users/o-1/coupons", "application/json", strings.NewReader(`{}`))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		require.Empty(t, b.srv.Log())
	})
}

func TestNewRefuses(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		cfg  Config
	}{
		{"no keys", Config{Limit: 100}},
		{"no limit", Config{Keys: testKeys}},
		{"unknown model", Config{Keys: testKeys, Limit: 100, Model: "leaky"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tt.cfg)
			require.Error(t, err)
		})
	}
}

// TestModels judges sends at given times, as the handler does once the
// latency has passed.
func TestModels(t *testing.T) {
	t.Parallel()

	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms ...int) []time.Time {
		var ts []time.Time
		for _, m := range ms {
			ts = append(ts, start.Add(time.Duration(m)*time.Millisecond))
		}
		return ts
	}
	tests := []struct {
		name  string
		model Model
		sends []time.Time
		want  []bool
	}{
		{
			// 100/s, 50 ms deep: 5 tokens, one back every 10 ms.
			name: "bucket: a burst of its depth, then one per refill", model: Bucket,
			sends: at(0, 0, 0, 0, 0, 0, 10, 10, 30, 30, 30),
			want:  []bool{true, true, true, true, true, false, true, false, true, true, false},
		},
		{
			// 100/s over 50 ms: 5 in any 50 ms, each back 50 ms after it was used.
			name: "sliding log: its worth per span, nothing back before", model: SlidingLog,
			sends: at(0, 0, 0, 0, 0, 0, 10, 49, 50, 50, 50, 51),
			want:  []bool{true, true, true, true, true, false, false, false, true, true, true, true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, err := New(Config{Keys: testKeys, Model: tt.model, Limit: 100, Depth: 50 * time.Millisecond})
			require.NoError(t, err)
			var got []bool
			for _, ts := range tt.sends {
				got = append(got, srv.allow(ts))
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func TestMeasure(t *testing.T) {
	t.Parallel()

	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	// 10 s at 90/s, every tenth send throttled, against a 100/s limit.
	var log []Event
	for i := range 900 {
		log = append(log, Event{At: start.Add(time.Duration(i) * time.Second / 90), Admitted: i%10 != 0})
	}
	f := Measure(log, func(time.Duration) float64 { return 100 }, 2*time.Second)
	require.Equal(t, 900, f.Sends)
	require.Equal(t, 810, f.Accepted)
	require.InDelta(t, 0.1, f.Throttled, 1e-9)
	require.InDelta(t, 810.0/(100*f.Span.Seconds()), f.Whole, 1e-3)
	require.InDelta(t, 0.81, f.Steady, 0.01)
	require.InDelta(t, 0.1, f.SteadyThrottled, 0.01)

	slots := Slots(log, time.Second)
	require.Len(t, slots, 10)
	require.Equal(t, Slot{Sends: 90, Throttled: 9}, slots[0])
}
