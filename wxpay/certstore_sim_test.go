package wxpay_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/internal/testutil"
	"github.com/issuer-dev/issuer/wxpay"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

// certBundle is a client in platform-certificate mode talking to the
// simulator, whose keys carry a CA and a platform certificate.
type certBundle struct {
	k      testKeys
	keys   *wxsim.Keys
	sim    *wxsim.Server
	store  *wxpay.CertStore
	client *wxpay.Client
	roots  *x509.CertPool
}

type certSetupOpts struct {
	now      func() time.Time
	combined bool // public key and certificates (migration)
	editKeys func(*wxsim.Keys)
	editSim  func(*wxsim.Options)
	editCS   func(*wxpay.CertStoreOptions)
}

func certSetup(t *testing.T, o certSetupOpts) *certBundle {
	t.Helper()
	k := loadTestKeys(t)
	now := o.now
	if now == nil {
		now = time.Now
	}
	keys := simKeys(k)
	require.NoError(t, keys.AddCertificates(now()))
	if o.editKeys != nil {
		o.editKeys(keys)
	}
	so := wxsim.Options{Keys: keys, Stocks: []wxsim.StockSpec{{ID: "9856000", Budget: 10_000}}, Seed: 1, Now: now}
	if o.editSim != nil {
		o.editSim(&so)
	}
	sim, err := wxsim.New(so)
	require.NoError(t, err)
	hs := httptest.NewServer(sim.Handler())
	t.Cleanup(hs.Close)
	t.Cleanup(func() { _ = sim.Close() })

	roots := x509.NewCertPool()
	roots.AddCert(keys.CA)
	cso := wxpay.CertStoreOptions{CertPolicy: wxpay.CertPolicy{APIv3Key: testAPIv3Key, Roots: roots}, Now: now}
	if o.editCS != nil {
		o.editCS(&cso)
	}
	store, err := wxpay.NewCertStore(cso)
	require.NoError(t, err)
	t.Cleanup(store.Close)
	v := wxpay.NewCertStoreVerifier(store)
	if o.combined {
		v = wxpay.NewCombinedVerifier(testPublicKeyID, k.platformPub, store)
	}
	c, err := wxpay.New(wxpay.Options{
		BaseURL: hs.URL, MchID: testMchID, AppID: testAppID, Signer: k.signer(), Verifier: v,
		Timeout: 10 * time.Second, Now: now, MaxConns: 8,
	})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return &certBundle{k: k, keys: keys, sim: sim, store: store, client: c, roots: roots}
}

func (b *certBundle) sendFavor(openid, outRequestNo string) (wxpay.SendResult, error) {
	return b.client.SendFavor(context.Background(), favor(openid, outRequestNo))
}

func serials(pcs []*wxpay.PlatformCertificate) []string {
	out := make([]string, len(pcs))
	for i, pc := range pcs {
		out[i] = pc.Serial
	}
	return out
}

func TestCertModeDownloadDecryptChain(t *testing.T) {
	t.Parallel()
	b := certSetup(t, certSetupOpts{})
	serial := wxpay.CertificateSerial(b.keys.PlatformCert)

	// The first call finds the store empty: it downloads before sending.
	res, err := b.sendFavor("o_cert_1", "r-cert-1")
	require.NoError(t, err)
	require.Equal(t, wxpay.OutcomeIssued, wxpay.Classify(res, err))
	require.Equal(t, []string{serial}, serials(b.store.Certificates()))
	require.Equal(t, serial, b.store.NewestSerial())
	require.Equal(t, wxpay.CertStoreStats{Downloads: 1}, b.store.Stats())

	// Later calls verify with the certificate held: no more downloads.
	for i := range 5 {
		_, err := b.sendFavor(fmt.Sprintf("o_cert_%d", i+2), fmt.Sprintf("r-cert-%d", i+2))
		require.NoError(t, err)
	}
	require.Equal(t, 1, b.store.Stats().Downloads)

	// An explicit refresh re-checks the same certificate.
	require.NoError(t, b.store.Refresh(context.Background()))
	require.Equal(t, []string{serial}, serials(b.store.Certificates()))
}

