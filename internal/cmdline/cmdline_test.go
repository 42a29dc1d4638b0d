package cmdline

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
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

func TestProgramFind(t *testing.T) {
	t.Parallel()
	p := Program{Name: "issuer", Intro: "issuer does things.", Synopsis: "<command>",
		Entries: []Entry{{Name: "import", Short: "import a file"}, {Name: "report batch", Short: "one batch"}}}
	var out, errb bytes.Buffer
	i, rest, err := p.Find([]string{"report", "batch", "7"}, &out, &errb)
	require.NoError(t, err)
	require.Equal(t, 1, i)
	require.Equal(t, []string{"7"}, rest)

	i, rest, err = p.Find([]string{"help", "import"}, &out, &errb)
	require.NoError(t, err)
	require.Equal(t, 0, i)
	require.Equal(t, []string{"--help"}, rest)

	_, _, err = p.Find([]string{"help"}, &out, &errb)
	require.ErrorIs(t, err, ErrHelp)
	require.Contains(t, out.String(), "issuer does things.\n\nUsage:\n\n\tissuer <command>\n")
	require.Contains(t, out.String(), "\treport batch           one batch\n")

	_, _, err = p.Find(nil, &out, &errb)
	require.EqualError(t, err, "no command given")
	require.Contains(t, errb.String(), "Use \"issuer <command> --help\"")

	_, _, err = p.Find([]string{"imprt"}, &out, &errb)
	require.EqualError(t, err, `unknown command "imprt" (did you mean import?); issuer --help lists the commands`)
}

func TestNewPassword(t *testing.T) {
	t.Parallel()
	noTerminal := func(string) (string, error) { return "", ErrNoTerminal }
	pw, where, err := NewPassword("", strings.NewReader("s3cret pass\r\nrest\n"), noTerminal, "new: ", 64)
	require.NoError(t, err)
	require.Equal(t, "s3cret pass", pw)
	require.Equal(t, "stdin", where)

	file := filepath.Join(t.TempDir(), "pw")
	require.NoError(t, os.WriteFile(file, []byte("from file"), 0o600))
	pw, where, err = NewPassword(file, strings.NewReader("ignored\n"), noTerminal, "new: ", 64)
	require.NoError(t, err)
	require.Equal(t, "from file", pw)
	require.Equal(t, file, where)

	_, where, err = NewPassword(file+".none", nil, noTerminal, "new: ", 64)
	require.ErrorIs(t, err, os.ErrNotExist)
	require.Equal(t, file+".none", where)
}
