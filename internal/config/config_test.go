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
			"wxpay.base_url: not an absolute http(s) URL",
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

func TestLoadReportsEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := writeFile(t, dir, "c.yaml", strings.Join([]string{
		"database_url: postgres://x/y",
		"wxpay:",
		"  bse_url: http://a",
		"issue:",
		"  concurrency: lots",
		"  max_attempts: 0",
	}, "\n"), 0o600)
	_, _, err := LoadWith(p, envOf(map[string]string{"ISSUER_ISSUE_LEASE": "1s"}), LoadOptions{
		Environ: []string{"ISSUER_ISSUE_RATE_MAXX=9", "ISSUER_ISSUE_LEASE=1s", "ISSUER_CONFIG=" + p, "ISSUER_PGDATA=/x", "ISSUER_TYPO_BUT_EMPTY=", "HOME=/root"},
	})
	var cerr *Error
	require.ErrorAs(t, err, &cerr)
	var got []string
	for _, pr := range cerr.Problems {
		got = append(got, pr.String())
	}
	require.Equal(t, []string{
		p + `:3: unknown key "wxpay.bse_url" (did you mean "wxpay.base_url"?)`,
		p + `:5: issue.concurrency: want a whole number, got "lots"`, // no YAML tags or Go types
		"ISSUER_ISSUE_RATE_MAXX: unknown environment variable: no configuration key has this name (did you mean ISSUER_ISSUE_RATE_MAX?)",
		p + ":6: issue.max_attempts: must be at least 1, got 0",
		"ISSUER_ISSUE_LEASE: must be at least 5s, got 1s",
	}, got)
	require.True(t, strings.HasPrefix(err.Error(), "config: 5 problems:\n  "), err.Error())
}

func TestCheckRun(t *testing.T) {
	t.Parallel()
	base := map[string]string{
		"ISSUER_DATABASE_URL":         "postgres://x/y",
		"ISSUER_WXPAY_BASE_URL":       "http://127.0.0.1:8091",
		"ISSUER_WXPAY_MCHID":          "1900000109",
		"ISSUER_WXPAY_APPID":          "wx1",
		"ISSUER_WXPAY_CERT_SERIAL_NO": "ABC",
		"ISSUER_WXPAY_PUBLIC_KEY_ID":  "PUB_KEY_ID_0100",
	}
	with := func(more map[string]string) func(string) string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range more {
			m[k] = v
		}
		return envOf(m)
	}
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"production backup behind a test base", map[string]string{"ISSUER_WXPAY_BACKUP_BASE_URL": "https://API2.mch.weixin.qq.com/"},
			"ISSUER_WXPAY_BACKUP_BASE_URL: https://API2.mch.weixin.qq.com/ is WeChat Pay's production API but wxpay.base_url \"http://127.0.0.1:8091\" is not: test traffic must never fail over to production"},
		{"bad port", map[string]string{"ISSUER_HTTP_ADDR": "127.0.0.1:http-ish"}, `ISSUER_HTTP_ADDR: "127.0.0.1:http-ish": port "http-ish" is not a port number`},
		{"key files required", nil, "wxpay.private_key_file: required by `issuer run`: set it in the config file or in ISSUER_WXPAY_PRIVATE_KEY_FILE"},
		{"six-field cron", map[string]string{"ISSUER_SCHEDULES_HOUSEKEEPING": "0 0 4 * * *"}, "ISSUER_SCHEDULES_HOUSEKEEPING: schedule \"0 0 4 * * *\""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := LoadWith("", with(tc.env), LoadOptions{Run: true})
			require.ErrorContains(t, err, tc.want)
			// Commands other than run do not need the daemon's keys.
			if tc.name == "key files required" {
				_, _, err := LoadWith("", with(tc.env), LoadOptions{})
				require.NoError(t, err)
			}
		})
	}

	t.Run("production both ways is fine", func(t *testing.T) {
		t.Parallel()
		cfg, _, err := Load("", with(map[string]string{"ISSUER_WXPAY_BASE_URL": DefaultBaseURL}))
		require.NoError(t, err)
		require.Equal(t, DefaultBackupBaseURL, cfg.WXPay.BackupBaseURL)
	})
}

func TestEffectiveRedactsWebhookPath(t *testing.T) {
	t.Parallel()
	cfg, _, err := Load("", envOf(map[string]string{
		"ISSUER_DATABASE_URL":       "postgres://x/y",
		"ISSUER_ALERTS_WEBHOOK_URL": "https://hooks.example.com/services/T0/B0/s3cr3t",
	}))
	require.NoError(t, err)
	out := cfg.Effective()
	require.NotContains(t, out, "s3cr3t")
	require.Contains(t, out, `webhook_url: "https://hooks.example.com/REDACTED"`)
}

