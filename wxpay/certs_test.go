package wxpay_test

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/wxpay"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

// The certificates fixture: a CA, a platform certificate it issued for
// testdata/platform_key.pem, a /v3/certificates answer listing it and the
// answer's signature headers, all as of certsFixtureNow. -update makes a
// fresh set.
var (
	certsFixtureNow = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	certsDir        = filepath.Join("testdata", "certificates")
)

func writeCertsFixture(t *testing.T, k testKeys) {
	t.Helper()
	require.NoError(t, os.MkdirAll(certsDir, 0o755))
	ca, caKey, err := wxsim.NewCA("Tenpay.com Root CA (test)", certsFixtureNow.AddDate(-1, 0, 0))
	require.NoError(t, err)
	other, _, err := wxsim.NewCA("Another CA (test)", certsFixtureNow.AddDate(-1, 0, 0))
	require.NoError(t, err)
	cert, err := wxsim.IssuePlatformCertificate(ca, caKey, k.platformPub, certsFixtureNow.AddDate(0, -6, 0), certsFixtureNow.AddDate(4, 6, 0))
	require.NoError(t, err)
	entry, err := wxpay.EncryptCertificate(testAPIv3Key, cert, cert.NotBefore, cert.NotAfter)
	require.NoError(t, err)
	body, err := json.MarshalIndent(wxpay.CertificatesAnswer{Data: []wxpay.CertificateEntry{entry}}, "", "  ")
	require.NoError(t, err)
	h := http.Header{}
	require.NoError(t, wxpay.SignResponse(h, k.platform, entry.SerialNo, body, certsFixtureNow, ""))
	headers, err := json.MarshalIndent(h, "", "  ")
	require.NoError(t, err)
	for name, data := range map[string][]byte{
		"ca.pem": pemOf(ca), "other_ca.pem": pemOf(other), "answer.json": body, "answer_headers.json": headers,
	} {
		require.NoError(t, os.WriteFile(filepath.Join(certsDir, name), data, 0o644))
	}
}

func pemOf(c *x509.Certificate) []byte {
	return (&wxpay.PlatformCertificate{Certificate: c}).PEM()
}

type certsFixture struct {
	roots, otherRoots *x509.CertPool
	body              []byte
	header            http.Header
}

