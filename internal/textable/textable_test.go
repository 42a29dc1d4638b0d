package textable

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTable(t *testing.T) {
	t.Parallel()
	tb := New("NAME", "COUNT>", "NOTE")
	tb.Add("满100减10", "7", "")
	tb.Add("abc", "1200", "x")
	var b strings.Builder
	tb.Write(&b)
	require.Equal(t, ""+
		"NAME       COUNT  NOTE\n"+
		"满100减10      7\n"+
		"abc         1200  x\n", b.String())
	require.Equal(t, 9, Width("满100减10"))
}

func TestIDs(t *testing.T) {
	t.Parallel()
	require.Equal(t, "", IDs(nil))
	require.Equal(t, "7", IDs([]int64{7}))
	require.Equal(t, "1, 2, 30", IDs([]int64{1, 2, 30}))
}

// Text from outside reaches the terminal as escapes, never as control
// sequences, and the columns stay aligned.
func TestClean(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"春节满减", "春节满减"},
		{"a\x1b[2J\x1b]0;pwned\x07b", `a\x1b[2J\x1b]0;pwned\x07b`},
		{"line\nbreak\r\ttab", `line\x0abreak\x0d\x09tab`},
		{"c1\u009b31m", `c1\u009b31m`},
		{"bidi\u202egpj.exe", `bidi\u202egpj.exe`},
		{"bad\xff", `bad\xff`},
		{"", ""},
	} {
		require.Equal(t, tc.want, Clean(tc.in), "%q", tc.in)
	}
	tb := New("ID>", "NAME")
	tb.Add("1", "evil\x1b[31m")
	var b strings.Builder
	tb.Write(&b)
	require.NotContains(t, b.String(), "\x1b")
	require.Equal(t, "ID  NAME\n 1  evil\\x1b[31m\n", b.String())
}
