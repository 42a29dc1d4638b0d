package config

import (
	"fmt"
	"math"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/issuer-dev/issuer/internal/notifyurl"
)

// Validate checks what every command needs. It returns warnings (for
// example key files readable by others) alongside an *Error listing every
// problem. It changes nothing: the defaults a value implies and Location are
// Normalize's, which Load runs first.
func (c *Config) Validate() (warnings []string, err error) {
	warnings, problems := c.validate()
	if len(problems) > 0 {
		return warnings, &Error{Problems: sortByKey(problems)}
	}
	return warnings, nil
}

// Normalize fills in what the values given imply and Validate reads as
// given: wxpay.backup_base_url while wxpay.base_url is WeChat Pay's primary
// domain, and Location from Timezone (left nil when Timezone is not a
// zone, which Validate reports). Load runs it before the checks; a Config
// built in code runs it itself.
func (c *Config) Normalize() {
	if c.WXPay.BackupBaseURL == "" && c.WXPay.BaseURL == DefaultBaseURL {
		c.WXPay.BackupBaseURL = DefaultBackupBaseURL
	}
	if loc, err := time.LoadLocation(c.Timezone); err == nil && c.Timezone != "" {
		c.Location = loc
	}
}

// report collects what a check finds: problems, each with the key it
// concerns and where that key's value was given, and warnings.
type report struct {
	where    map[string]string
	warnings []string
	problems []Problem
}

func (r *report) bad(key, format string, args ...any) {
	r.problems = append(r.problems, Problem{Key: key, Where: r.where[key], Msg: fmt.Sprintf(format, args...)})
}

func (r *report) warn(format string, args ...any) {
	r.warnings = append(r.warnings, fmt.Sprintf(format, args...))
}

// validate checks the sections one after the other, each with its own
// method on its own value, so that none can change the Config. The order
// is the order of the warnings; sortByKey orders the problems.
func (c *Config) validate() (warnings []string, problems []Problem) {
	r := &report{where: c.where}
	checkDatabaseURL(r, c.DatabaseURL)
	checkTimezone(r, c.Timezone)
	c.WXPay.check(r)
	c.Callbacks.check(r)
	c.Plugin.check(r)
	c.HTTP.check(r)
	c.Alerts.check(r)
	c.Issue.check(r, c.WXPay.Timeout)
	c.Approval.check(r)
	c.Console.check(r)
	return r.warnings, r.problems
}

func checkDatabaseURL(r *report, raw string) {
	if raw == "" {
		r.bad("database_url", "required: give a config file that sets it (--config FILE, or ISSUER_CONFIG=FILE; with neither, issuer reads ./issuer.yaml, then /etc/issuer/issuer.yaml), or set ISSUER_DATABASE_URL")
	} else if u, err := url.Parse(raw); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		r.bad("database_url", "must be a postgres:// URL")
	}
}

func checkTimezone(r *report, tz string) {
	if _, err := time.LoadLocation(tz); err != nil || tz == "" {
		r.bad("timezone", "unknown time zone %q: use an IANA name such as Asia/Shanghai", tz)
	}
}

// check checks the merchant's WeChat Pay section: the domains, the ids,
// how answers are verified and the key files (that they can be read; what
// they hold is CheckRun's).
func (w WXPay) check(r *report) {
	if w.BaseURL == "" {
		r.bad("wxpay.base_url", "required: %s, or a test server's URL", DefaultBaseURL)
	}
	checkHTTPURL(r, "wxpay.base_url", w.BaseURL)
	checkHTTPURL(r, "wxpay.backup_base_url", w.BackupBaseURL)
	if isProduction(w.BackupBaseURL) && !isProduction(w.BaseURL) && w.BaseURL != "" {
		r.bad("wxpay.backup_base_url", "%s is WeChat Pay's production API but wxpay.base_url %q is not: test traffic must never fail over to production; "+
			"remove backup_base_url or point it at another test server", w.BackupBaseURL, RedactURL(w.BaseURL))
	}
	if w.MchID != "" && !isDigits(w.MchID) {
		r.bad("wxpay.mchid", "must be digits, got %q", w.MchID)
	}
	if w.Timeout <= 0 {
		r.bad("wxpay.timeout", "must be positive")
	}
	w.checkVerify(r)
	if w.PlatformCertRefresh < time.Minute {
		r.bad("wxpay.platform_cert_refresh", "must be at least 1m, got %s", w.PlatformCertRefresh)
	}
	r.keyFile("wxpay.private_key_file", w.PrivateKeyFile, true)
	r.keyFile("wxpay.public_key_file", w.PublicKeyFile, false)
	r.keyFile("wxpay.apiv3_key_file", w.APIv3KeyFile, true)
	r.keyFile("wxpay.apiv2_key_file", w.APIv2KeyFile, true)
	r.keyFile("wxpay.platform_ca_file", w.PlatformCAFile, false)
}

