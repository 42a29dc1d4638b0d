package wxpay_test

import (
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/wxpay"
)

var (
	fixedNow   = time.Date(2024, 1, 2, 11, 4, 5, 0, time.FixedZone("CST", 8*3600))
	fixedNonce = "593BEC0C930BF1AFEB40B4A08C8FB242"
	sendURI    = "/v3/marketing/favor/users/o4GgauInH_RCEdvrrNGrntXDu6D4/coupons"
	sendBody   = []byte(`{"stock_id":"9856000","out_request_no":"89560002019101000121","appid":"wx233544546545989","stock_creator_mchid":"8956000"}`)
)

func TestNewNonce(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(`^[0-9A-Za-z]{32}$`)
	seen := map[string]bool{}
	for range 100 {
		n := wxpay.NewNonce()
		require.Regexp(t, re, n)
		require.False(t, seen[n], "nonce repeated")
		seen[n] = true
	}
}

func TestMessages(t *testing.T) {
	t.Parallel()
	require.Equal(t, "GET\n/v3/marketing/favor/stocks/1?stock_creator_mchid=1\n1554208460\nabc\n\n",
		string(wxpay.RequestMessage("GET", "/v3/marketing/favor/stocks/1?stock_creator_mchid=1", "1554208460", "abc", nil)))
	require.Equal(t, "POST\n/x\n1\nn\n{}\n", string(wxpay.RequestMessage("POST", "/x", "1", "n", []byte("{}"))))
	require.Equal(t, "1554209980\nc5ac7061fccab6bf3e254dcf98995b8c\n{\"a\":1}\n",
		string(wxpay.ResponseMessage("1554209980", "c5ac7061fccab6bf3e254dcf98995b8c", []byte(`{"a":1}`))))
	require.Equal(t, "1\nn\n\n", string(wxpay.ResponseMessage("1", "n", nil)))
}

func TestAuthorizationGolden(t *testing.T) {
	t.Parallel()
	k := loadTestKeys(t)
	a, err := k.signer().Authorize(http.MethodPost, sendURI, sendBody, fixedNow, fixedNonce)
	require.NoError(t, err)
	require.Equal(t, strconv.FormatInt(fixedNow.Unix(), 10), a.Timestamp)
	golden(t, "authorization.golden", []byte(a.String()+"\n"))

	// The golden signature was cross-checked with
	// `openssl dgst -sha256 -sign testdata/merchant_key.pem`; it must verify
	// with the merchant's public key over the documented message.
	msg := wxpay.RequestMessage(http.MethodPost, sendURI, a.Timestamp, fixedNonce, sendBody)
	require.NoError(t, wxpay.VerifySHA256RSA(k.merchantPub, msg, a.Signature))
	require.ErrorIs(t, wxpay.VerifySHA256RSA(k.merchantPub, append(msg, 'x'), a.Signature), wxpay.ErrSignature)

	parsed, err := wxpay.ParseAuthorization(a.String())
	require.NoError(t, err)
	require.Equal(t, a, parsed)
}

func TestAuthorizationOpenSSLSignature(t *testing.T) {
	t.Parallel()
	want, err := os.ReadFile(filepath.Join("testdata", "authorization_openssl.sig"))
	require.NoError(t, err)
	k := loadTestKeys(t)
	a, err := k.signer().Authorize(http.MethodPost, sendURI, sendBody, fixedNow, fixedNonce)
	require.NoError(t, err)
	require.Equal(t, strings.TrimSpace(string(want)), a.Signature)
}