func loadCertsFixture(t *testing.T) certsFixture {
	t.Helper()
	pool := func(name string) *x509.CertPool {
		cs, err := wxpay.LoadCertificates(filepath.Join(certsDir, name))
		require.NoError(t, err)
		p := x509.NewCertPool()
		p.AddCert(cs[0])
		return p
	}
	var f certsFixture
	f.roots, f.otherRoots = pool("ca.pem"), pool("other_ca.pem")
	var err error
	f.body, err = os.ReadFile(filepath.Join(certsDir, "answer.json"))
	require.NoError(t, err)
	hb, err := os.ReadFile(filepath.Join(certsDir, "answer_headers.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(hb, &f.header))
	return f
}

// describe renders decoded certificates for the golden file.
func describe(pcs []*wxpay.PlatformCertificate) string {
	var b strings.Builder
	for _, pc := range pcs {
		fmt.Fprintf(&b, "serial=%s effective=%s expire=%s subject=%q issuer=%q\n", pc.Serial,
			pc.Effective.UTC().Format(time.RFC3339), pc.Expire.UTC().Format(time.RFC3339),
			pc.Certificate.Subject.CommonName, pc.Certificate.Issuer.CommonName)
	}
	return b.String()
}

func TestDecodeCertificatesGolden(t *testing.T) {
	if *update {
		writeCertsFixture(t, loadTestKeys(t))
	}
	f := loadCertsFixture(t)
	policy := wxpay.CertPolicy{APIv3Key: testAPIv3Key, Roots: f.roots}
	pcs, err := policy.DecodeCertificates(f.body, certsFixtureNow)
	require.NoError(t, err)
	golden(t, filepath.Join("certificates", "decoded.golden"), []byte(describe(pcs)))
	require.NoError(t, wxpay.VerifyCertificatesAnswer(f.header, f.body, pcs, nil, certsFixtureNow),
		"the answer is signed by the certificate it lists")
}

func TestDecodeCertificatesRefusals(t *testing.T) {
	t.Parallel()
	f := loadCertsFixture(t)
	var answer wxpay.CertificatesAnswer
	require.NoError(t, json.Unmarshal(f.body, &answer))
	mutate := func(edit func(e *wxpay.CertificateEntry)) []byte {
		a := wxpay.CertificatesAnswer{Data: append([]wxpay.CertificateEntry(nil), answer.Data...)}
		edit(&a.Data[0])
		b, err := json.Marshal(a)
		require.NoError(t, err)
		return b
	}
	good := wxpay.CertPolicy{APIv3Key: testAPIv3Key, Roots: f.roots}
	for _, tc := range []struct {
		name   string
		policy wxpay.CertPolicy
		body   []byte
		now    time.Time
		want   string // "" = accepted
	}{
		{name: "good", policy: good, body: f.body, now: certsFixtureNow},
		{name: "other CA", policy: wxpay.CertPolicy{APIv3Key: testAPIv3Key, Roots: f.otherRoots}, body: f.body, now: certsFixtureNow,
			want: "not issued by the WeChat Pay CA"},
		{name: "chain skipped by opt-out", policy: wxpay.CertPolicy{APIv3Key: testAPIv3Key, InsecureSkipChain: true}, body: f.body, now: certsFixtureNow},
		{name: "no CA, no opt-out", policy: wxpay.CertPolicy{APIv3Key: testAPIv3Key}, body: f.body, now: certsFixtureNow,
			want: "no WeChat Pay CA"},
		{name: "wrong APIv3 key", policy: wxpay.CertPolicy{APIv3Key: strings.Repeat("x", 32), Roots: f.roots}, body: f.body, now: certsFixtureNow,
			want: "decrypt"},
		{name: "serial mismatch", policy: good, now: certsFixtureNow, want: "does not match",
			body: mutate(func(e *wxpay.CertificateEntry) { e.SerialNo = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1" })},
		{name: "tampered ciphertext", policy: good, now: certsFixtureNow, want: "decrypt",
			body: mutate(func(e *wxpay.CertificateEntry) {
				e.EncryptCertificate.Ciphertext = "A" + e.EncryptCertificate.Ciphertext[1:]
			})},
		{name: "other algorithm", policy: good, now: certsFixtureNow, want: "algorithm",
			body: mutate(func(e *wxpay.CertificateEntry) { e.EncryptCertificate.Algorithm = "AEAD_SM4_GCM" })},
		{name: "expired", policy: good, body: f.body, now: certsFixtureNow.AddDate(6, 0, 0), want: "expired"},
		{name: "expire_time passed", policy: good, now: certsFixtureNow, want: "every listed certificate has expired",
			body: mutate(func(e *wxpay.CertificateEntry) { e.ExpireTime = "2024-12-31T08:00:00+08:00" })},
		{name: "empty list", policy: good, body: []byte(`{"data":[]}`), now: certsFixtureNow, want: "empty list"},
		{name: "not JSON", policy: good, body: []byte(`<html>`), now: certsFixtureNow, want: "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := tc.policy.DecodeCertificates(tc.body, tc.now)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestVerifyCertificatesAnswer(t *testing.T) {
	t.Parallel()
	f := loadCertsFixture(t)
	pcs, err := wxpay.CertPolicy{APIv3Key: testAPIv3Key, Roots: f.roots}.DecodeCertificates(f.body, certsFixtureNow)
	require.NoError(t, err)

	require.NoError(t, wxpay.VerifyCertificatesAnswer(f.header, f.body, pcs, nil, certsFixtureNow))
	require.NoError(t, wxpay.VerifyCertificatesAnswer(f.header, f.body, nil, pcs, certsFixtureNow), "or by one trusted before")

	tampered := append([]byte(nil), f.body...)
	tampered[len(tampered)-2] = ' '
	require.ErrorIs(t, wxpay.VerifyCertificatesAnswer(f.header, tampered, pcs, nil, certsFixtureNow), wxpay.ErrSignature)
	require.ErrorIs(t, wxpay.VerifyCertificatesAnswer(f.header, f.body, nil, nil, certsFixtureNow), wxpay.ErrSignature,
		"signed by a certificate neither listed nor trusted")
	require.ErrorIs(t, wxpay.VerifyCertificatesAnswer(f.header, f.body, pcs, nil, certsFixtureNow.Add(10*time.Minute)), wxpay.ErrSignature,
		"stale")
}

func TestCertStoreCacheDir(t *testing.T) {
	t.Parallel()
	f := loadCertsFixture(t)
	pcs, err := wxpay.CertPolicy{APIv3Key: testAPIv3Key, Roots: f.roots}.DecodeCertificates(f.body, certsFixtureNow)
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, pcs[0].Serial+".pem"), pcs[0].PEM(), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "junk.pem"), []byte("not a certificate"), 0o644))
	now := func() time.Time { return certsFixtureNow }

	st, err := wxpay.NewCertStore(wxpay.CertStoreOptions{CertPolicy: wxpay.CertPolicy{APIv3Key: testAPIv3Key, Roots: f.roots}, CacheDir: dir, Now: now})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	require.Equal(t, []string{pcs[0].Serial}, serials(st.Certificates()), "cached certificates verify before any download")

	// The cache is checked again: a certificate from another CA is ignored.
	st2, err := wxpay.NewCertStore(wxpay.CertStoreOptions{CertPolicy: wxpay.CertPolicy{APIv3Key: testAPIv3Key, Roots: f.otherRoots}, CacheDir: dir, Now: now})
	require.NoError(t, err)
	t.Cleanup(st2.Close)
	require.Empty(t, st2.Certificates())
}
