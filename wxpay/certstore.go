package wxpay

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Platform certificate refresh defaults. WeChat Pay lists a new certificate
// 24 hours before it signs with it and asks merchants to download more
// often than every 12 hours.
const (
	DefaultCertRefresh = 12 * time.Hour
	// DefaultCertRefreshBackoff spaces the downloads that an unknown
	// Wechatpay-Serial (or a failed download) triggers, so that a stream of
	// forged serials cannot turn into a stream of downloads.
	DefaultCertRefreshBackoff = time.Minute
	// certDownloadTimeout bounds one download, whoever waits for it.
	certDownloadTimeout = 30 * time.Second
)

// errCertBackoff says a download was not attempted because the last one was
// too recent.
var errCertBackoff = errors.New("platform certificates: last download too recent")

// CertStoreOptions configure a CertStore.
type CertStoreOptions struct {
	CertPolicy
	// Refresh is the interval of the scheduled download (default
	// DefaultCertRefresh); RefreshBackoff the least time between two
	// downloads triggered by an unknown serial (default
	// DefaultCertRefreshBackoff; negative means none, for tests).
	Refresh        time.Duration
	RefreshBackoff time.Duration
	// CacheDir, when set, keeps the checked certificates as SERIAL.pem so
	// that a restart can verify answers before the first download. Cached
	// certificates are checked again when loaded.
	CacheDir string
	Now      func() time.Time // default time.Now
	Logger   *slog.Logger
}

// CertStore keeps the platform certificates WeChat Pay currently signs with
// (several at once while a rotation overlaps), downloads them from
// /v3/certificates on a schedule and when an answer names a serial it does
// not know, and forgets them once expired. It is safe for concurrent use.
//
// A Client built with a Verifier over the store downloads for it; Start
// adds the scheduled refresh, which Close (or the context) ends.
type CertStore struct {
	policy   CertPolicy
	every    time.Duration
	backoff  time.Duration
	cacheDir string
	now      func() time.Time
	log      *slog.Logger

	life   context.Context // cancelled by Close: ends downloads and the loop
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu          sync.Mutex
	certs       map[string]*PlatformCertificate
	pinned      map[string]bool // added by the operator, kept across downloads
	fetch       func(context.Context) (http.Header, []byte, error)
	flight      *certFlight
	lastFailure time.Time // of any download
	lastUnknown time.Time // of the last download an unknown serial started
	lastErr     error
	stats       CertStoreStats
	started     bool
}

// CertStoreStats count downloads, for tests and metrics.
type CertStoreStats struct {
	Downloads int // attempted
	Failures  int
	// UnknownSerial counts downloads triggered by an unknown serial.
	UnknownSerial int
}

type certFlight struct {
	done chan struct{}
	err  error
}

