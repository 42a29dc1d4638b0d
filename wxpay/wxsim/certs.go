package wxsim

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/issuer-dev/issuer/wxpay"
)

// Files of the certificate layout, beside the default ones: the simulated
// WeChat Pay CA and the platform certificate of wxp_key.pem.
const (
	FileCACert       = "wxp_ca.pem"     // CA certificate: the merchant's wxpay.platform_ca_file
	FileCAKey        = "wxp_ca_key.pem" // CA private key, for the simulator to issue rotations
	FilePlatformCert = "wxp_cert.pem"   // platform certificate of wxp_key.pem
)

// PlatformCertLifetime is how long the simulator's platform certificates
// last, as WeChat Pay's do.
const PlatformCertLifetime = 5 * 365 * 24 * time.Hour

// SignMode is what the simulator signs answers and callbacks with.
type SignMode string

const (
	SignPublicKey   SignMode = "public-key"  // the platform key, announced as PUB_KEY_ID_…
	SignCertificate SignMode = "certificate" // the current platform certificate's key, announced by serial
)

// ParseSignMode accepts "public-key" and "certificate" (and the config's
// spellings public_key, certificate).
func ParseSignMode(s string) (SignMode, error) {
	switch strings.ReplaceAll(s, "_", "-") {
	case string(SignPublicKey):
		return SignPublicKey, nil
	case string(SignCertificate):
		return SignCertificate, nil
	}
	return "", fmt.Errorf("sign mode %q, want public-key or certificate", s)
}

