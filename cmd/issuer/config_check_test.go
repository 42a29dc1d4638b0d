package main

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/internal/dbtest"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

// keyFixture is a merchant's key layout (`sim keys`) plus the wrong files
// operators give by mistake.
type keyFixture struct {
	dir  string
	keys *wxsim.Keys
	file map[string]string // name -> path
}

func newKeyFixture(t *testing.T) *keyFixture {
	t.Helper()
	dir := t.TempDir()
	k, err := wxsim.NewKeys()
	require.NoError(t, err)
	require.NoError(t, k.Save(dir, wxsim.ConfigOptions{}))
	f := &keyFixture{dir: dir, keys: k, file: map[string]string{}}
	for _, name := range []string{wxsim.FileMerchantKey, wxsim.FileMerchantPublic, wxsim.FilePlatformPublic, wxsim.FileAPIv3Key, wxsim.FileAPIv2Key} {
		f.file[name] = filepath.Join(dir, name)
	}
	write := func(name string, data []byte) {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, data, 0o600))
		f.file[name] = p
	}
	// The merchant API certificate, apiclient_cert.pem.
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "1900000109"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(0, 0).AddDate(100, 0, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.MerchantPublic, k.MerchantKey)
	require.NoError(t, err)
	write("apiclient_cert.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	write("pkcs1_key.pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k.MerchantKey)}))
	write("apiv3_31.key", []byte(k.APIv3Key[:31]+"\n"))
	write("empty.key", []byte("\n"))
	return f
}

// yaml renders a complete configuration for the fixture's merchant, with
// the values of set replacing or adding keys ("" removes one).
func (f *keyFixture) yaml(databaseURL string, set map[string]string) string {
	type kv struct{ key, val string }
	sections := []struct {
		name string
		keys []kv
	}{
		{"", []kv{{"database_url", databaseURL}, {"timezone", "Asia/Shanghai"}}},
		{"wxpay", []kv{
			{"base_url", "http://127.0.0.1:8091"}, {"backup_base_url", ""},
			{"mchid", f.keys.MchID}, {"appid", f.keys.AppID}, {"cert_serial_no", f.keys.CertSerialNo},
			{"private_key_file", f.file[wxsim.FileMerchantKey]},
			{"public_key_id", f.keys.PublicKeyID}, {"public_key_file", f.file[wxsim.FilePlatformPublic]},
			{"apiv3_key_file", f.file[wxsim.FileAPIv3Key]}, {"apiv2_key_file", f.file[wxsim.FileAPIv2Key]},
		}},
		{"issue", []kv{{"concurrency", "8"}}},
		{"schedules", []kv{{"issue", "@every 30s"}, {"reconcile", "30 10 * * *"}, {"housekeeping", "0 4 * * *"}}},
		{"http", []kv{{"addr", "127.0.0.1:0"}}},
		{"alerts", []kv{{"webhook_url", ""}}},
	}
	var b strings.Builder
	for _, s := range sections {
		indent := ""
		if s.name != "" {
			b.WriteString(s.name + ":\n")
			indent = "  "
		}
		for _, e := range s.keys {
			path := e.key
			if s.name != "" {
				path = s.name + "." + e.key
			}
			if v, ok := set[path]; ok {
				e.val = v
			}
			switch {
			case e.val == "":
			case s.name == "issue": // numbers
				b.WriteString(indent + e.key + ": " + e.val + "\n")
			default:
				b.WriteString(indent + e.key + ": " + quoteYAML(e.val) + "\n")
			}
		}
	}
	return b.String()
}

func quoteYAML(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// lineOf is the 1-based line of text that starts with prefix.
func lineOf(t *testing.T, text, prefix string) string {
	t.Helper()
	for i, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			return ":" + strconv.Itoa(i+1) + ": "
		}
	}
	t.Fatalf("no line starts with %q", prefix)
	return ""
}