// NewCertStore builds a store and loads the cached certificates, if any.
func NewCertStore(o CertStoreOptions) (*CertStore, error) {
	if err := o.CertPolicy.validate(); err != nil {
		return nil, err
	}
	s := &CertStore{
		policy:   o.CertPolicy,
		every:    o.Refresh,
		backoff:  o.RefreshBackoff,
		cacheDir: o.CacheDir,
		now:      o.Now,
		log:      o.Logger,
		certs:    map[string]*PlatformCertificate{},
		pinned:   map[string]bool{},
	}
	if s.every <= 0 {
		s.every = DefaultCertRefresh
	}
	switch {
	case s.backoff == 0:
		s.backoff = DefaultCertRefreshBackoff
	case s.backoff < 0:
		s.backoff = 0
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.life, s.cancel = context.WithCancel(context.Background())
	if s.cacheDir != "" {
		if err := s.loadCache(); err != nil {
			s.cancel()
			return nil, err
		}
	}
	return s, nil
}

// Add trusts certificates given by the operator (for example files from
// WeChat Pay's certificate tool) after the same checks as downloaded ones.
// They stay until they expire, whatever later downloads list.
func (s *CertStore) Add(certs ...*x509.Certificate) error {
	now := s.now()
	for _, c := range certs {
		if err := s.policy.Check(c, now); err != nil {
			return fmt.Errorf("add platform certificate: %w", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range certs {
		pc := &PlatformCertificate{Serial: CertificateSerial(c), Certificate: c, Effective: c.NotBefore, Expire: c.NotAfter}
		s.certs[pc.Serial] = pc
		s.pinned[pc.Serial] = true
	}
	return nil
}

// bind gives the store its way to download; the first client wins.
func (s *CertStore) bind(fetch func(context.Context) (http.Header, []byte, error)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fetch == nil {
		s.fetch = fetch
	}
}

// Certificates returns the certificates valid now, newest first.
func (s *CertStore) Certificates() []*PlatformCertificate {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.validLocked(now)
}

func (s *CertStore) validLocked(now time.Time) []*PlatformCertificate {
	out := make([]*PlatformCertificate, 0, len(s.certs))
	for _, pc := range s.certs {
		if pc.ValidAt(now) {
			out = append(out, pc)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Effective.Equal(out[j].Effective) {
			return out[i].Effective.After(out[j].Effective)
		}
		return out[i].Serial < out[j].Serial
	})
	return out
}

// NewestSerial is the serial to announce in requests' Wechatpay-Serial:
// of the certificates in use (effective_time passed), the one that took
// effect last; before any has taken effect, the newest listed. "" when the
// store holds no valid certificate.
func (s *CertStore) NewestSerial() string {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	valid := s.validLocked(now)
	for _, pc := range valid {
		if !pc.Effective.After(now) {
			return pc.Serial
		}
	}
	if len(valid) > 0 {
		return valid[0].Serial
	}
	return ""
}

// Stats returns the download counters.
func (s *CertStore) Stats() CertStoreStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Refresh downloads the certificates now (joining a download already under
// way) and replaces the listed set with what the answer lists.
func (s *CertStore) Refresh(ctx context.Context) error {
	return s.refresh(ctx, true, false)
}

// ensure makes sure there is a valid certificate to verify with before a
// request is sent in certificate mode, downloading when there is none (at
// most once per backoff).
func (s *CertStore) ensure(ctx context.Context) error {
	now := s.now()
	s.mu.Lock()
	ok := len(s.validLocked(now)) > 0
	s.mu.Unlock()
	if ok {
		return nil
	}
	if err := s.refresh(ctx, false, false); err != nil {
		return fmt.Errorf("no valid platform certificate: %w", err)
	}
	return nil
}

// key finds the certificate serial names for a verification at now; an
// unknown serial (not a public key id) triggers a download, at most once
// per backoff. Every failure wraps ErrSignature.
func (s *CertStore) key(ctx context.Context, serial string, now time.Time) (verifyKey, error) {
	if k, ok, err := s.lookup(serial, now); ok || err != nil {
		return k, err
	}
	if strings.HasPrefix(strings.ToUpper(serial), "PUB_KEY_ID_") {
		return verifyKey{}, fmt.Errorf("%w: unknown public key id %q", ErrSignature, clip(serial))
	}
	if err := s.refresh(ctx, false, true); err != nil {
		return verifyKey{}, fmt.Errorf("%w: unknown serial %q (downloading platform certificates: %v)", ErrSignature, clip(serial), err)
	}
	if k, ok, err := s.lookup(serial, now); ok || err != nil {
		return k, err
	}
	return verifyKey{}, fmt.Errorf("%w: unknown serial %q, not among the downloaded platform certificates", ErrSignature, clip(serial))
}

func (s *CertStore) lookup(serial string, now time.Time) (verifyKey, bool, error) {
	s.mu.Lock()
	pc, ok := s.certs[strings.ToUpper(serial)]
	s.mu.Unlock()
	if !ok {
		return verifyKey{}, false, nil
	}
	if !pc.ValidAt(now) {
		return verifyKey{}, false, fmt.Errorf("%w: platform certificate %s not valid at %s (valid %s to %s)", ErrSignature,
			pc.Serial, now.UTC().Format(time.RFC3339), pc.Certificate.NotBefore.UTC().Format(time.RFC3339), pc.Expire.UTC().Format(time.RFC3339))
	}
	return pc.key(), true, nil
}

// refresh runs one download, or joins the one under way. Without force it
// respects the backoff. The download runs on its own goroutine, bounded by
// certDownloadTimeout and Close, so a caller whose context ends stops
// waiting without failing the others.
func (s *CertStore) refresh(ctx context.Context, force, unknownSerial bool) error {
	s.mu.Lock()
	f := s.flight
	if f == nil {
		if s.life.Err() != nil {
			s.mu.Unlock()
			return errors.New("platform certificates: store closed")
		}
		if s.fetch == nil {
			s.mu.Unlock()
			return errors.New("platform certificates: no client to download with")
		}
		now := s.now()
		// Backoff: after a failed download, and between downloads that
		// unknown serials start. A scheduled download does not count, so
		// a rotation just after one is still picked up.
		switch {
		case force:
		case !s.lastFailure.IsZero() && now.Sub(s.lastFailure) < s.backoff:
			err := fmt.Errorf("%w (it failed: %v)", errCertBackoff, s.lastErr)
			s.mu.Unlock()
			return err
		case unknownSerial && !s.lastUnknown.IsZero() && now.Sub(s.lastUnknown) < s.backoff:
			s.mu.Unlock()
			return errCertBackoff
		}
		f = &certFlight{done: make(chan struct{})}
		s.flight = f
		s.stats.Downloads++
		if unknownSerial {
			s.lastUnknown = now
			s.stats.UnknownSerial++
		}
		fetch := s.fetch
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			err := s.download(fetch)
			s.mu.Lock()
			s.flight, s.lastErr, f.err = nil, err, err
			if err != nil {
				s.lastFailure = s.now()
				s.stats.Failures++
			}
			s.mu.Unlock()
			close(f.done)
		}()
	}
	s.mu.Unlock()
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// download fetches, checks and installs the listed certificates.
func (s *CertStore) download(fetch func(context.Context) (http.Header, []byte, error)) error {
	ctx, cancel := context.WithTimeout(s.life, certDownloadTimeout)
	defer cancel()
	h, body, err := fetch(ctx)
	if err != nil {
		s.log.Warn("wxpay: platform certificate download failed", slog.Any("err", err))
		return err
	}
	now := s.now()
	listed, err := s.policy.DecodeCertificates(body, now)
	if err != nil {
		s.log.Error("wxpay: platform certificates refused", slog.Any("err", err))
		return err
	}
	s.mu.Lock()
	trusted := s.validLocked(now)
	s.mu.Unlock()
	if err := VerifyCertificatesAnswer(h, body, listed, trusted, now); err != nil {
		err = fmt.Errorf("platform certificates answer: %w", err)
		s.log.Error("wxpay: platform certificates refused", slog.Any("err", err))
		return err
	}
	s.install(listed, now)
	return nil
}

// install makes listed the downloaded set (the listing is authoritative:
// a certificate WeChat Pay no longer lists is no longer trusted), keeps
// pinned ones, drops expired ones and updates the cache.
func (s *CertStore) install(listed []*PlatformCertificate, now time.Time) {
	next := make(map[string]*PlatformCertificate, len(listed))
	for _, pc := range listed {
		next[pc.Serial] = pc
	}
	s.mu.Lock()
	var added, dropped []string
	for serial, pc := range s.certs {
		if _, ok := next[serial]; ok {
			continue
		}
		if s.pinned[serial] && pc.ValidAt(now) {
			next[serial] = pc
			continue
		}
		dropped = append(dropped, serial)
		delete(s.pinned, serial)
	}
	for serial := range next {
		if _, ok := s.certs[serial]; !ok {
			added = append(added, serial)
		}
	}
	s.certs = next
	s.mu.Unlock()
	sort.Strings(added)
	sort.Strings(dropped)
	if len(added) > 0 || len(dropped) > 0 {
		s.log.Info("wxpay: platform certificates updated", slog.Any("added", added), slog.Any("dropped", dropped))
	}
	if s.cacheDir != "" {
		if err := s.saveCache(listed, dropped); err != nil {
			s.log.Warn("wxpay: platform certificate cache", slog.Any("err", err))
		}
	}
}

// Prune forgets certificates past their end; lookups ignore them anyway,
// this only frees them and their cache files.
func (s *CertStore) Prune() {
	now := s.now()
	s.mu.Lock()
	var dropped []string
	for serial, pc := range s.certs {
		if now.After(pc.Expire) {
			delete(s.certs, serial)
			delete(s.pinned, serial)
			dropped = append(dropped, serial)
		}
	}
	s.mu.Unlock()
	if len(dropped) > 0 && s.cacheDir != "" {
		if err := s.saveCache(nil, dropped); err != nil {
			s.log.Warn("wxpay: platform certificate cache", slog.Any("err", err))
		}
	}
}

// Start runs the scheduled refresh in the background until ctx ends or
// Close is called: a download at once when no valid certificate is held,
// then every Refresh (every backoff after a failure). Start is a no-op the
// second time.
func (s *CertStore) Start(ctx context.Context) {
	s.mu.Lock()
	if s.started || s.life.Err() != nil {
		s.mu.Unlock()
		return
	}
	s.started = true
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		wait := time.Duration(0)
		if len(s.Certificates()) > 0 {
			wait = s.every
		}
		for {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-s.life.Done():
				t.Stop()
				return
			case <-t.C:
			}
			s.Prune()
			wait = s.every
			if err := s.refresh(ctx, true, false); err != nil && ctx.Err() == nil && s.life.Err() == nil {
				wait = max(s.backoff, time.Second)
			}
		}
	}()
}

// Close stops the scheduled refresh and any download under way, and waits
// for them. The store keeps verifying with what it holds. Idempotent.
func (s *CertStore) Close() {
	// Under mu, so that no download or loop starts after the cancel.
	s.mu.Lock()
	s.cancel()
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *CertStore) loadCache() error {
	entries, err := os.ReadDir(s.cacheDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("platform certificate cache: %w", err)
	}
	now := s.now()
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".pem") {
			continue
		}
		path := filepath.Join(s.cacheDir, e.Name())
		certs, err := LoadCertificates(path)
		if err != nil {
			s.log.Warn("wxpay: platform certificate cache: skipped", slog.String("file", path), slog.Any("err", err))
			continue
		}
		for _, c := range certs {
			if err := s.policy.Check(c, now); err != nil {
				s.log.Warn("wxpay: platform certificate cache: skipped", slog.String("file", path), slog.Any("err", err))
				continue
			}
			pc := &PlatformCertificate{Serial: CertificateSerial(c), Certificate: c, Effective: c.NotBefore, Expire: c.NotAfter}
			s.certs[pc.Serial] = pc
		}
	}
	return nil
}

func (s *CertStore) saveCache(listed []*PlatformCertificate, dropped []string) error {
	if err := os.MkdirAll(s.cacheDir, 0o755); err != nil {
		return err
	}
	var errs []error
	for _, pc := range listed {
		path := filepath.Join(s.cacheDir, pc.Serial+".pem")
		if _, err := os.Stat(path); err == nil {
			continue
		}
		errs = append(errs, writeFileAtomic(path, pc.PEM()))
	}
	for _, serial := range dropped {
		if err := os.Remove(filepath.Join(s.cacheDir, serial+".pem")); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// writeFileAtomic writes through a temporary file and a rename, so that a
// crash never leaves half a certificate behind.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*.pem")
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(f.Name(), 0o644)
	}
	if werr == nil {
		werr = os.Rename(f.Name(), path)
	}
	if werr != nil {
		os.Remove(f.Name())
	}
	return werr
}

// fetchCertificates is the store's download through a Client: a signed GET
// whose 200 answer is returned unverified — the store verifies it with the
// certificates it carries — and any other answer is an error.
func (c *Client) fetchCertificates(ctx context.Context) (http.Header, []byte, error) {
	x, err := c.send(ctx, c.origins(), http.MethodGet, PathCertificates, nil)
	if err != nil {
		return nil, nil, err
	}
	defer x.close()
	b, err := io.ReadAll(io.LimitReader(x.resp.Body, maxAPIBody+1))
	if err != nil {
		return nil, nil, &TransportError{URL: x.url, MaybeSent: true, Err: fmt.Errorf("read answer: %w", err)}
	}
	if len(b) > maxAPIBody {
		return nil, nil, fmt.Errorf("GET %s: %w: answer larger than %d bytes", PathCertificates, ErrMalformedResponse, maxAPIBody)
	}
	if x.resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("GET %s: %w", PathCertificates,
			newAPIError(&response{status: x.resp.StatusCode, header: x.resp.Header, body: b, requestID: x.resp.Header.Get(HeaderRequestID)}))
	}
	return x.resp.Header, b, nil
}
