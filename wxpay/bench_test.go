package wxpay_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/wxpay"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

func BenchmarkSign(b *testing.B) {
	s := loadTestKeys(b).signer()
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		a, err := s.Authorize(http.MethodPost, sendURI, sendBody, now, "")
		if err != nil {
			b.Fatal(err)
		}
		_ = a.String()
	}
}

func BenchmarkVerify(b *testing.B) {
	k := loadTestKeys(b)
	v := k.verifier()
	body := []byte(`{"coupon_id":"9867041"}`)
	now := time.Now()
	h := http.Header{}
	require.NoError(b, wxpay.SignResponse(h, k.platform, testPublicKeyID, body, now, ""))
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Verify(h, body, now); err != nil {
			b.Fatal(err)
		}
	}
}

// staticServer answers every request with one pre-signed 代金券 answer and
// checks nothing, so a round trip costs HTTP plus the client's own work.
func staticServer(b *testing.B, k testKeys) *httptest.Server {
	body := []byte(`{"coupon_id":"9867041"}`)
	h := http.Header{}
	require.NoError(b, wxpay.SignResponse(h, k.platform, testPublicKeyID, body, time.Now(), ""))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = r.Body.Read(make([]byte, 512))
		for k, v := range h {
			w.Header()[k] = v
		}
		_, _ = w.Write(body)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// BenchmarkRoundTrip compares a plain HTTP exchange of the same bytes
// ("raw") with a full SendFavor ("client": marshal, sign, send, read,
// verify, decode). client − raw − Sign − Verify is the client's overhead
// beyond crypto.
func BenchmarkRoundTrip(b *testing.B) {
	k := loadTestKeys(b)
	srv := staticServer(b, k)
	ctx := context.Background()
	c, err := wxpay.New(wxpay.Options{BaseURL: srv.URL, MchID: testMchID, AppID: testAppID, Signer: k.signer(), Verifier: k.verifier(), MaxConns: 64})
	require.NoError(b, err)
	b.Cleanup(c.Close)
	hc := &http.Client{Transport: wxpay.NewTransport(64)}

	b.Run("raw", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			resp, err := hc.Post(srv.URL+sendURI, "application/json", bytes.NewReader(sendBody))
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 64)
			_, _ = resp.Body.Read(buf)
			resp.Body.Close()
		}
	})
	b.Run("client", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			_, err := c.SendFavor(ctx, wxpay.FavorSendRequest{OpenID: "o4GgauInH_RCEdvrrNGrntXDu6D4", StockID: "9856000", OutRequestNo: "r" + strconv.Itoa(i)})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("client-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.SendFavor(ctx, wxpay.FavorSendRequest{OpenID: "o", StockID: "9856000", OutRequestNo: "r1"}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkSimSendFavor is a full exchange with the simulator: both sides
// sign and verify, the simulator issues a coupon per call.
func BenchmarkSimSendFavor(b *testing.B) {
	sb := simSetup(b, func(so *wxsim.Options, _ *wxpay.Options) {
		so.Stocks = []wxsim.StockSpec{{ID: "9856000", Budget: 1 << 30}}
	})
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		n := strconv.Itoa(i)
		res, err := sb.client.SendFavor(ctx, wxpay.FavorSendRequest{OpenID: "o_" + n, StockID: "9856000", OutRequestNo: "r-" + n})
		if err != nil || res.CouponID == "" {
			b.Fatal(err)
		}
	}
}
