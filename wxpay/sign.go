package wxpay

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ErrSignature marks every failure to authenticate a message: a missing or
// malformed header, an unknown serial, a stale timestamp, a signature probe
// or a signature that does not verify.
var ErrSignature = errors.New("wxpay: signature")

// AuthScheme is the only Authorization scheme API v3 accepts.
const AuthScheme = "WECHATPAY2-SHA256-RSA2048"

// MaxClockSkew is the age beyond which WeChat Pay and its merchants refuse a
// signed message, in either direction.
const MaxClockSkew = 300 * time.Second

// SignatureProbePrefix starts the signatures WeChat Pay deliberately forges to
// check that merchants verify.
const SignatureProbePrefix = "WECHATPAY/SIGNTEST/"

// Response and callback signature headers.
const (
	HeaderTimestamp     = "Wechatpay-Timestamp"
	HeaderNonce         = "Wechatpay-Nonce"
	HeaderSignature     = "Wechatpay-Signature"
	HeaderSerial        = "Wechatpay-Serial"
	HeaderSignatureType = "Wechatpay-Signature-Type"
	HeaderRequestID     = "Request-Id"
)

const nonceAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// NewNonce returns 32 random characters from [0-9A-Za-z].
func NewNonce() string {
	var out [32]byte
	var buf [48]byte
	n := 0
	for n < len(out) {
		if _, err := rand.Read(buf[:]); err != nil {
			// crypto/rand.Read does not fail on supported platforms.
			panic("wxpay: crypto/rand: " + err.Error())
		}
		for _, b := range buf {
			// Rejection sampling keeps the 62 characters equally likely.
			if b >= 248 { // 4×62
				continue
			}
			out[n] = nonceAlphabet[b%62]
			if n++; n == len(out) {
				break
			}
		}
	}
	return string(out[:])
}

// RequestMessage is the string a merchant signs: METHOD\nURI\nTS\nNONCE\nBODY\n.
// uri is the path plus "?query" exactly as sent.
func RequestMessage(method, uri, timestamp, nonce string, body []byte) []byte {
	return lines(body, method, uri, timestamp, nonce)
}

// ResponseMessage is the string WeChat Pay signs on responses and callbacks:
// TS\nNONCE\nBODY\n.
func ResponseMessage(timestamp, nonce string, body []byte) []byte {
	return lines(body, timestamp, nonce)
}

// lines joins fields and body, each followed by a newline.
func lines(body []byte, fields ...string) []byte {
	n := len(body) + len(fields) + 1
	for _, f := range fields {
		n += len(f)
	}
	msg := make([]byte, 0, n)
	for _, f := range fields {
		msg = append(msg, f...)
		msg = append(msg, '\n')
	}
	msg = append(msg, body...)
	return append(msg, '\n')
}

// SignSHA256RSA signs msg with RSASSA-PKCS1-v1_5 over SHA-256 and returns the
// standard base64 signature.
func SignSHA256RSA(key *rsa.PrivateKey, msg []byte) (string, error) {
	if key == nil {
		return "", errors.New("sign: nil private key")
	}
	sum := sha256.Sum256(msg)
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// VerifySHA256RSA checks a standard base64 RSASSA-PKCS1-v1_5 SHA-256
// signature. Every failure wraps ErrSignature.
func VerifySHA256RSA(pub *rsa.PublicKey, msg []byte, sigB64 string) error {
	if pub == nil {
		return fmt.Errorf("%w: nil public key", ErrSignature)
	}
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil {
		return fmt.Errorf("%w: signature is not base64", ErrSignature)
	}
	sum := sha256.Sum256(msg)
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		return fmt.Errorf("%w: verification failed", ErrSignature)
	}
	return nil
}

// Authorization is the parsed form of a request's Authorization header.
type Authorization struct {
	MchID, Nonce, Timestamp, SerialNo, Signature string
}

// String renders the header value in the field order WeChat Pay documents.
func (a Authorization) String() string {
	var b strings.Builder
	b.Grow(len(AuthScheme) + len(a.MchID) + len(a.Nonce) + len(a.Timestamp) + len(a.SerialNo) + len(a.Signature) + 72)
	b.WriteString(AuthScheme)
	b.WriteString(` mchid="`)
	b.WriteString(a.MchID)
	b.WriteString(`",nonce_str="`)
	b.WriteString(a.Nonce)
	b.WriteString(`",timestamp="`)
	b.WriteString(a.Timestamp)
	b.WriteString(`",serial_no="`)
	b.WriteString(a.SerialNo)
	b.WriteString(`",signature="`)
	b.WriteString(a.Signature)
	b.WriteString(`"`)
	return b.String()
}

