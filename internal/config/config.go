// Package config loads issuer's YAML configuration, applies ISSUER_*
// environment overrides and validates the result.
//
// The set of keys is part of the operators' contract: every key has a path
// ("wxpay.base_url") and an environment name derived from it
// (ISSUER_WXPAY_BASE_URL). Unknown keys and unknown ISSUER_* variables are
// errors, not silently ignored, because a typo in a rate or a schedule is
// how unattended jobs go wrong.
//
// The package owns every check of the configuration, so that `issuer config
// check` and the daemon's start-up cannot disagree: Validate for what every
// command needs, CheckRun for what `issuer run` needs besides (key files
// that parse as the right kind of key, schedules, the listen address). It
// reports every problem at once, each with the file and line or the
// variable that gave the value. It reads files but never contacts the
// database or WeChat Pay.
//
// Load fills in what the values imply (Normalize: the backup domain,
// Location) before checking; the checks only look. Each section checks its
// own plain value (validate.go for Validate, checkrun.go for CheckRun).
//
// The package sits below the domain: it imports none of issuer's packages
// but leaves. The rules it shares with them live in those leaves —
// internal/cronspec parses schedules for it and for the daemon's
// scheduler, internal/pemkey parses key files for it and for wxpay,
// internal/notifyurl is WeChat Pay's rule for callbacks.public_url — so
// that the check and the use are one code. The issue job's defaults are
// plain constants here, kept equal to the job's own by a test in app.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/issuer-dev/issuer/internal/textdist"
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
	Callbacks   Callbacks `yaml:"callbacks"`
	Console     Console   `yaml:"console"`
	Approval    Approval  `yaml:"approval"`

	// Location is Timezone loaded; set by Normalize, which Load runs.
	Location *time.Location `yaml:"-"`
	// Source is the file the config came from ("" when none).
	Source string `yaml:"-"`

	// where maps a key path to where its value was given: "FILE:LINE" or
	// the ISSUER_* variable. Keys left at their default are absent.
	where map[string]string
}

// Approval holds the maker-checker thresholds: a batch at or over either
// waits for an operator other than its uploader (0 turns one off). The
// daily ones count a stock's batches of the day (in Timezone) together, so
// that a list split under the per-batch thresholds still waits.
type Approval struct {
	MinCoupons      int     `yaml:"min_coupons"`
	MinAmountYuan   float64 `yaml:"min_amount_yuan"`
	DailyCoupons    int     `yaml:"daily_coupons"`
	DailyAmountYuan float64 `yaml:"daily_amount_yuan"`
}

// MinAmountFen is MinAmountYuan in fen.
func (a Approval) MinAmountFen() int64 { return int64(math.Round(a.MinAmountYuan * 100)) }

// DailyAmountFen is DailyAmountYuan in fen.
func (a Approval) DailyAmountFen() int64 { return int64(math.Round(a.DailyAmountYuan * 100)) }

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

	// How answers and callbacks are verified: public_key, certificate or
	// both (a migration); default public_key when public_key_id is set,
	// else certificate. Certificate modes download platform certificates
	// with the APIv3 key and check them against PlatformCAFile; only
	// InsecureSkipPlatformCA, set explicitly, drops that check.
	Verify                 string        `yaml:"verify"`
	PlatformCAFile         string        `yaml:"platform_ca_file"`
	InsecureSkipPlatformCA bool          `yaml:"insecure_skip_platform_ca"`
	PlatformCertDir        string        `yaml:"platform_cert_dir"`
	PlatformCertRefresh    time.Duration `yaml:"platform_cert_refresh"`
}

// VerifyMode resolves wxpay.verify's default.
func (w WXPay) VerifyMode() string {
	switch {
	case w.Verify != "":
		return w.Verify
	case w.PublicKeyID != "" || w.PublicKeyFile != "":
		return "public_key"
	case w.PlatformCAFile != "" || w.InsecureSkipPlatformCA:
		return "certificate"
	default:
		return "public_key"
	}
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
	// Digest sends the morning digest of the day before to the alert
	// channels.
	Digest string `yaml:"digest"`
}

