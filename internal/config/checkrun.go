package config

import (
	"bytes"
	"crypto/rsa"
	"net"
	"os"
	"strings"

	"github.com/issuer-dev/issuer/internal/cronspec"
	"github.com/issuer-dev/issuer/internal/pemkey"
)

// minTokenLen is the shortest bearer token accepted (plugin, metrics):
// httpapi.MinTokenLen, which this package cannot import.
const minTokenLen = 16

// CheckRun reports what `issuer run` needs besides Validate: the merchant's
// ids, key files that parse as the right kind of key, a 32-byte APIv3 key,
// non-empty APIv2 key and plugin token files when set, schedules the
// scheduler accepts and a listen address. The daemon calls it at start-up
// and `config check` through LoadWith, so the two cannot disagree. Like
// Validate it reads files and changes nothing.
func (c *Config) CheckRun() (warnings []string, err error) {
	warnings, problems := c.checkRun()
	if len(problems) > 0 {
		return warnings, &Error{Problems: sortByKey(problems)}
	}
	return warnings, nil
}

// checkRun checks the sections `issuer run` needs more of, each with its
// own method on its own value. The order is the order of the warnings.
func (c *Config) checkRun() (warnings []string, problems []Problem) {
	r := &report{where: c.where}
	c.WXPay.checkRun(r)
	c.Plugin.checkRun(r)
	c.HTTP.checkRun(r)
	c.Schedules.checkRun(r)
	return r.warnings, r.problems
}

// checkRun checks that the merchant's ids are set and that the key files
// hold what WeChat Pay issues.
func (w WXPay) checkRun(r *report) {
	for _, f := range []struct{ key, val string }{
		{"wxpay.mchid", w.MchID}, {"wxpay.appid", w.AppID}, {"wxpay.cert_serial_no", w.CertSerialNo},
		{"wxpay.private_key_file", w.PrivateKeyFile}, {"wxpay.public_key_id", w.PublicKeyID},
		{"wxpay.public_key_file", w.PublicKeyFile},
	} {
		if f.val == "" {
			r.bad(f.key, "required by `issuer run`: set it in the config file or in %s", envName(f.key))
		}
	}
	merchant := w.checkPrivateKey(r)
	w.checkPublicKey(r, merchant)
	if w.PublicKeyID != "" && !strings.HasPrefix(w.PublicKeyID, "PUB_KEY_ID_") {
		r.warn("wxpay.public_key_id: %q does not start with PUB_KEY_ID_: is it the WeChat Pay public key's id?", w.PublicKeyID)
	}
	if b, ok := r.readFile("wxpay.apiv3_key_file", w.APIv3KeyFile); ok {
		if n := len(bytes.TrimSpace(b)); n != 32 {
			r.bad("wxpay.apiv3_key_file", "%s holds %d bytes after trimming surrounding whitespace; the APIv3 key is exactly 32 (merchant platform: API安全 → APIv3密钥)", w.APIv3KeyFile, n)
		}
	}
	if b, ok := r.readFile("wxpay.apiv2_key_file", w.APIv2KeyFile); ok && len(bytes.TrimSpace(b)) == 0 {
		r.bad("wxpay.apiv2_key_file", "%s is empty; it must hold the APIv2 key (merchant platform: API安全 → API密钥)", w.APIv2KeyFile)
	}
}

// checkPrivateKey checks wxpay.private_key_file and returns the merchant's
// key when it parses.
func (w WXPay) checkPrivateKey(r *report) *rsa.PrivateKey {
	b, ok := r.readFile("wxpay.private_key_file", w.PrivateKeyFile)
	if !ok {
		return nil
	}
	k, err := pemkey.ParsePrivate(b)
	switch {
	case err != nil:
		r.bad("wxpay.private_key_file", "%s: %v; it must be the merchant API private key, apiclient_key.pem (BEGIN PRIVATE KEY)", w.PrivateKeyFile, err)
		return nil
	case pemkey.Type(b) == "RSA PRIVATE KEY":
		r.warn("wxpay.private_key_file: %s is a PKCS#1 RSA private key; it signs, but WeChat Pay issues apiclient_key.pem as PKCS#8 (BEGIN PRIVATE KEY): "+
			"make sure it is the merchant API key (`openssl pkcs8 -topk8 -nocrypt` converts it)", w.PrivateKeyFile)
	}
	return k
}

