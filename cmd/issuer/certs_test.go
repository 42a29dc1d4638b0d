package main

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

// TestSimKeysCertificateLayout drives certificate mode end to end: `sim keys
// --mode certificate` writes the layout and an issuer.yaml that verifies
// with downloaded platform certificates; the simulator reads the same DIR
// and signs with its certificate, and keeps working across a rotation.
func TestSimKeysCertificateLayout(t *testing.T) {
	t.Parallel()
	b := &testBundle{dir: t.TempDir(), env: map[string]string{"ISSUER_DATABASE_URL": unreachableDB}}
	dir := filepath.Join(b.dir, "keys")
	r := b.issuer(t, "", "sim", "keys", "--mode", "certificate", dir)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "platform certificate")
	for _, name := range []string{wxsim.FileMerchantKey, wxsim.FileMerchantPublic, wxsim.FilePlatformKey, wxsim.FilePlatformPublic,
		wxsim.FileAPIv3Key, wxsim.FileAPIv2Key, wxsim.FileIDs, wxsim.FileConfig, wxsim.FileCACert, wxsim.FileCAKey, wxsim.FilePlatformCert} {
		require.FileExists(t, filepath.Join(dir, name))
	}
	yaml, err := os.ReadFile(filepath.Join(dir, wxsim.FileConfig))
	require.NoError(t, err)
	require.Contains(t, string(yaml), `verify: "certificate"`)
	require.Contains(t, string(yaml), "platform_ca_file: "+`"`+filepath.Join(dir, wxsim.FileCACert)+`"`)

	r = b.issuer(t, "", "sim", "keys", "--mode", "nonsense", filepath.Join(b.dir, "other"))
	require.Equal(t, 2, r.code, r.stderr)

	keys, err := wxsim.LoadKeys(dir)
	require.NoError(t, err)
	require.NotNil(t, keys.PlatformCert)
	srv, err := wxsim.New(wxsim.Options{Keys: keys, Stocks: []wxsim.StockSpec{{ID: "9856000", Budget: 10}}})
	require.NoError(t, err)
	require.Equal(t, wxsim.SignCertificate, srv.SignMode(), "auto: the layout has a certificate")
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { srv.Close(); hs.Close() })
	b.env["ISSUER_WXPAY_BASE_URL"] = hs.URL

	cfg := filepath.Join(dir, wxsim.FileConfig)
	r = b.issuer(t, "", "--config", cfg, "stock", "show", "9856000", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, `"stock_id": "9856000"`)

	_, err = srv.RotateCertificate()
	require.NoError(t, err)
	r = b.issuer(t, "", "--config", cfg, "stock", "show", "9856000", "--json")
	require.Equal(t, 0, r.code, r.stderr)

	// Without the CA file and without the explicit opt-out, nothing runs.
	var noCA []string
	for _, line := range strings.Split(string(yaml), "\n") {
		if !strings.Contains(line, "platform_ca_file") {
			noCA = append(noCA, line)
		}
	}
	r = b.issuer(t, "", "--config", b.write(t, "no-ca.yaml", strings.Join(noCA, "\n")), "stock", "show", "9856000")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "wxpay.platform_ca_file")
}
