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
