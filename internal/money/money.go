// Package money converts between fen, the unit every amount is stored and
// computed in, and yuan as people read and type it. Amounts are integers
// of fen throughout issuer; floating point never touches them.
package money

import (
	"fmt"
	"strconv"
	"strings"
)

// Yuan renders fen as yuan with two decimals: 123456 → "1234.56". It is
// the one fen→yuan formatter; CSV, text reports and the CLI all print with it.
func Yuan(fen int64) string {
	sign := ""
	// Magnitude as uint64, so math.MinInt64 (whose negation overflows int64)
	// still prints as a number.
	u := uint64(fen)
	if fen < 0 {
		sign, u = "-", uint64(-fen)
	}
	return fmt.Sprintf("%s%d.%02d", sign, u/100, u%100)
}

// YuanGrouped renders fen as ¥1,234.56, for messages people skim.
func YuanGrouped(fen int64) string {
	sign := ""
	if fen < 0 {
		sign, fen = "-", -fen
	}
	whole := strconv.FormatInt(fen/100, 10)
	var b strings.Builder
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return fmt.Sprintf("%s¥%s.%02d", sign, b.String(), fen%100)
}

// ParseYuan reads a positive amount of yuan with at most two decimals
// ("3000", "3000.5", "3000.50") as fen, exactly.
func ParseYuan(s string) (int64, error) {
	whole, frac, _ := strings.Cut(strings.TrimSpace(s), ".")
	if whole == "" || len(frac) > 2 || strings.ContainsAny(whole+frac, "+-") {
		return 0, fmt.Errorf("%q is not an amount in yuan (at most two decimals, e.g. 3000 or 2999.50)", s)
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > 1<<40 {
		return 0, fmt.Errorf("%q is not an amount in yuan (at most two decimals, e.g. 3000 or 2999.50)", s)
	}
	var f int64
	if frac != "" {
		if f, err = strconv.ParseInt(frac+strings.Repeat("0", 2-len(frac)), 10, 64); err != nil {
			return 0, fmt.Errorf("%q is not an amount in yuan (at most two decimals, e.g. 3000 or 2999.50)", s)
		}
	}
	fen := w*100 + f
	if fen <= 0 {
		return 0, fmt.Errorf("%q: the amount must be positive", s)
	}
	return fen, nil
}