// forgedCert issues a certificate for the (throwaway) merchant key from a
// CA the merchant does not trust.
func forgedCert(t *testing.T, k testKeys) *x509.Certificate {
	t.Helper()
	ca, caKey, err := wxsim.NewCA("Not Tenpay Root CA", time.Now())
	require.NoError(t, err)
	c, err := wxsim.IssuePlatformCertificate(ca, caKey, k.merchantPub, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	require.NoError(t, err)
	return c
}

func TestCertModeForgedCertificateRefused(t *testing.T) {
	t.Parallel()

	t.Run("listed at first download: nothing is sent", func(t *testing.T) {
		t.Parallel()
		b := certSetup(t, certSetupOpts{})
		require.NoError(t, b.sim.AddCertificate(forgedCert(t, b.k), b.k.merchant, true))

		res, err := b.sendFavor("o_forged", "r-forged")
		require.Error(t, err)
		require.ErrorContains(t, err, "not issued by the WeChat Pay CA")
		require.ErrorContains(t, err, "not sent")
		require.Equal(t, wxpay.OutcomeUnknown, wxpay.Classify(res, err), "retrying with the same out_request_no is the safe move")
		require.Empty(t, b.sim.Ledger(""), "no coupon was sent whose answer could not be verified")
		require.Empty(t, b.store.Certificates())
		require.Equal(t, 1, b.store.Stats().Failures)
	})

	t.Run("signing after a good download: the answer is in doubt", func(t *testing.T) {
		t.Parallel()
		b := certSetup(t, certSetupOpts{editCS: func(o *wxpay.CertStoreOptions) { o.RefreshBackoff = -1 }})
		good := wxpay.CertificateSerial(b.keys.PlatformCert)
		_, err := b.sendFavor("o_good", "r-good")
		require.NoError(t, err)

		require.NoError(t, b.sim.AddCertificate(forgedCert(t, b.k), b.k.merchant, true))
		res, err := b.sendFavor("o_forged2", "r-forged2")
		require.ErrorIs(t, err, wxpay.ErrSignature)
		require.ErrorContains(t, err, "not issued by the WeChat Pay CA")
		require.Equal(t, wxpay.OutcomeUnknown, wxpay.Classify(res, err))
		require.Equal(t, []string{good}, serials(b.store.Certificates()), "the refused download changed nothing")
	})

	t.Run("chain check skipped only by explicit opt-out", func(t *testing.T) {
		t.Parallel()
		b := certSetup(t, certSetupOpts{editCS: func(o *wxpay.CertStoreOptions) {
			o.Roots, o.InsecureSkipChain = nil, true
		}})
		forged := forgedCert(t, b.k)
		require.NoError(t, b.sim.AddCertificate(forged, b.k.merchant, true))
		_, err := b.sendFavor("o_skip", "r-skip")
		require.NoError(t, err)
		require.ElementsMatch(t, []string{wxpay.CertificateSerial(forged), wxpay.CertificateSerial(b.keys.PlatformCert)}, serials(b.store.Certificates()))

		_, err = wxpay.NewCertStore(wxpay.CertStoreOptions{CertPolicy: wxpay.CertPolicy{APIv3Key: testAPIv3Key}})
		require.ErrorContains(t, err, "no WeChat Pay CA", "no CA and no opt-out is refused")
	})
}

func TestCertModeRotationMidStream(t *testing.T) {
	t.Parallel()
	b := certSetup(t, certSetupOpts{}) // default backoff: the rotation must still be picked up
	old := wxpay.CertificateSerial(b.keys.PlatformCert)

	const total, workers, rotateAfter, afterRotation = 160, 8, 40, 40
	jobs := make(chan int)
	type result struct {
		i       int
		outcome wxpay.Outcome
		err     error
	}
	results := make(chan result, total)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				res, err := b.sendFavor(fmt.Sprintf("o_rot_%d", i), fmt.Sprintf("r-rot-%d", i))
				results <- result{i, wxpay.Classify(res, err), err}
			}
		}()
	}
	rotated := make(chan string, 1)
	feederDone := make(chan struct{})
	go func() {
		defer close(feederDone)
		for i := range total {
			if i == total-afterRotation {
				<-rotated // the last sends surely go out after the switch
			}
			jobs <- i
		}
		close(jobs)
	}()

	var failures []string
	done := 0
	for r := range results {
		done++
		if r.outcome != wxpay.OutcomeIssued {
			failures = append(failures, fmt.Sprintf("send %d: %s: %v", r.i, r.outcome, r.err))
		}
		if done == rotateAfter {
			// Sends keep running while the simulator makes a new key.
			serial, err := b.sim.RotateCertificate()
			require.NoError(t, err)
			rotated <- serial
		}
		if done == total {
			break
		}
	}
	wg.Wait()
	<-feederDone
	require.Empty(t, failures, "no send fails across a rotation")

	cur := b.sim.Certificates().Current
	require.NotEqual(t, old, cur)
	require.ElementsMatch(t, []string{old, cur}, serials(b.store.Certificates()), "both stay trusted during the overlap")
	require.Equal(t, cur, b.store.NewestSerial(), "requests now announce the new certificate")
	st := b.store.Stats()
	require.Equal(t, 1, st.UnknownSerial, "one download for the new serial, shared by every waiting answer")
	require.Equal(t, 2, st.Downloads)
	require.Len(t, b.sim.Ledger("9856000"), total)

	// Retired: the next download forgets the old certificate.
	require.NoError(t, b.sim.RetireCertificate(old))
	require.NoError(t, b.store.Refresh(context.Background()))
	require.Equal(t, []string{cur}, serials(b.store.Certificates()))
}

