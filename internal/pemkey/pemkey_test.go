package pemkey

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	pkix, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	require.NoError(t, err)
	block := func(typ string, b []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}) }
	files := map[string][]byte{
		"PRIVATE KEY":     block("PRIVATE KEY", pkcs8),
		"RSA PRIVATE KEY": block("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key)),
		"PUBLIC KEY":      block("PUBLIC KEY", pkix),
		"RSA PUBLIC KEY":  block("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&key.PublicKey)),
		"CERTIFICATE":     block("CERTIFICATE", []byte("x")),
	}

	for _, typ := range []string{"PRIVATE KEY", "RSA PRIVATE KEY"} {
		k, err := ParsePrivate(files[typ])
		require.NoError(t, err, typ)
		require.True(t, key.Equal(k), typ)
		require.Equal(t, typ, Type(files[typ]))
	}
	for _, typ := range []string{"PUBLIC KEY", "RSA PUBLIC KEY"} {
		k, err := ParsePublic(files[typ])
		require.NoError(t, err, typ)
		require.True(t, key.PublicKey.Equal(k), typ)
	}

	_, err = ParsePrivate([]byte("not pem"))
	require.EqualError(t, err, "parse private key: not PEM (want -----BEGIN PRIVATE KEY-----)")
	_, err = ParsePrivate(files["PUBLIC KEY"])
	require.EqualError(t, err, "parse private key: the file holds a PKIX public key (BEGIN PUBLIC KEY), not a private key")
	_, err = ParsePublic(files["CERTIFICATE"])
	require.EqualError(t, err, "parse public key: the file holds a certificate (BEGIN CERTIFICATE), not a public key")
	_, err = ParsePublic(block("PUBLIC KEY", []byte("AAAA")))
	require.ErrorContains(t, err, "parse public key: ")
	require.Equal(t, "no PEM block", Describe([]byte("x")))
	require.Equal(t, "", Type([]byte("x")))
	require.Equal(t, `a PEM block of type "EC PRIVATE KEY"`, Describe(block("EC PRIVATE KEY", nil)))
}
