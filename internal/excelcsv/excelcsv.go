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

// ReadAll reads a file this package shaped as a program should: past the
// byte-order mark, every value without the tab that keeps it text in Excel.
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
			rec[i] = strings.TrimLeft(rec[i], "\t")
		}
	}
	return recs, nil
}
