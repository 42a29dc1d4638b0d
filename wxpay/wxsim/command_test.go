package wxsim

import (
	"flag"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFlagsCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		err  string // "" for none
	}{
		{[]string{"--keys", "k"}, ""},
		{nil, "--keys DIR is required"},
		{[]string{"--keys", "k", "--base-url", "ftp://proxy"}, `--base-url "ftp://proxy": want an http(s) URL`},
		{[]string{"--keys", "k", "--sign-mode", "bad"}, "--sign-mode: "},
		{[]string{"--keys", "k", "--limit-steps", "bad"}, "--limit-steps: "},
		{[]string{"--keys", "k", "--fault-500-before", "2"}, "500"},
	} {
		var f Flags
		fs := flag.NewFlagSet("sim", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		f.Register(fs)
		require.NoError(t, fs.Parse(tc.args), tc.args)
		err := f.Check()
		if tc.err == "" {
			require.NoError(t, err, tc.args)
			continue
		}
		require.ErrorContains(t, err, tc.err, tc.args)
	}
}

func TestFlagsStocks(t *testing.T) {
	t.Parallel()
	var f Flags
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	f.Register(fs)
	require.NoError(t, fs.Parse([]string{"--stock", "S1:10:1", "--product-stock", "P1:5:0", "--stock", "S2:3:0"}))
	require.Equal(t, []StockSpec{
		{ID: "S1", Kind: KindFavor, Budget: 10, PerUser: 1},
		{ID: "P1", Kind: KindProduct, Budget: 5},
		{ID: "S2", Kind: KindFavor, Budget: 3},
	}, f.specs)
	require.Equal(t, "S1:10:1,S2:3:0", fs.Lookup("stock").Value.String())
}
