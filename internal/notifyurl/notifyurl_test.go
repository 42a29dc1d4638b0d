package notifyurl

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url, err string
	}{
		{url: "https://h/cb"},
		{url: "http://localhost:8080/callbacks/wxpay"},
		{url: "http://127.0.0.1:9/cb"},
		{url: "http://[::1]/cb"},
		{url: "http://pay.example.com/cb", err: "must be https"},
		{url: "ftp://h/cb", err: "must be https"},
		{url: "https://pay.example.com/cb?x=1", err: "must not carry query parameters"},
		{url: "https://pay.example.com/cb#f", err: "must not carry query parameters"},
		{url: "https://u:p@pay.example.com/cb", err: "must not carry credentials"},
		{url: "/cb", err: "is not an absolute URL"},
		{url: "https://h/%zz", err: "is not a URL"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			t.Parallel()
			err := Check(tc.url)
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.err)
		})
	}
}
