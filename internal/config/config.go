// Package config loads issuer's YAML configuration, applies ISSUER_*
// environment overrides and validates the result.
//
// The set of keys is part of the operators' contract: every key has a path
// ("wxpay.base_url") and an environment name derived from it
// (ISSUER_WXPAY_BASE_URL). Unknown keys are errors, not silently ignored,
// because a typo in a rate or a schedule is how unattended jobs go wrong.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the effective configuration.
type Config struct {
	DatabaseURL string    `yaml:"database_url"`
	Timezone    string    `yaml:"timezone"`
	WXPay       WXPay     `yaml:"wxpay"`
	Issue       Issue     `yaml:"issue"`
	Schedules   Schedule  `yaml:"schedules"`
	HTTP        HTTP      `yaml:"http"`
	Plugin      Plugin    `yaml:"plugin"`
	Alerts      Alerts    `yaml:"alerts"`
	Reconcile   Reconcile `yaml:"reconcile"`
	Console     Console   `yaml:"console"`

	// Location is Timezone loaded; set by Validate.
	Location *time.Location `yaml:"-"`
	// Source is the file the config came from ("" when none).
	Source string `yaml:"-"`
}

// WXPay holds the merchant's WeChat Pay identity and key files.
type WXPay struct {
	BaseURL        string        `yaml:"base_url"`
	BackupBaseURL  string        `yaml:"backup_base_url"`
	MchID          string        `yaml:"mchid"`
	AppID          string        `yaml:"appid"`
	CertSerialNo   string        `yaml:"cert_serial_no"`
	PrivateKeyFile string        `yaml:"private_key_file"`
	PublicKeyID    string        `yaml:"public_key_id"`
	PublicKeyFile  string        `yaml:"public_key_file"`
	APIv3KeyFile   string        `yaml:"apiv3_key_file"`
	APIv2KeyFile   string        `yaml:"apiv2_key_file"`
	Timeout        time.Duration `yaml:"timeout"`
}

// Issue tunes the issue job.
type Issue struct {
	Concurrency int           `yaml:"concurrency"`
	Rate        Rate          `yaml:"rate"`
	MaxAttempts int           `yaml:"max_attempts"`
	Lease       time.Duration `yaml:"lease"`
	// ShutdownTimeout bounds how long in-flight calls may take to finish
	// and record after a stop is requested.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// Rate is the limiter's start and ceiling in requests per second.
type Rate struct {
	Initial float64 `yaml:"initial"`
	Max     float64 `yaml:"max"`
	// Strategy: adaptive (default) finds the hidden limit and rides just
	// under it; fixed sends at max; aws is the AWS SDK's adaptive mode,
	// kept for comparison.
	Strategy string `yaml:"strategy"`
}

// Schedule holds robfig/cron expressions per job.
type Schedule struct {
	Issue        string `yaml:"issue"`
	Reconcile    string `yaml:"reconcile"`
	Housekeeping string `yaml:"housekeeping"`
}

// HTTP configures the daemon's listener.
type HTTP struct {
	Addr string `yaml:"addr"`
}

// Plugin configures POST /plugin/sign.
type Plugin struct {
	TokenFile string `yaml:"token_file"`
}

// Alerts configures where alerts go besides the log.
type Alerts struct {
	WebhookURL string `yaml:"webhook_url"`
}

// Reconcile configures the nightly reconciliation.
type Reconcile struct {
	// Dir keeps the raw downloaded flow files for audit.
	Dir string `yaml:"dir"`
}

// Console configures the web console and the HTTP API on http.addr.
type Console struct {
	SessionIdle time.Duration `yaml:"session_idle"` // a session ends after this long unused
	SessionMax  time.Duration `yaml:"session_max"`  // and this long after login
	MaxUploadMB int           `yaml:"max_upload_mb"`
	// PublicURL is how people reach the console; an https URL marks the
	// session cookie Secure even behind a proxy that terminates TLS.
	PublicURL string `yaml:"public_url"`
	// ProxyUserHeader, when set, names a header carrying the account a
	// reverse proxy has authenticated; it is believed only from
	// TrustedProxies (comma-separated CIDRs).
	ProxyUserHeader string `yaml:"proxy_user_header"`
	TrustedProxies  string `yaml:"trusted_proxies"`
	// LockoutAfter failed logins lock an account for Lockout, doubling
	// with each further failure.
	LockoutAfter int           `yaml:"lockout_after"`
	Lockout      time.Duration `yaml:"lockout"`
}

// TrustedProxyPrefixes parses TrustedProxies.
func (c Console) TrustedProxyPrefixes() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(c.TrustedProxies, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("not an address or CIDR: %q", f)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("not an address or CIDR: %q", f)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// WeChat Pay's domains. The backup is only a default while base_url is the
// primary: a merchant pointing issuer elsewhere (a proxy, the simulator)
// must not fail over to the real API.
const (
	DefaultBaseURL       = "https://api.mch.weixin.qq.com"
	DefaultBackupBaseURL = "https://api2.mch.weixin.qq.com"
)

// Defaults returns the configuration before any file or environment.
func Defaults() Config {
	return Config{
		Timezone: "Asia/Shanghai",
		WXPay: WXPay{
			BaseURL: DefaultBaseURL,
			Timeout: 10 * time.Second,
		},
		Issue: Issue{
			Concurrency:     32,
			Rate:            Rate{Initial: 100, Max: 500, Strategy: "adaptive"},
			MaxAttempts:     10,
			Lease:           2 * time.Minute,
			ShutdownTimeout: 30 * time.Second,
		},
		Schedules: Schedule{
			Issue:        "@every 1m",
			Reconcile:    "30 10 * * *",
			Housekeeping: "0 4 * * *",
		},
		HTTP:      HTTP{Addr: "127.0.0.1:8080"},
		Reconcile: Reconcile{Dir: "flowfiles"},
		Console: Console{SessionIdle: 30 * time.Minute, SessionMax: 12 * time.Hour, MaxUploadMB: 512,
			LockoutAfter: 5, Lockout: time.Minute},
	}
}

// Load reads path (may be empty: defaults and environment only), applies
// environment overrides from getenv and validates.
func Load(path string, getenv func(string) string) (*Config, []string, error) {
	cfg := Defaults()
	cfg.Source = path
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, fmt.Errorf("config: %w", err)
		}
		if err := decode(path, data, &cfg); err != nil {
			return nil, nil, err
		}
	}
	if err := applyEnv(&cfg, getenv); err != nil {
		return nil, nil, err
	}
	warnings, err := cfg.Validate()
	if err != nil {
		return nil, warnings, err
	}
	return &cfg, warnings, nil
}

