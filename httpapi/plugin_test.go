package httpapi_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/audit"
	"github.com/issuer-dev/issuer/httpapi"
)

func bearer(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}, "Content-Type": {"application/json"}}
}

// hmacHex is the V2 signature computed here, independently of wxpay.
func hmacHex(key, s string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(s))
	return strings.ToUpper(hex.EncodeToString(m.Sum(nil)))
}

func TestPluginSign(t *testing.T) {
	t.Parallel()
	keys := newKeys(t)
	cases := []struct {
		name     string
		body     string
		merchant string
		params   string // the JSON send_coupon_params expected back
		str      string // the string signed, without &key=…
	}{
		{
			name:     "one coupon, default merchant",
			body:     `{"coupons":[{"stock_id":"9856000","out_request_no":"1900012345202506180001"}]}`,
			merchant: testMerchant,
			params:   `[{"stock_id":"9856000","out_request_no":"1900012345202506180001"}]`,
			str:      "out_request_no0=1900012345202506180001&send_coupon_merchant=1900012345&stock_id0=9856000",
		},
		{
			name:     "two coupons with codes, merchant given",
			body:     `{"send_coupon_merchant":"1900012345","coupons":[{"stock_id":"9856000","out_request_no":"A-1","coupon_code":"C0DE1"},{"stock_id":"9856001","out_request_no":"A-2","coupon_code":"C0DE2"}]}`,
			merchant: testMerchant,
			params:   `[{"stock_id":"9856000","out_request_no":"A-1","coupon_code":"C0DE1"},{"stock_id":"9856001","out_request_no":"A-2","coupon_code":"C0DE2"}]`,
			str:      "coupon_code0=C0DE1&coupon_code1=C0DE2&out_request_no0=A-1&out_request_no1=A-2&send_coupon_merchant=1900012345&stock_id0=9856000&stock_id1=9856001",
		},
		{
			name:     "ten coupons",
			body:     `{"coupons":[` + coupons(10) + `]}`,
			merchant: testMerchant,
			params:   `[` + coupons(10) + `]`,
			str:      signString(10),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, keys, nil)
			status, body, h := b.do(t, http.MethodPost, "/plugin/sign", bearer(testToken), []byte(tc.body))
			require.Equal(t, http.StatusOK, status, body)
			require.Equal(t, "no-store", h.Get("Cache-Control"))

			// Exactly the fields of `issuer plugin-sign`.
			var fields map[string]json.RawMessage
			require.NoError(t, json.Unmarshal([]byte(body), &fields))
			names := make([]string, 0, len(fields))
			for k := range fields {
				names = append(names, k)
			}
			sort.Strings(names)
			require.Equal(t, []string{"send_coupon_merchant", "send_coupon_params", "sign"}, names)
			require.JSONEq(t, `"`+tc.merchant+`"`, string(fields["send_coupon_merchant"]))
			require.JSONEq(t, tc.params, string(fields["send_coupon_params"]))
			require.JSONEq(t, `"`+hmacHex(keys.APIv2Key, tc.str+"&key="+keys.APIv2Key)+`"`, string(fields["sign"]))

			require.NotContains(t, body, keys.APIv2Key)
			require.NotContains(t, b.logs.String(), keys.APIv2Key)
			require.NotContains(t, b.logs.String(), testToken)
		})
	}
}

// TestPluginSignSeedVector checks the answer against the seed's own example
// and its HMAC computed with openssl (key "xxxxx").
func TestPluginSignSeedVector(t *testing.T) {
	t.Parallel()
	b := setup(t, newKeys(t), func(c *httpapi.Config) { c.APIv2Key, c.PluginMerchant = "xxxxx", "10016226" })
	status, body, _ := b.do(t, http.MethodPost, "/plugin/sign", bearer(testToken),
		[]byte(`{"coupons":[{"stock_id":"1234567","out_request_no":"abc123"}]}`))
	require.Equal(t, http.StatusOK, status, body)
	require.JSONEq(t, `{"send_coupon_merchant":"10016226","send_coupon_params":[{"stock_id":"1234567","out_request_no":"abc123"}],
		"sign":"18DB1CCF3272D9392ED327EBD970D1C522531A2A4195E04E33DB9599CFDDB723"}`, body)
}