func TestConfigCheckRefuses(t *testing.T) {
	t.Parallel()
	f := newKeyFixture(t)
	const dbURL = "postgres://issuer@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"

	cases := []struct {
		name string
		set  map[string]string // YAML keys
		env  map[string]string
		want []string // each in stderr; "at:KEY" stands for "FILE:LINE: " of the line that starts with KEY
	}{
		{"private key file holds the merchant public key",
			map[string]string{"wxpay.private_key_file": f.file[wxsim.FileMerchantPublic]}, nil,
			[]string{"at:  private_key_file", "wxpay.private_key_file: ", "holds a PKIX public key (BEGIN PUBLIC KEY), not a private key", "apiclient_key.pem"}},
		{"private key file holds a certificate",
			map[string]string{"wxpay.private_key_file": f.file["apiclient_cert.pem"]}, nil,
			[]string{"at:  private_key_file", "holds a certificate (BEGIN CERTIFICATE), not a private key"}},
		{"public key file holds a private key",
			map[string]string{"wxpay.public_key_file": f.file[wxsim.FileMerchantKey]}, nil,
			[]string{"at:  public_key_file", "wxpay.public_key_file: ", "holds a PKCS#8 private key (BEGIN PRIVATE KEY), not a public key", "pub_key.pem"}},
		{"public key file holds a certificate",
			map[string]string{"wxpay.public_key_file": f.file["apiclient_cert.pem"]}, nil,
			[]string{"at:  public_key_file", "holds a certificate (BEGIN CERTIFICATE), not a public key"}},
		{"public key file holds the merchant's own public key",
			map[string]string{"wxpay.public_key_file": f.file[wxsim.FileMerchantPublic]}, nil,
			[]string{"at:  public_key_file", "is the public half of wxpay.private_key_file"}},
		{"key file missing",
			map[string]string{"wxpay.private_key_file": filepath.Join(f.dir, "nope.pem")}, nil,
			[]string{"at:  private_key_file", "nope.pem: no such file"}},
		{"APIv3 key of 31 bytes",
			map[string]string{"wxpay.apiv3_key_file": f.file["apiv3_31.key"]}, nil,
			[]string{"at:  apiv3_key_file", "wxpay.apiv3_key_file: ", "holds 31 bytes after trimming surrounding whitespace; the APIv3 key is exactly 32"}},
		{"empty APIv2 key",
			map[string]string{"wxpay.apiv2_key_file": f.file["empty.key"]}, nil,
			[]string{"at:  apiv2_key_file", "empty.key is empty"}},
		{"empty plugin token",
			map[string]string{}, map[string]string{"ISSUER_PLUGIN_TOKEN_FILE": f.file["empty.key"]},
			[]string{"ISSUER_PLUGIN_TOKEN_FILE: ", "empty.key is empty"}},
		{"required ids missing",
			map[string]string{"wxpay.mchid": "", "wxpay.public_key_id": ""}, nil,
			[]string{"wxpay.mchid: required by `issuer run`: set it in the config file or in ISSUER_WXPAY_MCHID",
				"wxpay.public_key_id: required by `issuer run`", "2 problems"}},
		{"bad cron",
			map[string]string{"schedules.reconcile": "every day at 10:30"}, nil,
			[]string{"at:  reconcile", "schedules.reconcile: ", "@every 30s"}},
		{"bad cron from the environment",
			nil, map[string]string{"ISSUER_SCHEDULES_ISSUE": "at:every"},
			[]string{"ISSUER_SCHEDULES_ISSUE: ", `schedule "at:every"`}},
		{"base URL without scheme",
			map[string]string{"wxpay.base_url": "api.mch.weixin.qq.com"}, nil,
			[]string{"at:  base_url", "wxpay.base_url: not an absolute http(s) URL"}},
		{"webhook not a URL",
			map[string]string{"alerts.webhook_url": "hooks.example.com/T000/secret-token"}, nil,
			[]string{"at:  webhook_url", "alerts.webhook_url: not an absolute http(s) URL"}},
		{"unknown time zone",
			map[string]string{"timezone": "Asia/Shangai"}, nil,
			[]string{"at:timezone", `timezone: unknown time zone "Asia/Shangai"`}},
		{"listen address without port",
			map[string]string{"http.addr": "localhost"}, nil,
			[]string{"at:  addr", "http.addr: ", "not host:port"}},
		{"rates out of range",
			map[string]string{"issue.concurrency": "0"}, map[string]string{"ISSUER_ISSUE_RATE_INITIAL": "600"},
			[]string{"at:  concurrency", "issue.concurrency: must be 1..1024, got 0", "ISSUER_ISSUE_RATE_INITIAL: must be in (0, issue.rate.max=500], got 600"}},
		{"production backup behind a test base URL",
			map[string]string{"wxpay.backup_base_url": "https://api2.mch.weixin.qq.com"}, nil,
			[]string{"at:  backup_base_url", "wxpay.backup_base_url: ", "test traffic must never fail over to production"}},
		{"misspelled variable",
			nil, map[string]string{"ISSUER_WXPAY_BASEURL": "http://127.0.0.1:9"},
			[]string{"ISSUER_WXPAY_BASEURL: unknown environment variable", "(did you mean ISSUER_WXPAY_BASE_URL?)"}},
		{"misspelled rate variable",
			nil, map[string]string{"ISSUER_ISSUE_RATE_MAXX": "100"},
			[]string{"ISSUER_ISSUE_RATE_MAXX: ", "(did you mean ISSUER_ISSUE_RATE_MAX?)"}},
		{"every problem at once",
			map[string]string{"timezone": "Mars/Olympus", "wxpay.apiv3_key_file": f.file["apiv3_31.key"], "schedules.issue": "* *", "wxpay.appid": ""},
			map[string]string{"ISSUER_ISSUE_RATE_MAXX": "100"},
			[]string{"5 problems", "ISSUER_ISSUE_RATE_MAXX", "timezone: ", "wxpay.appid: required", "wxpay.apiv3_key_file: ", "schedules.issue: "}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := &testBundle{env: map[string]string{}, dir: t.TempDir()}
			text := f.yaml(dbURL, tc.set)
			cfg := b.write(t, "issuer.yaml", text)
			b.env["ISSUER_CONFIG"] = cfg
			for k, v := range tc.env {
				b.env[k] = v
			}
			// `issuer run` refuses the same configuration with the same
			// words: it is one check.
			for _, args := range [][]string{{"config", "check"}, {"run"}} {
				r := b.issuer(t, "", args...)
				require.Equal(t, 1, r.code, "%v\n%s", args, r.stderr)
				require.Empty(t, r.stdout, args)
				for _, want := range tc.want {
					if key, ok := strings.CutPrefix(want, "at:"); ok {
						want = cfg + lineOf(t, text, key+":")
					}
					require.Contains(t, r.stderr, want, args)
				}
				require.NotContains(t, r.stderr, "secret-token")
				require.NotContains(t, r.stderr, f.keys.APIv3Key[:31])
			}
		})
	}
}

