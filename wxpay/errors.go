package wxpay

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Sentinels for errors.Is. ErrSignature is declared with the verifier.
var (
	// ErrTransport marks failures to exchange a request and its answer:
	// dial, DNS, TLS, reset, timeout, cancellation. Use errors.As with
	// *TransportError to learn whether the request may have been sent.
	ErrTransport = errors.New("wxpay: transport")
	// ErrMalformedResponse marks an authenticated answer whose body cannot
	// be read or lacks what the endpoint promises.
	ErrMalformedResponse = errors.New("wxpay: malformed response")
	// ErrChecksum marks a downloaded file whose SHA1 differs from the one
	// announced in its metadata.
	ErrChecksum = errors.New("wxpay: checksum mismatch")
	// ErrInvalidRequest marks a request refused before sending because it
	// can never succeed (empty or malformed identifiers).
	ErrInvalidRequest = errors.New("wxpay: invalid request")
)

// APIError is a non-2xx answer from WeChat Pay: its HTTP status, the
// {"code","message","detail"} body and the Request-Id header.
type APIError struct {
	Status    int
	Code      string
	Message   string
	Detail    json.RawMessage
	RequestID string
	// Signed is true when the answer carried WeChat Pay's signature and it
	// verified. An unsigned error may come from a gateway, or be forged.
	Signed bool
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("wxpay: %d", e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RequestID != "" {
		s += " (request id " + e.RequestID + ")"
	}
	return s
}

// TransportError is a failure to exchange a request with WeChat Pay.
type TransportError struct {
	// URL is the last address tried (after failover, the backup domain).
	URL string
	// MaybeSent is false only when no domain accepted a connection, so the
	// request cannot have reached WeChat Pay.
	MaybeSent bool
	Err       error
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("wxpay: transport: %s: %v", e.URL, e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrTransport) hold for every TransportError.
func (e *TransportError) Is(target error) bool { return target == ErrTransport }

// IsNotFound reports whether err is WeChat Pay's 404 (for flows: the file
// does not exist yet, or nothing was redeemed).
func IsNotFound(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}
