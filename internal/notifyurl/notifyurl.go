// Package notifyurl holds WeChat Pay's rules for a notification address
// (callbacks.public_url, §3.2.14).
//
// It is a leaf: wxpay checks an address before registering it, the
// simulator before accepting it, and internal/config when the address is
// configured, all with Check.
package notifyurl

import (
	"fmt"
	"net"
	"net/url"
)

// Check checks an absolute https URL without query parameters (or
// fragment). Plain http is allowed for loopback hosts only, so that the
// simulator and tests can receive notifications without TLS; WeChat Pay
// itself never accepts it.
func Check(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("notify_url %q is not a URL", s)
	}
	switch {
	case u.Host == "" || !u.IsAbs():
		return fmt.Errorf("notify_url %q is not an absolute URL", s)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return fmt.Errorf("notify_url %q must not carry query parameters", s)
	case u.User != nil:
		return fmt.Errorf("notify_url %q must not carry credentials", s)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && loopbackHost(u.Hostname()):
		return nil
	}
	return fmt.Errorf("notify_url %q must be https", s)
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
