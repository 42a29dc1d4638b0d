package wxpay

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/issuer-dev/issuer/internal/notifyurl"
)

// CallbackRequest sets the merchant's 营销 notification address (§3.2.14).
// Empty MchID means the client's mchid.
type CallbackRequest struct {
	MchID     string `json:"mchid"`
	NotifyURL string `json:"notify_url"`
	// Switch, when set, turns notifications on (true) or off.
	Switch *bool `json:"switch,omitempty"`
}

// CallbackSetting is the registered notification address: the answer to
// the query (notify_url, mchid) or to the update (update_time, notify_url).
type CallbackSetting struct {
	MchID      string `json:"mchid,omitempty"`
	NotifyURL  string `json:"notify_url"`
	UpdateTime string `json:"update_time,omitempty"`
}

// ValidNotifyURL checks WeChat Pay's rules for a notification address: an
// absolute https URL without query parameters (or fragment). Plain http is
// allowed for loopback hosts only, so that the simulator and tests can
// receive notifications without TLS; WeChat Pay itself never accepts it.
// The rules are internal/notifyurl's, which the configuration checks with.
func ValidNotifyURL(s string) error { return notifyurl.Check(s) }

// SetCallback registers the notification address (COUPON.USE and other
// marketing events go there). The URL is checked with ValidNotifyURL first.
func (c *Client) SetCallback(ctx context.Context, req CallbackRequest) (*CallbackSetting, error) {
	if req.MchID == "" {
		req.MchID = c.mchID
	}
	if err := ValidNotifyURL(req.NotifyURL); err != nil {
		return nil, fmt.Errorf("set callback: %w: %w", ErrInvalidRequest, err)
	}
	var out CallbackSetting
	if _, err := c.call(ctx, http.MethodPost, PathCallbacks, req, &out, false); err != nil {
		return nil, err
	}
	if out.MchID == "" {
		out.MchID = req.MchID
	}
	return &out, nil
}

// Callback reads the registered notification address; empty mchid means
// the client's. NotifyURL is empty when none is registered.
func (c *Client) Callback(ctx context.Context, mchid string) (*CallbackSetting, error) {
	if mchid == "" {
		mchid = c.mchID
	}
	var out CallbackSetting
	uri := PathCallbacks + "?" + url.Values{"mchid": {mchid}}.Encode()
	if _, err := c.call(ctx, http.MethodGet, uri, nil, &out, false); err != nil {
		return nil, err
	}
	if out.MchID == "" {
		out.MchID = mchid
	}
	return &out, nil
}
