package wxsim_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/wxpay"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

func TestKeysSaveLoad(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "keys")
	k := testKeys(t)
	require.NoError(t, k.Save(dir, wxsim.ConfigOptions{DatabaseURL: "postgres://u@h/db", BaseURL: "http://127.0.0.1:9999"}))

	for _, name := range []string{
		wxsim.FileMerchantKey, wxsim.FileMerchantPublic, wxsim.FilePlatformKey, wxsim.FilePlatformPublic,
		wxsim.FileAPIv3Key, wxsim.FileAPIv2Key, wxsim.FileIDs, wxsim.FileConfig,
	} {
		info, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err, name)
		require.Equal(t, os.FileMode(0o600), info.Mode().Perm(), name)
	}
	apiv3, err := os.ReadFile(filepath.Join(dir, wxsim.FileAPIv3Key))
	require.NoError(t, err)
	require.Len(t, apiv3, 32)

	var ids map[string]string
	b, err := os.ReadFile(filepath.Join(dir, wxsim.FileIDs))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &ids))
	require.Equal(t, map[string]string{
		"mchid": k.MchID, "appid": k.AppID, "cert_serial_no": k.CertSerialNo, "public_key_id": k.PublicKeyID,
	}, ids)

	// The files are in the formats the client reads.
	priv, err := wxpay.LoadPrivateKey(filepath.Join(dir, wxsim.FileMerchantKey))
	require.NoError(t, err)
	require.True(t, priv.Equal(k.MerchantKey))
	pub, err := wxpay.LoadPublicKey(filepath.Join(dir, wxsim.FilePlatformPublic))
	require.NoError(t, err)
	require.True(t, pub.Equal(k.PlatformPublic))

	loaded, err := wxsim.LoadKeys(dir)
	require.NoError(t, err)
	require.Equal(t, k.MchID, loaded.MchID)
	require.Equal(t, k.PublicKeyID, loaded.PublicKeyID)
	require.Equal(t, k.APIv3Key, loaded.APIv3Key)
	require.Equal(t, k.APIv2Key, loaded.APIv2Key)
	require.True(t, loaded.PlatformKey.Equal(k.PlatformKey))
	require.True(t, loaded.MerchantPublic.Equal(k.MerchantPublic))

	cfg, err := os.ReadFile(filepath.Join(dir, wxsim.FileConfig))
	require.NoError(t, err)
	abs, err := filepath.Abs(dir)
	require.NoError(t, err)
	for _, line := range []string{
		`database_url: "postgres://u@h/db"`,
		`  base_url: "http://127.0.0.1:9999"`,
		`  mchid: "` + k.MchID + `"`,
		`  appid: "` + k.AppID + `"`,
		`  cert_serial_no: "` + k.CertSerialNo + `"`,
		`  private_key_file: "` + filepath.Join(abs, wxsim.FileMerchantKey) + `"`,
		`  public_key_id: "` + k.PublicKeyID + `"`,
		`  public_key_file: "` + filepath.Join(abs, wxsim.FilePlatformPublic) + `"`,
		`  apiv3_key_file: "` + filepath.Join(abs, wxsim.FileAPIv3Key) + `"`,
		`  apiv2_key_file: "` + filepath.Join(abs, wxsim.FileAPIv2Key) + `"`,
	} {
		require.Contains(t, string(cfg), line+"\n")
	}

	require.ErrorContains(t, k.Save(dir, wxsim.ConfigOptions{}), "already exists", "keys are never overwritten")

	// Keys made elsewhere may lack apiclient_pub.pem: it is derived.
	require.NoError(t, os.Remove(filepath.Join(dir, wxsim.FileMerchantPublic)))
	loaded, err = wxsim.LoadKeys(dir)
	require.NoError(t, err)
	require.True(t, loaded.MerchantPublic.Equal(k.MerchantPublic))
}

func TestGenerateKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	k, err := wxsim.GenerateKeys(dir)
	require.NoError(t, err)
	require.Len(t, k.APIv3Key, 32)
	require.Regexp(t, `^PUB_KEY_ID_\d+$`, k.PublicKeyID)
	require.Equal(t, 2048, k.MerchantKey.N.BitLen())
	cfg, err := os.ReadFile(filepath.Join(dir, wxsim.FileConfig))
	require.NoError(t, err)
	require.Contains(t, string(cfg), `base_url: "http://`+wxsim.DefaultAddr+`"`)

	// A server on these keys accepts the merchant they describe.
	loaded, err := wxsim.LoadKeys(dir)
	require.NoError(t, err)
	b := setup(t, wxsim.Options{Keys: loaded, Stocks: []wxsim.StockSpec{{ID: "F", Budget: 1}}})
	b.verified(t, b.sendFavor(t, "F", "u", "ORN-1"))
}

func TestLoadKeysErrors(t *testing.T) {
	t.Parallel()
	_, err := wxsim.LoadKeys(t.TempDir())
	require.ErrorContains(t, err, wxsim.FileIDs)

	dir := t.TempDir()
	require.NoError(t, testKeys(t).Save(dir, wxsim.ConfigOptions{}))
	require.NoError(t, os.WriteFile(filepath.Join(dir, wxsim.FileAPIv3Key), []byte("short"), 0o600))
	_, err = wxsim.LoadKeys(dir)
	require.ErrorContains(t, err, "want 32")
}