// checkVerify checks wxpay.verify and what its mode needs.
func (w WXPay) checkVerify(r *report) {
	switch mode := w.VerifyMode(); mode {
	case "public_key":
	case "certificate", "both":
		if w.PlatformCAFile == "" && !w.InsecureSkipPlatformCA {
			r.bad("wxpay.platform_ca_file", "required when wxpay.verify is %s (the WeChat Pay CA that platform certificates must chain to); set wxpay.insecure_skip_platform_ca: true only to skip that check knowingly", mode)
		}
		if w.APIv3KeyFile == "" {
			r.bad("wxpay.apiv3_key_file", "required when wxpay.verify is %s (it decrypts the downloaded platform certificates)", mode)
		}
		if w.InsecureSkipPlatformCA {
			r.warn("wxpay.insecure_skip_platform_ca: platform certificates are not checked against the WeChat Pay CA")
		}
	default:
		r.bad("wxpay.verify", "must be public_key, certificate or both, got %q", mode)
	}
}

// checkHTTPURL checks that a URL, when set, is absolute http(s) with a
// host, quoting it redacted.
func checkHTTPURL(r *report, key, raw string) {
	if raw == "" {
		return
	}
	if p, err := url.Parse(raw); err == nil && (p.Scheme == "http" || p.Scheme == "https") && p.Host != "" {
		return
	}
	r.bad(key, "not an absolute http(s) URL with a host: %q", RedactURL(raw))
}

// keyFile checks that a key or token file, when set, is a file that can be
// opened; secret ones readable by group or others are a warning.
func (r *report) keyFile(key, path string, secret bool) {
	if path == "" {
		return
	}
	st, err := os.Stat(path)
	switch {
	case err != nil:
		r.bad(key, "%v", err)
	case st.IsDir():
		r.bad(key, "%s is a directory, not a file", path)
	default:
		if fh, err := os.Open(path); err != nil {
			r.bad(key, "%v", err)
		} else {
			fh.Close()
		}
		if secret && st.Mode().Perm()&0o077 != 0 {
			r.warn("%s: %s is readable by group or others (mode %04o); chmod 600 it", key, path, st.Mode().Perm())
		}
	}
}

func (cb Callbacks) check(r *report) {
	if cb.PublicURL != "" {
		if err := notifyurl.Check(cb.PublicURL); err != nil {
			r.bad("callbacks.public_url", "%v", err)
		}
	}
}

func (p Plugin) check(r *report) {
	r.keyFile("plugin.token_file", p.TokenFile, true)
	if n := p.MaxPerSecond; n <= 0 || n > 10000 {
		r.bad("plugin.max_per_second", "must be more than 0 and at most 10000 coupons a second, got %g", n)
	}
}

func (h HTTP) check(r *report) {
	r.keyFile("http.metrics_token_file", h.MetricsTokenFile, true)
	if h.CallbackAddr != "" && h.CallbackAddr == h.Addr && !strings.HasSuffix(h.Addr, ":0") {
		r.bad("http.callback_addr", "must differ from http.addr")
	}
}

func (a Alerts) check(r *report) {
	if a.WebhookURL != "" {
		if p, err := url.Parse(a.WebhookURL); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			r.bad("alerts.webhook_url", "not an absolute http(s) URL with a host") // a webhook's path is often its token
		}
	}
	for i, ch := range a.Channels {
		ch.check(r, fmt.Sprintf("alerts.channels[%d]", i))
	}
}

// check checks one alerts.channels entry; key is "alerts.channels[i]".
func (ch AlertChannel) check(r *report, key string) {
	switch ch.Type {
	case "webhook", "wecom", "dingtalk", "feishu":
	default:
		r.bad(key+".type", "must be webhook, wecom, dingtalk or feishu, got %q", ch.Type)
	}
	switch {
	case (ch.URL == "") == (ch.URLFile == ""):
		r.bad(key, "set one of url and url_file")
	case ch.URL != "":
		if p, err := url.Parse(ch.URL); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			r.bad(key+".url", "not an http(s) URL") // never quote it: it carries the robot's key
		}
		if ch.Type != "webhook" {
			r.warn("%s.url: a robot URL carries its key; put it in url_file (mode 0600) instead", key)
		}
	}
	if ch.SecretFile != "" && ch.Type != "dingtalk" && ch.Type != "feishu" {
		r.bad(key+".secret_file", "only dingtalk and feishu robots are signed")
	}
	switch ch.MinSeverity {
	case "", "info", "warning", "error", "critical":
	default:
		r.bad(key+".min_severity", "must be info, warning, error or critical, got %q", ch.MinSeverity)
	}
	if ch.Format != "" && (ch.Type != "feishu" || (ch.Format != "card" && ch.Format != "text")) {
		r.bad(key+".format", "is card or text, and only for feishu")
	}
	for _, f := range []struct{ key, path string }{{key + ".url_file", ch.URLFile}, {key + ".secret_file", ch.SecretFile}} {
		if f.path == "" {
			continue
		}
		if st, err := os.Stat(f.path); err != nil {
			r.bad(f.key, "%v", err)
		} else if st.IsDir() {
			r.bad(f.key, "%s is a directory", f.path)
		} else if st.Mode().Perm()&0o077 != 0 {
			r.warn("%s: %s is readable by group or others (mode %04o); chmod 600 it", f.key, f.path, st.Mode().Perm())
		}
	}
}

