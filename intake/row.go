package intake

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Column names accepted in the header, case-insensitively.
const (
	colOpenID        = "openid"
	colOutRequestNo  = "out_request_no"
	colCouponValue   = "coupon_value"
	colCouponMinimum = "coupon_minimum"
	colCouponCode    = "coupon_code"
	colCouponType    = "coupon_type"
	colMemberCardID  = "member_card_id"
)

// columnKinds says which stock kinds a column applies to.
var columnKinds = map[string][]string{
	colOpenID:        {KindFavor, KindProduct},
	colOutRequestNo:  {KindFavor, KindProduct},
	colCouponValue:   {KindFavor},
	colCouponMinimum: {KindFavor},
	colCouponCode:    {KindProduct},
	colCouponType:    {KindProduct},
	colMemberCardID:  {KindProduct},
}

// columns maps each known column to its index in a row (-1 when absent).
type columns struct {
	n                                                           int
	openid, outRequestNo, value, minimum, code, ctype, memberID int
}

func parseHeader(fields []string, kind string) (columns, error) {
	c := columns{n: len(fields), openid: -1, outRequestNo: -1, value: -1, minimum: -1, code: -1, ctype: -1, memberID: -1}
	idx := map[string]*int{
		colOpenID: &c.openid, colOutRequestNo: &c.outRequestNo, colCouponValue: &c.value,
		colCouponMinimum: &c.minimum, colCouponCode: &c.code, colCouponType: &c.ctype, colMemberCardID: &c.memberID,
	}
	for i, f := range fields {
		name := columnName(f)
		p, ok := idx[name]
		if !ok {
			if why := headerMistake(fields); why != "" {
				return c, fmt.Errorf("header: %s", why)
			}
			return c, fmt.Errorf("header: unknown column %q in column %d; accepted columns for %s stocks: %s",
				f, i+1, kind, strings.Join(acceptedColumns(kind), ", "))
		}
		if !slices.Contains(columnKinds[name], kind) {
			return c, fmt.Errorf("header: column %q applies to %s stocks, not %s", name, strings.Join(columnKinds[name], "/"), kind)
		}
		if *p >= 0 {
			return c, fmt.Errorf("header: column %q appears twice (columns %d and %d)", name, *p+1, i+1)
		}
		*p = i
	}
	if c.openid < 0 {
		return c, fmt.Errorf("header: no openid column; accepted columns for %s stocks: %s", kind, strings.Join(acceptedColumns(kind), ", "))
	}
	return c, nil
}

// columnName is a header field as the column names are written: without
// the UTF-8 byte order mark Excel puts before the first, spaces, or capitals.
func columnName(f string) string {
	return strings.ToLower(strings.TrimSpace(strings.TrimPrefix(f, "\uFEFF")))
}

// headerMistake names the likely cause of a first line that is not a
// header issuer knows, and the fix; "" when it sees none. The usual ones:
// a list saved with semicolons or tabs between the columns (Excel in a
// European locale, or "Text (Tab delimited)"), and a list of openids with
// no header line at all.
func headerMistake(fields []string) string {
	line := strings.Join(fields, ",")
	for _, sep := range []struct{ char, name string }{{"\t", "tabs"}, {";", "semicolons"}} {
		if !strings.Contains(line, sep.char) {
			continue
		}
		for _, f := range strings.Split(line, sep.char) {
			if _, known := columnKinds[columnName(f)]; known {
				return fmt.Sprintf("the columns are separated by %s, not commas: save the file as CSV (comma-separated, "+
					"in Excel \"CSV UTF-8 (逗号分隔)\") and import it again", sep.name)
			}
		}
	}
	if looksLikeOpenID(strings.TrimPrefix(strings.TrimSpace(fields[0]), "\uFEFF")) {
		return fmt.Sprintf("the first line %q looks like a recipient, not a header: the file needs a header line; "+
			"add a first line naming the columns (openid, or openid,coupon_value,… for more columns) and import it again", line)
	}
	return ""
}

// looksLikeOpenID reports whether s has an openid's shape: 16 to 64
// letters, digits, '-' or '_' (WeChat's are 28, starting with o).
func looksLikeOpenID(s string) bool {
	if len(s) < 16 || len(s) > 64 {
		return false
	}
	for i := range len(s) {
		if !isOpenIDByte(s[i]) {
			return false
		}
	}
	return true
}