// decode checks every key against the known set (reporting FILE:LINE and a
// suggestion) before decoding, so a typo never falls back to a default.
func decode(path string, data []byte, cfg *Config) error {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	if len(root.Content) == 0 {
		return nil // empty file
	}
	known := keySet()
	var problems []string
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if prefix != "" {
				p = prefix + "." + k.Value
			}
			kind, ok := known[p]
			if !ok {
				msg := fmt.Sprintf("%s:%d: unknown key %q", path, k.Line, p)
				if s := suggest(p, known); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				problems = append(problems, msg)
				continue
			}
			if kind == reflect.Struct {
				if v.Kind != yaml.MappingNode && !(v.Kind == yaml.ScalarNode && v.Tag == "!!null") {
					problems = append(problems, fmt.Sprintf("%s:%d: %s must be a mapping", path, v.Line, p))
					continue
				}
				walk(v, p)
			} else if v.Kind != yaml.ScalarNode {
				problems = append(problems, fmt.Sprintf("%s:%d: %s must be a single value", path, v.Line, p))
			}
		}
	}
	walk(root.Content[0], "")
	if len(problems) > 0 {
		return errors.New("config: " + strings.Join(problems, "\n  "))
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(cfg); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// Key describes one configuration key.
type Key struct {
	Path   string // "wxpay.base_url"
	Env    string // "ISSUER_WXPAY_BASE_URL"
	Secret bool
	field  reflect.Value
}

// Keys lists cfg's leaf keys in declaration order, bound to cfg's fields.
func Keys(cfg *Config) []Key {
	var keys []Key
	var walk func(v reflect.Value, prefix string)
	walk = func(v reflect.Value, prefix string) {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("yaml")
			if tag == "" || tag == "-" {
				continue
			}
			p := tag
			if prefix != "" {
				p = prefix + "." + tag
			}
			fv := v.Field(i)
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)) {
				walk(fv, p)
				continue
			}
			keys = append(keys, Key{
				Path:   p,
				Env:    "ISSUER_" + strings.ToUpper(strings.ReplaceAll(p, ".", "_")),
				Secret: p == "database_url" || p == "alerts.webhook_url",
				field:  fv,
			})
		}
	}
	walk(reflect.ValueOf(cfg).Elem(), "")
	return keys
}

// keySet maps every key path, leaves and sections, to its kind.
func keySet() map[string]reflect.Kind {
	var cfg Config
	set := map[string]reflect.Kind{}
	for _, k := range Keys(&cfg) {
		set[k.Path] = k.field.Kind()
		parts := strings.Split(k.Path, ".")
		for i := 1; i < len(parts); i++ {
			set[strings.Join(parts[:i], ".")] = reflect.Struct
		}
	}
	return set
}

