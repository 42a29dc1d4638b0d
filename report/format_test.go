package report_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/report"
)

func TestFormatFor(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		asked, out string
		want       report.Format
		err        string
	}{
		{"", "", report.Text, ""},
		{"", "r.TXT", report.Text, ""},
		{"", "r.csv", report.CSV, ""},
		{"", "r.xlsx", report.XLSX, ""},
		{"csv", "r.xlsx", report.CSV, ""},
		{"pdf", "", "", `format "pdf": want text, csv or xlsx`},
		{"", "r.pdf", "", "-o r.pdf: issuer writes no .pdf files; use a .txt, .csv or .xlsx name, or give --format"},
	} {
		f, err := report.FormatFor(tc.asked, tc.out)
		if tc.err != "" {
			require.EqualError(t, err, tc.err, tc)
			continue
		}
		require.NoError(t, err, tc)
		require.Equal(t, tc.want, f, tc)
	}
}