func TestPluginSignRefuses(t *testing.T) {
	t.Parallel()
	keys := newKeys(t)
	valid := `{"coupons":[{"stock_id":"9856000","out_request_no":"A1"}]}`
	cases := []struct {
		name     string
		edit     func(*httpapi.Config)
		header   http.Header
		body     string
		status   int
		code     string
		contains string
	}{
		{name: "no token", header: http.Header{}, body: valid, status: http.StatusUnauthorized, code: "UNAUTHORIZED"},
		{name: "wrong token", header: bearer("plugin-token-0123456789abcdeX"), body: valid, status: http.StatusUnauthorized, code: "UNAUTHORIZED"},
		{name: "token prefix", header: bearer(testToken[:10]), body: valid, status: http.StatusUnauthorized, code: "UNAUTHORIZED"},
		{name: "empty bearer", header: bearer(""), body: valid, status: http.StatusUnauthorized, code: "UNAUTHORIZED"},
		{name: "basic scheme", header: http.Header{"Authorization": {"Basic " + testToken}}, body: valid, status: http.StatusUnauthorized, code: "UNAUTHORIZED"},
		{name: "token as the whole header", header: http.Header{"Authorization": {testToken}}, body: valid, status: http.StatusUnauthorized, code: "UNAUTHORIZED"},
		{
			name: "disabled", edit: func(c *httpapi.Config) { c.PluginToken = "" }, header: bearer(""), body: valid,
			status: http.StatusNotFound, code: "DISABLED", contains: "plugin.token_file",
		},
		{
			name: "no key", edit: func(c *httpapi.Config) { c.APIv2Key = "" }, header: bearer(testToken), body: valid,
			status: http.StatusServiceUnavailable, code: "NOT_CONFIGURED",
		},
		{name: "eleven coupons", body: `{"coupons":[` + coupons(11) + `]}`, status: http.StatusBadRequest, contains: "11 coupons; the plugin sends at most 10 per call"},
		{name: "no coupons", body: `{"coupons":[]}`, status: http.StatusBadRequest, contains: "at least one coupon"},
		{name: "empty body", body: ``, status: http.StatusBadRequest, contains: "not the expected JSON object"},
		{name: "not JSON", body: `stock_id=1`, status: http.StatusBadRequest, contains: "not the expected JSON object"},
		{name: "two objects", body: valid + valid, status: http.StatusBadRequest, contains: "data after the JSON object"},
		{name: "misspelt field", body: `{"coupons":[{"stock_id":"9856000","out_request_no":"A1","couponcode":"X"}]}`, status: http.StatusBadRequest, contains: `unknown field "couponcode"`},
		{name: "no stock", body: `{"coupons":[{"out_request_no":"A1"}]}`, status: http.StatusBadRequest, contains: "coupons[0].stock_id: required"},
		{name: "stock with separator", body: `{"coupons":[{"stock_id":"1&stock_id1=2","out_request_no":"A1"}]}`, status: http.StatusBadRequest, contains: "coupons[0].stock_id"},
		{name: "no out_request_no", body: `{"coupons":[{"stock_id":"9856000"}]}`, status: http.StatusBadRequest, contains: "coupons[0]: out_request_no length 0"},
		{name: "out_request_no charset", body: `{"coupons":[{"stock_id":"9856000","out_request_no":"A1"},{"stock_id":"9856000","out_request_no":"A 2"}]}`, status: http.StatusBadRequest, contains: "coupons[1]: out_request_no \"A 2\" has invalid character ' '"},
		{name: "out_request_no too long", body: `{"coupons":[{"stock_id":"9856000","out_request_no":"` + strings.Repeat("9", 129) + `"}]}`, status: http.StatusBadRequest, contains: "length 129"},
		{name: "out_request_no repeated", body: `{"coupons":[{"stock_id":"9856000","out_request_no":"A1"},{"stock_id":"9856001","out_request_no":"A1"}]}`, status: http.StatusBadRequest, contains: "repeats coupons[0]"},
		{name: "coupon code with separator", body: `{"coupons":[{"stock_id":"9856000","out_request_no":"A1","coupon_code":"a=b"}]}`, status: http.StatusBadRequest, contains: "coupons[0].coupon_code"},
		{name: "another merchant", body: `{"send_coupon_merchant":"1900099999","coupons":[{"stock_id":"9856000","out_request_no":"A1"}]}`, status: http.StatusBadRequest, contains: "holds the APIv2 key of merchant 1900012345 only"},
		{name: "body too large", body: `{"coupons":[{"stock_id":"` + strings.Repeat("9", httpapi.MaxPluginBytes) + `"}]}`, status: http.StatusRequestEntityTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, keys, tc.edit)
			h := tc.header
			if h == nil {
				h = bearer(testToken)
			}
			status, body, hdr := b.do(t, http.MethodPost, "/plugin/sign", h, []byte(tc.body))
			require.Equal(t, tc.status, status, body)
			code, msg := answer(t, body)
			if tc.code == "" {
				tc.code = "PARAM_ERROR"
			}
			require.Equal(t, tc.code, code)
			require.Contains(t, msg, tc.contains)
			if status == http.StatusUnauthorized {
				require.Equal(t, `Bearer realm="issuer"`, hdr.Get("WWW-Authenticate"))
			}
			require.NotContains(t, body, "sign\"")
			require.NotContains(t, body, keys.APIv2Key)
			require.NotContains(t, b.logs.String(), keys.APIv2Key)
		})
	}
}

