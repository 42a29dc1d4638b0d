package cmdline

import (
	"bytes"
	"errors"
	"flag"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLookup(t *testing.T) {
	t.Parallel()
	entries := []Entry{{Name: "report"}, {Name: "report batch"}, {Name: "import"}}
	for _, tc := range []struct {
		args []string
		want int
		rest []string
	}{
		{[]string{"report", "batch", "7"}, 1, []string{"7"}},
		{[]string{"report", "--help"}, 0, []string{"--help"}},
		{[]string{"import", "f.csv"}, 2, []string{"f.csv"}},
		{[]string{"nope"}, -1, nil},
	} {
		i, rest := Lookup(entries, tc.args)
		require.Equal(t, tc.want, i, tc.args)
		require.Equal(t, tc.rest, rest, tc.args)
	}
}

func TestUnknown(t *testing.T) {
	t.Parallel()
	entries := []Entry{{Name: "report batch", Short: "one batch"}, {Name: "report digest"}, {Name: "import"}}
	var out, errb bytes.Buffer
	err := Unknown("issuer", entries, []string{"imprt"}, &out, &errb)
	require.EqualError(t, err, `unknown command "imprt" (did you mean import?); issuer --help lists the commands`)
	err = Unknown("issuer", entries, []string{"report", "bach"}, &out, &errb)
	require.EqualError(t, err, `unknown command "report bach" (did you mean report batch?)`)
	require.Empty(t, out.String()+errb.String())
	err = Unknown("issuer", entries, []string{"report", "--help"}, &out, &errb)
	require.ErrorIs(t, err, ErrHelp)
	require.Contains(t, out.String(), "Usage: issuer report <command>")
	require.Contains(t, out.String(), "report batch")
	var ue *UsageError
	require.True(t, errors.As(Unknown("issuer", entries, []string{"--stock"}, &out, &errb), &ue))
}

func TestParse(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	fs := NewFlagSet("issuer", "import", "FILE", "import a file", &errb)
	stock := fs.String("stock", "", "the `ID`")
	pos, err := Parse(fs, []string{"a.csv", "--stock", "S1", "--", "-b"}, &out, &errb)
	require.NoError(t, err)
	require.Equal(t, []string{"a.csv", "-b"}, pos)
	require.Equal(t, "S1", *stock)

	_, err = Parse(fs, []string{"--stok", "S1"}, &out, &errb)
	require.EqualError(t, err, "import: unknown flag --stok")
	require.Contains(t, errb.String(), "Usage: issuer import FILE")
	require.Contains(t, errb.String(), "  --stock ID")

	_, err = Parse(fs, []string{"--help"}, &out, &errb)
	require.ErrorIs(t, err, ErrHelp)
	require.Contains(t, out.String(), "import a file")
}

func TestFlagError(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(&bytes.Buffer{})
	fs.Int("n", 0, "")
	err := fs.Parse([]string{"-n", "x"})
	require.Equal(t, `flag -n: "x" is not a valid value`, FlagError(err))
	err = fs.Parse([]string{"--n"})
	require.Equal(t, "flag -n needs a value", FlagError(err))
}
