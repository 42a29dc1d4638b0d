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

// Add appends a row.
func (t *Table) Add(cells ...string) { t.rows = append(t.rows, cells) }

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