func applyEnv(cfg *Config, getenv func(string) string) error {
	var problems []string
	for _, k := range Keys(cfg) {
		raw := getenv(k.Env)
		if raw == "" {
			continue
		}
		if err := setValue(k.field, raw); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", k.Env, err))
		}
	}
	if len(problems) > 0 {
		return errors.New("config: " + strings.Join(problems, "\n  "))
	}
	return nil
}

func setValue(v reflect.Value, raw string) error {
	switch v.Interface().(type) {
	case time.Duration:
		d, err := time.ParseDuration(raw)
		if err != nil {
			return fmt.Errorf("not a duration: %q", raw)
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(raw)
	case reflect.Int:
		n, err := strconv.Atoi(raw)
		if err != nil {
			return fmt.Errorf("not an integer: %q", raw)
		}
		v.SetInt(int64(n))
	case reflect.Float64:
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return fmt.Errorf("not a number: %q", raw)
		}
		v.SetFloat(f)
	default:
		return fmt.Errorf("unsupported kind %s", v.Kind())
	}
	return nil
}

// suggest returns the known key closest to p, if close enough to be a typo.
func suggest(p string, known map[string]reflect.Kind) string {
	best, bestD := "", 4
	for k := range known {
		if d := editDistance(p, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Validate checks values and loads Location. It returns warnings (for
// example key files readable by others) alongside a joined error.
func (c *Config) Validate() (warnings []string, err error) {
	var problems []string
	bad := func(key, format string, args ...any) {
		problems = append(problems, key+": "+fmt.Sprintf(format, args...))
	}
	if c.DatabaseURL == "" {
		bad("database_url", "required (or set ISSUER_DATABASE_URL)")
	} else if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		bad("database_url", "must be a postgres:// URL")
	}
	if c.WXPay.BackupBaseURL == "" && c.WXPay.BaseURL == DefaultBaseURL {
		c.WXPay.BackupBaseURL = DefaultBackupBaseURL
	}
	loc, lerr := time.LoadLocation(c.Timezone)
	if lerr != nil {
		bad("timezone", "unknown time zone %q", c.Timezone)
	} else {
		c.Location = loc
	}
	for _, u := range []struct{ key, val string }{
		{"wxpay.base_url", c.WXPay.BaseURL},
		{"wxpay.backup_base_url", c.WXPay.BackupBaseURL},
		{"alerts.webhook_url", c.Alerts.WebhookURL},
	} {
		if u.val == "" {
			continue
		}
		p, err := url.Parse(u.val)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			bad(u.key, "not an http(s) URL: %q", RedactURL(u.val))
		}
	}
	if c.WXPay.MchID != "" && !isDigits(c.WXPay.MchID) {
		bad("wxpay.mchid", "must be digits, got %q", c.WXPay.MchID)
	}
	if c.WXPay.Timeout <= 0 {
		bad("wxpay.timeout", "must be positive")
	}
	for _, f := range []struct{ key, path string }{
		{"wxpay.private_key_file", c.WXPay.PrivateKeyFile},
		{"wxpay.public_key_file", c.WXPay.PublicKeyFile},
		{"wxpay.apiv3_key_file", c.WXPay.APIv3KeyFile},
		{"wxpay.apiv2_key_file", c.WXPay.APIv2KeyFile},
		{"plugin.token_file", c.Plugin.TokenFile},
	} {
		if f.path == "" {
			continue
		}
		st, err := os.Stat(f.path)
		switch {
		case err != nil:
			bad(f.key, "%v", err)
		case st.IsDir():
			bad(f.key, "%s is a directory", f.path)
		default:
			if fh, err := os.Open(f.path); err != nil {
				bad(f.key, "%v", err)
			} else {
				fh.Close()
			}
			if st.Mode().Perm()&0o077 != 0 && f.key != "wxpay.public_key_file" {
				warnings = append(warnings, fmt.Sprintf("%s: %s is readable by group or others (mode %04o); chmod 600 it", f.key, f.path, st.Mode().Perm()))
			}
		}
	}
	if c.Issue.Concurrency < 1 || c.Issue.Concurrency > 1024 {
		bad("issue.concurrency", "must be 1..1024, got %d", c.Issue.Concurrency)
	}
	if c.Issue.Rate.Max <= 0 {
		bad("issue.rate.max", "must be positive")
	}
	if c.Issue.Rate.Initial <= 0 || c.Issue.Rate.Initial > c.Issue.Rate.Max {
		bad("issue.rate.initial", "must be in (0, issue.rate.max=%g], got %g", c.Issue.Rate.Max, c.Issue.Rate.Initial)
	}
	switch c.Issue.Rate.Strategy {
	case "adaptive", "fixed", "aws":
	default:
		bad("issue.rate.strategy", "must be adaptive, fixed or aws, got %q", c.Issue.Rate.Strategy)
	}
	if c.Issue.MaxAttempts < 1 {
		bad("issue.max_attempts", "must be at least 1")
	}
	if c.Issue.Lease < 5*time.Second {
		bad("issue.lease", "must be at least 5s, got %s", c.Issue.Lease)
	}
	if c.Issue.Lease <= c.WXPay.Timeout {
		bad("issue.lease", "must exceed wxpay.timeout (%s) so a lease never expires under a live call", c.WXPay.Timeout)
	}
	if c.Issue.ShutdownTimeout <= 0 {
		bad("issue.shutdown_timeout", "must be positive")
	}
	if c.Console.SessionIdle <= 0 {
		bad("console.session_idle", "must be positive")
	}
	if c.Console.SessionMax < c.Console.SessionIdle {
		bad("console.session_max", "must be at least console.session_idle (%s)", c.Console.SessionIdle)
	}
	if c.Console.MaxUploadMB < 1 || c.Console.MaxUploadMB > 100*1024 {
		bad("console.max_upload_mb", "must be 1..102400, got %d", c.Console.MaxUploadMB)
	}
	if c.Console.PublicURL != "" {
		if p, err := url.Parse(c.Console.PublicURL); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			bad("console.public_url", "not an http(s) URL: %q", RedactURL(c.Console.PublicURL))
		}
	}
	if proxies, err := c.Console.TrustedProxyPrefixes(); err != nil {
		bad("console.trusted_proxies", "%v", err)
	} else if c.Console.ProxyUserHeader != "" && len(proxies) == 0 {
		bad("console.proxy_user_header", "needs console.trusted_proxies: the header is believed only from them")
	}
	if c.Console.LockoutAfter < 1 {
		bad("console.lockout_after", "must be at least 1")
	}
	if c.Console.Lockout <= 0 {
		bad("console.lockout", "must be positive")
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return warnings, errors.New("config: " + strings.Join(problems, "\n  "))
	}
	return warnings, nil
}

// Require reports the listed keys that are empty, for commands that need
// more than Validate demands (import needs wxpay.mchid, issue needs keys).
func (c *Config) Require(paths ...string) error {
	byPath := map[string]Key{}
	for _, k := range Keys(c) {
		byPath[k.Path] = k
	}
	var missing []string
	for _, p := range paths {
		k, ok := byPath[p]
		if !ok {
			panic("config: Require of unknown key " + p)
		}
		if k.field.IsZero() {
			missing = append(missing, fmt.Sprintf("%s (or %s)", p, k.Env))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("config: missing required %s", strings.Join(missing, ", "))
	}
	return nil
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// RedactURL hides a URL's password and query values.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<unparseable>"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "REDACTED")
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			if strings.Contains(strings.ToLower(k), "pass") || strings.Contains(strings.ToLower(k), "token") || strings.Contains(strings.ToLower(k), "key") {
				q.Set(k, "REDACTED")
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// Effective renders the configuration as YAML with secrets redacted, in key
// order, with each key's environment name as a comment.
func (c *Config) Effective() string {
	var b strings.Builder
	if c.Source != "" {
		fmt.Fprintf(&b, "# from %s and ISSUER_* environment\n", c.Source)
	} else {
		b.WriteString("# from defaults and ISSUER_* environment\n")
	}
	section := ""
	for _, k := range Keys(c) {
		parts := strings.Split(k.Path, ".")
		indent := strings.Repeat("  ", len(parts)-1)
		if len(parts) > 1 {
			sec := strings.Join(parts[:len(parts)-1], ".")
			if sec != section {
				// print the section headers that changed
				old := strings.Split(section, ".")
				for i := 0; i < len(parts)-1; i++ {
					if i >= len(old) || old[i] != parts[i] || section == "" {
						fmt.Fprintf(&b, "%s%s:\n", strings.Repeat("  ", i), parts[i])
					}
				}
				section = sec
			}
		} else {
			section = ""
		}
		val := fmt.Sprint(k.field.Interface())
		if k.Secret && val != "" {
			val = RedactURL(val)
		}
		if k.field.Kind() == reflect.String {
			val = strconv.Quote(val)
		}
		fmt.Fprintf(&b, "%s%s: %s\n", indent, parts[len(parts)-1], val)
	}
	return b.String()
}
