package wxsim_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/wxpay"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

func TestAuthorization(t *testing.T) {
	t.Parallel()
	b := setup(t, wxsim.Options{Stocks: []wxsim.StockSpec{{ID: "S1", Budget: 100}}})
	uri := wxpay.PathStocks + "?offset=0&limit=10&stock_creator_mchid=" + b.keys.MchID

	// sign builds an Authorization header with the fields in the given
	// order, after letting mutate spoil one of them.
	sign := func(t *testing.T, method, uri string, body []byte, at time.Time, mutate func(*wxpay.Authorization)) string {
		t.Helper()
		a, err := b.keys.Signer().Authorize(method, uri, body, at, "")
		require.NoError(t, err)
		if mutate != nil {
			mutate(&a)
		}
		return a.String()
	}
	otherKey := b.keys.PlatformKey // any key but the merchant's

	tests := []struct {
		name   string
		header func(t *testing.T) string
		issue  string
	}{
		{name: "missing header", header: func(*testing.T) string { return "" }, issue: "missing Authorization header"},
		{name: "wrong scheme", header: func(t *testing.T) string {
			return "Bearer " + sign(t, "GET", uri, nil, b.now(), nil)
		}},
		{name: "wrong signature", header: func(t *testing.T) string {
			return sign(t, "GET", uri, nil, b.now(), func(a *wxpay.Authorization) {
				sig, err := wxpay.SignSHA256RSA(otherKey, wxpay.RequestMessage("GET", uri, a.Timestamp, a.Nonce, nil))
				require.NoError(t, err)
				a.Signature = sig
			})
		}, issue: "sign not match"},
		{name: "signature over other uri", header: func(t *testing.T) string {
			return sign(t, "GET", wxpay.PathStocks, nil, b.now(), nil)
		}, issue: "sign not match"},
		{name: "wrong serial", header: func(t *testing.T) string {
			return sign(t, "GET", uri, nil, b.now(), func(a *wxpay.Authorization) { a.SerialNo = "0123456789ABCDEF" })
		}},
		{name: "unknown mchid", header: func(t *testing.T) string {
			return sign(t, "GET", uri, nil, b.now(), func(a *wxpay.Authorization) { a.MchID = "1999999999" })
		}},
		{name: "stale timestamp", header: func(t *testing.T) string {
			return sign(t, "GET", uri, nil, b.now().Add(-5*time.Minute), nil)
		}, issue: "timestamp expired"},
		{name: "future timestamp", header: func(t *testing.T) string {
			// A minute past the bound: the call itself may take a second or
			// more on a loaded machine, which a bound+1s timestamp did not allow.
			return sign(t, "GET", uri, nil, b.now().Add(6*time.Minute), nil)
		}, issue: "timestamp expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := b.signedCall(t, http.MethodGet, uri, nil, withAuth(tt.header(t)))
			require.Equal(t, http.StatusUnauthorized, a.status, "body %s", a.body)
			b.verified(t, a)
			code, msg, detail := a.errorBody(t)
			require.Equal(t, "SIGN_ERROR", code)
			require.Equal(t, "错误的签名,验签失败", msg)
			require.Equal(t, "authorization", detail["location"])
			require.Contains(t, detail, "sign_information")
			if tt.issue != "" {
				require.Equal(t, map[string]any{"issue": tt.issue}, detail["detail"])
			}
		})
	}

	t.Run("tampered body", func(t *testing.T) {
		t.Parallel()
		body := []byte(`{"stock_id":"S1","out_request_no":"t1","appid":"` + b.keys.AppID + `","stock_creator_mchid":"` + b.keys.MchID + `"}`)
		signed := sign(t, "POST", favorPath("u1"), body, b.now(), nil)
		tampered := append([]byte(nil), body...)
		tampered[len(tampered)-2] = 'X' // same length, other bytes
		a := b.signedCall(t, http.MethodPost, favorPath("u1"), tampered, withAuth(signed))
		require.Equal(t, http.StatusUnauthorized, a.status)
		require.Empty(t, b.sim.Ledger(""))
	})

	t.Run("any field order", func(t *testing.T) {
		t.Parallel()
		a, err := b.keys.Signer().Authorize("GET", uri, nil, b.now(), "")
		require.NoError(t, err)
		fields := []string{
			`signature="` + a.Signature + `"`,
			`timestamp="` + a.Timestamp + `"`,
			`serial_no="` + a.SerialNo + `"`,
			`nonce_str="` + a.Nonce + `"`,
			`mchid="` + a.MchID + `"`,
		}
		for _, sep := range []string{",", ", "} {
			header := wxpay.AuthScheme + " " + fields[0]
			for _, f := range fields[1:] {
				header += sep + f
			}
			ans := b.signedCall(t, http.MethodGet, uri, nil, withAuth(header))
			require.Equal(t, http.StatusOK, ans.status, "header %s: %s", header, ans.body)
			b.verified(t, ans)
		}
	})

	t.Run("every answer is signed", func(t *testing.T) {
		t.Parallel()
		for _, a := range []answer{
			b.signedCall(t, http.MethodGet, uri, nil),
			b.signedCall(t, http.MethodGet, "/v3/no/such/endpoint", nil),
			b.signedCall(t, http.MethodGet, wxpay.PathStocks, nil), // PARAM_ERROR
		} {
			b.verified(t, a)
		}
	})
}

// TestAuthorizationMerchants accepts each configured merchant with its own
// key and serial, and refuses one merchant's key under another's id.
func TestAuthorizationMerchants(t *testing.T) {
	t.Parallel()
	keys := testKeys(t)
	second := wxsim.Merchant{MchID: "1900000002", SerialNo: "5E3A", PublicKey: &keys.PlatformKey.PublicKey}
	b := setup(t, wxsim.Options{Merchants: []wxsim.Merchant{second}})
	uri := wxpay.PathStocks + "?stock_creator_mchid=" + second.MchID
	signer := &wxpay.Signer{MchID: second.MchID, SerialNo: second.SerialNo, Key: keys.PlatformKey}
	a, err := signer.Authorize("GET", uri, nil, b.now(), "")
	require.NoError(t, err)
	ans := b.signedCall(t, http.MethodGet, uri, nil, withAuth(a.String()))
	require.Equal(t, http.StatusOK, ans.status, "%s", ans.body)

	signer.Key = keys.MerchantKey
	a, err = signer.Authorize("GET", uri, nil, b.now(), "")
	require.NoError(t, err)
	ans = b.signedCall(t, http.MethodGet, uri, nil, withAuth(a.String()))
	require.Equal(t, http.StatusUnauthorized, ans.status)
	require.EqualValues(t, 1, b.sim.Stats().SignErrors)
}