func TestAlertChannels(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		yaml     string
		err      string
		warning  string
		channels int
	}{
		{name: "robots from files", channels: 3, yaml: `
alerts:
  webhook_url: https://hooks.example.com/alerts?token=HOOK-TOKEN
  channels:
    - type: wecom
      url_file: {dir}/wecom.url
      min_severity: warning
      mention: [zhangsan, lisi]
    - type: dingtalk
      url_file: {dir}/wecom.url
      secret_file: {dir}/sign.secret
    - type: feishu
      name: oncall
      url: https://open.feishu.cn/open-apis/bot/v2/hook/INLINE-KEY
      format: text
`, warning: "alerts.channels[2].url: a robot URL carries its key"},
		{name: "unknown key", yaml: "alerts:\n  channels:\n    - type: wecom\n      urlfile: x\n", err: `:5: unknown key "urlfile" in alerts.channels[0]`},
		{name: "not a list", yaml: "alerts:\n  channels: wecom\n", err: ":3: alerts.channels: must be a list"},
		{name: "bad values", yaml: `
alerts:
  channels:
    - type: slack
      url: https://x
    - type: wecom
      url_file: {dir}/wecom.url
      secret_file: {dir}/sign.secret
      min_severity: fatal
    - type: feishu
`, err: "alerts.channels[0].type: must be webhook, wecom, dingtalk or feishu"},
		{name: "callback addr", yaml: "http:\n  addr: 127.0.0.1:8080\n  callback_addr: 127.0.0.1:8080\n", err: "http.callback_addr: must differ from http.addr"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			writeFile(t, dir, "wecom.url", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=FILE-KEY\n", 0o600)
			writeFile(t, dir, "sign.secret", "SECFILESECRET\n", 0o600)
			p := writeFile(t, dir, "c.yaml", "database_url: postgres://x/y\n"+strings.ReplaceAll(tc.yaml, "{dir}", dir), 0o600)
			cfg, warnings, err := Load(p, envOf(map[string]string{"ISSUER_ALERTS_CHANNELS": "ignored"}))
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				if tc.name == "bad values" {
					for _, want := range []string{"alerts.channels[1].secret_file: only dingtalk and feishu", "alerts.channels[1].min_severity: must be",
						"alerts.channels[2]: set one of url and url_file"} {
						require.ErrorContains(t, err, want)
					}
				}
				return
			}
			require.NoError(t, err)
			require.Len(t, cfg.Alerts.Channels, tc.channels)
			require.Contains(t, strings.Join(warnings, "\n"), tc.warning)
			require.Equal(t, []string{"zhangsan", "lisi"}, cfg.Alerts.Channels[0].Mention)
			out := cfg.Effective()
			for _, secret := range []string{"INLINE-KEY", "FILE-KEY", "SECFILESECRET", "HOOK-TOKEN"} {
				require.NotContains(t, out, secret)
			}
			require.Contains(t, out, "alerts:\n  webhook_url: ")
			require.Contains(t, out, "  channels:\n    - type: \"wecom\"\n      name: \"\"\n      url: \"\"\n      url_file: \""+dir+"/wecom.url\"\n")
			require.Contains(t, out, "      mention: [\"zhangsan\", \"lisi\"]\n")
			require.Contains(t, out, "      url: \"REDACTED\"\n")
		})
	}
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
		require.ErrorContains(t, err, "ISSUER_CALLBACKS_PUBLIC_URL: ", tc.url)
		require.ErrorContains(t, err, tc.problem, tc.url)
	}
}

func TestYAMLTypeMsg(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"cannot unmarshal !!str `lots` into int":            `want a whole number, got "lots"`,
		"cannot unmarshal !!str `5 min` into time.Duration": `want a duration such as 30s or 5m, got "5 min"`,
		"cannot unmarshal !!seq into string":                "want a single value, got a list",
		"cannot unmarshal !!map into []string":              "want a list, got a mapping",
		"cannot unmarshal !!str `yes` into bool":            `want true or false, got "yes"`,
		"something else":                                    "something else",
	} {
		got := yamlTypeMsg(in)
		require.Equal(t, want, got, in)
		require.NotContains(t, got, "!!")
	}
}

