package main

import (
	"maps"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const benchOutput = `goos: linux
pkg: github.com/issuer-dev/issuer/wxpay
BenchmarkSign-2           	     999	   1100000 ns/op	    2080 B/op	       8 allocs/op
BenchmarkSign-2           	     999	   1200000 ns/op	    2080 B/op	       8 allocs/op
BenchmarkSign-2           	     999	   9900000 ns/op	    2080 B/op	       8 allocs/op
BenchmarkVerify-2         	   24982	     45000 ns/op	    1744 B/op	      11 allocs/op
BenchmarkRoundTrip/raw-2  	   30770	     40000 ns/op	    8700 B/op	      97 allocs/op
BenchmarkRoundTrip/client-2         	    1327	   1300000 ns/op	   15335 B/op	     148 allocs/op
BenchmarkRoundTrip/client-parallel-2         	    1040	   700000 ns/op	   15163 B/op	     145 allocs/op
PASS
`

func TestParseAndPrintCrypto(t *testing.T) {
	t.Parallel()
	res, err := parseBenchmarks(strings.NewReader(benchOutput))
	require.NoError(t, err)
	require.Equal(t, benchResult{ns: 1200000, bytes: 2080, allocs: 8}, res["Sign"], "median, not mean")
	require.Contains(t, res, "RoundTrip/client-parallel", "only a numeric -N suffix is stripped")

	var b strings.Builder
	require.NoError(t, printCrypto(&b, []map[string]benchResult{res}))
	require.Contains(t, b.String(), "| sign: Authorization header (SHA256-RSA2048) | 1200000 | 1.20 ms | 2080 | 8 |\n")
	// 1300000 − 40000 − 1200000 − 45000; 15335 − 8700 − 2080 − 1744; 148 − 97 − 8 − 11.
	require.Contains(t, b.String(), "(client − plain − sign − verify) | 15000 | 15.0 µs | 2811 | 32 |\n")
	require.NotContains(t, b.String(), "simulator")

	// Over rounds, the overhead is the median of each round's own difference.
	fast := maps.Clone(res)
	fast["RoundTrip/client"] = benchResult{ns: 1255000, bytes: 15335, allocs: 148} // overhead −30000
	slow := maps.Clone(res)
	slow["Sign"] = benchResult{ns: 1100000, bytes: 2080, allocs: 8}
	slow["RoundTrip/client"] = benchResult{ns: 1205000, bytes: 15335, allocs: 148} // overhead +20000
	b.Reset()
	require.NoError(t, printCrypto(&b, []map[string]benchResult{res, fast, slow}))
	require.Contains(t, b.String(), "(client − plain − sign − verify) | 15000 | 15.0 µs | 2811 | 32 |\n")

	delete(res, "Verify")
	require.ErrorContains(t, printCrypto(&b, []map[string]benchResult{res}), "benchmark Verify missing")
}