// coupons returns n coupon objects A0..A{n-1} of stock 9856000.
func coupons(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`{"stock_id":"9856000","out_request_no":"A%d"}`, i)
	}
	return strings.Join(parts, ",")
}

// signString is the seed-000 style string for coupons(n): every key=value
// pair sorted by key in ASCII order.
func signString(n int) string {
	pairs := []string{"send_coupon_merchant=" + testMerchant}
	for i := range n {
		pairs = append(pairs, fmt.Sprintf("out_request_no%d=A%d", i, i), fmt.Sprintf("stock_id%d=9856000", i))
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

func TestPluginTokenFromFile(t *testing.T) {
	t.Parallel()
	// Read from plugin.token_file, the token keeps the editor's newline.
	b := setup(t, newKeys(t), func(c *httpapi.Config) { c.PluginToken = testToken + "\n" })
	status, body, _ := b.do(t, http.MethodPost, "/plugin/sign", bearer(testToken), []byte(`{"coupons":[{"stock_id":"9856000","out_request_no":"A1"}]}`))
	require.Equal(t, http.StatusOK, status, body)
}

// memAudit is an in-memory audit log that can be made to fail.
type memAudit struct {
	mu      sync.Mutex
	entries []audit.Entry
	fail    bool
}

func (m *memAudit) Record(_ context.Context, e audit.Entry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return errors.New("database is down")
	}
	m.entries = append(m.entries, e)
	return nil
}

func (m *memAudit) all() []audit.Entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]audit.Entry(nil), m.entries...)
}

// Every signing is in the audit log before it is answered; one that cannot
// be recorded is not answered.
func TestPluginSignAudited(t *testing.T) {
	t.Parallel()
	log := &memAudit{}
	b := setup(t, newKeys(t), func(c *httpapi.Config) { c.Audit = log })
	status, body, _ := b.do(t, http.MethodPost, "/plugin/sign", bearer(testToken),
		[]byte(`{"coupons":[{"stock_id":"9856000","out_request_no":"A1"},{"stock_id":"9856000","out_request_no":"A2"}]}`))
	require.Equal(t, http.StatusOK, status, body)
	entries := log.all()
	require.Len(t, entries, 1)
	e := entries[0]
	require.Equal(t, []string{"plugin", "plugin_sign", "9856000", "ok"}, []string{e.Actor, e.Action, e.StockID, string(e.Outcome)})
	require.NotEmpty(t, e.Source)
	require.JSONEq(t, `{"merchant":"1900012345","coupons":[{"stock_id":"9856000","out_request_no":"A1"},{"stock_id":"9856000","out_request_no":"A2"}]}`, string(e.Detail))
	require.NotContains(t, string(e.Detail), b.keys.APIv2Key)

	log.fail = true
	status, body, _ = b.do(t, http.MethodPost, "/plugin/sign", bearer(testToken), []byte(`{"coupons":[{"stock_id":"9856000","out_request_no":"A3"}]}`))
	require.Equal(t, http.StatusServiceUnavailable, status, body)
	code, _ := answer(t, body)
	require.Equal(t, "AUDIT_UNAVAILABLE", code)
	require.NotContains(t, body, "sign\"", "no signature leaves unrecorded")
}