// ParseAuthorization parses an Authorization header value. The five fields
// may come in any order; a missing, duplicated, unknown or empty field, or
// anything that is not k="v" pairs separated by commas, is an error wrapping
// ErrSignature.
func ParseAuthorization(header string) (Authorization, error) {
	var a Authorization
	rest, ok := strings.CutPrefix(strings.TrimSpace(header), AuthScheme)
	if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '\t') {
		return a, fmt.Errorf("%w: authorization scheme is not %s", ErrSignature, AuthScheme)
	}
	rest = strings.TrimLeft(rest, " \t")
	fields := map[string]*string{
		"mchid": &a.MchID, "nonce_str": &a.Nonce, "timestamp": &a.Timestamp,
		"serial_no": &a.SerialNo, "signature": &a.Signature,
	}
	seen := make(map[string]bool, len(fields))
	for rest != "" {
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			return a, fmt.Errorf("%w: malformed authorization near %q", ErrSignature, clip(rest))
		}
		key := strings.TrimSpace(rest[:eq])
		dst, known := fields[key]
		if !known {
			return a, fmt.Errorf("%w: unknown authorization field %q", ErrSignature, clip(key))
		}
		if seen[key] {
			return a, fmt.Errorf("%w: duplicate authorization field %q", ErrSignature, key)
		}
		seen[key] = true
		rest = rest[eq+1:]
		if rest == "" || rest[0] != '"' {
			return a, fmt.Errorf("%w: authorization field %q is not quoted", ErrSignature, key)
		}
		end := strings.IndexByte(rest[1:], '"')
		if end < 0 {
			return a, fmt.Errorf("%w: unterminated authorization field %q", ErrSignature, key)
		}
		*dst = rest[1 : 1+end]
		if *dst == "" {
			return a, fmt.Errorf("%w: empty authorization field %q", ErrSignature, key)
		}
		rest = strings.TrimLeft(rest[2+end:], " \t")
		if rest == "" {
			break
		}
		if rest[0] != ',' {
			return a, fmt.Errorf("%w: malformed authorization after %q", ErrSignature, key)
		}
		rest = strings.TrimLeft(rest[1:], " \t")
		if rest == "" {
			return a, fmt.Errorf("%w: trailing comma in authorization", ErrSignature)
		}
	}
	if len(seen) != len(fields) {
		missing := make([]string, 0, len(fields))
		for k := range fields {
			if !seen[k] {
				missing = append(missing, k)
			}
		}
		sort.Strings(missing)
		return a, fmt.Errorf("%w: authorization lacks %s", ErrSignature, strings.Join(missing, ", "))
	}
	return a, nil
}

// Signer signs merchant requests with the merchant API private key.
type Signer struct {
	MchID    string
	SerialNo string // merchant API certificate serial
	Key      *rsa.PrivateKey
}