// HTTP configures the daemon's listener.
type HTTP struct {
	Addr string `yaml:"addr"`
	// CallbackAddr, when set, is a second listener serving only
	// POST /callbacks/wxpay, the one path WeChat Pay must reach; the main
	// listener then stops serving it.
	CallbackAddr string `yaml:"callback_addr"`
	// MetricsTokenFile, when set, holds the bearer token GET /metrics
	// requires (at least 16 characters); unset, /metrics answers whoever
	// reaches http.addr.
	MetricsTokenFile string `yaml:"metrics_token_file"`
}

// Plugin configures POST /plugin/sign.
type Plugin struct {
	TokenFile string `yaml:"token_file"` // the bearer token, at least 16 characters
	// Stocks lists, comma-separated, the stocks the endpoint signs for;
	// unset, it signs for any (as before the key existed), with a warning. The plugin's sends are bounded by each
	// stock's own budget and per-user limit, not by issuer's batches.
	Stocks string `yaml:"stocks"`
	// MaxPerSecond bounds the coupons signed a second (a burst of twice).
	MaxPerSecond float64 `yaml:"max_per_second"`
}

// StockList parses Stocks.
func (p Plugin) StockList() []string {
	var out []string
	for _, s := range strings.Split(p.Stocks, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Alerts configures where alerts go besides the log.
type Alerts struct {
	WebhookURL string `yaml:"webhook_url"`
	// Channels are the chat robots and webhooks alerts go to. They are
	// read from the file only (no environment override): their URLs and
	// secrets come from files named here.
	Channels []AlertChannel `yaml:"channels"`
}

// AlertChannel is one alerts.channels entry.
type AlertChannel struct {
	Type string `yaml:"type"` // webhook, wecom, dingtalk, feishu
	Name string `yaml:"name"` // in logs and metrics; default the type
	// URL or URLFile: robot URLs carry the robot's key, so prefer a file
	// (mode 0600). The URL is redacted wherever the config is shown.
	URL         string   `yaml:"url"`
	URLFile     string   `yaml:"url_file"`
	SecretFile  string   `yaml:"secret_file"`  // DingTalk 加签 / Feishu 签名校验 secret
	MinSeverity string   `yaml:"min_severity"` // info (default), warning, error, critical
	Mention     []string `yaml:"mention"`      // userids (WeCom, DingTalk) or open_ids (Feishu); "all"
	Format      string   `yaml:"format"`       // feishu: card (default) or text
}

// alertChannelKeys are the keys an alerts.channels entry may have.
func alertChannelKeys() map[string]bool {
	keys := map[string]bool{}
	t := reflect.TypeOf(AlertChannel{})
	for i := 0; i < t.NumField(); i++ {
		keys[t.Field(i).Tag.Get("yaml")] = true
	}
	return keys
}

// Callbacks configures WeChat Pay's notification address (§3.2.14).
type Callbacks struct {
	// PublicURL is where WeChat Pay reaches this daemon's /callbacks/wxpay
	// from the internet; when set, `issuer run` keeps it registered.
	PublicURL string `yaml:"public_url"`
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
	// PendingUploadsMB bounds the disk the uploads waiting between a dry
	// run and create or drop may take, all users together; 0: four times
	// MaxUploadMB.
	PendingUploadsMB int `yaml:"pending_uploads_mb"`
	// PublicURL is how people reach the console; an https URL marks the
	// session cookie Secure even behind a proxy that terminates TLS.
	PublicURL string `yaml:"public_url"`
	// ProxyUserHeader, when set, names a header carrying the account a
	// reverse proxy has authenticated; it is believed only from
	// TrustedProxies (comma-separated CIDRs).
	ProxyUserHeader string `yaml:"proxy_user_header"`
	TrustedProxies  string `yaml:"trusted_proxies"`
	// LockoutAfter failed logins for one account from one address lock
	// that account at that address for Lockout, doubling with each further
	// failure (the real user elsewhere is never locked out).
	LockoutAfter int           `yaml:"lockout_after"`
	Lockout      time.Duration `yaml:"lockout"`
	// MaxConcurrentLogins password checks run at once (64 MiB of memory
	// each), MaxConcurrentLoginsPerAddress for one client address; more
	// are refused (503, 429) without being checked.
	MaxConcurrentLogins           int `yaml:"max_concurrent_logins"`
	MaxConcurrentLoginsPerAddress int `yaml:"max_concurrent_logins_per_address"`
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

// The issue job's defaults, as plain values: the job applies the same ones
// to a zero Policy (jobs.DefaultMaxAttempts, jobs.DefaultShutdownTimeout;
// a test in app keeps the two equal).
const (
	DefaultMaxAttempts     = 10
	DefaultShutdownTimeout = 30 * time.Second
)

// Defaults returns the configuration before any file or environment.
func Defaults() Config {
	return Config{
		Timezone: "Asia/Shanghai",
		WXPay: WXPay{
			BaseURL:             DefaultBaseURL,
			Timeout:             10 * time.Second,
			PlatformCertRefresh: 12 * time.Hour,
		},
		Issue: Issue{
			Concurrency:     32,
			Rate:            Rate{Initial: 100, Max: 500, Strategy: "adaptive"},
			MaxAttempts:     DefaultMaxAttempts,
			Lease:           2 * time.Minute,
			ShutdownTimeout: DefaultShutdownTimeout,
		},
		Schedules: Schedule{
			Issue:        "@every 1m",
			Reconcile:    "30 10 * * *",
			Housekeeping: "0 4 * * *",
			Digest:       "0 9 * * *",
		},
		HTTP:      HTTP{Addr: "127.0.0.1:8080"},
		Plugin:    Plugin{MaxPerSecond: 20},
		Reconcile: Reconcile{Dir: "flowfiles"},
		Console: Console{SessionIdle: 30 * time.Minute, SessionMax: 12 * time.Hour, MaxUploadMB: 512,
			LockoutAfter: 5, Lockout: time.Minute, MaxConcurrentLogins: 4, MaxConcurrentLoginsPerAddress: 2},
	}
}

// Load reads path (may be empty: defaults and environment only), applies
// environment overrides from getenv and validates. It is LoadWith without
// options.
func Load(path string, getenv func(string) string) (*Config, []string, error) {
	return LoadWith(path, getenv, LoadOptions{})
}

// LoadOptions says what LoadWith checks besides Validate.
type LoadOptions struct {
	// Environ is the process environment as KEY=VALUE. An ISSUER_ variable
	// in it that names no key is an error with a suggestion, like an
	// unknown key in the file. Nil skips that check: getenv cannot list
	// names.
	Environ []string
	// Run adds CheckRun: everything `issuer run` needs.
	Run bool
}

// LoadWith reads path (may be empty), applies environment overrides from
// getenv, fills in what the values imply (Normalize) and checks the result
// (Validate, and CheckRun when o.Run), the checks changing nothing. Every
// problem found, in the file, the environment or the values, is reported
// at once in an *Error; warnings (key files readable by others, …) come
// back either way.
func LoadWith(path string, getenv func(string) string, o LoadOptions) (*Config, []string, error) {
	cfg, problems, err := read(path, getenv, o.Environ)
	if err != nil {
		return nil, nil, err
	}
	cfg.Normalize()
	warnings, values := cfg.validate()
	if o.Run {
		w, more := cfg.checkRun()
		warnings = append(warnings, w...)
		// One problem per key: a key file Validate found missing is not
		// also unparseable.
		for _, p := range more {
			if !slices.ContainsFunc(values, func(v Problem) bool { return v.Key == p.Key }) {
				values = append(values, p)
			}
		}
	}
	problems = append(problems, sortByKey(values)...)
	if len(problems) > 0 {
		return nil, warnings, &Error{Problems: problems}
	}
	return cfg, warnings, nil
}

// read builds the configuration from the defaults, the file at path (may be
// empty) and the environment, as given: neither normalized nor checked.
// Problems are those of the names and the kinds of values; err is a file
// that cannot be read or is not YAML at all.
func read(path string, getenv func(string) string, environ []string) (*Config, []Problem, error) {
	cfg := Defaults()
	cfg.Source = path
	cfg.where = map[string]string{}
	var problems []Problem
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, fmt.Errorf("config: %w", err)
		}
		found, err := decode(path, data, &cfg)
		if err != nil {
			return nil, nil, err
		}
		problems = append(problems, found...)
	}
	problems = append(problems, unknownEnv(environ)...)
	problems = append(problems, applyEnv(&cfg, getenv)...)
	return &cfg, problems, nil
}

// Problem is one thing wrong with the configuration.
type Problem struct {
	Key   string // "wxpay.base_url"; empty when the name itself is wrong
	Where string // "issuer.yaml:12" or "ISSUER_WXPAY_BASE_URL"; empty for a default
	Msg   string // what is wrong and how to fix it; never a secret
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Where != "" {
		b.WriteString(p.Where + ": ")
	}
	// A variable's name already says which key it sets.
	if p.Key != "" && !strings.HasPrefix(p.Where, envPrefix) {
		b.WriteString(p.Key + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error is every problem found, so that one `config check` shows them all
// rather than one per attempt.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return "config: " + e.Problems[0].String()
	}
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return fmt.Sprintf("config: %d problems:\n  %s", len(e.Problems), strings.Join(lines, "\n  "))
}

// sortByKey orders value problems as the keys are declared, which is the
// order of the example file and of `config check`'s output.
func sortByKey(ps []Problem) []Problem {
	var cfg Config
	order := map[string]int{}
	for i, k := range Keys(&cfg) {
		order[k.Path] = i
	}
	slices.SortStableFunc(ps, func(a, b Problem) int { return order[a.Key] - order[b.Key] })
	return ps
}

// decode checks every key against the known set (reporting FILE:LINE and a
// suggestion), records where each value was given, and decodes. An unknown
// key is reported and skipped, so the rest of the file is still checked;
// only a file that is not YAML at all is an error by itself.
func decode(path string, data []byte, cfg *Config) ([]Problem, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if len(root.Content) == 0 {
		return nil, nil // empty file
	}
	known := keySet()
	var problems []Problem
	keyAt := map[int]string{} // value line -> key path, for decoding errors
	at := func(line int) string { return fmt.Sprintf("%s:%d", path, line) }
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
				msg := fmt.Sprintf("unknown key %q", p)
				if s := suggest(p, mapKeys(known)); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				problems = append(problems, Problem{Where: at(k.Line), Msg: msg})
				continue
			}
			if kind == reflect.Slice {
				problems = append(problems, checkChannels(path, p, v)...)
				continue
			}
			if kind == reflect.Struct {
				if v.Kind != yaml.MappingNode && !(v.Kind == yaml.ScalarNode && v.Tag == "!!null") {
					problems = append(problems, Problem{Key: p, Where: at(v.Line), Msg: "must be a mapping"})
					continue
				}
				walk(v, p)
			} else if v.Kind != yaml.ScalarNode {
				problems = append(problems, Problem{Key: p, Where: at(v.Line), Msg: "must be a single value"})
			} else {
				cfg.where[p] = at(k.Line)
				keyAt[v.Line] = p
			}
		}
	}
	walk(root.Content[0], "")
	dec := yaml.NewDecoder(bytes.NewReader(data))
	err := dec.Decode(cfg)
	var te *yaml.TypeError
	switch {
	case errors.As(err, &te):
		// yaml.v3 decodes what it can and lists the rest as "line N: …".
		for _, e := range te.Errors {
			p := Problem{Where: path, Msg: yamlTypeMsg(e)}
			if m := yamlLine.FindStringSubmatch(e); m != nil {
				line, _ := strconv.Atoi(m[1])
				p = Problem{Key: keyAt[line], Where: at(line), Msg: yamlTypeMsg(m[2])}
			}
			// One problem a line: the walk above may have named it already.
			if slices.ContainsFunc(problems, func(q Problem) bool { return q.Where == p.Where && p.Where != path }) {
				continue
			}
			problems = append(problems, p)
		}
	case err != nil:
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return problems, nil
}

