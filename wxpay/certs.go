package wxpay

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// PathCertificates lists the merchant's platform certificates, each
// encrypted with the APIv3 key (certificate mode).
const PathCertificates = "/v3/certificates"

// CertificateAssociatedData is the associated_data WeChat Pay uses when it
// encrypts a platform certificate.
const CertificateAssociatedData = "certificate"

// CertificatesAnswer is the body of GET /v3/certificates.
type CertificatesAnswer struct {
	Data []CertificateEntry `json:"data"`
}

// CertificateEntry is one platform certificate as listed.
type CertificateEntry struct {
	SerialNo      string `json:"serial_no"`
	EffectiveTime string `json:"effective_time"` // RFC 3339; fixed for a certificate
	// ExpireTime is when WeChat Pay stops using the certificate; 24 hours
	// before a rotation it is moved forward, so it may precede NotAfter.
	ExpireTime         string               `json:"expire_time"`
	EncryptCertificate NotificationResource `json:"encrypt_certificate"`
}

// PlatformCertificate is a platform certificate that passed every check:
// it decrypted with the APIv3 key, its serial matches the listing, it is
// within its dates and chains to the configured CA.
type PlatformCertificate struct {
	Serial      string // upper-case hex, as in Wechatpay-Serial
	Certificate *x509.Certificate
	Effective   time.Time // effective_time, or NotBefore when not listed
	Expire      time.Time // the earlier of expire_time and NotAfter
}

// ValidAt reports whether t falls in the certificate's window: from
// NotBefore to the earlier of NotAfter and expire_time.
func (p *PlatformCertificate) ValidAt(t time.Time) bool {
	return !t.Before(p.Certificate.NotBefore) && !t.After(p.Expire)
}

func (p *PlatformCertificate) key() verifyKey {
	pub, _ := p.Certificate.PublicKey.(*rsa.PublicKey) // checked by CertPolicy
	return verifyKey{pub: pub, notBefore: p.Certificate.NotBefore, notAfter: p.Expire}
}

// PEM encodes the certificate.
func (p *PlatformCertificate) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.Certificate.Raw})
}

// CertPolicy decides which platform certificates to believe.
//
// Trust rests on three checks, each of which a forger must beat: the
// certificate decrypts and authenticates (AES-256-GCM) under the APIv3
// key, which only WeChat Pay and the merchant hold; it is signed by the
// WeChat Pay CA configured by the merchant (Roots); and the answer that
// carried it is signed by one of the certificates it lists or by one
// already trusted. The last check alone proves nothing — anyone can sign
// with the certificate they send — which is why the first two are never
// skipped together: InsecureSkipChain drops the CA check only, for
// merchants who have no CA file, and must be set explicitly.
type CertPolicy struct {
	APIv3Key          string
	Roots             *x509.CertPool
	InsecureSkipChain bool
}

func (p CertPolicy) validate() error {
	if len(p.APIv3Key) != 32 {
		return fmt.Errorf("platform certificates: the APIv3 key is %d bytes, want 32", len(p.APIv3Key))
	}
	if p.Roots == nil && !p.InsecureSkipChain {
		return errors.New("platform certificates: no WeChat Pay CA to check them against (set the CA file, or opt out of the chain check explicitly)")
	}
	return nil
}

// Check verifies a certificate on its own: RSA key, dates and the chain to
// Roots (unless InsecureSkipChain). A certificate not valid yet is checked
// as of its NotBefore, so that one listed ahead of a rotation is kept.
func (p CertPolicy) Check(c *x509.Certificate, now time.Time) error {
	serial := CertificateSerial(c)
	if _, ok := c.PublicKey.(*rsa.PublicKey); !ok {
		return fmt.Errorf("certificate %s: %T key, want RSA", serial, c.PublicKey)
	}
	if now.After(c.NotAfter) {
		return fmt.Errorf("certificate %s: expired at %s", serial, c.NotAfter.UTC().Format(time.RFC3339))
	}
	if p.InsecureSkipChain {
		return nil
	}
	if p.Roots == nil {
		return fmt.Errorf("certificate %s: no CA to check it against", serial)
	}
	at := now
	if at.Before(c.NotBefore) {
		at = c.NotBefore
	}
	if _, err := c.Verify(x509.VerifyOptions{
		Roots:       p.Roots,
		CurrentTime: at,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		return fmt.Errorf("certificate %s: not issued by the WeChat Pay CA: %w", serial, err)
	}
	return nil
}

// DecodeCertificates decrypts and checks every certificate of a
// /v3/certificates answer body. Any certificate that does not decrypt,
// parse, match its serial_no or chain to the CA fails the whole answer:
// such an answer is not from WeChat Pay. Certificates already past their
// expire_time are left out. It does not check the answer's signature; see
// VerifyCertificatesAnswer.
func (p CertPolicy) DecodeCertificates(body []byte, now time.Time) ([]*PlatformCertificate, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	var a CertificatesAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, fmt.Errorf("platform certificates: %w: %v", ErrMalformedResponse, err)
	}
	if len(a.Data) == 0 {
		return nil, fmt.Errorf("platform certificates: %w: empty list", ErrMalformedResponse)
	}
	out := make([]*PlatformCertificate, 0, len(a.Data))
	for i, e := range a.Data {
		pc, err := p.decodeEntry(e, now)
		if err != nil {
			return nil, fmt.Errorf("platform certificates: entry %d (%s): %w", i, clip(e.SerialNo), err)
		}
		if now.After(pc.Expire) {
			continue
		}
		out = append(out, pc)
	}
	if len(out) == 0 {
		return nil, errors.New("platform certificates: every listed certificate has expired")
	}
	return out, nil
}

