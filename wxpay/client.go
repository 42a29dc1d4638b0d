package wxpay

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Domains and defaults documented by WeChat Pay.
const (
	DefaultBaseURL       = "https://api.mch.weixin.qq.com"
	DefaultBackupBaseURL = "https://api2.mch.weixin.qq.com"
	DefaultTimeout       = 10 * time.Second
	DefaultMaxConns      = 16
	DefaultUserAgent     = "issuer-wxpay/1 (+https://github.com/issuer-dev/issuer)"

	// primaryCooldown is how long the backup domain is preferred after the
	// primary refused a connection, so a dead primary costs one failed dial
	// per cooldown rather than one per call.
	primaryCooldown = 30 * time.Second
	// maxAPIBody bounds a JSON answer; API answers are a few KiB.
	maxAPIBody = 4 << 20
)

// Options configures a Client. MchID, Signer and Verifier are required.
type Options struct {
	// BaseURL defaults to DefaultBaseURL; when it is empty BackupBaseURL
	// defaults to DefaultBackupBaseURL, otherwise an empty BackupBaseURL
	// disables failover.
	BaseURL       string
	BackupBaseURL string

	MchID string // calling merchant; default stock_creator_mchid
	AppID string // default appid of sends

	Signer   *Signer
	Verifier *Verifier
	// PublicKeyID is sent as Wechatpay-Serial: the WeChat Pay public key id
	// (or platform certificate serial) the answers are verified with.
	// Defaults to Verifier.Serial(), asked per request, so that in
	// certificate mode it follows rotations.
	PublicKeyID string

	// HTTPClient, when set, is used as is (its Timeout should be zero; the
	// Client enforces Timeout itself). Otherwise a transport sized for
	// MaxConns concurrent calls is built.
	HTTPClient *http.Client
	MaxConns   int

	// Timeout bounds each exchange with one domain; a download's Timeout
	// bounds the wait for each chunk, not the whole file.
	Timeout   time.Duration
	UserAgent string
	// Now is the clock for request timestamps and answer freshness.
	Now    func() time.Time
	Logger *slog.Logger // failovers are logged at Warn
}

// Verification modes: how answers and callbacks are authenticated.
const (
	VerifyPublicKey   = "public_key"  // the WeChat Pay public key (PUB_KEY_ID_…)
	VerifyCertificate = "certificate" // platform certificates, downloaded and rotated
	VerifyBoth        = "both"        // either, while WeChat Pay migrates a merchant
)

// KeyFiles names the merchant's key material on disk, as in the config.
// Public-key mode needs PublicKeyID and PublicKeyFile; certificate mode the
// APIv3 key and the WeChat Pay CA (PlatformCAFile, or the explicit
// InsecureSkipPlatformCA); combined mode both. PlatformCertFiles alone,
// without an APIv3 key, is a fixed set of certificates that never rotates.
type KeyFiles struct {
	MchID             string
	AppID             string
	CertSerialNo      string // merchant API certificate serial
	PrivateKeyFile    string // PKCS#8 PEM, apiclient_key.pem
	PublicKeyID       string // PUB_KEY_ID_…
	PublicKeyFile     string // PKIX PEM
	PlatformCertFiles []string

	// Verify is VerifyPublicKey, VerifyCertificate or VerifyBoth; "" means
	// public key when PublicKeyID is set, certificates otherwise.
	Verify                 string
	APIv3Key               string // the key itself: it decrypts the certificates
	PlatformCAFile         string // PEM of the CA that issues platform certificates
	InsecureSkipPlatformCA bool
	PlatformCertDir        string        // optional cache of downloaded certificates
	PlatformCertRefresh    time.Duration // default DefaultCertRefresh
	Logger                 *slog.Logger
}

// Mode resolves Verify's default.
func (f KeyFiles) Mode() string {
	switch {
	case f.Verify != "":
		return f.Verify
	case f.PublicKeyID != "" || f.PublicKeyFile != "":
		return VerifyPublicKey
	default:
		return VerifyCertificate
	}
}

