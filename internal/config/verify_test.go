package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestVerifyMode(t *testing.T) {
	t.Parallel()
	base := map[string]string{"ISSUER_DATABASE_URL": "postgres://x/y"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	dir := t.TempDir()
	ca := writeFile(t, dir, "wxp_ca.pem", "-----BEGIN CERTIFICATE-----\n", 0o644)
	v3 := writeFile(t, dir, "apiv3.key", "0123456789abcdefghijklmnopqrstuv", 0o600)
	for _, tc := range []struct {
		name     string
		env      map[string]string
		mode     string
		err      string
		warnings int
	}{
		{name: "default without keys", env: with(), mode: "public_key"},
		{name: "public key id", env: with("ISSUER_WXPAY_PUBLIC_KEY_ID", "PUB_KEY_ID_1"), mode: "public_key"},
		{name: "CA file implies certificate", env: with("ISSUER_WXPAY_PLATFORM_CA_FILE", ca, "ISSUER_WXPAY_APIV3_KEY_FILE", v3), mode: "certificate"},
		{name: "certificate needs a CA", env: with("ISSUER_WXPAY_VERIFY", "certificate", "ISSUER_WXPAY_APIV3_KEY_FILE", v3),
			err: "wxpay.platform_ca_file: required when wxpay.verify is certificate"},
		{name: "certificate needs the APIv3 key", env: with("ISSUER_WXPAY_VERIFY", "both", "ISSUER_WXPAY_PLATFORM_CA_FILE", ca),
			err: "wxpay.apiv3_key_file: required when wxpay.verify is both"},
		{name: "explicit opt-out warns", env: with("ISSUER_WXPAY_VERIFY", "certificate", "ISSUER_WXPAY_APIV3_KEY_FILE", v3,
			"ISSUER_WXPAY_INSECURE_SKIP_PLATFORM_CA", "true"), mode: "certificate", warnings: 1},
		{name: "opt-out is a boolean", env: with("ISSUER_WXPAY_INSECURE_SKIP_PLATFORM_CA", "maybe"), err: "not true or false"},
		{name: "unknown mode", env: with("ISSUER_WXPAY_VERIFY", "pubkey"), err: "ISSUER_WXPAY_VERIFY: must be public_key, certificate or both"},
		{name: "refresh floor", env: with("ISSUER_WXPAY_PLATFORM_CERT_REFRESH", "10s"), err: "ISSUER_WXPAY_PLATFORM_CERT_REFRESH: must be at least 1m"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, warnings, err := Load("", envOf(tc.env))
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.mode, cfg.WXPay.VerifyMode())
			require.Len(t, warnings, tc.warnings)
		})
	}
}