// check checks the issue job's tuning; a lease must outlast a call of
// wxpayTimeout.
func (i Issue) check(r *report, wxpayTimeout time.Duration) {
	if i.Concurrency < 1 || i.Concurrency > 1024 {
		r.bad("issue.concurrency", "must be 1..1024, got %d", i.Concurrency)
	}
	if i.Rate.Max <= 0 {
		r.bad("issue.rate.max", "must be positive, got %g", i.Rate.Max)
	}
	if i.Rate.Initial <= 0 || i.Rate.Initial > i.Rate.Max {
		r.bad("issue.rate.initial", "must be in (0, issue.rate.max=%g], got %g", i.Rate.Max, i.Rate.Initial)
	}
	switch i.Rate.Strategy {
	case "adaptive", "fixed", "aws":
	default:
		r.bad("issue.rate.strategy", "must be adaptive, fixed or aws, got %q", i.Rate.Strategy)
	}
	if i.MaxAttempts < 1 {
		r.bad("issue.max_attempts", "must be at least 1, got %d", i.MaxAttempts)
	}
	if i.Lease < 5*time.Second {
		r.bad("issue.lease", "must be at least 5s, got %s", i.Lease)
	} else if i.Lease <= wxpayTimeout {
		r.bad("issue.lease", "must exceed wxpay.timeout (%s) so a lease never expires under a live call", wxpayTimeout)
	}
	if i.ShutdownTimeout <= 0 {
		r.bad("issue.shutdown_timeout", "must be positive")
	}
}

func (a Approval) check(r *report) {
	if a.MinCoupons < 0 {
		r.bad("approval.min_coupons", "must not be negative (0 turns it off), got %d", a.MinCoupons)
	}
	if !validYuan(a.MinAmountYuan) {
		r.bad("approval.min_amount_yuan", "must be a positive amount in yuan, or 0 to turn it off")
	}
	if a.DailyCoupons < 0 {
		r.bad("approval.daily_coupons", "must not be negative (0 turns it off), got %d", a.DailyCoupons)
	}
	if !validYuan(a.DailyAmountYuan) {
		r.bad("approval.daily_amount_yuan", "must be a positive amount in yuan, or 0 to turn it off")
	}
}

func validYuan(y float64) bool { return y >= 0 && !math.IsNaN(y) && !math.IsInf(y, 0) }

// check checks the console's sessions, uploads, proxy trust and login
// throttles.
func (c Console) check(r *report) {
	if c.SessionIdle <= 0 {
		r.bad("console.session_idle", "must be positive")
	}
	if c.SessionMax < c.SessionIdle {
		r.bad("console.session_max", "must be at least console.session_idle (%s)", c.SessionIdle)
	}
	if c.MaxUploadMB < 1 || c.MaxUploadMB > 100*1024 {
		r.bad("console.max_upload_mb", "must be 1..102400, got %d", c.MaxUploadMB)
	}
	if n := c.PendingUploadsMB; n != 0 && n < c.MaxUploadMB {
		r.bad("console.pending_uploads_mb", "must be at least console.max_upload_mb (%d), so that one upload fits, or 0 for four times it; got %d",
			c.MaxUploadMB, n)
	}
	if c.PublicURL != "" {
		if p, err := url.Parse(c.PublicURL); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			r.bad("console.public_url", "not an http(s) URL: %q", RedactURL(c.PublicURL))
		}
	}
	if proxies, err := c.TrustedProxyPrefixes(); err != nil {
		r.bad("console.trusted_proxies", "%v", err)
	} else if c.ProxyUserHeader != "" && len(proxies) == 0 {
		r.bad("console.proxy_user_header", "needs console.trusted_proxies: the header is believed only from them")
	}
	if c.LockoutAfter < 1 {
		r.bad("console.lockout_after", "must be at least 1")
	}
	if c.Lockout <= 0 {
		r.bad("console.lockout", "must be positive")
	}
	if c.MaxConcurrentLogins < 1 || c.MaxConcurrentLogins > 256 {
		r.bad("console.max_concurrent_logins", "must be 1..256, got %d (each takes 64 MiB while it runs)", c.MaxConcurrentLogins)
	}
	if c.MaxConcurrentLoginsPerAddress < 1 || c.MaxConcurrentLoginsPerAddress > c.MaxConcurrentLogins {
		r.bad("console.max_concurrent_logins_per_address", "must be 1..console.max_concurrent_logins (%d), got %d",
			c.MaxConcurrentLogins, c.MaxConcurrentLoginsPerAddress)
	}
}

// isProduction reports whether raw points at WeChat Pay's real API, where
// every call moves money.
func isProduction(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	switch strings.ToLower(u.Hostname()) {
	case "api.mch.weixin.qq.com", "api2.mch.weixin.qq.com":
		return true
	}
	return false
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