// LoadOptions reads the key files and returns Options with MchID, AppID,
// Signer, Verifier and PublicKeyID set; the caller adds URLs and limits. In
// certificate and combined modes the Verifier has a CertStore: the Client
// downloads into it when it must, and Start on the store adds the
// scheduled refresh (Close it when done).
func LoadOptions(f KeyFiles) (Options, error) {
	if f.MchID == "" || f.CertSerialNo == "" || f.PrivateKeyFile == "" {
		return Options{}, errors.New("load keys: mchid, cert_serial_no and private_key_file are required")
	}
	key, err := LoadPrivateKey(f.PrivateKeyFile)
	if err != nil {
		return Options{}, fmt.Errorf("load keys: %w", err)
	}
	o := Options{
		MchID:  f.MchID,
		AppID:  f.AppID,
		Signer: &Signer{MchID: f.MchID, SerialNo: f.CertSerialNo, Key: key},
	}
	loadPublic := func() (*Verifier, error) {
		if f.PublicKeyFile == "" || f.PublicKeyID == "" {
			return nil, errors.New("load keys: public_key_id and public_key_file go together")
		}
		pub, err := LoadPublicKey(f.PublicKeyFile)
		if err != nil {
			return nil, fmt.Errorf("load keys: %w", err)
		}
		return NewPublicKeyVerifier(f.PublicKeyID, pub), nil
	}
	switch mode := f.Mode(); {
	case mode == VerifyPublicKey:
		if o.Verifier, err = loadPublic(); err != nil {
			return Options{}, err
		}
		o.PublicKeyID = o.Verifier.Serial()
	case mode == VerifyCertificate && f.APIv3Key == "" && len(f.PlatformCertFiles) > 0:
		certs, err := LoadCertificates(f.PlatformCertFiles...)
		if err != nil {
			return Options{}, fmt.Errorf("load keys: %w", err)
		}
		o.Verifier = NewCertificateVerifier(certs...)
		if o.Verifier.Serial() == "" {
			return Options{}, errors.New("load keys: no RSA platform certificate")
		}
		o.PublicKeyID = o.Verifier.Serial()
	case mode == VerifyCertificate || mode == VerifyBoth:
		store, err := f.certStore()
		if err != nil {
			return Options{}, err
		}
		if mode == VerifyCertificate {
			o.Verifier = NewCertStoreVerifier(store)
			break // PublicKeyID stays empty: the serial follows rotations
		}
		pv, err := loadPublic()
		if err != nil {
			return Options{}, err
		}
		o.Verifier = NewCombinedVerifier(f.PublicKeyID, pv.keys[strings.ToUpper(f.PublicKeyID)].pub, store)
		o.PublicKeyID = f.PublicKeyID
	default:
		return Options{}, fmt.Errorf("load keys: verify mode %q, want %s, %s or %s", mode, VerifyPublicKey, VerifyCertificate, VerifyBoth)
	}
	return o, nil
}

func (f KeyFiles) certStore() (*CertStore, error) {
	if f.APIv3Key == "" {
		return nil, errors.New("load keys: platform certificates need the APIv3 key (apiv3_key_file)")
	}
	policy := CertPolicy{APIv3Key: f.APIv3Key, InsecureSkipChain: f.InsecureSkipPlatformCA}
	if f.PlatformCAFile != "" {
		cas, err := LoadCertificates(f.PlatformCAFile)
		if err != nil {
			return nil, fmt.Errorf("load keys: platform CA: %w", err)
		}
		policy.Roots = x509.NewCertPool()
		for _, ca := range cas {
			policy.Roots.AddCert(ca)
		}
	} else if !f.InsecureSkipPlatformCA {
		return nil, errors.New("load keys: platform certificates need the WeChat Pay CA (platform_ca_file), or the chain check skipped explicitly")
	}
	store, err := NewCertStore(CertStoreOptions{
		CertPolicy: policy, Refresh: f.PlatformCertRefresh, CacheDir: f.PlatformCertDir, Logger: f.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("load keys: %w", err)
	}
	if len(f.PlatformCertFiles) > 0 {
		certs, err := LoadCertificates(f.PlatformCertFiles...)
		if err == nil {
			err = store.Add(certs...)
		}
		if err != nil {
			store.Close()
			return nil, fmt.Errorf("load keys: %w", err)
		}
	}
	return store, nil
}

// Client calls WeChat Pay API v3. It is safe for concurrent use.
type Client struct {
	base, backup *url.URL
	mchID, appID string
	signer       *Signer
	verifier     *Verifier
	serial       string
	hc           *http.Client
	ownTransport interface{ CloseIdleConnections() }
	timeout      time.Duration
	userAgent    string
	now          func() time.Time
	log          *slog.Logger

	// primaryDownUntil (unix nanoseconds, wall clock) makes calls start on
	// the backup domain for a while after the primary refused a connection.
	primaryDownUntil atomic.Int64
}

// New builds a Client.
func New(o Options) (*Client, error) {
	if o.MchID == "" {
		return nil, errors.New("new wxpay client: empty mchid")
	}
	if o.Signer == nil || o.Signer.Key == nil {
		return nil, errors.New("new wxpay client: no signer")
	}
	if o.Verifier == nil {
		return nil, errors.New("new wxpay client: no verifier")
	}
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
		if o.BackupBaseURL == "" {
			o.BackupBaseURL = DefaultBackupBaseURL
		}
	}
	c := &Client{
		mchID:     o.MchID,
		appID:     o.AppID,
		signer:    o.Signer,
		verifier:  o.Verifier,
		serial:    o.PublicKeyID,
		timeout:   o.Timeout,
		userAgent: o.UserAgent,
		now:       o.Now,
		log:       o.Logger,
	}
	var err error
	if c.base, err = parseBaseURL(o.BaseURL); err != nil {
		return nil, fmt.Errorf("new wxpay client: base url: %w", err)
	}
	if o.BackupBaseURL != "" {
		if c.backup, err = parseBaseURL(o.BackupBaseURL); err != nil {
			return nil, fmt.Errorf("new wxpay client: backup base url: %w", err)
		}
	}
	if st := o.Verifier.CertStore(); st != nil {
		st.bind(c.fetchCertificates)
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.hc = o.HTTPClient
	if c.hc == nil {
		t := newSyncTransport(o.MaxConns)
		c.ownTransport = t
		c.hc = &http.Client{Transport: t}
	}
	return c, nil
}

// NewTransport returns an http.Transport for maxConns concurrent calls to
// WeChat Pay's two domains: keep-alive, maxConns idle connections per host.
func NewTransport(maxConns int) *http.Transport {
	if maxConns <= 0 {
		maxConns = DefaultMaxConns
	}
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          2 * maxConns,
		MaxIdleConnsPerHost:   maxConns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// Close releases idle connections of a transport the Client built itself.
func (c *Client) Close() {
	if c.ownTransport != nil {
		c.ownTransport.CloseIdleConnections()
	}
}

// MchID is the calling merchant.
func (c *Client) MchID() string { return c.mchID }

// AppID is the default appid of sends.
func (c *Client) AppID() string { return c.appID }

// Verifier authenticates the Client's answers; callbacks should use the
// same one, so that both follow certificate rotations together.
func (c *Client) Verifier() *Verifier { return c.verifier }

func parseBaseURL(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(s, "/"))
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an http(s) origin", s)
	}
	return u, nil
}