// checkPublicKey checks wxpay.public_key_file: WeChat Pay's key, not the
// merchant's own (merchant may be nil).
func (w WXPay) checkPublicKey(r *report, merchant *rsa.PrivateKey) {
	b, ok := r.readFile("wxpay.public_key_file", w.PublicKeyFile)
	if !ok {
		return
	}
	pub, err := pemkey.ParsePublic(b)
	switch {
	case err != nil:
		r.bad("wxpay.public_key_file", "%s: %v; it must be the WeChat Pay public key, pub_key.pem from the merchant platform (BEGIN PUBLIC KEY)", w.PublicKeyFile, err)
	case merchant != nil && pub.Equal(&merchant.PublicKey):
		r.bad("wxpay.public_key_file", "%s is the public half of wxpay.private_key_file, the merchant's own key; "+
			"it must be the WeChat Pay public key, pub_key.pem from the merchant platform", w.PublicKeyFile)
	case pemkey.Type(b) == "RSA PUBLIC KEY":
		r.warn("wxpay.public_key_file: %s is a PKCS#1 RSA public key; WeChat Pay publishes pub_key.pem as PKIX (BEGIN PUBLIC KEY): make sure it is WeChat Pay's key", w.PublicKeyFile)
	}
}

// checkRun checks the plugin's token file and stock list.
func (p Plugin) checkRun(r *report) {
	if b, ok := r.readFile("plugin.token_file", p.TokenFile); ok {
		switch n := len(bytes.TrimSpace(b)); {
		case n == 0:
			r.bad("plugin.token_file", "%s is empty; put a long random token in it, or unset plugin.token_file to disable POST /plugin/sign", p.TokenFile)
		case n < minTokenLen:
			r.bad("plugin.token_file", "%s holds %d characters; a token is at least %d (openssl rand -hex 32 > %s)", p.TokenFile, n, minTokenLen, p.TokenFile)
		}
	}
	if p.TokenFile != "" && len(p.StockList()) == 0 {
		// Not a problem: configurations from before plugin.stocks sign for
		// every stock, as they always did, and keep starting.
		r.warn("plugin.stocks is unset: POST /plugin/sign signs for any stock of the merchant; list the plugin's stocks (comma-separated) to refuse the others")
	}
	for _, s := range p.StockList() {
		if len(s) > 64 || strings.ContainsAny(s, " &=") {
			r.bad("plugin.stocks", "%q is not a stock id", s)
		}
	}
}

// checkRun checks the metrics token file and the listen address.
func (h HTTP) checkRun(r *report) {
	if b, ok := r.readFile("http.metrics_token_file", h.MetricsTokenFile); ok {
		if n := len(bytes.TrimSpace(b)); n < minTokenLen {
			r.bad("http.metrics_token_file", "%s holds %d characters; a token is at least %d (openssl rand -hex 32 > %s)", h.MetricsTokenFile, n, minTokenLen, h.MetricsTokenFile)
		}
	}
	if _, port, err := net.SplitHostPort(h.Addr); err != nil {
		r.bad("http.addr", "%q is not host:port (%v); e.g. 127.0.0.1:8080, or :8080 for every interface", h.Addr, err)
	} else if _, err := net.LookupPort("tcp", port); err != nil {
		r.bad("http.addr", "%q: port %q is not a port number", h.Addr, port)
	}
}

// checkRun checks every schedule with the scheduler's own parser.
func (s Schedule) checkRun(r *report) {
	for _, e := range []struct{ key, spec string }{
		{"schedules.issue", s.Issue},
		{"schedules.reconcile", s.Reconcile},
		{"schedules.housekeeping", s.Housekeeping},
		{"schedules.digest", s.Digest},
	} {
		if _, err := cronspec.Parse(e.spec); err != nil {
			r.bad(e.key, "%v; want five cron fields (minute hour day-of-month month day-of-week) or a descriptor such as @every 30s or @daily", err)
		}
	}
}

// readFile reads a key file that is set, reporting why it cannot be read;
// ok is false when it is unset or unreadable. Errors name the file, never
// its content.
func (r *report) readFile(key, path string) (b []byte, ok bool) {
	if path == "" {
		return nil, false
	}
	b, err := os.ReadFile(path)
	if err != nil {
		r.problems = append(r.problems, Problem{Key: key, Where: r.where[key], Msg: err.Error()})
		return nil, false
	}
	return b, true
}