func TestCombinedVerifierMigration(t *testing.T) {
	t.Parallel()
	b := certSetup(t, certSetupOpts{combined: true, editSim: func(o *wxsim.Options) { o.SignMode = wxsim.SignPublicKey }})

	send := func(i int) {
		t.Helper()
		res, err := b.sendFavor(fmt.Sprintf("o_mig_%d", i), fmt.Sprintf("r-mig-%d", i))
		require.NoError(t, err)
		require.Equal(t, wxpay.OutcomeIssued, wxpay.Classify(res, err))
	}
	send(1)
	require.Zero(t, b.store.Stats().Downloads, "public-key answers need no certificate")

	require.NoError(t, b.sim.SetSignMode(wxsim.SignCertificate))
	send(2)
	send(3)
	require.Equal(t, wxpay.CertStoreStats{Downloads: 1, UnknownSerial: 1}, b.store.Stats())

	require.NoError(t, b.sim.SetSignMode(wxsim.SignPublicKey))
	send(4)
	require.Equal(t, testPublicKeyID, b.client.Verifier().Serial(), "requests announce the public key id")

	// An unknown public key id is refused without a download.
	h := http.Header{}
	body := []byte(`{}`)
	require.NoError(t, wxpay.SignResponse(h, b.k.platform, "PUB_KEY_ID_0000000000000000000000000000", body, time.Now(), ""))
	require.ErrorIs(t, b.client.Verifier().Verify(h, body, time.Now()), wxpay.ErrSignature)
	require.Equal(t, 1, b.store.Stats().Downloads)
}