// response is an authenticated (or, for optional-signature endpoints,
// accepted) answer.
type response struct {
	status    int
	header    http.Header
	body      []byte
	requestID string
}

// origins lists the domains to try in order.
func (c *Client) origins() []*url.URL {
	if c.backup == nil {
		return []*url.URL{c.base}
	}
	if time.Now().UnixNano() < c.primaryDownUntil.Load() {
		return []*url.URL{c.backup, c.base}
	}
	return []*url.URL{c.base, c.backup}
}

// exchange is one request in flight: the answer's headers have arrived and
// the body is still to be read under the stall timer.
type exchange struct {
	resp   *http.Response
	url    string
	timer  *time.Timer
	cancel context.CancelFunc
}

func (x *exchange) close() {
	x.timer.Stop()
	x.resp.Body.Close()
	x.cancel()
}

// send signs the request once (the signature covers path and query, not the
// host) and tries each origin in turn, moving on only when no connection
// could be made: after that, the request may have been processed, and the
// caller's retry with the same out_request_no is the safe way to find out.
func (c *Client) send(ctx context.Context, origins []*url.URL, method, uri string, body []byte) (*exchange, error) {
	if u, err := url.Parse("http://h" + uri); err != nil || u.RequestURI() != uri {
		// The signature must cover exactly what goes on the wire.
		return nil, fmt.Errorf("%s %s: %w: uri is not in canonical form", method, uri, ErrInvalidRequest)
	}
	auth, err := c.signer.Authorize(method, uri, body, c.now(), "")
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, uri, err)
	}
	authz := auth.String()
	serial := c.serial
	if serial == "" {
		serial = c.verifier.Serial()
	}
	var lastErr error
	lastURL := ""
	for i, origin := range origins {
		target := origin.Scheme + "://" + origin.Host + uri
		lastURL = target
		x, err := c.attempt(ctx, method, target, authz, serial, body)
		if err == nil {
			return x, nil
		}
		lastErr = err
		if !connectFailure(err) || ctx.Err() != nil {
			return nil, &TransportError{URL: target, MaybeSent: true, Err: err}
		}
		if origin == c.base && c.backup != nil {
			c.primaryDownUntil.Store(time.Now().Add(primaryCooldown).UnixNano())
		}
		if i+1 < len(origins) {
			c.log.WarnContext(ctx, "wxpay: domain unreachable, failing over",
				slog.String("from", origin.Host), slog.String("to", origins[i+1].Host), slog.Any("err", err))
		}
	}
	return nil, &TransportError{URL: lastURL, MaybeSent: false, Err: lastErr}
}

