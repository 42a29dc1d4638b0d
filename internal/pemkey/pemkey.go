// Package pemkey parses the RSA keys WeChat Pay deals in from PEM files and
// says what a PEM file holds, in the words an operator needs to tell
// apiclient_key.pem, apiclient_cert.pem and pub_key.pem apart.
//
// It is a leaf: wxpay signs and verifies with the keys it parses, and
// internal/config checks the key files `issuer run` is given with the same
// code, so that the check and the use cannot disagree.
package pemkey

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// ParsePrivate parses an RSA private key: PKCS#8 ("PRIVATE KEY", as in
// apiclient_key.pem) or PKCS#1 ("RSA PRIVATE KEY").
func ParsePrivate(b []byte) (*rsa.PrivateKey, error) {
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
		return nil, fmt.Errorf("parse private key: the file holds %s, not a private key", Describe(b))
	}
}

// ParsePublic parses an RSA public key: PKIX ("PUBLIC KEY", as WeChat Pay
// publishes pub_key.pem) or PKCS#1 ("RSA PUBLIC KEY").
func ParsePublic(b []byte) (*rsa.PublicKey, error) {
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
		return nil, fmt.Errorf("parse public key: the file holds %s, not a public key", Describe(b))
	}
}

// Type is the type of the first PEM block in b ("PRIVATE KEY"), or "" when
// there is none.
func Type(b []byte) string {
	block, _ := pem.Decode(b)
	if block == nil {
		return ""
	}
	return block.Type
}

// Describe says what the first PEM block in b is, since a key file given
// for another is the commonest configuration mistake.
func Describe(b []byte) string {
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