func TestCertModeCallbackVerified(t *testing.T) {
	t.Parallel()
	type received struct {
		use *wxpay.CouponUse
		err error
	}
	got := make(chan received, 8)
	var verifier atomic.Pointer[wxpay.Verifier]
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err == nil {
			var use *wxpay.CouponUse
			_, use, err = wxpay.ParseNotification(r.Header, body, verifier.Load(), testAPIv3Key, time.Now())
			got <- received{use, err}
		}
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(cb.Close)
	b := certSetup(t, certSetupOpts{editSim: func(o *wxsim.Options) { o.CallbackURL = cb.URL }})
	verifier.Store(b.client.Verifier()) // the daemon shares one verifier likewise

	res, err := b.sendFavor("o_cb_cert", "r-cb-cert")
	require.NoError(t, err)
	// The callback is signed with a certificate the store has not seen:
	// it downloads, then accepts.
	_, err = b.sim.RotateCertificate()
	require.NoError(t, err)
	n, err := b.sim.Redeem("9856000", 1)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	select {
	case r := <-got:
		require.NoError(t, r.err)
		require.Equal(t, res.CouponID, r.use.CouponID)
	case <-time.After(30 * time.Second):
		t.Fatal("no COUPON.USE notification")
	}
	require.Equal(t, 1, b.store.Stats().UnknownSerial)
}

func TestCertStoreExpiredDropped(t *testing.T) {
	t.Parallel()
	start := time.Now().Truncate(time.Second)
	clock := testutil.NewClock(start)
	var short *x509.Certificate
	b := certSetup(t, certSetupOpts{now: clock.Now, editKeys: func(k *wxsim.Keys) {
		// The first platform certificate lives two hours.
		c, err := wxsim.IssuePlatformCertificate(k.CA, k.CAKey, &k.PlatformKey.PublicKey, start.Add(-time.Hour), start.Add(2*time.Hour))
		require.NoError(t, err)
		k.PlatformCert, short = c, c
	}})
	shortSerial := wxpay.CertificateSerial(short)
	_, err := b.sendFavor("o_exp_1", "r-exp-1")
	require.NoError(t, err)
	long, err := b.sim.RotateCertificate()
	require.NoError(t, err)
	require.NoError(t, b.store.Refresh(context.Background()))
	require.ElementsMatch(t, []string{shortSerial, long}, serials(b.store.Certificates()))

	// A header signed with the short certificate, while it is valid...
	h := http.Header{}
	body := []byte(`{"ok":true}`)
	require.NoError(t, wxpay.SignResponse(h, b.k.platform, shortSerial, body, clock.Now(), ""))
	require.NoError(t, b.client.Verifier().Verify(h, body, clock.Now()))

	clock.Advance(3 * time.Hour)
	require.Equal(t, []string{long}, serials(b.store.Certificates()), "expired: no longer offered")
	h = http.Header{}
	require.NoError(t, wxpay.SignResponse(h, b.k.platform, shortSerial, body, clock.Now(), ""))
	err = b.client.Verifier().Verify(h, body, clock.Now())
	require.ErrorIs(t, err, wxpay.ErrSignature)
	require.ErrorContains(t, err, "not valid")

	downloads := b.store.Stats().Downloads
	b.store.Prune()
	_, err = b.sendFavor("o_exp_2", "r-exp-2")
	require.NoError(t, err, "the new certificate carries on")
	require.NoError(t, b.store.Refresh(context.Background()))
	require.Equal(t, []string{long}, serials(b.store.Certificates()), "the simulator no longer lists it either")
	require.Equal(t, downloads+1, b.store.Stats().Downloads)
}

func TestCertStoreStartClose(t *testing.T) {
	t.Parallel()
	b := certSetup(t, certSetupOpts{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.store.Start(ctx) // downloads at once: the store is empty
	_, err := b.sendFavor("o_loop", "r-loop")
	require.NoError(t, err)
	b.store.Close() // returns only once the loop has ended
	b.store.Close()
	require.Len(t, b.store.Certificates(), 1, "a closed store still verifies")
	require.ErrorContains(t, b.store.Refresh(context.Background()), "closed")
}
