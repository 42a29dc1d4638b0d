package excelcsv_test

import (
	"bytes"
	"encoding/csv"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/internal/excelcsv"
)

func TestText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
	}{
		{"4200000523202003118425213470", "\t4200000523202003118425213470"}, // transaction_id
		{"190000010920200310000001", "\t190000010920200310000001"},         // generated out_request_no
		{"98674556", "98674556"},       // a coupon id Excel shows whole
		{"12345678901", "12345678901"}, // 11 digits: General shows them
		{"123456789012", "\t123456789012"},
		{"0012", "\t0012"}, // a leading zero Excel would drop
		{"0", "0"},
		{"", ""},
		{"1900000109202003100000oA", "1900000109202003100000oA"}, // letters: already text
		{"10.00", "10.00"},
		{"-123456789012", "-123456789012"},
	} {
		require.Equal(t, tc.want, excelcsv.Text(tc.in, false), tc.in)
		require.Equal(t, tc.in, excelcsv.Text(tc.in, true), tc.in)
	}
}

// A program reading the file gets every value back bare.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	require.NoError(t, excelcsv.WriteBOM(&buf, false))
	w := csv.NewWriter(&buf)
	want := [][]string{{"out_request_no", "说明"}, {"4200000523202003118425213470", "批次预算不足"}}
	for _, rec := range want {
		require.NoError(t, w.Write([]string{excelcsv.Text(rec[0], false), rec[1]}))
	}
	w.Flush()
	require.True(t, strings.HasPrefix(buf.String(), excelcsv.BOM))
	require.Contains(t, buf.String(), "\"\t4200000523202003118425213470\"")

	got, err := excelcsv.ReadAll(&buf)
	require.NoError(t, err)
	require.Equal(t, want, got)
}

func TestReadAllBOM(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"a,b\n", excelcsv.BOM + "a,b\n", ""} {
		got, err := excelcsv.ReadAll(strings.NewReader(in))
		require.NoError(t, err)
		want, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(in, excelcsv.BOM))).ReadAll()
		require.NoError(t, err)
		require.Equal(t, want, got, in)
	}
	var buf bytes.Buffer
	require.NoError(t, excelcsv.WriteBOM(&buf, true))
	require.Empty(t, buf.String())
}

func TestBOMFirst(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		plain  bool
		writes []string
		want   string
	}{
		{"nothing written, no mark", false, nil, ""},
		{"empty writes, no mark", false, []string{"", ""}, ""},
		{"mark once, before the first bytes", false, []string{"", "a,b\n", "c,d\n"}, excelcsv.BOM + "a,b\nc,d\n"},
		{"plain", true, []string{"a,b\n"}, "a,b\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var sb strings.Builder
			w := excelcsv.BOMFirst(&sb, tc.plain)
			for _, s := range tc.writes {
				n, err := io.WriteString(w, s)
				require.NoError(t, err)
				require.Equal(t, len(s), n)
			}
			require.Equal(t, tc.want, sb.String())
		})
	}
}