var yamlLine = regexp.MustCompile(`^line (\d+): (.*)$`)

// yamlUnmarshal is yaml.v3's type error: "cannot unmarshal !!str `abc`
// into int".
var yamlUnmarshal = regexp.MustCompile("^cannot unmarshal !!(\\w+) (?:`(.*)` )?into (\\S+)$")

// yamlTypeMsg words a YAML type error for a person, without YAML's tags
// and Go's type names.
func yamlTypeMsg(msg string) string {
	m := yamlUnmarshal.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	got := map[string]string{"seq": "a list", "map": "a mapping", "str": "text", "int": "a number",
		"float": "a number", "bool": "true/false", "timestamp": "a date"}[m[1]]
	if got == "" {
		got = "a " + m[1]
	}
	if m[2] != "" {
		got = fmt.Sprintf("%q", m[2])
	}
	want := "a value of another kind"
	switch into := m[3]; {
	case into == "time.Duration":
		want = "a duration such as 30s or 5m"
	case strings.HasPrefix(into, "int"), strings.HasPrefix(into, "uint"):
		want = "a whole number"
	case strings.HasPrefix(into, "float"):
		want = "a number"
	case into == "bool":
		want = "true or false"
	case into == "string":
		want = "a single value"
	case strings.HasPrefix(into, "[]"):
		want = "a list"
	case strings.HasPrefix(into, "map["), strings.Contains(into, "."):
		want = "a mapping of keys"
	}
	return "want " + want + ", got " + got
}