// The doors' settings: a plugin token of fewer than 16 characters, a
// plugin token without the stocks it signs for only warns, a short metrics token and
// an upload quota too small for one upload are refused.
func TestCheckDoors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	short, long := file("short.token", "pass123\n"), file("long.token", "0123456789abcdef0123\n")
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string // "" for no problem of these keys
	}{
		{"short plugin token", func(c *Config) { c.Plugin.TokenFile, c.Plugin.Stocks = short, "9856000" },
			"plugin.token_file: " + short + " holds 7 characters; a token is at least 16"},
		// Configurations from before plugin.stocks keep starting: a warning.
		{"plugin token without stocks", func(c *Config) { c.Plugin.TokenFile = long }, ""},
		{"plugin token and stocks", func(c *Config) { c.Plugin.TokenFile, c.Plugin.Stocks = long, "9856000, 9856001" }, ""},
		{"bad stock", func(c *Config) { c.Plugin.TokenFile, c.Plugin.Stocks = long, "9856000,a&b=c" }, `plugin.stocks: "a&b=c" is not a stock id`},
		{"short metrics token", func(c *Config) { c.HTTP.MetricsTokenFile = short }, "http.metrics_token_file: " + short + " holds 7 characters"},
		{"metrics token", func(c *Config) { c.HTTP.MetricsTokenFile = long }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := Defaults()
			tc.edit(&c)
			_, problems := c.checkRun()
			var got []string
			for _, p := range problems {
				if strings.HasPrefix(p.Key, "plugin.") || strings.HasPrefix(p.Key, "http.metrics") {
					got = append(got, p.Key+": "+p.Msg)
				}
			}
			if tc.want == "" {
				require.Empty(t, got)
				return
			}
			require.Len(t, got, 1, got)
			require.Contains(t, got[0], tc.want)
		})
	}
	require.Equal(t, []string{"9856000", "9856001"}, Plugin{Stocks: " 9856000, 9856001,"}.StockList())
	{
		c := Defaults()
		c.Plugin.TokenFile = long
		warnings, _ := c.checkRun()
		require.Contains(t, strings.Join(warnings, "\n"), "plugin.stocks is unset: POST /plugin/sign signs for any stock")
	}

	c := Defaults()
	c.Console.PendingUploadsMB = 100
	_, err := c.Validate()
	require.ErrorContains(t, err, "console.pending_uploads_mb: must be at least console.max_upload_mb (512)")
	c.Console.PendingUploadsMB, c.Plugin.MaxPerSecond = 0, 0
	_, err = c.Validate()
	require.ErrorContains(t, err, "plugin.max_per_second: must be more than 0")
}

// TestProxyUserHeaderNeedsTrustedProxies: a header that names the signed-in
// account is believed only from listed proxies, so it cannot be set
// without them.
func TestProxyUserHeaderNeedsTrustedProxies(t *testing.T) {
	t.Parallel()
	env := map[string]string{"ISSUER_DATABASE_URL": "postgres://x/y", "ISSUER_CONSOLE_PROXY_USER_HEADER": "X-Forwarded-User"}
	_, _, err := Load("", envOf(env))
	require.ErrorContains(t, err, "ISSUER_CONSOLE_PROXY_USER_HEADER: needs console.trusted_proxies")
	env["ISSUER_CONSOLE_TRUSTED_PROXIES"] = "127.0.0.1/32"
	_, _, err = Load("", envOf(env))
	require.NoError(t, err)

	for k, v := range map[string]string{"ISSUER_CONSOLE_MAX_CONCURRENT_LOGINS": "0",
		"ISSUER_CONSOLE_MAX_CONCURRENT_LOGINS_PER_ADDRESS": "9", "ISSUER_APPROVAL_DAILY_COUPONS": "-1",
		"ISSUER_APPROVAL_DAILY_AMOUNT_YUAN": "-5"} {
		_, _, err := Load("", envOf(map[string]string{"ISSUER_DATABASE_URL": "postgres://x/y", k: v}))
		require.Error(t, err, k)
	}
}

// TestNginxExampleClearsUserHeader: behind the shipped nginx example a
// client's own X-Forwarded-User never reaches issuer, and the example
// tells issuer to trust the proxy.
func TestNginxExampleClearsUserHeader(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../configs/nginx-issuer.conf")
	require.NoError(t, err)
	conf := string(data)
	require.Contains(t, conf, "trusted_proxies: 127.0.0.1/32")
	locations := strings.Split(conf, "location ")[1:]
	proxied := 0
	for _, l := range locations {
		if !strings.Contains(l, "proxy_pass http://issuer_private") {
			continue
		}
		proxied++
		require.Contains(t, l, `proxy_set_header X-Forwarded-User "";`)
		require.Contains(t, l, `proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;`)
	}
	require.Positive(t, proxied)
}
