package config

import (
	"go/parser"
	"go/token"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestChecksChangeNothing: Validate and CheckRun only look. Everything a
// value implies is Normalize's, so a Config compares deep-equal before and
// after the checks, normalized or not, with problems or without.
func TestChecksChangeNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := writeFile(t, dir, "apiclient_key.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", 0o644)
	url := writeFile(t, dir, "wecom.url", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K", 0o644)
	problems := writeFile(t, dir, "problems.yaml", strings.NewReplacer("{key}", key, "{url}", url, "{dir}", dir).Replace(`
database_url: mysql://x/y
timezone: Mars/Olympus
wxpay:
  mchid: 19x
  private_key_file: {key}
  public_key_file: {dir}/missing.pem
  verify: certificate
  insecure_skip_platform_ca: true
issue:
  lease: 1s
schedules:
  digest: "0 0 9 * * *"
alerts:
  channels:
    - type: wecom
      url_file: {url}
      mention: [zhangsan]
    - type: pager
      url: https://robot.example.com/send?token=T
      format: card
console:
  max_concurrent_logins: 0
`), 0o600)
	for _, tc := range []struct {
		name      string
		path      string
		env       map[string]string
		normalize bool
		problems  bool
	}{
		{name: "example", path: "../../configs/issuer.example.yaml", normalize: true},
		{name: "example as given", path: "../../configs/issuer.example.yaml"},
		{name: "defaults as given", env: map[string]string{"ISSUER_DATABASE_URL": "postgres://x/y"}},
		{name: "problems", path: problems, env: map[string]string{"ISSUER_HTTP_ADDR": "nowhere"}, normalize: true, problems: true},
		{name: "problems as given", path: problems, problems: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, _, err := read(tc.path, envOf(tc.env), nil)
			require.NoError(t, err)
			if tc.normalize {
				cfg.Normalize()
			}
			before := cloneConfig(cfg)
			_, verr := cfg.Validate()
			_, rerr := cfg.CheckRun()
			require.Equal(t, before, cfg)
			if tc.problems {
				require.Error(t, verr)
				require.Error(t, rerr)
			}
		})
	}
}

// TestNormalize: the backup domain is filled in only while base_url is the
// primary, and Location only for a real zone.
func TestNormalize(t *testing.T) {
	t.Parallel()
	c := Defaults()
	c.Normalize()
	require.Equal(t, DefaultBackupBaseURL, c.WXPay.BackupBaseURL)
	require.Equal(t, "Asia/Shanghai", c.Location.String())

	c = Defaults()
	c.WXPay.BaseURL, c.Timezone = "http://127.0.0.1:8091", "Mars/Olympus"
	c.Normalize()
	require.Empty(t, c.WXPay.BackupBaseURL)
	require.Nil(t, c.Location)
	c.Timezone = ""
	c.Normalize()
	require.Nil(t, c.Location, "an empty timezone is not UTC")
}

// cloneConfig copies c deeply enough that a change made through c shows
// against the copy: the map and the slices are copied too (Location is
// only ever replaced, never changed in place).
func cloneConfig(c *Config) *Config {
	out := *c
	out.where = maps.Clone(c.where)
	out.Alerts.Channels = slices.Clone(c.Alerts.Channels)
	for i := range out.Alerts.Channels {
		out.Alerts.Channels[i].Mention = slices.Clone(out.Alerts.Channels[i].Mention)
	}
	return &out
}

// TestBelowTheDomain: the configuration imports none of issuer's packages
// but the internal leaves, so that any of them may read it.
func TestBelowTheDomain(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		require.NoError(t, err)
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			require.NoError(t, err)
			if strings.HasPrefix(path, "github.com/issuer-dev/issuer") {
				require.True(t, strings.HasPrefix(path, "github.com/issuer-dev/issuer/internal/"), "%s imports %s", name, path)
			}
		}
	}
}