// checkChannels checks alerts.channels: a list of mappings with known keys.
func checkChannels(path, key string, v *yaml.Node) []Problem {
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return nil
	}
	at := func(line int) string { return fmt.Sprintf("%s:%d", path, line) }
	if v.Kind != yaml.SequenceNode {
		return []Problem{{Key: key, Where: at(v.Line), Msg: "must be a list"}}
	}
	known := alertChannelKeys()
	var problems []Problem
	for i, e := range v.Content {
		item := fmt.Sprintf("%s[%d]", key, i)
		if e.Kind != yaml.MappingNode {
			problems = append(problems, Problem{Key: item, Where: at(e.Line), Msg: "must be a mapping"})
			continue
		}
		for j := 0; j+1 < len(e.Content); j += 2 {
			k, val := e.Content[j], e.Content[j+1]
			if !known[k.Value] {
				problems = append(problems, Problem{Where: at(k.Line), Msg: fmt.Sprintf("unknown key %q in %s", k.Value, item)})
				continue
			}
			if k.Value == "mention" {
				if val.Kind != yaml.SequenceNode && !(val.Kind == yaml.ScalarNode && val.Tag == "!!null") {
					problems = append(problems, Problem{Key: item + ".mention", Where: at(val.Line), Msg: "must be a list"})
				}
			} else if val.Kind != yaml.ScalarNode {
				problems = append(problems, Problem{Key: item + "." + k.Value, Where: at(val.Line), Msg: "must be a single value"})
			}
		}
	}
	return problems
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
				Env:    envName(p),
				Secret: p == "database_url" || p == "alerts.webhook_url",
				field:  fv,
			})
		}
	}
	walk(reflect.ValueOf(cfg).Elem(), "")
	return keys
}