func TestParseAuthorization(t *testing.T) {
	t.Parallel()
	const ok = `mchid="1900000109",nonce_str="abc",timestamp="1554208460",serial_no="ABCD",signature="c2ln"`
	want := wxpay.Authorization{MchID: "1900000109", Nonce: "abc", Timestamp: "1554208460", SerialNo: "ABCD", Signature: "c2ln"}
	for name, h := range map[string]string{
		"documented order": "WECHATPAY2-SHA256-RSA2048 " + ok,
		"any order":        `WECHATPAY2-SHA256-RSA2048 signature="c2ln",serial_no="ABCD",timestamp="1554208460",nonce_str="abc",mchid="1900000109"`,
		"spaces":           `WECHATPAY2-SHA256-RSA2048   mchid="1900000109", nonce_str="abc" ,timestamp="1554208460",serial_no="ABCD",  signature="c2ln"`,
	} {
		got, err := wxpay.ParseAuthorization(h)
		require.NoError(t, err, name)
		require.Equal(t, want, got, name)
	}
	for name, h := range map[string]string{
		"empty":          "",
		"wrong scheme":   "WECHATPAY2-SHA256-RSA4096 " + ok,
		"no space":       "WECHATPAY2-SHA256-RSA2048" + ok,
		"missing field":  `WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="abc",timestamp="1",serial_no="A"`,
		"duplicate":      "WECHATPAY2-SHA256-RSA2048 " + ok + `,mchid="2"`,
		"unknown field":  "WECHATPAY2-SHA256-RSA2048 " + ok + `,extra="x"`,
		"unquoted":       `WECHATPAY2-SHA256-RSA2048 mchid=1900000109,nonce_str="abc",timestamp="1",serial_no="A",signature="s"`,
		"unterminated":   `WECHATPAY2-SHA256-RSA2048 mchid="1900000109,nonce_str="abc"`,
		"empty value":    `WECHATPAY2-SHA256-RSA2048 mchid="",nonce_str="abc",timestamp="1",serial_no="A",signature="s"`,
		"trailing comma": "WECHATPAY2-SHA256-RSA2048 " + ok + ",",
		"garbage after":  "WECHATPAY2-SHA256-RSA2048 " + ok + " junk",
		"garbage":        "WECHATPAY2-SHA256-RSA2048 !!!",
	} {
		_, err := wxpay.ParseAuthorization(h)
		require.ErrorIs(t, err, wxpay.ErrSignature, name)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	k := loadTestKeys(t)
	body := []byte(`{"coupon_id":"9867041"}`)
	signed := func(t *testing.T, at time.Time) http.Header {
		h := http.Header{}
		require.NoError(t, wxpay.SignResponse(h, k.platform, testPublicKeyID, body, at, fixedNonce))
		return h
	}
	v := k.verifier()

	t.Run("real format", func(t *testing.T) {
		t.Parallel()
		// Headers exactly as WeChat Pay writes them, built by hand.
		ts := strconv.FormatInt(fixedNow.Unix(), 10)
		sig, err := wxpay.SignSHA256RSA(k.platform, []byte(ts+"\n"+fixedNonce+"\n"+string(body)+"\n"))
		require.NoError(t, err)
		h := http.Header{}
		h.Set("Wechatpay-Timestamp", ts)
		h.Set("Wechatpay-Nonce", fixedNonce)
		h.Set("Wechatpay-Signature", sig)
		h.Set("Wechatpay-Serial", testPublicKeyID)
		h.Set("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048")
		h.Set("Request-Id", "08F78BB5AF0610D302A3F2FE0128B70F00000000")
		require.NoError(t, v.Verify(h, body, fixedNow))
		h.Del("Request-Id")
		require.Equal(t, h, signed(t, fixedNow), "SignResponse writes the same headers")
	})

	cases := map[string]struct {
		mutate func(t *testing.T, h http.Header) []byte
		now    time.Time
	}{
		"tampered body":    {mutate: func(*testing.T, http.Header) []byte { return []byte(`{"coupon_id":"9867042"}`) }},
		"empty body":       {mutate: func(*testing.T, http.Header) []byte { return nil }},
		"wrong serial":     {mutate: func(_ *testing.T, h http.Header) []byte { h.Set("Wechatpay-Serial", "PUB_KEY_ID_OTHER"); return body }},
		"stale timestamp":  {now: fixedNow.Add(wxpay.MaxClockSkew)},
		"future timestamp": {now: fixedNow.Add(-wxpay.MaxClockSkew)},
		"bad timestamp":    {mutate: func(_ *testing.T, h http.Header) []byte { h.Set("Wechatpay-Timestamp", "soon"); return body }},
		"probe prefix": {mutate: func(_ *testing.T, h http.Header) []byte {
			h.Set("Wechatpay-Signature", "WECHATPAY/SIGNTEST/"+h.Get("Wechatpay-Signature"))
			return body
		}},
		"not base64":        {mutate: func(_ *testing.T, h http.Header) []byte { h.Set("Wechatpay-Signature", "%%%"); return body }},
		"other nonce":       {mutate: func(_ *testing.T, h http.Header) []byte { h.Set("Wechatpay-Nonce", "x"+fixedNonce); return body }},
		"unknown sig type":  {mutate: func(_ *testing.T, h http.Header) []byte { h.Set("Wechatpay-Signature-Type", "SM2"); return body }},
		"missing timestamp": {mutate: func(_ *testing.T, h http.Header) []byte { h.Del("Wechatpay-Timestamp"); return body }},
		"missing nonce":     {mutate: func(_ *testing.T, h http.Header) []byte { h.Del("Wechatpay-Nonce"); return body }},
		"missing signature": {mutate: func(_ *testing.T, h http.Header) []byte { h.Del("Wechatpay-Signature"); return body }},
		"missing serial":    {mutate: func(_ *testing.T, h http.Header) []byte { h.Del("Wechatpay-Serial"); return body }},
		"signed by merchant": {mutate: func(t *testing.T, h http.Header) []byte {
			require.NoError(t, wxpay.SignResponse(h, k.merchant, testPublicKeyID, body, fixedNow, fixedNonce))
			return body
		}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := signed(t, fixedNow)
			b := body
			if tc.mutate != nil {
				b = tc.mutate(t, h)
			}
			now := fixedNow
			if !tc.now.IsZero() {
				now = tc.now
			}
			require.ErrorIs(t, v.Verify(h, b, now), wxpay.ErrSignature)
		})
	}

	t.Run("skew just inside the window", func(t *testing.T) {
		t.Parallel()
		h := signed(t, fixedNow)
		require.NoError(t, v.Verify(h, body, fixedNow.Add(wxpay.MaxClockSkew-time.Second)))
		require.NoError(t, v.Verify(h, body, fixedNow.Add(-wxpay.MaxClockSkew+time.Second)))
	})

	t.Run("serial is case-insensitive", func(t *testing.T) {
		t.Parallel()
		h := signed(t, fixedNow)
		h.Set("Wechatpay-Serial", strings.ToLower(testPublicKeyID))
		require.NoError(t, v.Verify(h, body, fixedNow))
	})
}

