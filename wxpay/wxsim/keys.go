package wxsim

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/issuer-dev/issuer/wxpay"
)

// File names of the key layout shared by `issuer sim keys` and `issuer sim`.
const (
	FileMerchantKey    = "apiclient_key.pem" // merchant API private key, PKCS#8
	FileMerchantPublic = "apiclient_pub.pem" // merchant API public key, PKIX
	FilePlatformKey    = "wxp_key.pem"       // WeChat Pay (platform) private key, PKCS#8
	FilePlatformPublic = "wxp_pub.pem"       // WeChat Pay public key, PKIX
	FileAPIv3Key       = "apiv3.key"         // 32-byte APIv3 key
	FileAPIv2Key       = "apiv2.key"         // APIv2 key
	FileIDs            = "ids.json"          // {"mchid","appid","cert_serial_no","public_key_id"}
	FileConfig         = "issuer.yaml"       // issuer config pointing at the files above
)

// DefaultAddr is where `issuer sim` listens unless told otherwise, and so the
// wxpay.base_url written into issuer.yaml.
const DefaultAddr = "127.0.0.1:8091"

// DefaultDatabaseURL is the placeholder written into issuer.yaml when no
// database URL is given.
const DefaultDatabaseURL = "postgres://issuer:issuer@127.0.0.1:5432/issuer?sslmode=disable"

const rsaBits = 2048

// Keys is everything both sides of the wire need: the merchant's identity and
// API key pair, and the platform's key pair and public key id. The simulator
// verifies with MerchantPublic and signs with PlatformKey; a client signs with
// MerchantKey and verifies with PlatformPublic.
type Keys struct {
	MchID        string
	AppID        string
	CertSerialNo string // merchant API certificate serial
	PublicKeyID  string // PUB_KEY_ID_…, sent as Wechatpay-Serial

	MerchantKey    *rsa.PrivateKey // nil when only the public half was provided
	MerchantPublic *rsa.PublicKey
	PlatformKey    *rsa.PrivateKey
	PlatformPublic *rsa.PublicKey

	APIv3Key string // 32 bytes
	APIv2Key string

	// Certificate layout only (AddCertificates): the simulated WeChat Pay
	// CA and the platform certificate of PlatformKey it issued.
	CA           *x509.Certificate
	CAKey        crypto.Signer
	PlatformCert *x509.Certificate
}

// ids is the ids.json document.
type ids struct {
	MchID        string `json:"mchid"`
	AppID        string `json:"appid"`
	CertSerialNo string `json:"cert_serial_no"`
	PublicKeyID  string `json:"public_key_id"`
}

// NewKeys generates a fresh key set in memory: two RSA-2048 key pairs
// (generated concurrently, the slow part), random ids and API keys.
func NewKeys() (*Keys, error) {
	type result struct {
		key *rsa.PrivateKey
		err error
	}
	platform := make(chan result, 1)
	go func() {
		k, err := rsa.GenerateKey(rand.Reader, rsaBits)
		platform <- result{k, err}
	}()
	merchant, err := rsa.GenerateKey(rand.Reader, rsaBits)
	p := <-platform
	if err != nil {
		return nil, fmt.Errorf("generate merchant key: %w", err)
	}
	if p.err != nil {
		return nil, fmt.Errorf("generate platform key: %w", p.err)
	}
	return &Keys{
		MchID:          "19" + randomDigits(8),
		AppID:          "wx" + randomHex(8),
		CertSerialNo:   strings.ToUpper(randomHex(20)),
		PublicKeyID:    "PUB_KEY_ID_01" + randomDigits(30),
		MerchantKey:    merchant,
		MerchantPublic: &merchant.PublicKey,
		PlatformKey:    p.key,
		PlatformPublic: &p.key.PublicKey,
		APIv3Key:       wxpay.NewNonce(), // 32 characters of [0-9A-Za-z]
		APIv2Key:       wxpay.NewNonce(),
	}, nil
}

// GenerateKeys generates a key set and, when dir is not empty, saves it there
// with an issuer.yaml pointing at the simulator's default address. It refuses
// to overwrite existing files.
func GenerateKeys(dir string) (*Keys, error) {
	k, err := NewKeys()
	if err != nil {
		return nil, err
	}
	if dir == "" {
		return k, nil
	}
	if err := k.Save(dir, ConfigOptions{}); err != nil {
		return nil, err
	}
	return k, nil
}

// ConfigOptions fills the parts of issuer.yaml that are not keys.
type ConfigOptions struct {
	DatabaseURL string // default DefaultDatabaseURL
	BaseURL     string // default "http://" + DefaultAddr
}