// Only the stocks in plugin.stocks are signed; a refusal is audited.
func TestPluginSignStocks(t *testing.T) {
	t.Parallel()
	keys := newKeys(t)
	log := &memAudit{}
	b := setup(t, keys, func(c *httpapi.Config) { c.Audit = log })
	status, body, _ := b.do(t, http.MethodPost, "/plugin/sign", bearer(testToken),
		[]byte(`{"coupons":[{"stock_id":"9856000","out_request_no":"A1"},{"stock_id":"7777777","out_request_no":"A2"}]}`))
	require.Equal(t, http.StatusForbidden, status, body)
	code, msg := answer(t, body)
	require.Equal(t, "STOCK_NOT_ALLOWED", code)
	require.Contains(t, msg, "stock 7777777 is not one this signer signs for (plugin.stocks)")
	require.NotContains(t, body, "sign\"")
	entries := log.all()
	require.Len(t, entries, 1)
	require.Equal(t, "denied", string(entries[0].Outcome))
	require.Empty(t, entries[0].StockID, "two stocks: named in the detail")

	// No stocks listed (a configuration from before plugin.stocks): any
	// stock is signed, as it always was.
	b = setup(t, keys, func(c *httpapi.Config) { c.PluginStocks = nil })
	status, body, _ = b.do(t, http.MethodPost, "/plugin/sign", bearer(testToken), []byte(`{"coupons":[{"stock_id":"7777777","out_request_no":"A1"}]}`))
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, `"sign"`)
}

// Signing is bounded to plugin.max_per_second coupons a second (a burst of
// twice that, at least one call's ten).
func TestPluginSignRate(t *testing.T) {
	t.Parallel()
	b := setup(t, newKeys(t), func(c *httpapi.Config) { c.PluginRate = 3 }) // the clock stands still
	for i := range 10 {
		status, body, _ := b.do(t, http.MethodPost, "/plugin/sign", bearer(testToken),
			[]byte(fmt.Sprintf(`{"coupons":[{"stock_id":"9856000","out_request_no":"R%d"}]}`, i)))
		require.Equal(t, http.StatusOK, status, body)
	}
	status, body, h := b.do(t, http.MethodPost, "/plugin/sign", bearer(testToken), []byte(`{"coupons":[{"stock_id":"9856000","out_request_no":"R10"}]}`))
	require.Equal(t, http.StatusTooManyRequests, status, body)
	require.Equal(t, "1", h.Get("Retry-After"))
	code, _ := answer(t, body)
	require.Equal(t, "FREQUENCY_LIMITED", code)
	require.Equal(t, 1.0, counter(t, b.scrape(t), "issuer_plugin_signs_total", map[string]string{"result": "rate_limited"}))
}

// A token shorter than 16 characters disables signing (config check
// refuses it).
func TestPluginShortToken(t *testing.T) {
	t.Parallel()
	b := setup(t, newKeys(t), func(c *httpapi.Config) { c.PluginToken = "short-token" })
	status, body, _ := b.do(t, http.MethodPost, "/plugin/sign", bearer("short-token"), []byte(`{"coupons":[{"stock_id":"9856000","out_request_no":"A1"}]}`))
	require.Equal(t, http.StatusNotFound, status, body)
	require.Contains(t, b.logs.String(), "shorter than 16 characters")
}