func (p CertPolicy) decodeEntry(e CertificateEntry, now time.Time) (*PlatformCertificate, error) {
	enc := e.EncryptCertificate
	if enc.Algorithm != AEADAlgorithm {
		return nil, fmt.Errorf("%w: algorithm %q", ErrMalformedResponse, clip(enc.Algorithm))
	}
	plain, err := DecryptAEAD(p.APIv3Key, enc.Nonce, enc.AssociatedData, enc.Ciphertext)
	if err != nil {
		return nil, err
	}
	certs, err := ParseCertificatesPEM(plain)
	if err != nil {
		return nil, err
	}
	if len(certs) != 1 {
		return nil, fmt.Errorf("%w: %d certificates in one entry", ErrMalformedResponse, len(certs))
	}
	c := certs[0]
	serial := CertificateSerial(c)
	if !equalSerial(serial, e.SerialNo) {
		return nil, fmt.Errorf("serial_no %q does not match the certificate's serial %s", clip(e.SerialNo), serial)
	}
	if err := p.Check(c, now); err != nil {
		return nil, err
	}
	pc := &PlatformCertificate{Serial: serial, Certificate: c, Effective: c.NotBefore, Expire: c.NotAfter}
	if e.EffectiveTime != "" {
		t, err := time.Parse(time.RFC3339, e.EffectiveTime)
		if err != nil {
			return nil, fmt.Errorf("%w: effective_time %q", ErrMalformedResponse, clip(e.EffectiveTime))
		}
		pc.Effective = t
	}
	if e.ExpireTime != "" {
		t, err := time.Parse(time.RFC3339, e.ExpireTime)
		if err != nil {
			return nil, fmt.Errorf("%w: expire_time %q", ErrMalformedResponse, clip(e.ExpireTime))
		}
		if t.Before(pc.Expire) {
			pc.Expire = t
		}
	}
	return pc, nil
}

// VerifyCertificatesAnswer checks the signature of a /v3/certificates
// answer against the certificates it lists (already decoded and checked)
// and those trusted before. Every failure wraps ErrSignature.
func VerifyCertificatesAnswer(h http.Header, body []byte, listed, trusted []*PlatformCertificate, now time.Time) error {
	v := &Verifier{keys: make(map[string]verifyKey, len(listed)+len(trusted))}
	for _, set := range [][]*PlatformCertificate{trusted, listed} {
		for _, pc := range set {
			v.keys[pc.Serial] = pc.key()
		}
	}
	return v.Verify(h, body, now)
}

// EncryptCertificate lists a platform certificate as WeChat Pay does: the
// PEM encrypted with the APIv3 key under a fresh 12-character nonce.
func EncryptCertificate(apiv3Key string, c *x509.Certificate, effective, expire time.Time) (CertificateEntry, error) {
	nonce := NewNonce()[:12]
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	ct, err := EncryptAEAD(apiv3Key, nonce, CertificateAssociatedData, pemBytes)
	if err != nil {
		return CertificateEntry{}, fmt.Errorf("encrypt certificate: %w", err)
	}
	return CertificateEntry{
		SerialNo:      CertificateSerial(c),
		EffectiveTime: effective.In(Beijing()).Format(time.RFC3339),
		ExpireTime:    expire.In(Beijing()).Format(time.RFC3339),
		EncryptCertificate: NotificationResource{
			Algorithm: AEADAlgorithm, Nonce: nonce, AssociatedData: CertificateAssociatedData, Ciphertext: ct,
		},
	}, nil
}

// equalSerial compares serials ignoring case and leading zeros, which some
// tools print and others drop.
func equalSerial(a, b string) bool {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	return a != "" && strings.EqualFold(a, b)
}