// Save writes the key layout into dir (created 0700 if missing), every file
// 0600. It refuses to overwrite any existing file so that a merchant's real
// keys are never clobbered.
func (k *Keys) Save(dir string, c ConfigOptions) error {
	if k.MerchantKey == nil || k.PlatformKey == nil {
		return errors.New("save keys: both private keys are required")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("save keys: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return fmt.Errorf("save keys: %w", err)
	}
	merchantKey, err := privatePEM(k.MerchantKey)
	if err != nil {
		return err
	}
	merchantPub, err := publicPEM(k.MerchantPublic)
	if err != nil {
		return err
	}
	platformKey, err := privatePEM(k.PlatformKey)
	if err != nil {
		return err
	}
	platformPub, err := publicPEM(k.PlatformPublic)
	if err != nil {
		return err
	}
	idsJSON, err := json.MarshalIndent(ids{MchID: k.MchID, AppID: k.AppID, CertSerialNo: k.CertSerialNo, PublicKeyID: k.PublicKeyID}, "", "  ")
	if err != nil {
		return fmt.Errorf("save keys: %w", err)
	}
	files := []struct {
		name string
		data []byte
	}{
		{FileMerchantKey, merchantKey},
		{FileMerchantPublic, merchantPub},
		{FilePlatformKey, platformKey},
		{FilePlatformPublic, platformPub},
		{FileAPIv3Key, []byte(k.APIv3Key)},
		{FileAPIv2Key, []byte(k.APIv2Key)},
		{FileIDs, append(idsJSON, '\n')},
		{FileConfig, k.config(abs, c)},
	}
	extra, err := k.certFiles()
	if err != nil {
		return err
	}
	files = append(files, extra...)
	for _, f := range files {
		if _, err := os.Lstat(filepath.Join(abs, f.name)); err == nil {
			return fmt.Errorf("save keys: %s already exists", filepath.Join(abs, f.name))
		}
	}
	for _, f := range files {
		if err := writeNew(filepath.Join(abs, f.name), f.data); err != nil {
			return fmt.Errorf("save keys: %w", err)
		}
	}
	return nil
}

// config renders issuer.yaml with the contract's keys.
func (k *Keys) config(dir string, c ConfigOptions) []byte {
	if c.DatabaseURL == "" {
		c.DatabaseURL = DefaultDatabaseURL
	}
	if c.BaseURL == "" {
		c.BaseURL = "http://" + DefaultAddr
	}
	path := func(name string) string { return yamlString(filepath.Join(dir, name)) }
	var b strings.Builder
	b.WriteString("# Written by `issuer sim keys`: the merchant side of the key layout in this\n")
	b.WriteString("# directory, pointed at the simulator (`issuer sim --keys " + dir + "`).\n")
	b.WriteString("database_url: " + yamlString(c.DatabaseURL) + "\n")
	b.WriteString("wxpay:\n")
	b.WriteString("  base_url: " + yamlString(c.BaseURL) + "\n")
	b.WriteString("  mchid: " + yamlString(k.MchID) + "\n")
	b.WriteString("  appid: " + yamlString(k.AppID) + "\n")
	b.WriteString("  cert_serial_no: " + yamlString(k.CertSerialNo) + "\n")
	b.WriteString("  private_key_file: " + path(FileMerchantKey) + "\n")
	b.WriteString("  public_key_id: " + yamlString(k.PublicKeyID) + "\n")
	b.WriteString("  public_key_file: " + path(FilePlatformPublic) + "\n")
	b.WriteString("  apiv3_key_file: " + path(FileAPIv3Key) + "\n")
	b.WriteString("  apiv2_key_file: " + path(FileAPIv2Key) + "\n")
	if k.CA != nil {
		b.WriteString("  # Certificate mode: answers are verified with platform certificates\n")
		b.WriteString("  # downloaded from /v3/certificates and checked against this CA.\n")
		b.WriteString("  verify: \"certificate\"\n")
		b.WriteString("  platform_ca_file: " + path(FileCACert) + "\n")
	}
	return []byte(b.String())
}

// yamlString quotes s as a YAML double-quoted scalar, so that digit-only ids
// stay strings and paths with odd characters survive.
func yamlString(s string) string {
	b, _ := json.Marshal(s) // a JSON string is a valid YAML double-quoted scalar
	return string(b)
}

// LoadKeys reads the key layout from dir. The simulator needs the merchant's
// public key (apiclient_pub.pem, or derived from apiclient_key.pem when only
// that exists), the platform private key and ids.json; the API keys are read
// when present.
func LoadKeys(dir string) (*Keys, error) {
	b, err := os.ReadFile(filepath.Join(dir, FileIDs))
	if err != nil {
		return nil, fmt.Errorf("load keys: %w", err)
	}
	var id ids
	if err := json.Unmarshal(b, &id); err != nil {
		return nil, fmt.Errorf("load keys: %s: %w", FileIDs, err)
	}
	if id.MchID == "" || id.CertSerialNo == "" || id.PublicKeyID == "" {
		return nil, fmt.Errorf("load keys: %s lacks mchid, cert_serial_no or public_key_id", FileIDs)
	}
	k := &Keys{MchID: id.MchID, AppID: id.AppID, CertSerialNo: id.CertSerialNo, PublicKeyID: id.PublicKeyID}

	if k.MerchantKey, err = loadOptionalPrivate(filepath.Join(dir, FileMerchantKey)); err != nil {
		return nil, fmt.Errorf("load keys: %w", err)
	}
	switch pub, err := wxpay.LoadPublicKey(filepath.Join(dir, FileMerchantPublic)); {
	case err == nil:
		k.MerchantPublic = pub
	case errors.Is(err, fs.ErrNotExist) && k.MerchantKey != nil:
		k.MerchantPublic = &k.MerchantKey.PublicKey
	default:
		return nil, fmt.Errorf("load keys: %w", err)
	}
	if k.PlatformKey, err = wxpay.LoadPrivateKey(filepath.Join(dir, FilePlatformKey)); err != nil {
		return nil, fmt.Errorf("load keys: %w", err)
	}
	k.PlatformPublic = &k.PlatformKey.PublicKey
	if k.APIv3Key, err = readKeyFile(filepath.Join(dir, FileAPIv3Key)); err != nil {
		return nil, fmt.Errorf("load keys: %w", err)
	}
	if k.APIv3Key != "" && len(k.APIv3Key) != 32 {
		return nil, fmt.Errorf("load keys: %s holds %d bytes, want 32", FileAPIv3Key, len(k.APIv3Key))
	}
	if k.APIv2Key, err = readKeyFile(filepath.Join(dir, FileAPIv2Key)); err != nil {
		return nil, fmt.Errorf("load keys: %w", err)
	}
	if err := k.loadCertFiles(dir); err != nil {
		return nil, fmt.Errorf("load keys: %w", err)
	}
	return k, nil
}

// Signer signs requests as the merchant.
func (k *Keys) Signer() *wxpay.Signer {
	return &wxpay.Signer{MchID: k.MchID, SerialNo: k.CertSerialNo, Key: k.MerchantKey}
}

// Verifier verifies responses and callbacks as the merchant does, in public
// key mode.
func (k *Keys) Verifier() *wxpay.Verifier {
	return wxpay.NewPublicKeyVerifier(k.PublicKeyID, k.PlatformPublic)
}

// ClientOptions are the wxpay client options of the merchant calling a
// simulator at baseURL; callers add transport and timing settings.
func (k *Keys) ClientOptions(baseURL string) wxpay.Options {
	return wxpay.Options{BaseURL: baseURL, MchID: k.MchID, AppID: k.AppID, Signer: k.Signer(), Verifier: k.Verifier()}
}

func loadOptionalPrivate(path string) (*rsa.PrivateKey, error) {
	k, err := wxpay.LoadPrivateKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return k, err
}

// readKeyFile reads a secret key file; surrounding whitespace (an editor's
// trailing newline) is not part of the key. A missing file is "".
func readKeyFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func privatePEM(k *rsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func publicPEM(k *rsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return nil, fmt.Errorf("marshal public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (Go ≥1.24)
	return hex.EncodeToString(b)
}

func randomDigits(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	return string(b)
}

// IssuerEnv returns the ISSUER_* environment that makes issuer act as this
// merchant against a simulator at baseURL, with the key files in dir (as
// written by GenerateKeys or Save).
func (k *Keys) IssuerEnv(dir, baseURL string) map[string]string {
	env := map[string]string{
		"ISSUER_WXPAY_BASE_URL":         baseURL,
		"ISSUER_WXPAY_MCHID":            k.MchID,
		"ISSUER_WXPAY_APPID":            k.AppID,
		"ISSUER_WXPAY_CERT_SERIAL_NO":   k.CertSerialNo,
		"ISSUER_WXPAY_PRIVATE_KEY_FILE": filepath.Join(dir, FileMerchantKey),
		"ISSUER_WXPAY_PUBLIC_KEY_ID":    k.PublicKeyID,
		"ISSUER_WXPAY_PUBLIC_KEY_FILE":  filepath.Join(dir, FilePlatformPublic),
		"ISSUER_WXPAY_APIV3_KEY_FILE":   filepath.Join(dir, FileAPIv3Key),
		"ISSUER_WXPAY_APIV2_KEY_FILE":   filepath.Join(dir, FileAPIv2Key),
	}
	if k.CA != nil {
		env["ISSUER_WXPAY_VERIFY"] = "certificate"
		env["ISSUER_WXPAY_PLATFORM_CA_FILE"] = filepath.Join(dir, FileCACert)
	}
	return env
}
