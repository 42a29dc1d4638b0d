package money

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestYuan(t *testing.T) {
	t.Parallel()
	for fen, want := range map[int64]string{0: "0.00", 5: "0.05", 123456: "1234.56", -250: "-2.50", -1230: "-12.30", 10000: "100.00",
		math.MaxInt64: "92233720368547758.07", math.MinInt64: "-92233720368547758.08"} {
		require.Equal(t, want, Yuan(fen))
	}
	require.Equal(t, "¥1,234,567.80", YuanGrouped(123456780))
	require.Equal(t, "-¥12.00", YuanGrouped(-1200))
}

func TestParseYuan(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]int64{"3000": 300000, "3000.5": 300050, "3000.05": 300005, " 1 ": 100, "0.01": 1} {
		got, err := ParseYuan(s)
		require.NoError(t, err, s)
		require.Equal(t, want, got, s)
	}
	for _, s := range []string{"", "0", "-1", "1.234", "abc", "1e3", "+5", ".5", "1,000"} {
		_, err := ParseYuan(s)
		require.Error(t, err, s)
	}
}