// NewCA makes a self-signed CA standing in for "Tenpay.com Root CA". Its key
// is ECDSA P-256, quick to make; what it signs is what the merchant checks.
func NewCA(name string, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("new ca: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Tenpay.com"}, Country: []string{"CN"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(20, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("new ca: %w", err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("new ca: %w", err)
	}
	return c, key, nil
}

// IssuePlatformCertificate issues a platform certificate for pub, signed by
// the CA, valid from notBefore to notAfter, with a random 160-bit serial.
func IssuePlatformCertificate(ca *x509.Certificate, caKey crypto.Signer, pub *rsa.PublicKey, notBefore, notAfter time.Time) (*x509.Certificate, error) {
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: "Tenpay.com sign", Organization: []string{"Tenpay.com"}, Country: []string{"CN"}},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, pub, caKey)
	if err != nil {
		return nil, fmt.Errorf("issue platform certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// randomSerial is 160 random bits with the top bit set, so that it prints
// as 40 hex digits like WeChat Pay's serials.
func randomSerial() *big.Int {
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	b[0] |= 0x80
	return new(big.Int).SetBytes(b)
}

// AddCertificates gives the key set a CA and a platform certificate for
// PlatformKey (the certificate layout), unless it has them already.
func (k *Keys) AddCertificates(now time.Time) error {
	if k.PlatformKey == nil {
		return errors.New("add certificates: no platform key")
	}
	if k.CA == nil || k.CAKey == nil {
		ca, caKey, err := NewCA("Tenpay.com Root CA (simulator)", now)
		if err != nil {
			return err
		}
		k.CA, k.CAKey, k.PlatformCert = ca, caKey, nil
	}
	if k.PlatformCert == nil {
		c, err := IssuePlatformCertificate(k.CA, k.CAKey, &k.PlatformKey.PublicKey, now.Add(-time.Hour), now.Add(PlatformCertLifetime))
		if err != nil {
			return err
		}
		k.PlatformCert = c
	}
	return nil
}

// certFiles are the certificate layout's extra files, none without a CA.
func (k *Keys) certFiles() ([]struct {
	name string
	data []byte
}, error) {
	if k.CA == nil {
		return nil, nil
	}
	if k.CAKey == nil || k.PlatformCert == nil {
		return nil, errors.New("save keys: the certificate layout needs the CA key and the platform certificate")
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.CAKey)
	if err != nil {
		return nil, fmt.Errorf("save keys: CA key: %w", err)
	}
	return []struct {
		name string
		data []byte
	}{
		{FileCACert, certPEM(k.CA)},
		{FileCAKey, pemBlock("PRIVATE KEY", der)},
		{FilePlatformCert, certPEM(k.PlatformCert)},
	}, nil
}

// loadCertFiles reads the certificate layout's files when dir has them.
func (k *Keys) loadCertFiles(dir string) error {
	caPath := filepath.Join(dir, FileCACert)
	if _, err := os.Stat(caPath); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	cas, err := wxpay.LoadCertificates(caPath)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(dir, FileCAKey))
	if err != nil {
		return err
	}
	blk, _ := pemDecode(b)
	if blk == nil {
		return fmt.Errorf("%s: no PEM block", FileCAKey)
	}
	key, err := x509.ParsePKCS8PrivateKey(blk)
	if err != nil {
		return fmt.Errorf("%s: %w", FileCAKey, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return fmt.Errorf("%s: %T cannot sign", FileCAKey, key)
	}
	pcs, err := wxpay.LoadCertificates(filepath.Join(dir, FilePlatformCert))
	if err != nil {
		return err
	}
	k.CA, k.CAKey, k.PlatformCert = cas[0], signer, pcs[0]
	if pub, ok := k.PlatformCert.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&k.PlatformKey.PublicKey) {
		return fmt.Errorf("%s is not the certificate of %s", FilePlatformCert, FilePlatformKey)
	}
	return nil
}

// simCert is one platform certificate the simulator lists.
type simCert struct {
	cert   *x509.Certificate
	key    *rsa.PrivateKey
	serial string
}

// platformCerts is the simulator's certificate-mode state.
type platformCerts struct {
	mu      sync.Mutex
	mode    SignMode
	ca      *x509.Certificate
	caKey   crypto.Signer
	listed  []*simCert // in issue order
	current *simCert   // signs in certificate mode
}

func newPlatformCerts(k *Keys, mode SignMode) (*platformCerts, error) {
	pc := &platformCerts{mode: mode, ca: k.CA, caKey: k.CAKey}
	if pc.mode == "" {
		pc.mode = SignPublicKey
		if k.PlatformCert != nil {
			pc.mode = SignCertificate
		}
	}
	if _, err := ParseSignMode(string(pc.mode)); err != nil {
		return nil, err
	}
	if k.PlatformCert != nil {
		c := &simCert{cert: k.PlatformCert, key: k.PlatformKey, serial: wxpay.CertificateSerial(k.PlatformCert)}
		pc.listed, pc.current = []*simCert{c}, c
	}
	if pc.mode == SignCertificate && pc.current == nil {
		return nil, errors.New("sign mode certificate needs keys with a platform certificate (sim keys --mode certificate)")
	}
	return pc, nil
}

// signer is the key and serial answers are signed with now.
func (s *Server) signer() (*rsa.PrivateKey, string) {
	s.pcerts.mu.Lock()
	defer s.pcerts.mu.Unlock()
	if s.pcerts.mode == SignCertificate && s.pcerts.current != nil {
		return s.pcerts.current.key, s.pcerts.current.serial
	}
	return s.keys.PlatformKey, s.keys.PublicKeyID
}

// SetSignMode switches what answers and callbacks are signed with, as
// WeChat Pay does when it migrates a merchant between the two.
func (s *Server) SetSignMode(m SignMode) error {
	if _, err := ParseSignMode(string(m)); err != nil {
		return err
	}
	s.pcerts.mu.Lock()
	defer s.pcerts.mu.Unlock()
	if m == SignCertificate && s.pcerts.current == nil {
		return errors.New("no platform certificate to sign with")
	}
	s.pcerts.mode = m
	return nil
}

// SignMode is what answers are signed with now.
func (s *Server) SignMode() SignMode {
	s.pcerts.mu.Lock()
	defer s.pcerts.mu.Unlock()
	return s.pcerts.mode
}

// RotateCertificate issues a new platform certificate (a fresh RSA key,
// signed by the CA) and signs with it from now on; the previous ones stay
// listed until they expire or are retired. It returns the new serial.
func (s *Server) RotateCertificate() (string, error) {
	s.pcerts.mu.Lock()
	ca, caKey := s.pcerts.ca, s.pcerts.caKey
	s.pcerts.mu.Unlock()
	if ca == nil || caKey == nil {
		return "", errors.New("rotate certificate: the simulator has no CA (sim keys --mode certificate)")
	}
	key, err := rsa.GenerateKey(rand.Reader, rsaBits)
	if err != nil {
		return "", fmt.Errorf("rotate certificate: %w", err)
	}
	now := s.now()
	c, err := IssuePlatformCertificate(ca, caKey, &key.PublicKey, now.Add(-time.Minute), now.Add(PlatformCertLifetime))
	if err != nil {
		return "", fmt.Errorf("rotate certificate: %w", err)
	}
	if err := s.AddCertificate(c, key, true); err != nil {
		return "", err
	}
	s.log.Info("sim platform certificate rotated", "serial", wxpay.CertificateSerial(c))
	return wxpay.CertificateSerial(c), nil
}

// AddCertificate lists a platform certificate (issued by any CA: a test may
// list a forged one) and, when current, signs with it from now on.
func (s *Server) AddCertificate(c *x509.Certificate, key *rsa.PrivateKey, current bool) error {
	if c == nil || key == nil {
		return errors.New("add certificate: certificate and key are required")
	}
	if pub, ok := c.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return errors.New("add certificate: the key does not match the certificate")
	}
	sc := &simCert{cert: c, key: key, serial: wxpay.CertificateSerial(c)}
	s.pcerts.mu.Lock()
	defer s.pcerts.mu.Unlock()
	s.pcerts.listed = append(s.pcerts.listed, sc)
	if current || s.pcerts.current == nil {
		s.pcerts.current = sc
	}
	return nil
}

// RetireCertificate stops listing a certificate. The current one cannot be
// retired: rotate first.
func (s *Server) RetireCertificate(serial string) error {
	s.pcerts.mu.Lock()
	defer s.pcerts.mu.Unlock()
	for i, c := range s.pcerts.listed {
		if !strings.EqualFold(c.serial, serial) {
			continue
		}
		if c == s.pcerts.current {
			return fmt.Errorf("retire certificate %s: it is the current one; rotate first", serial)
		}
		s.pcerts.listed = append(s.pcerts.listed[:i:i], s.pcerts.listed[i+1:]...)
		return nil
	}
	return fmt.Errorf("retire certificate %s: %w", serial, ErrNotFound)
}

// CertificateState is one listed platform certificate, for the admin API.
type CertificateState struct {
	SerialNo  string    `json:"serial_no"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	Current   bool      `json:"current"`
	Expired   bool      `json:"expired"`
}

// CertificatesState is the admin view of certificate mode.
type CertificatesState struct {
	SignMode     SignMode           `json:"sign_mode"`
	Current      string             `json:"current,omitempty"`
	Certificates []CertificateState `json:"certificates"`
}

// Certificates reports the sign mode and the listed certificates.
func (s *Server) Certificates() CertificatesState {
	now := s.now()
	s.pcerts.mu.Lock()
	defer s.pcerts.mu.Unlock()
	out := CertificatesState{SignMode: s.pcerts.mode, Certificates: []CertificateState{}}
	if s.pcerts.current != nil {
		out.Current = s.pcerts.current.serial
	}
	for _, c := range s.pcerts.listed {
		out.Certificates = append(out.Certificates, CertificateState{
			SerialNo: c.serial, NotBefore: c.cert.NotBefore, NotAfter: c.cert.NotAfter,
			Current: c == s.pcerts.current, Expired: now.After(c.cert.NotAfter),
		})
	}
	return out
}

// handleCertificates answers GET /v3/certificates: every listed certificate
// not yet expired, encrypted with the APIv3 key, the answer signed with the
// current certificate whatever the sign mode (the merchant checks a
// download against the certificates it carries).
func (s *Server) handleCertificates(c *call) {
	now := s.now()
	s.pcerts.mu.Lock()
	listed := append([]*simCert(nil), s.pcerts.listed...)
	cur := s.pcerts.current
	s.pcerts.mu.Unlock()
	answer := wxpay.CertificatesAnswer{Data: []wxpay.CertificateEntry{}}
	for _, sc := range listed {
		if now.After(sc.cert.NotAfter) {
			continue
		}
		e, err := wxpay.EncryptCertificate(s.keys.APIv3Key, sc.cert, sc.cert.NotBefore, sc.cert.NotAfter)
		if err != nil {
			s.writeError(c, errf(http.StatusInternalServerError, "SYSTEM_ERROR", msgSystemError))
			return
		}
		answer.Data = append(answer.Data, e)
	}
	if len(answer.Data) == 0 || cur == nil || s.keys.APIv3Key == "" {
		s.writeError(c, errf(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "商户没有可用的平台证书"))
		return
	}
	sort.SliceStable(answer.Data, func(i, j int) bool { return answer.Data[i].EffectiveTime < answer.Data[j].EffectiveTime })
	body, err := json.Marshal(answer)
	if err != nil {
		s.writeError(c, errf(http.StatusInternalServerError, "SYSTEM_ERROR", msgSystemError))
		return
	}
	h := c.w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set(wxpay.HeaderRequestID, c.requestID)
	if err := wxpay.SignResponse(h, cur.key, cur.serial, body, now, ""); err != nil {
		s.log.Error("sim sign answer", "err", err)
	}
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write(body)
}

// certAdminRoutes adds the certificate-mode admin endpoints.
func (s *Server) certAdminRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /sim/certificates", func(w http.ResponseWriter, r *http.Request) {
		adminJSON(w, http.StatusOK, s.Certificates())
	})
	m.HandleFunc("POST /sim/certificates/rotate", func(w http.ResponseWriter, r *http.Request) {
		serial, err := s.RotateCertificate()
		if err != nil {
			adminError(w, http.StatusConflict, err)
			return
		}
		adminJSON(w, http.StatusOK, map[string]string{"serial_no": serial})
	})
	m.HandleFunc("POST /sim/certificates/{serial}/retire", func(w http.ResponseWriter, r *http.Request) {
		if err := s.RetireCertificate(r.PathValue("serial")); err != nil {
			adminFail(w, err, http.StatusConflict)
			return
		}
		adminJSON(w, http.StatusOK, s.Certificates())
	})
	setMode := func(w http.ResponseWriter, r *http.Request) {
		var in signModeBody
		if !adminDecode(w, r, &in) {
			return
		}
		m, err := ParseSignMode(in.Mode)
		if err == nil {
			err = s.SetSignMode(m)
		}
		if err != nil {
			adminError(w, http.StatusBadRequest, err)
			return
		}
		adminJSON(w, http.StatusOK, signModeBody{Mode: string(s.SignMode())})
	}
	m.HandleFunc("PUT /sim/sign-mode", setMode)
	m.HandleFunc("POST /sim/sign-mode", setMode)
}

type signModeBody struct {
	Mode string `json:"mode"`
}

// CertificatesAdminHelp documents the certificate-mode admin endpoints.
const CertificatesAdminHelp = `GET  /sim/certificates             sign mode, current serial, listed platform certificates
POST /sim/certificates/rotate      new platform certificate, current from now on → {"serial_no"}
POST /sim/certificates/{serial}/retire  stop listing a certificate (not the current one)
PUT  /sim/sign-mode                {"mode": "public-key"|"certificate"}
`

// RotateCertificate asks the simulator for a new platform certificate and
// returns its serial.
func (a *AdminClient) RotateCertificate(ctx context.Context) (string, error) {
	var out map[string]string
	err := a.do(ctx, http.MethodPost, "certificates/rotate", nil, &out)
	return out["serial_no"], err
}

// RetireCertificate stops the simulator listing a certificate.
func (a *AdminClient) RetireCertificate(ctx context.Context, serial string) error {
	return a.do(ctx, http.MethodPost, "certificates/"+serial+"/retire", nil, nil)
}

// SetSignMode switches what the simulator signs with.
func (a *AdminClient) SetSignMode(ctx context.Context, m SignMode) error {
	return a.do(ctx, http.MethodPut, "sign-mode", signModeBody{Mode: string(m)}, nil)
}

// Certificates reports the simulator's sign mode and certificates.
func (a *AdminClient) Certificates(ctx context.Context) (CertificatesState, error) {
	var out CertificatesState
	err := a.do(ctx, http.MethodGet, "certificates", nil, &out)
	return out, err
}

func certPEM(c *x509.Certificate) []byte { return pemBlock("CERTIFICATE", c.Raw) }

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// pemDecode returns the DER of the first PEM block in b.
func pemDecode(b []byte) ([]byte, []byte) {
	blk, rest := pem.Decode(b)
	if blk == nil {
		return nil, rest
	}
	return blk.Bytes, rest
}