// envName is the environment variable that sets the key at path.
func envName(path string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
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

func applyEnv(cfg *Config, getenv func(string) string) []Problem {
	var problems []Problem
	for _, k := range Keys(cfg) {
		raw := getenv(k.Env)
		if raw == "" || k.field.Kind() == reflect.Slice {
			continue // lists come from the file only
		}
		if err := setValue(k.field, raw); err != nil {
			problems = append(problems, Problem{Key: k.Path, Where: k.Env, Msg: err.Error()})
			continue
		}
		if cfg.where != nil {
			cfg.where[k.Path] = k.Env
		}
	}
	return problems
}

const envPrefix = "ISSUER_"

// otherEnv lists the ISSUER_ variables that are not configuration keys.
// A new one must be added here, or every command refuses to start.
func otherEnv() []string {
	return []string{
		"ISSUER_CONFIG", // the config file, when --config is absent
		"ISSUER_TOKEN",  // the API token the command line acts with (who --as names)
		"ISSUER_BENCH",  // make bench: print figures instead of skipping
		// make test: fail rather than skip when promtool or Chromium is
		// missing; where browser tests find Chromium and keep screenshots
		"ISSUER_REQUIRE_PROMTOOL", "ISSUER_REQUIRE_CHROMIUM", "ISSUER_CHROMIUM", "ISSUER_SCREENSHOTS",
		// scripts/with-postgres.sh: the ephemeral cluster of the tests
		"ISSUER_PGBIN", "ISSUER_PGDATA", "ISSUER_PGPORT", "ISSUER_PGSOCKET", "ISSUER_PGUSER",
	}
}

// unknownEnv reports the ISSUER_ variables of environ that name no key,
// with the closest name as a suggestion. Empty ones change nothing and are
// let be.
func unknownEnv(environ []string) []Problem {
	var cfg Config
	names := otherEnv()
	for _, k := range Keys(&cfg) {
		names = append(names, k.Env)
	}
	var problems []Problem
	for _, kv := range environ {
		name, val, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) || val == "" || slices.Contains(names, name) {
			continue
		}
		msg := "unknown environment variable: no configuration key has this name"
		if s := suggest(name, names); s != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", s)
		}
		problems = append(problems, Problem{Where: name, Msg: msg})
	}
	sort.Slice(problems, func(i, j int) bool { return problems[i].Where < problems[j].Where })
	return problems
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
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("not true or false: %q", raw)
		}
		v.SetBool(b)
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

