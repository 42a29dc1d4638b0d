package wxpay

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// ParsePrivateKeyPEM parses an RSA private key: PKCS#8 ("PRIVATE KEY", as in
// apiclient_key.pem) or PKCS#1 ("RSA PRIVATE KEY").
func ParsePrivateKeyPEM(b []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("parse private key: not PEM (want -----BEGIN PRIVATE KEY-----)")
	}
	switch block.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse private key: %w", err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("parse private key: %T is not RSA", k)
		}
		return rk, nil
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse private key: %w", err)
		}
		return k, nil
	default:
		return nil, fmt.Errorf("parse private key: the file holds %s, not a private key", DescribePEM(b))
	}
}

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
func ParsePublicKeyPEM(b []byte) (*rsa.PublicKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("parse public key: not PEM (want -----BEGIN PUBLIC KEY-----)")
	}
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse public key: %w", err)
		}
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("parse public key: %T is not RSA", k)
		}
		return rk, nil
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse public key: %w", err)
		}
		return k, nil
	default:
		return nil, fmt.Errorf("parse public key: the file holds %s, not a public key", DescribePEM(b))
	}
}

// DescribePEM says what the first PEM block in b is, in the words an
// operator needs to tell apiclient_key.pem, apiclient_cert.pem and
// pub_key.pem apart, since a key file given for another is the commonest
// configuration mistake.
func DescribePEM(b []byte) string {
	block, _ := pem.Decode(b)
	if block == nil {
		return "no PEM block"
	}
	switch block.Type {
	case "PRIVATE KEY":
		return "a PKCS#8 private key (BEGIN PRIVATE KEY)"
	case "RSA PRIVATE KEY":
		return "a PKCS#1 RSA private key (BEGIN RSA PRIVATE KEY)"
	case "ENCRYPTED PRIVATE KEY":
		return "a password-protected private key (BEGIN ENCRYPTED PRIVATE KEY)"
	case "PUBLIC KEY":
		return "a PKIX public key (BEGIN PUBLIC KEY)"
	case "RSA PUBLIC KEY":
		return "a PKCS#1 RSA public key (BEGIN RSA PUBLIC KEY)"
	case "CERTIFICATE":
		return "a certificate (BEGIN CERTIFICATE)"
	default:
		return fmt.Sprintf("a PEM block of type %q", block.Type)
	}
}

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
