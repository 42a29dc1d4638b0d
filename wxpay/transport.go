package wxpay

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// syncTransport is an HTTP/1.1 keep-alive RoundTripper that does each
// exchange on the calling goroutine: the caller writes the request and
// reads the answer itself.
//
// net/http's Transport gives every connection a reader and a writer
// goroutine, so one call hands off between three goroutines four or five
// times. When sends are paced (50 a second), each hand-off wakes an idle
// thread, and those wake-ups cost more CPU than everything in a call but
// the RSA signature. A request to a proxied origin (HTTPS_PROXY and the
// like) goes through net/http's Transport, which speaks to proxies.
//
// What it gives up against net/http: HTTP/2 (WeChat Pay serves HTTP/1.1
// as well), and noticing a server's close while a connection idles — a
// connection is checked for that instead when it is taken from the pool.
type syncTransport struct {
	dialer    *net.Dialer
	tlsConfig *tls.Config
	maxIdle   int // per origin
	fallback  *http.Transport

	mu   sync.Mutex
	idle map[string][]*persistConn
}

// persistConn is one keep-alive connection and its buffers.
type persistConn struct {
	key       string
	conn      net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
}

const (
	// idleConnTimeout drops a pooled connection before common server idle
	// timeouts (60 s and up) would close it under a request.
	idleConnTimeout = 50 * time.Second
	dialTimeout     = 5 * time.Second
	// handshakeTimeout bounds TCP connect plus TLS handshake.
	handshakeTimeout = 10 * time.Second
)

func newSyncTransport(maxConns int) *syncTransport {
	if maxConns <= 0 {
		maxConns = DefaultMaxConns
	}
	return &syncTransport{
		dialer:    &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second},
		tlsConfig: &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}},
		maxIdle:   maxConns,
		fallback:  NewTransport(maxConns),
		idle:      map[string][]*persistConn{},
	}
}

// RoundTrip implements http.RoundTripper.
func (t *syncTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return nil, fmt.Errorf("unsupported protocol scheme %q", req.URL.Scheme)
	}
	if proxy, err := t.fallback.Proxy(req); err != nil || proxy != nil {
		return t.fallback.RoundTrip(req)
	}
	ctx := req.Context()
	pc, err := t.get(ctx, req.URL.Scheme, canonicalAddr(req.URL), req.URL.Hostname())
	if err != nil {
		closeBody(req)
		return nil, err
	}
	// A cancelled call returns at once from a blocked write or read: the
	// connection's deadline moves to the past. The connection is then
	// not reused.
	deadline, _ := ctx.Deadline()
	if err := pc.conn.SetDeadline(deadline); err != nil {
		pc.close()
		closeBody(req)
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = pc.conn.SetDeadline(time.Unix(1, 0)) })
	fail := func(err error) (*http.Response, error) {
		stop()
		pc.close()
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("%w (%w)", cerr, err)
		}
		return nil, err
	}
	err = req.Write(pc.bw)
	if err == nil {
		err = pc.bw.Flush()
	}
	if err != nil {
		return fail(fmt.Errorf("write request: %w", err))
	}
	resp, err := http.ReadResponse(pc.br, req)
	// An informational answer (103 Early Hints, say) precedes the real one.
	for err == nil && resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
		resp, err = http.ReadResponse(pc.br, req)
	}
	if err != nil {
		return fail(fmt.Errorf("read answer: %w", err))
	}
	resp.Body = &connBody{body: resp.Body, t: t, pc: pc, stop: stop, reuse: !resp.Close && !req.Close}
	return resp, nil
}

// CloseIdleConnections closes the pooled connections.
func (t *syncTransport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = map[string][]*persistConn{}
	t.mu.Unlock()
	for _, pcs := range idle {
		for _, pc := range pcs {
			pc.close()
		}
	}
	t.fallback.CloseIdleConnections()
}

// get takes a live pooled connection to addr, or dials one.
func (t *syncTransport) get(ctx context.Context, scheme, addr, host string) (*persistConn, error) {
	key := scheme + "://" + addr
	for {
		t.mu.Lock()
		pcs := t.idle[key]
		if len(pcs) == 0 {
			t.mu.Unlock()
			break
		}
		pc := pcs[len(pcs)-1]
		t.idle[key] = pcs[:len(pcs)-1]
		t.mu.Unlock()
		if time.Since(pc.idleSince) < idleConnTimeout && pc.br.Buffered() == 0 && connAlive(pc.conn) {
			return pc, nil
		}
		pc.close()
	}
	dctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	var conn net.Conn
	var err error
	if scheme == "https" {
		cfg := t.tlsConfig.Clone()
		cfg.ServerName = host
		conn, err = (&tls.Dialer{NetDialer: t.dialer, Config: cfg}).DialContext(dctx, "tcp", addr)
	} else {
		conn, err = t.dialer.DialContext(dctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	return &persistConn{key: key, conn: conn, br: bufio.NewReaderSize(conn, 8<<10), bw: bufio.NewWriterSize(conn, 4<<10)}, nil
}

// put returns a connection whose exchange ended cleanly to the pool.
func (t *syncTransport) put(pc *persistConn) {
	if err := pc.conn.SetDeadline(time.Time{}); err != nil {
		pc.close()
		return
	}
	pc.idleSince = time.Now()
	t.mu.Lock()
	if len(t.idle[pc.key]) < t.maxIdle {
		t.idle[pc.key] = append(t.idle[pc.key], pc)
		pc = nil
	}
	t.mu.Unlock()
	if pc != nil {
		pc.close()
	}
}

func (pc *persistConn) close() { _ = pc.conn.Close() }

// connBody hands its connection back to the pool once the answer was read
// to its end and closed; an answer closed early closes the connection.
type connBody struct {
	body  io.ReadCloser
	t     *syncTransport
	pc    *persistConn
	stop  func() bool
	reuse bool
	eof   bool
	once  sync.Once
}

func (b *connBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	if errors.Is(err, io.EOF) {
		b.eof = true
	}
	return n, err
}

func (b *connBody) Close() error {
	var err error
	b.once.Do(func() {
		// stop reports false when a cancellation already moved the
		// deadline: the connection is then past use.
		if b.stop() && b.eof && b.reuse {
			err = b.body.Close()
			b.t.put(b.pc)
			return
		}
		b.pc.close() // before the body's Close, which would drain the rest
		_ = b.body.Close()
	})
	return err
}

func canonicalAddr(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}
