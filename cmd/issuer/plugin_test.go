package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// pluginSetup is a bundle with an APIv2 key in the config and no database
// or network: plugin-sign is offline.
func pluginSetup(t *testing.T) (*testBundle, string) {
	t.Helper()
	const key = "9A0A8659F005D6984697E2CA0A9CF3B7" // seed 000's example key
	b := &testBundle{dir: t.TempDir(), env: map[string]string{"ISSUER_DATABASE_URL": unreachableDB}}
	b.env["ISSUER_WXPAY_APIV2_KEY_FILE"] = b.write(t, "apiv2.key", key+"\n")
	return b, key
}

// seedSign computes the signature independently, from seed 000's string
// form: params sorted by name, k=v joined by &, then &key=KEY, HMAC-SHA256
// keyed with KEY, upper-case hex.
func seedSign(key, str string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(str + "&key=" + key))
	return strings.ToUpper(hex.EncodeToString(m.Sum(nil)))
}

func TestPluginSign(t *testing.T) {
	t.Parallel()
	b, key := pluginSetup(t)

	r := b.issuer(t, "", "plugin-sign", "--merchant", "10016226", "--coupon", "1234567:abc123", "--coupon", "2345678:123abc:asdsada")
	require.Equal(t, 0, r.code, r.stderr)
	want := seedSign(key, "coupon_code1=asdsada&out_request_no0=abc123&out_request_no1=123abc&send_coupon_merchant=10016226&stock_id0=1234567&stock_id1=2345678")
	require.JSONEq(t, `{
		"send_coupon_merchant": "10016226",
		"send_coupon_params": [
			{"stock_id": "1234567", "out_request_no": "abc123"},
			{"stock_id": "2345678", "out_request_no": "123abc", "coupon_code": "asdsada"}
		],
		"sign": "`+want+`"
	}`, r.stdout)
	require.NotContains(t, r.stdout+r.stderr, key)

	// The seed's one-coupon example, with the key from --key-file instead of
	// the config (which is then not needed at all).
	other := b.write(t, "other.key", "xxxxx")
	nb := &testBundle{env: map[string]string{}}
	r = nb.issuer(t, "", "plugin-sign", "--merchant", "10016226", "--coupon", "1234567:abc123", "--key-file", other)
	require.Equal(t, 0, r.code, r.stderr)
	var p struct {
		Sign string `json:"sign"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &p))
	require.Equal(t, seedSign("xxxxx", "out_request_no0=abc123&send_coupon_merchant=10016226&stock_id0=1234567"), p.Sign)
	require.Equal(t, "18DB1CCF3272D9392ED327EBD970D1C522531A2A4195E04E33DB9599CFDDB723", p.Sign, "openssl dgst -sha256 -hmac xxxxx")
}

func TestPluginSignErrors(t *testing.T) {
	t.Parallel()
	b, key := pluginSetup(t)

	ten := []string{"plugin-sign", "--merchant", "10016226"}
	for i := range 10 {
		ten = append(ten, "--coupon", fmt.Sprintf("98065001:8956000201910100012%d", i))
	}
	r := b.issuer(t, "", ten...)
	require.Equal(t, 0, r.code, r.stderr)
	var p struct {
		Params []map[string]string `json:"send_coupon_params"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &p))
	require.Len(t, p.Params, 10)

	r = b.issuer(t, "", append(ten, "--coupon", "98065001:x11")...)
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "plugin-sign: 11 coupons; the plugin sends at most 10 per call")
	require.Empty(t, r.stdout)

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--coupon", "1:a"}, "--merchant is required"},
		{[]string{"--merchant", "10016226"}, "at least one --coupon is required"},
		{[]string{"--merchant", "10016226", "--coupon", "1234567"}, `"1234567": want STOCK:OUT_REQUEST_NO[:CODE]`},
		{[]string{"--merchant", "10016226", "--coupon", "1234567:abc:"}, `want STOCK:OUT_REQUEST_NO[:CODE]`},
		{[]string{"--merchant", "10016226", "--coupon", "1234567:a b"}, `out_request_no "a b" has invalid character`},
		{[]string{"--merchant", "1001622", "--coupon", "1234567:abc"}, "shorter than 8 characters"},
		{[]string{"--merchant", "10016226", "--coupon", "1234567:abc", "extra"}, `unexpected argument "extra"`},
	} {
		r := b.issuer(t, "", append([]string{"plugin-sign"}, tc.args...)...)
		require.Equal(t, 2, r.code, "%v: %s", tc.args, r.stderr)
		require.Contains(t, r.stderr, tc.want, tc.args)
	}

	missing := filepath.Join(b.dir, "nope.key")
	r = b.issuer(t, "", "plugin-sign", "--merchant", "10016226", "--coupon", "1234567:abc", "--key-file", missing)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "plugin-sign: apiv2 key: open "+missing+": no such file or directory")

	empty := b.write(t, "empty.key", " \n")
	r = b.issuer(t, "", "plugin-sign", "--merchant", "10016226", "--coupon", "1234567:abc", "--key-file", empty)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, empty+" is empty")

	// The configured key file is checked when the config loads.
	b.env["ISSUER_WXPAY_APIV2_KEY_FILE"] = missing
	r = b.issuer(t, "", "plugin-sign", "--merchant", "10016226", "--coupon", "1234567:abc")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, missing)

	delete(b.env, "ISSUER_WXPAY_APIV2_KEY_FILE")
	r = b.issuer(t, "", "plugin-sign", "--merchant", "10016226", "--coupon", "1234567:abc")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "missing required wxpay.apiv2_key_file (or ISSUER_WXPAY_APIV2_KEY_FILE); or give --key-file")
	require.NotContains(t, r.stderr, key)
}