// suggest returns the name closest to p, if close enough to be a typo.
func suggest(p string, names []string) string {
	slices.Sort(names) // ties go to the first in order, not to map order
	best, bestD := "", 4
	for _, k := range names {
		if d := textdist.Distance(p, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func mapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
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

// redactWebhook keeps a webhook's scheme and host: chat webhooks carry
// their token in the path.
func redactWebhook(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "<unparseable>"
	}
	if u.Path == "" && u.RawQuery == "" {
		return u.Scheme + "://" + u.Host
	}
	return u.Scheme + "://" + u.Host + "/REDACTED"
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
		if k.field.Kind() == reflect.Slice {
			fmt.Fprintf(&b, "%s%s:", indent, parts[len(parts)-1])
			if chans, ok := k.field.Interface().([]AlertChannel); ok {
				if len(chans) == 0 {
					b.WriteString(" []")
				}
				b.WriteString("\n")
				for _, ch := range chans {
					writeChannel(&b, indent+"  ", ch)
				}
			}
			continue
		}
		val := fmt.Sprint(k.field.Interface())
		switch {
		case val == "" || !k.Secret:
		case k.Path == "alerts.webhook_url":
			val = redactWebhook(val)
		default:
			val = RedactURL(val)
		}
		if k.field.Kind() == reflect.String {
			val = strconv.Quote(val)
		}
		fmt.Fprintf(&b, "%s%s: %s\n", indent, parts[len(parts)-1], val)
	}
	return b.String()
}

// writeChannel renders one alerts.channels entry with its URL redacted:
// the file names are shown, never what they hold.
func writeChannel(b *strings.Builder, indent string, ch AlertChannel) {
	u := ""
	if ch.URL != "" {
		u = "REDACTED"
	}
	mention := make([]string, len(ch.Mention))
	for i, m := range ch.Mention {
		mention[i] = strconv.Quote(m)
	}
	fmt.Fprintf(b, "%s- type: %q\n", indent, ch.Type)
	for _, kv := range [][2]string{{"name", ch.Name}, {"url", u}, {"url_file", ch.URLFile}, {"secret_file", ch.SecretFile},
		{"min_severity", ch.MinSeverity}, {"format", ch.Format}} {
		fmt.Fprintf(b, "%s  %s: %q\n", indent, kv[0], kv[1])
	}
	fmt.Fprintf(b, "%s  mention: [%s]\n", indent, strings.Join(mention, ", "))
}

// Discover returns the first of paths that is a regular file, or "" (then
// the config comes from ISSUER_* variables alone): where to look for the
// config when no path names it.
func Discover(paths []string) string {
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// ReadSecretFile reads a key or token file named by the configuration.
// Surrounding whitespace (an editor's trailing newline) is not part of the
// secret; errors name the file, never its content.
func ReadSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err // *fs.PathError names the file
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}
