package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

// TestRunCallbackAddr: with http.callback_addr the main listener no longer
// serves the callback; the daemon says where it went.
func TestRunCallbackAddr(t *testing.T) {
	t.Parallel()
	b := setupDaemon(t, wxsim.Options{}, 0)
	p := b.start(t, "ISSUER_HTTP_CALLBACK_ADDR=127.0.0.1:0")
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+p.addr+"/callbacks/wxpay", strings.NewReader("{}"))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	code, _ := get(t, "http://"+p.addr+"/healthz")
	require.Equal(t, http.StatusOK, code)
	_, err = p.stop(t)
	require.NoError(t, err)
	require.Contains(t, p.stderr.String(), "callbacks on their own listener")
}
