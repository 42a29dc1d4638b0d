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
package config

import (
	"bytes"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"net"
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

	"github.com/issuer-dev/issuer/daemon"
	"github.com/issuer-dev/issuer/internal/textdist"
	"github.com/issuer-dev/issuer/jobs"
	"github.com/issuer-dev/issuer/wxpay"
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

	// Location is Timezone loaded; set by Validate.
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
			MaxAttempts:     jobs.DefaultMaxAttempts,
			Lease:           2 * time.Minute,
			ShutdownTimeout: jobs.DefaultShutdownTimeout,
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
// getenv and checks the result. Every problem found, in the file, the
// environment or the values, is reported at once in an *Error; warnings
// (key files readable by others, …) come back either way.
func LoadWith(path string, getenv func(string) string, o LoadOptions) (*Config, []string, error) {
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
	problems = append(problems, unknownEnv(o.Environ)...)
	problems = append(problems, applyEnv(&cfg, getenv)...)
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
	return &cfg, warnings, nil
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

// Validate checks what every command needs and loads Location. It returns
// warnings (for example key files readable by others) alongside an *Error
// listing every problem.
func (c *Config) Validate() (warnings []string, err error) {
	warnings, problems := c.validate()
	if len(problems) > 0 {
		return warnings, &Error{Problems: sortByKey(problems)}
	}
	return warnings, nil
}

func (c *Config) validate() (warnings []string, problems []Problem) {
	bad := func(key, format string, args ...any) {
		problems = append(problems, Problem{Key: key, Where: c.where[key], Msg: fmt.Sprintf(format, args...)})
	}
	if c.DatabaseURL == "" {
		bad("database_url", "required: give a config file that sets it (--config FILE, or ISSUER_CONFIG=FILE; with neither, issuer reads ./issuer.yaml, then /etc/issuer/issuer.yaml), or set ISSUER_DATABASE_URL")
	} else if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		bad("database_url", "must be a postgres:// URL")
	}
	if c.WXPay.BackupBaseURL == "" && c.WXPay.BaseURL == DefaultBaseURL {
		c.WXPay.BackupBaseURL = DefaultBackupBaseURL
	}
	loc, lerr := time.LoadLocation(c.Timezone)
	if lerr != nil || c.Timezone == "" {
		bad("timezone", "unknown time zone %q: use an IANA name such as Asia/Shanghai", c.Timezone)
	} else {
		c.Location = loc
	}
	if c.WXPay.BaseURL == "" {
		bad("wxpay.base_url", "required: %s, or a test server's URL", DefaultBaseURL)
	}
	for _, u := range []struct {
		key, val string
		secret   bool
	}{
		{"wxpay.base_url", c.WXPay.BaseURL, false},
		{"wxpay.backup_base_url", c.WXPay.BackupBaseURL, false},
		{"alerts.webhook_url", c.Alerts.WebhookURL, true},
	} {
		if u.val == "" {
			continue
		}
		p, err := url.Parse(u.val)
		if err == nil && (p.Scheme == "http" || p.Scheme == "https") && p.Host != "" {
			continue
		}
		if u.secret { // a webhook's path is often its token
			bad(u.key, "not an absolute http(s) URL with a host")
		} else {
			bad(u.key, "not an absolute http(s) URL with a host: %q", RedactURL(u.val))
		}
	}
	if isProduction(c.WXPay.BackupBaseURL) && !isProduction(c.WXPay.BaseURL) && c.WXPay.BaseURL != "" {
		bad("wxpay.backup_base_url", "%s is WeChat Pay's production API but wxpay.base_url %q is not: test traffic must never fail over to production; "+
			"remove backup_base_url or point it at another test server", c.WXPay.BackupBaseURL, RedactURL(c.WXPay.BaseURL))
	}
	if c.Callbacks.PublicURL != "" {
		if err := wxpay.ValidNotifyURL(c.Callbacks.PublicURL); err != nil {
			bad("callbacks.public_url", "%v", err)
		}
	}
	if c.WXPay.MchID != "" && !isDigits(c.WXPay.MchID) {
		bad("wxpay.mchid", "must be digits, got %q", c.WXPay.MchID)
	}
	if c.WXPay.Timeout <= 0 {
		bad("wxpay.timeout", "must be positive")
	}
	switch mode := c.WXPay.VerifyMode(); mode {
	case "public_key":
	case "certificate", "both":
		if c.WXPay.PlatformCAFile == "" && !c.WXPay.InsecureSkipPlatformCA {
			bad("wxpay.platform_ca_file", "required when wxpay.verify is %s (the WeChat Pay CA that platform certificates must chain to); set wxpay.insecure_skip_platform_ca: true only to skip that check knowingly", mode)
		}
		if c.WXPay.APIv3KeyFile == "" {
			bad("wxpay.apiv3_key_file", "required when wxpay.verify is %s (it decrypts the downloaded platform certificates)", mode)
		}
		if c.WXPay.InsecureSkipPlatformCA {
			warnings = append(warnings, "wxpay.insecure_skip_platform_ca: platform certificates are not checked against the WeChat Pay CA")
		}
	default:
		bad("wxpay.verify", "must be public_key, certificate or both, got %q", mode)
	}
	if c.WXPay.PlatformCertRefresh < time.Minute {
		bad("wxpay.platform_cert_refresh", "must be at least 1m, got %s", c.WXPay.PlatformCertRefresh)
	}
	for _, f := range []struct{ key, path string }{
		{"wxpay.private_key_file", c.WXPay.PrivateKeyFile},
		{"wxpay.public_key_file", c.WXPay.PublicKeyFile},
		{"wxpay.apiv3_key_file", c.WXPay.APIv3KeyFile},
		{"wxpay.apiv2_key_file", c.WXPay.APIv2KeyFile},
		{"plugin.token_file", c.Plugin.TokenFile},
		{"http.metrics_token_file", c.HTTP.MetricsTokenFile},
		{"wxpay.platform_ca_file", c.WXPay.PlatformCAFile},
	} {
		if f.path == "" {
			continue
		}
		st, err := os.Stat(f.path)
		switch {
		case err != nil:
			bad(f.key, "%v", err)
		case st.IsDir():
			bad(f.key, "%s is a directory, not a file", f.path)
		default:
			if fh, err := os.Open(f.path); err != nil {
				bad(f.key, "%v", err)
			} else {
				fh.Close()
			}
			if st.Mode().Perm()&0o077 != 0 && f.key != "wxpay.public_key_file" && f.key != "wxpay.platform_ca_file" {
				warnings = append(warnings, fmt.Sprintf("%s: %s is readable by group or others (mode %04o); chmod 600 it", f.key, f.path, st.Mode().Perm()))
			}
		}
	}
	for i, ch := range c.Alerts.Channels {
		key := fmt.Sprintf("alerts.channels[%d]", i)
		switch ch.Type {
		case "webhook", "wecom", "dingtalk", "feishu":
		default:
			bad(key+".type", "must be webhook, wecom, dingtalk or feishu, got %q", ch.Type)
		}
		switch {
		case (ch.URL == "") == (ch.URLFile == ""):
			bad(key, "set one of url and url_file")
		case ch.URL != "":
			if p, err := url.Parse(ch.URL); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
				bad(key+".url", "not an http(s) URL") // never quote it: it carries the robot's key
			}
			if ch.Type != "webhook" {
				warnings = append(warnings, key+".url: a robot URL carries its key; put it in url_file (mode 0600) instead")
			}
		}
		if ch.SecretFile != "" && ch.Type != "dingtalk" && ch.Type != "feishu" {
			bad(key+".secret_file", "only dingtalk and feishu robots are signed")
		}
		switch ch.MinSeverity {
		case "", "info", "warning", "error", "critical":
		default:
			bad(key+".min_severity", "must be info, warning, error or critical, got %q", ch.MinSeverity)
		}
		if ch.Format != "" && (ch.Type != "feishu" || (ch.Format != "card" && ch.Format != "text")) {
			bad(key+".format", "is card or text, and only for feishu")
		}
		for _, f := range []struct{ key, path string }{{key + ".url_file", ch.URLFile}, {key + ".secret_file", ch.SecretFile}} {
			if f.path == "" {
				continue
			}
			if st, err := os.Stat(f.path); err != nil {
				bad(f.key, "%v", err)
			} else if st.IsDir() {
				bad(f.key, "%s is a directory", f.path)
			} else if st.Mode().Perm()&0o077 != 0 {
				warnings = append(warnings, fmt.Sprintf("%s: %s is readable by group or others (mode %04o); chmod 600 it", f.key, f.path, st.Mode().Perm()))
			}
		}
	}
	if c.HTTP.CallbackAddr != "" && c.HTTP.CallbackAddr == c.HTTP.Addr && !strings.HasSuffix(c.HTTP.Addr, ":0") {
		bad("http.callback_addr", "must differ from http.addr")
	}
	if c.Issue.Concurrency < 1 || c.Issue.Concurrency > 1024 {
		bad("issue.concurrency", "must be 1..1024, got %d", c.Issue.Concurrency)
	}
	if c.Issue.Rate.Max <= 0 {
		bad("issue.rate.max", "must be positive, got %g", c.Issue.Rate.Max)
	}
	if c.Issue.Rate.Initial <= 0 || c.Issue.Rate.Initial > c.Issue.Rate.Max {
		bad("issue.rate.initial", "must be in (0, issue.rate.max=%g], got %g", c.Issue.Rate.Max, c.Issue.Rate.Initial)
	}
	switch c.Issue.Rate.Strategy {
	case "adaptive", "fixed", "aws":
	default:
		bad("issue.rate.strategy", "must be adaptive, fixed or aws, got %q", c.Issue.Rate.Strategy)
	}
	if c.Approval.MinCoupons < 0 {
		bad("approval.min_coupons", "must not be negative (0 turns it off), got %d", c.Approval.MinCoupons)
	}
	if c.Approval.MinAmountYuan < 0 || math.IsNaN(c.Approval.MinAmountYuan) || math.IsInf(c.Approval.MinAmountYuan, 0) {
		bad("approval.min_amount_yuan", "must be a positive amount in yuan, or 0 to turn it off")
	}
	if c.Approval.DailyCoupons < 0 {
		bad("approval.daily_coupons", "must not be negative (0 turns it off), got %d", c.Approval.DailyCoupons)
	}
	if c.Approval.DailyAmountYuan < 0 || math.IsNaN(c.Approval.DailyAmountYuan) || math.IsInf(c.Approval.DailyAmountYuan, 0) {
		bad("approval.daily_amount_yuan", "must be a positive amount in yuan, or 0 to turn it off")
	}
	if c.Issue.MaxAttempts < 1 {
		bad("issue.max_attempts", "must be at least 1, got %d", c.Issue.MaxAttempts)
	}
	if c.Issue.Lease < 5*time.Second {
		bad("issue.lease", "must be at least 5s, got %s", c.Issue.Lease)
	} else if c.Issue.Lease <= c.WXPay.Timeout {
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
	if n := c.Console.PendingUploadsMB; n != 0 && n < c.Console.MaxUploadMB {
		bad("console.pending_uploads_mb", "must be at least console.max_upload_mb (%d), so that one upload fits, or 0 for four times it; got %d",
			c.Console.MaxUploadMB, n)
	}
	if r := c.Plugin.MaxPerSecond; r <= 0 || r > 10000 {
		bad("plugin.max_per_second", "must be more than 0 and at most 10000 coupons a second, got %g", r)
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
	if c.Console.MaxConcurrentLogins < 1 || c.Console.MaxConcurrentLogins > 256 {
		bad("console.max_concurrent_logins", "must be 1..256, got %d (each takes 64 MiB while it runs)", c.Console.MaxConcurrentLogins)
	}
	if c.Console.MaxConcurrentLoginsPerAddress < 1 || c.Console.MaxConcurrentLoginsPerAddress > c.Console.MaxConcurrentLogins {
		bad("console.max_concurrent_logins_per_address", "must be 1..console.max_concurrent_logins (%d), got %d",
			c.Console.MaxConcurrentLogins, c.Console.MaxConcurrentLoginsPerAddress)
	}
	return warnings, problems
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

// minTokenLen is the shortest bearer token accepted (plugin, metrics):
// httpapi.MinTokenLen, which this package cannot import.
const minTokenLen = 16

// CheckRun reports what `issuer run` needs besides Validate: the merchant's
// ids, key files that parse as the right kind of key, a 32-byte APIv3 key,
// non-empty APIv2 key and plugin token files when set, schedules the
// scheduler accepts and a listen address. The daemon calls it at start-up
// and `config check` through LoadWith, so the two cannot disagree.
func (c *Config) CheckRun() (warnings []string, err error) {
	warnings, problems := c.checkRun()
	if len(problems) > 0 {
		return warnings, &Error{Problems: sortByKey(problems)}
	}
	return warnings, nil
}

func (c *Config) checkRun() (warnings []string, problems []Problem) {
	bad := func(key, format string, args ...any) {
		problems = append(problems, Problem{Key: key, Where: c.where[key], Msg: fmt.Sprintf(format, args...)})
	}
	warn := func(key, format string, args ...any) {
		warnings = append(warnings, key+": "+fmt.Sprintf(format, args...))
	}
	byPath := map[string]Key{}
	for _, k := range Keys(c) {
		byPath[k.Path] = k
	}
	for _, p := range []string{
		"wxpay.mchid", "wxpay.appid", "wxpay.cert_serial_no", "wxpay.private_key_file",
		"wxpay.public_key_id", "wxpay.public_key_file",
	} {
		if byPath[p].field.IsZero() {
			bad(p, "required by `issuer run`: set it in the config file or in %s", byPath[p].Env)
		}
	}
	w := c.WXPay

	var merchant *rsa.PrivateKey
	if b, ok := c.readKeyFile(&problems, "wxpay.private_key_file", w.PrivateKeyFile); ok {
		k, err := wxpay.ParsePrivateKeyPEM(b)
		switch {
		case err != nil:
			bad("wxpay.private_key_file", "%s: %v; it must be the merchant API private key, apiclient_key.pem (BEGIN PRIVATE KEY)", w.PrivateKeyFile, err)
		case pemType(b) == "RSA PRIVATE KEY":
			merchant = k
			warn("wxpay.private_key_file", "%s is a PKCS#1 RSA private key; it signs, but WeChat Pay issues apiclient_key.pem as PKCS#8 (BEGIN PRIVATE KEY): "+
				"make sure it is the merchant API key (`openssl pkcs8 -topk8 -nocrypt` converts it)", w.PrivateKeyFile)
		default:
			merchant = k
		}
	}
	if b, ok := c.readKeyFile(&problems, "wxpay.public_key_file", w.PublicKeyFile); ok {
		pub, err := wxpay.ParsePublicKeyPEM(b)
		switch {
		case err != nil:
			bad("wxpay.public_key_file", "%s: %v; it must be the WeChat Pay public key, pub_key.pem from the merchant platform (BEGIN PUBLIC KEY)", w.PublicKeyFile, err)
		case merchant != nil && pub.Equal(&merchant.PublicKey):
			bad("wxpay.public_key_file", "%s is the public half of wxpay.private_key_file, the merchant's own key; "+
				"it must be the WeChat Pay public key, pub_key.pem from the merchant platform", w.PublicKeyFile)
		case pemType(b) == "RSA PUBLIC KEY":
			warn("wxpay.public_key_file", "%s is a PKCS#1 RSA public key; WeChat Pay publishes pub_key.pem as PKIX (BEGIN PUBLIC KEY): make sure it is WeChat Pay's key", w.PublicKeyFile)
		}
	}
	if w.PublicKeyID != "" && !strings.HasPrefix(w.PublicKeyID, "PUB_KEY_ID_") {
		warn("wxpay.public_key_id", "%q does not start with PUB_KEY_ID_: is it the WeChat Pay public key's id?", w.PublicKeyID)
	}
	if b, ok := c.readKeyFile(&problems, "wxpay.apiv3_key_file", w.APIv3KeyFile); ok {
		if n := len(bytes.TrimSpace(b)); n != 32 {
			bad("wxpay.apiv3_key_file", "%s holds %d bytes after trimming surrounding whitespace; the APIv3 key is exactly 32 (merchant platform: API安全 → APIv3密钥)", w.APIv3KeyFile, n)
		}
	}
	if b, ok := c.readKeyFile(&problems, "wxpay.apiv2_key_file", w.APIv2KeyFile); ok && len(bytes.TrimSpace(b)) == 0 {
		bad("wxpay.apiv2_key_file", "%s is empty; it must hold the APIv2 key (merchant platform: API安全 → API密钥)", w.APIv2KeyFile)
	}
	if b, ok := c.readKeyFile(&problems, "plugin.token_file", c.Plugin.TokenFile); ok {
		switch n := len(bytes.TrimSpace(b)); {
		case n == 0:
			bad("plugin.token_file", "%s is empty; put a long random token in it, or unset plugin.token_file to disable POST /plugin/sign", c.Plugin.TokenFile)
		case n < minTokenLen:
			bad("plugin.token_file", "%s holds %d characters; a token is at least %d (openssl rand -hex 32 > %s)", c.Plugin.TokenFile, n, minTokenLen, c.Plugin.TokenFile)
		}
	}
	if c.Plugin.TokenFile != "" && len(c.Plugin.StockList()) == 0 {
		// Not a problem: configurations from before plugin.stocks sign for
		// every stock, as they always did, and keep starting.
		warnings = append(warnings, "plugin.stocks is unset: POST /plugin/sign signs for any stock of the merchant; list the plugin's stocks (comma-separated) to refuse the others")
	}
	for _, s := range c.Plugin.StockList() {
		if len(s) > 64 || strings.ContainsAny(s, " &=") {
			bad("plugin.stocks", "%q is not a stock id", s)
		}
	}
	if b, ok := c.readKeyFile(&problems, "http.metrics_token_file", c.HTTP.MetricsTokenFile); ok {
		if n := len(bytes.TrimSpace(b)); n < minTokenLen {
			bad("http.metrics_token_file", "%s holds %d characters; a token is at least %d (openssl rand -hex 32 > %s)", c.HTTP.MetricsTokenFile, n, minTokenLen, c.HTTP.MetricsTokenFile)
		}
	}

	for _, s := range []struct{ key, spec string }{
		{"schedules.issue", c.Schedules.Issue},
		{"schedules.reconcile", c.Schedules.Reconcile},
		{"schedules.housekeeping", c.Schedules.Housekeeping},
		{"schedules.digest", c.Schedules.Digest},
	} {
		if _, err := daemon.ParseSpec(s.spec); err != nil {
			bad(s.key, "%v; want five cron fields (minute hour day-of-month month day-of-week) or a descriptor such as @every 30s or @daily", err)
		}
	}
	if _, port, err := net.SplitHostPort(c.HTTP.Addr); err != nil {
		bad("http.addr", "%q is not host:port (%v); e.g. 127.0.0.1:8080, or :8080 for every interface", c.HTTP.Addr, err)
	} else if _, err := net.LookupPort("tcp", port); err != nil {
		bad("http.addr", "%q: port %q is not a port number", c.HTTP.Addr, port)
	}
	return warnings, problems
}

// readKeyFile reads a key file that is set, reporting why it cannot be
// read; ok is false when it is unset or unreadable. Errors name the file,
// never its content.
func (c *Config) readKeyFile(problems *[]Problem, key, path string) (b []byte, ok bool) {
	if path == "" {
		return nil, false
	}
	b, err := os.ReadFile(path)
	if err != nil {
		*problems = append(*problems, Problem{Key: key, Where: c.where[key], Msg: err.Error()})
		return nil, false
	}
	return b, true
}

func pemType(b []byte) string {
	block, _ := pem.Decode(b)
	if block == nil {
		return ""
	}
	return block.Type
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
