package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, dir, name, body string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(body), mode))
	return p
}

func TestLoad(t *testing.T) {
	t.Parallel()

	t.Run("DefaultsAndEnv", func(t *testing.T) {
		t.Parallel()
		cfg, warnings, err := Load("", envOf(map[string]string{
			"ISSUER_DATABASE_URL":       "postgres://u:secret@localhost/db",
			"ISSUER_WXPAY_BASE_URL":     "http://127.0.0.1:9999",
			"ISSUER_ISSUE_RATE_MAX":     "300",
			"ISSUER_ISSUE_RATE_INITIAL": "50",
			"ISSUER_ISSUE_LEASE":        "1m",
		}))
		require.NoError(t, err)
		require.Empty(t, warnings)
		require.Equal(t, "http://127.0.0.1:9999", cfg.WXPay.BaseURL)
		require.Equal(t, 300.0, cfg.Issue.Rate.Max)
		require.Equal(t, "Asia/Shanghai", cfg.Location.String())
		out := cfg.Effective()
		require.NotContains(t, out, "secret")
		require.Contains(t, out, "REDACTED")
		require.Contains(t, out, "  rate:\n    initial: 50\n    max: 300\n")
	})

	t.Run("UnknownKeyNamesLineAndSuggests", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		p := writeFile(t, dir, "c.yaml", "database_url: postgres://x/y\nwxpay:\n  bse_url: http://a\n", 0o600)
		_, _, err := Load(p, envOf(nil))
		require.Error(t, err)
		require.Contains(t, err.Error(), p+":3: unknown key \"wxpay.bse_url\" (did you mean \"wxpay.base_url\"?)")
	})

	t.Run("BadValues", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		p := writeFile(t, dir, "c.yaml", strings.Join([]string{
			"database_url: mysql://x",
			"timezone: Mars/Olympus",
			"wxpay:",
			"  base_url: ftp://x",
			"  private_key_file: " + filepath.Join(dir, "missing.pem"),
			"issue:",
			"  concurrency: 0",
		}, "\n"), 0o600)
		_, _, err := Load(p, envOf(nil))
		require.Error(t, err)
		for _, want := range []string{
			"database_url: must be a postgres:// URL",
			"timezone: unknown time zone",
			"wxpay.base_url: not an http(s) URL",
			"wxpay.private_key_file:",
			"missing.pem",
			"issue.concurrency: must be 1..1024",
		} {
			require.Contains(t, err.Error(), want)
		}
	})

	t.Run("BadEnvValue", func(t *testing.T) {
		t.Parallel()
		_, _, err := Load("", envOf(map[string]string{
			"ISSUER_DATABASE_URL":      "postgres://x/y",
			"ISSUER_ISSUE_CONCURRENCY": "lots",
		}))
		require.ErrorContains(t, err, `ISSUER_ISSUE_CONCURRENCY: not an integer: "lots"`)
	})

	t.Run("LooseKeyFileWarns", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		key := writeFile(t, dir, "k.pem", "x", 0o644)
		_, warnings, err := Load("", envOf(map[string]string{
			"ISSUER_DATABASE_URL":           "postgres://x/y",
			"ISSUER_WXPAY_PRIVATE_KEY_FILE": key,
		}))
		require.NoError(t, err)
		require.Len(t, warnings, 1)
		require.Contains(t, warnings[0], "readable by group or others")
	})

	t.Run("Require", func(t *testing.T) {
		t.Parallel()
		cfg, _, err := Load("", envOf(map[string]string{"ISSUER_DATABASE_URL": "postgres://x/y"}))
		require.NoError(t, err)
		require.EqualError(t, cfg.Require("wxpay.mchid"), "config: missing required wxpay.mchid (or ISSUER_WXPAY_MCHID)")
	})
}

func TestEveryKeyInExample(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../configs/issuer.example.yaml")
	require.NoError(t, err)
	var cfg Config
	for _, k := range Keys(&cfg) {
		leaf := k.Path[strings.LastIndex(k.Path, ".")+1:]
		require.Contains(t, string(data), leaf+":", "configs/issuer.example.yaml must document %s", k.Path)
	}
	// and the example itself must load
	_, _, err = Load("../../configs/issuer.example.yaml", envOf(nil))
	require.NoError(t, err)
}

func TestCallbacksPublicURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url, problem string
	}{
		{"https://issuer.example.com/callbacks/wxpay", ""},
		{"http://127.0.0.1:8080/callbacks/wxpay", ""}, // the simulator
		{"http://issuer.example.com/callbacks/wxpay", "must be https"},
		{"https://issuer.example.com/callbacks/wxpay?k=v", "must not carry query parameters"},
		{"/callbacks/wxpay", "not an absolute URL"},
	} {
		cfg, _, err := Load("", envOf(map[string]string{
			"ISSUER_DATABASE_URL":         "postgres://u@localhost/db",
			"ISSUER_CALLBACKS_PUBLIC_URL": tc.url,
		}))
		if tc.problem == "" {
			require.NoError(t, err, tc.url)
			require.Equal(t, tc.url, cfg.Callbacks.PublicURL)
			continue
		}
		require.ErrorContains(t, err, "callbacks.public_url: "+tc.problem, tc.url)
	}
}
