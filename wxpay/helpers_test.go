package wxpay_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"flag"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/wxpay"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

const (
	testMchID       = "1900000109"
	testAppID       = "wx233544546545989"
	testCertSerial  = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
	testPublicKeyID = "PUB_KEY_ID_0114232134912410000000000000"
	testAPIv3Key    = "0123456789abcdefghijklmnopqrstuv"
)

// testKeys are the committed throwaway keys: the merchant's API key and
// the platform ("WeChat Pay") key.
type testKeys struct {
	merchant    *rsa.PrivateKey
	merchantPub *rsa.PublicKey
	platform    *rsa.PrivateKey
	platformPub *rsa.PublicKey
}

func loadTestKeys(t testing.TB) testKeys {
	t.Helper()
	var k testKeys
	var err error
	k.merchant, err = wxpay.LoadPrivateKey(filepath.Join("testdata", "merchant_key.pem"))
	require.NoError(t, err)
	k.merchantPub, err = wxpay.LoadPublicKey(filepath.Join("testdata", "merchant_pub.pem"))
	require.NoError(t, err)
	k.platform, err = wxpay.LoadPrivateKey(filepath.Join("testdata", "platform_key.pem"))
	require.NoError(t, err)
	k.platformPub, err = wxpay.LoadPublicKey(filepath.Join("testdata", "platform_pub.pem"))
	require.NoError(t, err)
	return k
}

func (k testKeys) signer() *wxpay.Signer {
	return &wxpay.Signer{MchID: testMchID, SerialNo: testCertSerial, Key: k.merchant}
}

func (k testKeys) verifier() *wxpay.Verifier {
	return wxpay.NewPublicKeyVerifier(testPublicKeyID, k.platformPub)
}

// platformCert makes a certificate for the platform key, as WeChat Pay's
// certificate mode would publish it.
func platformCert(t testing.TB, k testKeys, serial int64, notBefore, notAfter time.Time) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "Tenpay.com Root CA"},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.platformPub, k.platform)
	require.NoError(t, err)
	c, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return c
}

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, string(want), string(got))
}