// Authorize signs one request. uri is the path plus "?query" as sent and body
// the exact bytes sent. An empty nonce is replaced by NewNonce().
func (s *Signer) Authorize(method, uri string, body []byte, now time.Time, nonce string) (Authorization, error) {
	if nonce == "" {
		nonce = NewNonce()
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	sig, err := SignSHA256RSA(s.Key, RequestMessage(method, uri, ts, nonce, body))
	if err != nil {
		return Authorization{}, err
	}
	return Authorization{MchID: s.MchID, Nonce: nonce, Timestamp: ts, SerialNo: s.SerialNo, Signature: sig}, nil
}

// SignResponse sets the Wechatpay-* signature headers on h for body, as
// WeChat Pay does on responses and callbacks. An empty nonce is replaced by
// NewNonce().
func SignResponse(h http.Header, key *rsa.PrivateKey, serial string, body []byte, now time.Time, nonce string) error {
	if nonce == "" {
		nonce = NewNonce()
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	sig, err := SignSHA256RSA(key, ResponseMessage(ts, nonce, body))
	if err != nil {
		return err
	}
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderNonce, nonce)
	h.Set(HeaderSignature, sig)
	h.Set(HeaderSerial, serial)
	h.Set(HeaderSignatureType, AuthScheme)
	return nil
}

// verifyKey is one key WeChat Pay may sign with; certificate-mode keys carry
// their validity window.
type verifyKey struct {
	pub       *rsa.PublicKey
	notBefore time.Time
	notAfter  time.Time
}

// Verifier checks WeChat Pay's signatures on responses and callbacks. It is
// safe for concurrent use. Its fixed keys never change after construction;
// in certificate and combined modes the platform certificates come from a
// CertStore, which follows WeChat Pay's rotations.
type Verifier struct {
	keys    map[string]verifyKey // by upper-cased serial or public key id
	primary string               // serial/id to announce in Wechatpay-Serial
	certs   *CertStore           // nil in public-key mode and for fixed certificates
}

// NewPublicKeyVerifier verifies with a WeChat Pay public key (public-key
// mode); keyID is its id, "PUB_KEY_ID_…", which WeChat Pay sends as
// Wechatpay-Serial.
func NewPublicKeyVerifier(keyID string, pub *rsa.PublicKey) *Verifier {
	return &Verifier{
		keys:    map[string]verifyKey{strings.ToUpper(keyID): {pub: pub}},
		primary: keyID,
	}
}

// NewCertificateVerifier verifies with a fixed set of platform
// certificates, looked up by serial number. Only RSA certificates are kept;
// the newest certificate becomes the primary serial. Certificates do not
// follow rotations: prefer NewCertStoreVerifier.
func NewCertificateVerifier(certs ...*x509.Certificate) *Verifier {
	v := &Verifier{keys: make(map[string]verifyKey, len(certs))}
	var newest time.Time
	for _, c := range certs {
		pub, ok := c.PublicKey.(*rsa.PublicKey)
		if !ok {
			continue
		}
		serial := CertificateSerial(c)
		v.keys[serial] = verifyKey{pub: pub, notBefore: c.NotBefore, notAfter: c.NotAfter}
		if v.primary == "" || c.NotAfter.After(newest) {
			v.primary, newest = serial, c.NotAfter
		}
	}
	return v
}

// NewCertStoreVerifier verifies with the platform certificates of store
// (certificate mode). Requests announce the newest certificate's serial.
func NewCertStoreVerifier(store *CertStore) *Verifier {
	return &Verifier{keys: map[string]verifyKey{}, certs: store}
}

// NewCombinedVerifier accepts answers signed with the WeChat Pay public key
// and with the platform certificates of store, as during a migration from
// certificates to the public key: WeChat Pay may sign with either until it
// is done. Requests announce the public key id.
func NewCombinedVerifier(keyID string, pub *rsa.PublicKey, store *CertStore) *Verifier {
	v := NewPublicKeyVerifier(keyID, pub)
	v.certs = store
	return v
}

// CertStore is the store of platform certificates the verifier uses, or
// nil.
func (v *Verifier) CertStore() *CertStore { return v.certs }

// needsCertificates reports whether answers can only be verified with
// platform certificates (certificate mode): then a request is not sent
// before one is at hand.
func (v *Verifier) needsCertificates() bool { return v.certs != nil && v.primary == "" }

// CertificateSerial renders a certificate serial as WeChat Pay does: upper
// case hex without separators.
func CertificateSerial(c *x509.Certificate) string {
	return strings.ToUpper(c.SerialNumber.Text(16))
}

// Serial is the serial or public key id a merchant announces in its
// requests' Wechatpay-Serial header: the public key id in public-key and
// combined modes, the newest valid platform certificate's serial in
// certificate mode ("" while none is known).
func (v *Verifier) Serial() string {
	if v.primary == "" && v.certs != nil {
		return v.certs.NewestSerial()
	}
	return v.primary
}

// Verify checks the Wechatpay-* signature headers of a response or callback
// against body. Every failure wraps ErrSignature.
func (v *Verifier) Verify(h http.Header, body []byte, now time.Time) error {
	return v.VerifyContext(context.Background(), h, body, now)
}

// VerifyContext is Verify; ctx bounds the wait when an unknown serial makes
// the certificate store download.
func (v *Verifier) VerifyContext(ctx context.Context, h http.Header, body []byte, now time.Time) error {
	ts, nonce, sig, serial := h.Get(HeaderTimestamp), h.Get(HeaderNonce), h.Get(HeaderSignature), h.Get(HeaderSerial)
	switch {
	case ts == "":
		return fmt.Errorf("%w: missing %s", ErrSignature, HeaderTimestamp)
	case nonce == "":
		return fmt.Errorf("%w: missing %s", ErrSignature, HeaderNonce)
	case sig == "":
		return fmt.Errorf("%w: missing %s", ErrSignature, HeaderSignature)
	case serial == "":
		return fmt.Errorf("%w: missing %s", ErrSignature, HeaderSerial)
	}
	if strings.HasPrefix(sig, SignatureProbePrefix) {
		return fmt.Errorf("%w: signature probe %s", ErrSignature, SignatureProbePrefix)
	}
	if t := h.Get(HeaderSignatureType); t != "" && t != AuthScheme {
		return fmt.Errorf("%w: unsupported signature type %q", ErrSignature, clip(t))
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: bad %s %q", ErrSignature, HeaderTimestamp, clip(ts))
	}
	if skew := now.Sub(time.Unix(sec, 0)); skew >= MaxClockSkew || skew <= -MaxClockSkew {
		return fmt.Errorf("%w: timestamp %s is %s from now", ErrSignature, ts, skew.Round(time.Second))
	}
	if v == nil {
		return fmt.Errorf("%w: no verifier", ErrSignature)
	}
	k, ok := v.keys[strings.ToUpper(serial)]
	if !ok && v.certs != nil {
		var err error
		if k, err = v.certs.key(ctx, serial, now); err != nil {
			return err
		}
		ok = true
	}
	if !ok {
		return fmt.Errorf("%w: unknown serial %q", ErrSignature, clip(serial))
	}
	if (!k.notBefore.IsZero() && now.Before(k.notBefore)) || (!k.notAfter.IsZero() && now.After(k.notAfter)) {
		return fmt.Errorf("%w: certificate %s not valid at %s", ErrSignature, serial, now.UTC().Format(time.RFC3339))
	}
	return VerifySHA256RSA(k.pub, ResponseMessage(ts, nonce, body), sig)
}

// clip bounds attacker-controlled text quoted in errors.
func clip(s string) string {
	const n = 64
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
