package wxpay

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/issuer-dev/issuer/internal/money"
)

// FlowKind says which file a flow file is.
type FlowKind string

// Flow file kinds.
const (
	FlowUse    FlowKind = "use"    // 核销明细, use-flow
	FlowRefund FlowKind = "refund" // 退款明细, refund-flow
)

// FlowTimeLayout is the time format inside flow files, in Asia/Shanghai.
const FlowTimeLayout = "2006-01-02 15:04:05"

// Flow file column names. The use-flow header is published; the refund-flow
// header is not, and is expected to differ in the time column only.
const (
	colStockID       = "批次id"
	colCouponID      = "优惠id"
	colCouponType    = "优惠类型"
	colAmount        = "优惠金额（元）"
	colOrderAmount   = "订单总金额（元）"
	colTradeType     = "交易类型"
	colTransactionID = "支付单号"
	colUseTime       = "消耗时间"
	colRefundTime    = "退款时间"
	colRefundAmount  = "退款金额（元）"
	colMchID         = "消耗商户号"
	colRefundMchID   = "退款商户号"
	colDeviceNo      = "设备号"
	colBankSerialNo  = "银行流水号"
	colGoodsInfo     = "单品信息"

	footerLabel = "总条数"
)

// FlowRow is one redemption or refund line. Amounts are in fen.
type FlowRow struct {
	StockID       string
	CouponID      string
	CouponType    string
	Amount        int64 // 优惠金额
	OrderAmount   int64 // 订单总金额
	TradeType     string
	TransactionID string
	Time          time.Time // 消耗时间 or 退款时间, Asia/Shanghai
	MchID         string    // 消耗商户号; may be empty
	DeviceNo      string
	BankSerialNo  string
	GoodsInfo     string
	// Line is the row's line number in the file (header is line 1).
	Line int
}

// Beijing is WeChat Pay's clock, China Standard Time: the zone of flow
// files, the day a file is published and the simulator's calendar. China
// has had no daylight saving since 1991, so a fixed zone is exact and
// needs no tzdata on the host. Its name, CST, is for Go only: PostgreSQL
// reads "CST" as US Central, so SQL is given an IANA name instead.
func Beijing() *time.Location { return time.FixedZone("CST", 8*3600) }

// FlowReader reads a use-flow or refund-flow file row by row, without
// holding it in memory. Columns are found by header name, so their order
// and extra columns do not matter.
type FlowReader struct {
	csv  *csv.Reader
	loc  *time.Location
	cols map[string]int
	kind FlowKind
	rows int
	done bool
}

// NewFlowReader reads the header of a flow file.
func NewFlowReader(r io.Reader) (*FlowReader, error) {
	br := bufio.NewReader(r)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte("\xEF\xBB\xBF")) {
		_, _ = br.Discard(3) // tolerated, though WeChat Pay sends none
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1 // the footer has one field
	cr.LazyQuotes = true
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("flow file: empty")
	}
	if err != nil {
		return nil, fmt.Errorf("flow file: header: %w", err)
	}
	fr := &FlowReader{csv: cr, loc: Beijing(), cols: make(map[string]int, len(header)), kind: FlowUse}
	for i, h := range header {
		name := normalizeColumn(h)
		if _, dup := fr.cols[name]; dup {
			return nil, fmt.Errorf("flow file: header: duplicate column %q", h)
		}
		fr.cols[name] = i
	}
	for _, need := range [][]string{{colStockID}, {colCouponID}, {colAmount, colRefundAmount}, {colUseTime, colRefundTime}} {
		if _, ok := fr.index(need...); !ok {
			return nil, fmt.Errorf("flow file: header lacks %s (got %q)", strings.Join(need, " or "), strings.Join(header, ","))
		}
	}
	if _, ok := fr.cols[colUseTime]; !ok {
		fr.kind = FlowRefund
	}
	return fr, nil
}

// index finds the first of names (aliases of one column) in the header.
// The refund-flow layout is unpublished, hence the aliases.
func (fr *FlowReader) index(names ...string) (int, bool) {
	for _, n := range names {
		if i, ok := fr.cols[n]; ok {
			return i, true
		}
	}
	return 0, false
}

// Kind is FlowRefund when the file has a 退款时间 column instead of 消耗时间.
func (fr *FlowReader) Kind() FlowKind { return fr.kind }

// normalizeColumn maps half-width parentheses and stray spaces to the
// published full-width header.
func normalizeColumn(s string) string {
	s = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "`"))
	return strings.NewReplacer("(", "（", ")", "）", " ", "").Replace(s)
}

// Next returns the next row. After the last row it checks the 总条数 footer
// and returns io.EOF; a missing footer (truncated file) or a count that
// does not match is an error.
func (fr *FlowReader) Next() (FlowRow, error) {
	if fr.done {
		return FlowRow{}, io.EOF
	}
	rec, err := fr.csv.Read()
	if errors.Is(err, io.EOF) {
		return FlowRow{}, fmt.Errorf("flow file: no %s footer after %d rows: truncated", footerLabel, fr.rows)
	}
	if err != nil {
		return FlowRow{}, fmt.Errorf("flow file: %w", err)
	}
	if len(rec) == 1 && normalizeColumn(rec[0]) == footerLabel {
		return FlowRow{}, fr.footer()
	}
	line, _ := fr.csv.FieldPos(0)
	row, err := fr.row(rec)
	if err != nil {
		return FlowRow{}, fmt.Errorf("flow file: line %d: %w", line, err)
	}
	row.Line = line
	fr.rows++
	return row, nil
}

