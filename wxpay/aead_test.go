package wxpay_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/wxpay"
)

func TestAEADVector(t *testing.T) {
	t.Parallel()
	// Computed independently with Python's cryptography AESGCM.
	const (
		nonce = "abcdefghijkl"
		ad    = "coupon"
		plain = `{"stock_id":"9856000","coupon_id":"98674556","status":"USED"}`
		ct    = "vEKdiPpde2D63c9SW73VOAkH1pAnxNcZfECPANXEKmjcW8B21shzcnsS2A1q71zZTTdOV+t62EX3V0Ktaxki6CVykQBVjV64jMUQVlg="
	)
	got, err := wxpay.DecryptAEAD(testAPIv3Key, nonce, ad, ct)
	require.NoError(t, err)
	require.Equal(t, plain, string(got))

	enc, err := wxpay.EncryptAEAD(testAPIv3Key, nonce, ad, []byte(plain))
	require.NoError(t, err)
	require.Equal(t, ct, enc)
}

func TestAEADRejects(t *testing.T) {
	t.Parallel()
	ct, err := wxpay.EncryptAEAD(testAPIv3Key, "abcdefghijkl", "coupon", []byte("secret"))
	require.NoError(t, err)
	got, err := wxpay.DecryptAEAD(testAPIv3Key, "abcdefghijkl", "coupon", ct)
	require.NoError(t, err)
	require.Equal(t, "secret", string(got))

	for name, tc := range map[string][4]string{
		"wrong key":        {"0123456789abcdefghijklmnopqrstuw", "abcdefghijkl", "coupon", ct},
		"wrong nonce":      {testAPIv3Key, "abcdefghijkm", "coupon", ct},
		"wrong ad":         {testAPIv3Key, "abcdefghijkl", "transaction", ct},
		"tampered":         {testAPIv3Key, "abcdefghijkl", "coupon", "A" + ct[1:]},
		"not base64":       {testAPIv3Key, "abcdefghijkl", "coupon", "!!"},
		"short key":        {"short", "abcdefghijkl", "coupon", ct},
		"empty nonce":      {testAPIv3Key, "", "coupon", ct},
		"shorter than tag": {testAPIv3Key, "abcdefghijkl", "coupon", "AAAA"},
	} {
		_, err := wxpay.DecryptAEAD(tc[0], tc[1], tc[2], tc[3])
		require.Error(t, err, name)
	}
}
