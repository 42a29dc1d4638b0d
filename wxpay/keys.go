package wxpay

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/issuer-dev/issuer/internal/pemkey"
)

// ParsePrivateKeyPEM parses an RSA private key: PKCS#8 ("PRIVATE KEY", as in
// apiclient_key.pem) or PKCS#1 ("RSA PRIVATE KEY").
func ParsePrivateKeyPEM(b []byte) (*rsa.PrivateKey, error) { return pemkey.ParsePrivate(b) }

// LoadPrivateKey reads a PEM private key file.
func LoadPrivateKey(path string) (*rsa.PrivateKey, error) {
	return loadPEM(path, ParsePrivateKeyPEM)
}

// loadPEM reads path and parses it, naming the file in errors.
func loadPEM[T any](path string, parse func([]byte) (T, error)) (T, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var zero T
		return zero, err // *PathError names the file
	}
	v, err := parse(b)
	if err != nil {
		return v, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// ParsePublicKeyPEM parses an RSA public key: PKIX ("PUBLIC KEY", as WeChat
// Pay publishes pub_key.pem) or PKCS#1 ("RSA PUBLIC KEY").
func ParsePublicKeyPEM(b []byte) (*rsa.PublicKey, error) { return pemkey.ParsePublic(b) }

// DescribePEM says what the first PEM block in b is, in the words an
// operator needs to tell apiclient_key.pem, apiclient_cert.pem and
// pub_key.pem apart, since a key file given for another is the commonest
// configuration mistake.
func DescribePEM(b []byte) string { return pemkey.Describe(b) }

// LoadPublicKey reads a PEM public key file.
func LoadPublicKey(path string) (*rsa.PublicKey, error) {
	return loadPEM(path, ParsePublicKeyPEM)
}

// ParseCertificatesPEM parses every CERTIFICATE block in b (a platform
// certificate file may hold the current and the next certificate).
func ParseCertificatesPEM(b []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("parse certificate: no CERTIFICATE block")
	}
	return certs, nil
}

// LoadCertificates reads PEM certificate files.
func LoadCertificates(paths ...string) ([]*x509.Certificate, error) {
	var all []*x509.Certificate
	for _, p := range paths {
		certs, err := loadPEM(p, ParseCertificatesPEM)
		if err != nil {
			return nil, err
		}
		all = append(all, certs...)
	}
	return all, nil
}