func acceptedColumns(kind string) []string {
	var out []string
	for name, kinds := range columnKinds {
		if slices.Contains(kinds, kind) {
			out = append(out, name)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i] == colOpenID || out[j] == colOpenID {
			return out[i] == colOpenID
		}
		return out[i] < out[j]
	})
	return out
}

// row is one checked recipient; nil pointers are SQL NULLs.
type row struct {
	openid        string
	outRequestNo  *string
	couponValue   *int64
	couponMinimum *int64
	couponCode    *string
	couponType    *string
	memberCardID  *string
	// storage reused between rows
	s [4]string
	n [2]int64
}

// Field limits from the send APIs (seeds 001 and 002).
const (
	maxOpenID       = 128
	maxOutRequestNo = 128
	maxCouponCode   = 128
	maxMemberCardID = 32
)

// parseRow checks fields against the header and fills r. It returns the
// reason for rejecting the line, or "".
func (c *columns) parseRow(fields []string, r *row) string {
	if len(fields) != c.n {
		return fmt.Sprintf("has %d fields, the header has %d", len(fields), c.n)
	}
	*r = row{s: r.s, n: r.n}
	get := func(i int) string {
		if i < 0 {
			return ""
		}
		return strings.TrimSpace(fields[i])
	}
	r.openid = get(c.openid)
	if reason := checkToken("openid", r.openid, maxOpenID, isOpenIDByte); reason != "" {
		return reason
	}
	if v := get(c.outRequestNo); v != "" {
		if reason := checkToken("out_request_no", v, maxOutRequestNo, isOutRequestNoByte); reason != "" {
			return reason
		}
		r.s[0] = v
		r.outRequestNo = &r.s[0]
	}
	for k, col := range []struct {
		name string
		i    int
		dst  **int64
	}{{colCouponValue, c.value, &r.couponValue}, {colCouponMinimum, c.minimum, &r.couponMinimum}} {
		v := get(col.i)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return fmt.Sprintf("%s %q is not a positive whole number of fen", col.name, v)
		}
		r.n[k] = n
		*col.dst = &r.n[k]
	}
	if r.couponMinimum != nil && r.couponValue == nil {
		return "coupon_minimum is set but coupon_value is empty"
	}
	if v := get(c.code); v != "" {
		if reason := checkToken("coupon_code", v, maxCouponCode, isPrintableASCII); reason != "" {
			return reason
		}
		r.s[1] = v
		r.couponCode = &r.s[1]
	}
	if c.ctype >= 0 || c.memberID >= 0 {
		t := strings.ToUpper(get(c.ctype))
		switch t {
		case "":
		case "NORMAL", "MEMBER":
			r.s[2] = t
			r.couponType = &r.s[2]
		default:
			return fmt.Sprintf("coupon_type %q must be NORMAL or MEMBER", get(c.ctype))
		}
		m := get(c.memberID)
		if t == "MEMBER" && m == "" {
			return "coupon_type MEMBER needs a member_card_id"
		}
		if m != "" {
			if t != "MEMBER" {
				return "member_card_id is only for coupon_type MEMBER"
			}
			if reason := checkToken("member_card_id", m, maxMemberCardID, isPrintableASCII); reason != "" {
				return reason
			}
			r.s[3] = m
			r.memberCardID = &r.s[3]
		}
	}
	return ""
}

func checkToken(name, v string, max int, ok func(byte) bool) string {
	if v == "" {
		return name + " is empty"
	}
	if len(v) > max {
		return fmt.Sprintf("%s is %d characters, at most %d allowed", name, len(v), max)
	}
	for i := 0; i < len(v); i++ {
		if !ok(v[i]) {
			return fmt.Sprintf("%s %q contains %q, not allowed", name, v, firstRune(v[i:]))
		}
	}
	return ""
}

func firstRune(s string) string {
	for _, r := range s {
		return string(r)
	}
	return ""
}

func isAlnum(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

func isOpenIDByte(b byte) bool { return isAlnum(b) || b == '_' || b == '-' }

func isOutRequestNoByte(b byte) bool {
	return isAlnum(b) || b == '_' || b == '|' || b == '*' || b == '-'
}

func isPrintableASCII(b byte) bool { return b > ' ' && b < 0x7f }
