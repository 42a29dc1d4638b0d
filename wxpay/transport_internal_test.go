package wxpay

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// transportBundle is a test server that counts the connections it
// accepted, and a syncTransport pointed at it.
type transportBundle struct {
	srv   *httptest.Server
	tr    *syncTransport
	conns atomic.Int64

	mu   sync.Mutex
	open []net.Conn // the server's side of each connection
}

func setupTransport(t *testing.T, tls bool, h http.HandlerFunc) *transportBundle {
	t.Helper()
	b := &transportBundle{tr: newSyncTransport(4)}
	b.srv = httptest.NewUnstartedServer(h)
	b.srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			b.conns.Add(1)
			b.mu.Lock()
			b.open = append(b.open, c)
			b.mu.Unlock()
		}
	}
	if tls {
		b.srv.StartTLS()
		pool := x509.NewCertPool()
		pool.AddCert(b.srv.Certificate())
		b.tr.tlsConfig.RootCAs = pool
	} else {
		b.srv.Start()
	}
	t.Cleanup(func() {
		b.tr.CloseIdleConnections()
		b.srv.Close()
	})
	return b
}

func (b *transportBundle) post(ctx context.Context, body string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.srv.URL+"/v3/x", strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	resp, err := (&http.Client{Transport: b.tr}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(got), err
}

func echo(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

func TestSyncTransportReusesConnections(t *testing.T) {
	t.Parallel()
	for _, tls := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "https"}[tls], func(t *testing.T) {
			t.Parallel()
			b := setupTransport(t, tls, echo)
			for i := range 20 {
				code, body, err := b.post(t.Context(), `{"n":`+strings.Repeat("1", i+1)+`}`)
				require.NoError(t, err)
				require.Equal(t, http.StatusOK, code)
				require.Equal(t, `{"n":`+strings.Repeat("1", i+1)+`}`, body)
			}
			require.EqualValues(t, 1, b.conns.Load(), "sequential calls share one keep-alive connection")
		})
	}
}

// A connection the server closed while it idled in the pool is noticed
// before it is used: the next call gets an answer, not an error that
// would leave its coupon in doubt.
func TestSyncTransportSkipsConnectionsClosedWhileIdle(t *testing.T) {
	t.Parallel()
	for _, tls := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "https"}[tls], func(t *testing.T) {
			t.Parallel()
			b := setupTransport(t, tls, echo)
			_, _, err := b.post(t.Context(), "{}")
			require.NoError(t, err)
			b.mu.Lock()
			for _, c := range b.open {
				_ = c.Close()
			}
			b.mu.Unlock()
			// Let the close reach the client's socket.
			require.Eventually(t, func() bool {
				b.tr.mu.Lock()
				defer b.tr.mu.Unlock()
				for _, pcs := range b.tr.idle {
					for _, pc := range pcs {
						if connAlive(pc.conn) {
							return false
						}
					}
				}
				return true
			}, 5*time.Second, 5*time.Millisecond)
			code, body, err := b.post(t.Context(), `{"again":1}`)
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, code)
			require.Equal(t, `{"again":1}`, body)
			require.EqualValues(t, 2, b.conns.Load())
		})
	}
}

func TestSyncTransportCancelledCallClosesItsConnection(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	b := setupTransport(t, false, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Stall") != "" {
			<-release
		}
		echo(w, r)
	})
	t.Cleanup(func() { close(release) })

	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.srv.URL+"/v3/x", strings.NewReader("{}"))
	require.NoError(t, err)
	req.Header.Set("X-Stall", "1")
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = b.tr.RoundTrip(req)
	require.Error(t, err)
	require.ErrorIs(t, err, context.Canceled)

	// The stalled connection is not handed to the next call.
	code, _, err := b.post(t.Context(), "{}")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	require.EqualValues(t, 2, b.conns.Load())
}

func TestSyncTransportConnectionNotReusedAfterPartialReadOrClose(t *testing.T) {
	t.Parallel()
	b := setupTransport(t, false, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("close") != "" {
			w.Header().Set("Connection", "close")
		}
		_, _ = w.Write([]byte(strings.Repeat("x", 64<<10)))
	})
	do := func(url string, read int) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		require.NoError(t, err)
		resp, err := b.tr.RoundTrip(req)
		require.NoError(t, err)
		_, err = io.CopyN(io.Discard, resp.Body, int64(read))
		if read < 64<<10 {
			require.NoError(t, err)
		}
		require.NoError(t, resp.Body.Close())
	}
	do(b.srv.URL+"/a", 10)            // closed early: connection 1 closed
	do(b.srv.URL+"/b", 1<<20)         // read to the end: connection 2 pooled
	do(b.srv.URL+"/c?close=1", 1<<20) // reuses 2; the server closes it
	do(b.srv.URL+"/d", 1<<20)         // connection 3
	require.EqualValues(t, 3, b.conns.Load())
}

func TestSyncTransportSkipsInformationalAnswers(t *testing.T) {
	t.Parallel()
	b := setupTransport(t, false, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		echo(w, r)
	})
	code, body, err := b.post(t.Context(), `{"a":1}`)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, `{"a":1}`, body)
}

// A proxied origin goes through net/http's transport, which speaks to
// proxies; the rest never touch it.
func TestSyncTransportSendsProxiedCallsThroughTheProxy(t *testing.T) {
	t.Parallel()
	var proxied, absolute atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		if r.URL.IsAbs() { // a proxy is asked for the absolute URL
			absolute.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"via":"proxy"}`))
	}))
	t.Cleanup(proxy.Close)
	b := setupTransport(t, false, echo)
	proxyURL, err := url.Parse(proxy.URL)
	require.NoError(t, err)
	b.tr.fallback.Proxy = func(r *http.Request) (*url.URL, error) {
		if r.URL.Path == "/v3/x" {
			return proxyURL, nil
		}
		return nil, nil
	}
	code, body, err := b.post(t.Context(), `{}`)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, `{"via":"proxy"}`, body)
	require.EqualValues(t, 1, proxied.Load())
	require.EqualValues(t, 1, absolute.Load())
	require.Zero(t, b.conns.Load(), "nothing went to the origin directly")
}

func TestSyncTransportDialFailureIsAConnectFailure(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+addr+"/v3/x", strings.NewReader("{}"))
	require.NoError(t, err)
	_, err = newSyncTransport(1).RoundTrip(req)
	require.Error(t, err)
	require.True(t, connectFailure(err), "a refused dial lets the client fail over: %v", err)
	var opErr *net.OpError
	require.True(t, errors.As(err, &opErr))
}