func TestCertificateVerifier(t *testing.T) {
	t.Parallel()
	k := loadTestKeys(t)
	old := platformCert(t, k, 0x1A2B, fixedNow.AddDate(-2, 0, 0), fixedNow.AddDate(0, 0, -1))
	cur := platformCert(t, k, 0x5157F09E, fixedNow.AddDate(-1, 0, 0), fixedNow.AddDate(1, 0, 0))
	v := wxpay.NewCertificateVerifier(old, cur)
	require.Equal(t, "5157F09E", v.Serial(), "the newest certificate is announced")
	require.Equal(t, "1A2B", wxpay.CertificateSerial(old))

	body := []byte(`{}`)
	h := http.Header{}
	require.NoError(t, wxpay.SignResponse(h, k.platform, "5157F09E", body, fixedNow, ""))
	require.NoError(t, v.Verify(h, body, fixedNow))

	h.Set("Wechatpay-Serial", "1A2B")
	require.ErrorIs(t, v.Verify(h, body, fixedNow), wxpay.ErrSignature, "expired certificate")

	h.Set("Wechatpay-Serial", "DEADBEEF")
	require.ErrorIs(t, v.Verify(h, body, fixedNow), wxpay.ErrSignature, "unknown serial")

	certs, err := x509.ParseCertificates(cur.Raw)
	require.NoError(t, err)
	require.Len(t, certs, 1)
}

func TestKeys(t *testing.T) {
	t.Parallel()
	k := loadTestKeys(t)
	pkcs1, err := wxpay.LoadPrivateKey(filepath.Join("testdata", "merchant_key_pkcs1.pem"))
	require.NoError(t, err)
	require.True(t, k.merchant.Equal(pkcs1), "PKCS#1 and PKCS#8 forms of one key")
	require.True(t, k.merchant.PublicKey.Equal(k.merchantPub))

	_, err = wxpay.ParsePrivateKeyPEM([]byte("not pem"))
	require.Error(t, err)
	pub, err := os.ReadFile(filepath.Join("testdata", "platform_pub.pem"))
	require.NoError(t, err)
	_, err = wxpay.ParsePrivateKeyPEM(pub)
	require.Error(t, err, "a public key is not a private key")
	_, err = wxpay.ParsePublicKeyPEM([]byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"))
	require.Error(t, err)
	_, err = wxpay.LoadPrivateKey(filepath.Join("testdata", "missing.pem"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestSignatureIsStandardBase64(t *testing.T) {
	t.Parallel()
	k := loadTestKeys(t)
	sig, err := wxpay.SignSHA256RSA(k.merchant, []byte("x"))
	require.NoError(t, err)
	raw, err := base64.StdEncoding.DecodeString(sig)
	require.NoError(t, err)
	require.Len(t, raw, 256)
}