func TestConfigCheckMissingDatabaseURL(t *testing.T) {
	t.Parallel()
	b := &testBundle{env: map[string]string{}, dir: t.TempDir()}
	r := b.issuer(t, "", "config", "check", "--offline")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "database_url: required: give a config file that sets it (--config FILE, or ISSUER_CONFIG=FILE; with neither, issuer reads ./issuer.yaml, then /etc/issuer/issuer.yaml), or set ISSUER_DATABASE_URL")
}

func TestConfigCheckAccepts(t *testing.T) {
	t.Parallel()
	f := newKeyFixture(t)
	s := dbtest.New(t)

	b := &testBundle{env: map[string]string{}, dir: t.TempDir()}
	b.env["ISSUER_CONFIG"] = b.write(t, "issuer.yaml", f.yaml(s.URL, nil))
	// The test harness's own variables are not configuration typos.
	b.env["ISSUER_PGDATA"] = "/somewhere"
	r := b.issuer(t, "", "config", "check")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, `  apiv3_key_file: "`+f.file[wxsim.FileAPIv3Key]+`"`)
	require.NotContains(t, r.stdout, f.keys.APIv3Key)
	require.NotContains(t, r.stderr, "problem")

	// A PKCS#1 private key signs as well: a warning, not a refusal.
	b.env["ISSUER_WXPAY_PRIVATE_KEY_FILE"] = f.file["pkcs1_key.pem"]
	r = b.issuer(t, "", "config", "check", "--offline")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stderr, "is a PKCS#1 RSA private key")

	// An unmigrated database stops `issuer run`, so it fails the check.
	empty := dbtest.NewEmpty(t)
	b.env["ISSUER_CONFIG"] = b.write(t, "unmigrated.yaml", f.yaml(empty.URL, nil))
	r = b.issuer(t, "", "config", "check")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "database_url: database schema is at version 0")
	r = b.issuer(t, "", "config", "check", "--offline")
	require.Equal(t, 0, r.code, r.stderr)
}