func (fr *FlowReader) footer() error {
	fr.done = true
	rec, err := fr.csv.Read()
	if err != nil {
		return fmt.Errorf("flow file: %s without a count: %w", footerLabel, err)
	}
	if len(rec) != 1 {
		return fmt.Errorf("flow file: %s count line has %d fields", footerLabel, len(rec))
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(rec[0], "`")))
	if err != nil {
		return fmt.Errorf("flow file: %s count %q: %w", footerLabel, rec[0], err)
	}
	if n != fr.rows {
		return fmt.Errorf("flow file: %s says %d rows, file has %d", footerLabel, n, fr.rows)
	}
	if rec, err := fr.csv.Read(); !errors.Is(err, io.EOF) {
		if err != nil {
			return fmt.Errorf("flow file: after footer: %w", err)
		}
		return fmt.Errorf("flow file: content after the footer: %q", strings.Join(rec, ","))
	}
	return io.EOF
}

func (fr *FlowReader) row(rec []string) (FlowRow, error) {
	get := func(names ...string) string {
		i, ok := fr.index(names...)
		if !ok || i >= len(rec) {
			return ""
		}
		return strings.TrimSpace(strings.TrimPrefix(rec[i], "`"))
	}
	if len(rec) != len(fr.cols) {
		return FlowRow{}, fmt.Errorf("%d fields, header has %d", len(rec), len(fr.cols))
	}
	r := FlowRow{
		StockID:       get(colStockID),
		CouponID:      get(colCouponID),
		CouponType:    get(colCouponType),
		TradeType:     get(colTradeType),
		TransactionID: get(colTransactionID),
		MchID:         get(colMchID, colRefundMchID),
		DeviceNo:      get(colDeviceNo),
		BankSerialNo:  get(colBankSerialNo),
		GoodsInfo:     get(colGoodsInfo),
	}
	if r.CouponID == "" {
		return r, fmt.Errorf("empty %s", colCouponID)
	}
	var err error
	if r.Amount, err = ParseYuan(get(colAmount, colRefundAmount)); err != nil {
		return r, fmt.Errorf("amount: %w", err)
	}
	if s := get(colOrderAmount); s != "" {
		if r.OrderAmount, err = ParseYuan(s); err != nil {
			return r, fmt.Errorf("%s: %w", colOrderAmount, err)
		}
	}
	if ts := get(colUseTime, colRefundTime); ts != "" {
		if r.Time, err = time.ParseInLocation(FlowTimeLayout, ts, fr.loc); err != nil {
			return r, fmt.Errorf("time %q: %w", ts, err)
		}
	}
	return r, nil
}

// ParseYuan parses an amount in yuan with at most two decimals ("12.30",
// "-0.5", "7") into fen, exactly, without floating point.
func ParseYuan(s string) (int64, error) {
	orig := s
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || (hasDot && (frac == "" || len(frac) > 2)) || !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("amount %q is not yuan with at most 2 decimals", orig)
	}
	if len(whole) > 15 {
		return 0, fmt.Errorf("amount %q out of range", orig)
	}
	for len(frac) < 2 {
		frac += "0"
	}
	w, _ := strconv.ParseInt(whole, 10, 64)
	f, _ := strconv.ParseInt(frac, 10, 64)
	fen := w*100 + f
	if neg {
		fen = -fen
	}
	return fen, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// FlowHeader returns the header columns of a flow file of kind k.
func FlowHeader(k FlowKind) []string {
	t := colUseTime
	if k == FlowRefund {
		t = colRefundTime
	}
	return []string{colStockID, colCouponID, colCouponType, colAmount, colOrderAmount, colTradeType,
		colTransactionID, t, colMchID, colDeviceNo, colBankSerialNo, colGoodsInfo}
}

// WriteFlowFile writes rows in WeChat Pay's flow file format: CRLF lines,
// no BOM, the header, the first nine values prefixed with a backtick, the
// last three double-quoted, amounts in yuan, times in Asia/Shanghai, then
// the 总条数 footer with the row count.
func WriteFlowFile(w io.Writer, k FlowKind, rows []FlowRow) error {
	bw := bufio.NewWriter(w)
	loc := Beijing()
	bw.WriteString(strings.Join(FlowHeader(k), ","))
	bw.WriteString("\r\n")
	for _, r := range rows {
		ts := ""
		if !r.Time.IsZero() {
			ts = r.Time.In(loc).Format(FlowTimeLayout)
		}
		plain := []string{r.StockID, r.CouponID, r.CouponType, money.Yuan(r.Amount), money.Yuan(r.OrderAmount),
			r.TradeType, r.TransactionID, ts, r.MchID}
		for i, v := range plain {
			if strings.ContainsAny(v, ",\"\r\n") {
				return fmt.Errorf("write flow file: coupon %s: %s %q needs quoting", r.CouponID, FlowHeader(k)[i], v)
			}
			bw.WriteByte('`')
			bw.WriteString(v)
			bw.WriteByte(',')
		}
		for i, v := range []string{r.DeviceNo, r.BankSerialNo, r.GoodsInfo} {
			if i > 0 {
				bw.WriteByte(',')
			}
			bw.WriteByte('"')
			bw.WriteString(strings.ReplaceAll(v, `"`, `""`))
			bw.WriteByte('"')
		}
		bw.WriteString("\r\n")
	}
	bw.WriteString(footerLabel + "\r\n`" + strconv.Itoa(len(rows)) + "\r\n")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write flow file: %w", err)
	}
	return nil
}