func (c *Client) attempt(ctx context.Context, method, target, authz, serial string, body []byte) (*exchange, error) {
	actx, cancel := context.WithCancel(ctx)
	timer := time.AfterFunc(c.timeout, cancel)
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(actx, method, target, rd)
	if err != nil {
		timer.Stop()
		cancel()
		return nil, err
	}
	req.Header.Set("Authorization", authz)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if serial != "" {
		req.Header.Set(HeaderSerial, serial)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		timer.Stop()
		cancel()
		if ctx.Err() == nil && actx.Err() != nil {
			// Keep err's chain: a dial cut short is still a connect failure.
			err = fmt.Errorf("no answer within %s (%w): %w", c.timeout, context.DeadlineExceeded, err)
		}
		return nil, err
	}
	return &exchange{resp: resp, url: target, timer: timer, cancel: cancel}, nil
}

// connectFailure reports whether err happened before any byte of the
// request could reach a server: DNS or dial failure.
func connectFailure(err error) bool {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return true
	}
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial"
}

// do performs one API call and authenticates the answer. A 2xx must carry a
// valid signature unless optionalSig is set (use-flow/refund-flow metadata,
// documented as unsigned), in which case it is verified only when signed.
// Error answers are verified when signed; unsigned ones are accepted, as
// gateways produce them, but marked (APIError.Signed) so that Classify never
// lets an unauthenticated answer finish a recipient.
func (c *Client) do(ctx context.Context, method, uri string, body []byte, optionalSig bool) (*response, error) {
	if c.verifier.needsCertificates() {
		// Nothing is sent whose answer could not be verified: that would
		// only manufacture a coupon in doubt.
		if err := c.verifier.certs.ensure(ctx); err != nil {
			return nil, fmt.Errorf("%s %s: not sent: %w", method, uri, err)
		}
	}
	x, err := c.send(ctx, c.origins(), method, uri, body)
	if err != nil {
		return nil, err
	}
	defer x.close()
	b, err := io.ReadAll(io.LimitReader(x.resp.Body, maxAPIBody+1))
	if err != nil {
		if ctx.Err() == nil && !x.timer.Stop() {
			err = fmt.Errorf("no answer within %s (%w): %w", c.timeout, context.DeadlineExceeded, err)
		}
		return nil, &TransportError{URL: x.url, MaybeSent: true, Err: fmt.Errorf("read answer: %w", err)}
	}
	r := &response{status: x.resp.StatusCode, header: x.resp.Header, body: b, requestID: x.resp.Header.Get(HeaderRequestID)}
	if len(b) > maxAPIBody {
		return r, fmt.Errorf("%s %s: %w: answer larger than %d bytes", method, uri, ErrMalformedResponse, maxAPIBody)
	}
	ok := r.status >= 200 && r.status < 300
	signed := r.header.Get(HeaderSignature) != "" || r.header.Get(HeaderSerial) != "" ||
		r.header.Get(HeaderTimestamp) != "" || r.header.Get(HeaderNonce) != ""
	if (ok && !optionalSig) || signed {
		if err := c.verifier.VerifyContext(ctx, r.header, b, c.now()); err != nil {
			return r, fmt.Errorf("%s %s: answer %d (request id %s): %w", method, uri, r.status, r.requestID, err)
		}
	}
	if !ok {
		e := newAPIError(r)
		e.Signed = signed // and verified: a bad signature returned above
		return r, e
	}
	return r, nil
}

func newAPIError(r *response) *APIError {
	e := &APIError{Status: r.status, RequestID: r.requestID}
	var wire struct {
		Code    string          `json:"code"`
		Message string          `json:"message"`
		Detail  json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(r.body, &wire); err == nil {
		e.Code, e.Message, e.Detail = wire.Code, wire.Message, wire.Detail
	} else {
		// Proxies and gateways answer with HTML or plain text.
		e.Message = clipBody(r.body)
	}
	return e
}

func clipBody(b []byte) string {
	const n = 256
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// call performs a JSON call: in is marshalled once and those exact bytes are
// signed and sent; a 2xx body is decoded into out (when non-nil).
func (c *Client) call(ctx context.Context, method, uri string, in, out any, optionalSig bool) (*response, error) {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return nil, fmt.Errorf("%s %s: encode: %w", method, uri, err)
		}
	}
	r, err := c.do(ctx, method, uri, body, optionalSig)
	if err != nil {
		return r, err
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			return r, fmt.Errorf("%s %s: %w: %v", method, uri, ErrMalformedResponse, err)
		}
	}
	return r, nil
}
