// Package textable renders aligned text tables for terminals. It measures
// cells by display width: text/tabwriter counts a full-width character
// (stock and batch names are often Chinese) as one column where a terminal
// shows two.
package textable

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/width"
)

// Table is a header and rows, columns two spaces apart.
type Table struct {
	header []string
	right  []bool
	rows   [][]string
}

// New returns a table with the given header; a name ending in ">" is
// right-aligned (numbers), and the ">" is not shown.
func New(header ...string) *Table {
	t := &Table{}
	for _, h := range header {
		name, right := strings.CutSuffix(h, ">")
		t.header = append(t.header, name)
		t.right = append(t.right, right)
	}
	return t
}

// Add appends a row. Each cell is Clean: text from outside (a batch name
// stored before names were checked, a stock name) never moves the cursor
// or recolours the terminal.
func (t *Table) Add(cells ...string) {
	row := make([]string, len(cells))
	for i, c := range cells {
		row[i] = Clean(c)
	}
	t.rows = append(t.rows, row)
}

// Clean returns s safe to print on a terminal: every control character
// (ESC, CR, BEL, tab, newline, DEL, C1), line separator and bidirectional
// formatting character, and every byte that is not UTF-8, is shown as a
// Go escape (\x1b, \u202e) instead of being sent.
func Clean(s string) string {
	if !needsClean(s) {
		return s
	}
	var sb strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&sb, `\x%02x`, s[i])
		case Unprintable(r) && r < 0x80:
			fmt.Fprintf(&sb, `\x%02x`, r)
		case Unprintable(r):
			fmt.Fprintf(&sb, `\u%04x`, r)
		default:
			sb.WriteString(s[i : i+n])
		}
		i += n
	}
	return sb.String()
}

func needsClean(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || Unprintable(r) {
			return true
		}
	}
	return false
}

// Unprintable reports whether r must not reach a terminal, a page or a
// chat robot as it is: a control character (C0, DEL, C1), a line or
// paragraph separator, or a bidirectional formatting character (which
// reorders what is shown). Batch names must not hold one (intake).
func Unprintable(r rune) bool {
	switch {
	case unicode.IsControl(r), r == '\u2028', r == '\u2029':
		return true
	case r == '\u200e', r == '\u200f', r == '\u061c',
		'\u202a' <= r && r <= '\u202e',
		'\u2066' <= r && r <= '\u2069':
		return true
	}
	return false
}

// Write renders the table to w.
func (t *Table) Write(w io.Writer) {
	all := append([][]string{t.header}, t.rows...)
	widths := make([]int, len(t.header))
	for _, row := range all {
		for i, c := range row {
			if i < len(widths) {
				widths[i] = max(widths[i], Width(c))
			}
		}
	}
	var sb strings.Builder
	for _, row := range all {
		sb.Reset()
		for i, c := range row {
			if i > 0 {
				sb.WriteString("  ")
			}
			pad := ""
			if i < len(widths) {
				pad = strings.Repeat(" ", widths[i]-Width(c))
			}
			if i < len(t.right) && t.right[i] {
				sb.WriteString(pad + c)
			} else {
				sb.WriteString(c + pad)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(sb.String(), " "))
	}
}

// Width counts the terminal columns of s: East Asian wide and full-width
// characters take two.
func Width(s string) int {
	n := 0
	for _, r := range s {
		switch width.LookupRune(r).Kind() {
		case width.EastAsianWide, width.EastAsianFullwidth:
			n += 2
		default:
			n++
		}
	}
	return n
}

// IDs lists ids as text: "1, 2, 3".
func IDs(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(s, ", ")
}
