package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/httpapi"
)

// TestCallbacksOnTheirOwnListener: with http.callback_addr the public
// listener serves the callback alone and the private one everything else.
func TestCallbacksOnTheirOwnListener(t *testing.T) {
	t.Parallel()
	cfg := httpapi.Config{CallbacksElsewhere: true, PluginToken: "0123456789abcdef0123"}
	private := httptest.NewServer(httpapi.New(cfg))
	t.Cleanup(private.Close)
	public := httptest.NewServer(httpapi.NewCallbacks(cfg))
	t.Cleanup(public.Close)
	cases := []struct {
		srv          *httptest.Server
		method, path string
		status       int
	}{
		{private, http.MethodGet, "/healthz", http.StatusOK},
		{private, http.MethodGet, "/metrics", http.StatusServiceUnavailable},
		{private, http.MethodPost, "/plugin/sign", http.StatusUnauthorized},
		{private, http.MethodPost, "/callbacks/wxpay", http.StatusNotFound},
		// Unconfigured callbacks answer 503: the route is there.
		{public, http.MethodPost, "/callbacks/wxpay", http.StatusServiceUnavailable},
		{public, http.MethodGet, "/callbacks/wxpay", http.StatusMethodNotAllowed},
		{public, http.MethodGet, "/healthz", http.StatusNotFound},
		{public, http.MethodGet, "/metrics", http.StatusNotFound},
		{public, http.MethodPost, "/plugin/sign", http.StatusNotFound},
	}
	for _, tc := range cases {
		req, err := http.NewRequestWithContext(t.Context(), tc.method, tc.srv.URL+tc.path, strings.NewReader("{}"))
		require.NoError(t, err)
		resp, err := tc.srv.Client().Do(req)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, tc.status, resp.StatusCode, "%s %s on %s", tc.method, tc.path, map[bool]string{true: "public", false: "private"}[tc.srv == public])
	}
}
