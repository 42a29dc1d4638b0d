package wxpay

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Download fetches a file announced by UseFlow or RefundFlow: a signed GET of
// the url's path and query, whose answer is unsigned. The body is streamed
// into w through a SHA1 hasher, never held in memory; a digest other than
// wantSHA1 is an error wrapping ErrChecksum, and w has then received bad
// bytes, so write to a temporary file and keep it only on success.
//
// The url must point at the client's base or backup domain: a signed request
// is never sent elsewhere. Timeout bounds the wait for each chunk, so a large
// file is not cut off while it keeps arriving. It returns the bytes written.
func (c *Client) Download(ctx context.Context, rawURL string, w io.Writer, wantSHA1 string) (int64, error) {
	want, err := hex.DecodeString(strings.TrimSpace(wantSHA1))
	if err != nil || len(want) != sha1.Size {
		return 0, fmt.Errorf("download: %w: %q is not a SHA1", ErrInvalidRequest, wantSHA1)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return 0, fmt.Errorf("download: %w: %v", ErrInvalidRequest, err)
	}
	var origins []*url.URL
	for _, o := range []*url.URL{c.base, c.backup} {
		if o != nil && o.Scheme == u.Scheme && strings.EqualFold(o.Host, u.Host) {
			origins = append(origins, o)
		}
	}
	if len(origins) == 0 {
		return 0, fmt.Errorf("download: %w: %s is neither the base nor the backup domain", ErrInvalidRequest, u.Host)
	}
	// The token in the url may be honoured by the other domain as well.
	for _, o := range []*url.URL{c.base, c.backup} {
		if o != nil && o != origins[0] {
			origins = append(origins, o)
		}
	}
	uri := u.RequestURI()
	x, err := c.send(ctx, origins, http.MethodGet, uri, nil)
	if err != nil {
		return 0, err
	}
	defer x.close()
	if x.resp.StatusCode < 200 || x.resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(x.resp.Body, maxAPIBody))
		r := &response{status: x.resp.StatusCode, header: x.resp.Header, body: b, requestID: x.resp.Header.Get(HeaderRequestID)}
		return 0, fmt.Errorf("download: %w", newAPIError(r))
	}
	h := sha1.New()
	body := &stallReader{r: x.resp.Body, timer: x.timer, timeout: c.timeout}
	n, err := io.Copy(io.MultiWriter(w, h), body)
	if err != nil {
		if ctx.Err() == nil && body.stalled() {
			err = fmt.Errorf("no data for %s (%w): %w", c.timeout, context.DeadlineExceeded, err)
		}
		return n, &TransportError{URL: x.url, MaybeSent: true, Err: fmt.Errorf("download: %w", err)}
	}
	if got := h.Sum(nil); !strings.EqualFold(hex.EncodeToString(got), hex.EncodeToString(want)) {
		return n, fmt.Errorf("download: %w: got sha1 %x, want %x (%d bytes)", ErrChecksum, got, want, n)
	}
	return n, nil
}

// stallReader re-arms the exchange's timer on every read that makes
// progress, turning the per-call timeout into a per-chunk one.
type stallReader struct {
	r       io.Reader
	timer   *time.Timer
	timeout time.Duration
	fired   bool
}

func (s *stallReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 && !s.fired {
		// Reset reports false once the timer fired: the exchange is dead.
		if !s.timer.Reset(s.timeout) {
			s.fired = true
		}
	}
	return n, err
}

func (s *stallReader) stalled() bool {
	return s.fired || !s.timer.Stop()
}

// FlowDownload is the metadata of a use-flow or refund-flow file: a
// short-lived (~30 s) download url and the file's SHA1.
type FlowDownload struct {
	URL       string `json:"url"`
	HashType  string `json:"hash_type"`
	HashValue string `json:"hash_value"`
}

// UseFlow fetches the metadata of a stock's redemption file. Before the file
// exists WeChat Pay answers 404 RESOURCE_NOT_EXISTS; see IsNotFound.
func (c *Client) UseFlow(ctx context.Context, stockID string) (*FlowDownload, error) {
	return c.flow(ctx, PathUseFlow, stockID)
}

// RefundFlow fetches the metadata of a stock's refund file.
func (c *Client) RefundFlow(ctx context.Context, stockID string) (*FlowDownload, error) {
	return c.flow(ctx, PathRefundFlow, stockID)
}

func (c *Client) flow(ctx context.Context, path, stockID string) (*FlowDownload, error) {
	if stockID == "" {
		return nil, fmt.Errorf("flow: %w: empty stock_id", ErrInvalidRequest)
	}
	var out FlowDownload
	// Documented as unsigned: verified only when signature headers come.
	if _, err := c.call(ctx, http.MethodGet, stockPath(path, stockID), nil, &out, true); err != nil {
		return nil, err
	}
	switch {
	case out.URL == "":
		return nil, fmt.Errorf("flow %s: %w: no url", stockID, ErrMalformedResponse)
	case !strings.EqualFold(out.HashType, "SHA1"):
		return nil, fmt.Errorf("flow %s: %w: hash_type %q, want SHA1", stockID, ErrMalformedResponse, out.HashType)
	case len(out.HashValue) != 40:
		return nil, fmt.Errorf("flow %s: %w: hash_value %q is not a SHA1", stockID, ErrMalformedResponse, out.HashValue)
	}
	return &out, nil
}
