package wxpay_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/wxpay"
)

func cst(s string) time.Time {
	t, err := time.ParseInLocation(wxpay.FlowTimeLayout, s, time.FixedZone("CST", 8*3600))
	if err != nil {
		panic(err)
	}
	return t
}

func readFlow(t *testing.T, r io.Reader) ([]wxpay.FlowRow, wxpay.FlowKind, error) {
	t.Helper()
	fr, err := wxpay.NewFlowReader(r)
	if err != nil {
		return nil, "", err
	}
	var rows []wxpay.FlowRow
	for {
		row, err := fr.Next()
		if errors.Is(err, io.EOF) {
			return rows, fr.Kind(), nil
		}
		if err != nil {
			return rows, fr.Kind(), err
		}
		rows = append(rows, row)
	}
}

func TestFlowFileGolden(t *testing.T) {
	t.Parallel()
	row := func(line int, coupon string, amount, order int64, txn, at, mch string) wxpay.FlowRow {
		return wxpay.FlowRow{StockID: "9856000", CouponID: coupon, CouponType: "全场代金券", Amount: amount, OrderAmount: order,
			TradeType: "支付", TransactionID: txn, Time: cst(at), MchID: mch, Line: line}
	}
	cases := []struct {
		file string
		kind wxpay.FlowKind
		rows []wxpay.FlowRow
	}{
		{"flow_use_normal.csv", wxpay.FlowUse, []wxpay.FlowRow{
			row(2, "98674556", 1000, 10000, "4200000523202003118425213470", "2020-03-11 14:31:59", "1900000109"),
			func() wxpay.FlowRow {
				r := row(3, "98674557", 1000, 5820, "4200000523202003118425213471", "2020-03-12 09:00:01", "1900000109")
				r.DeviceNo, r.BankSerialNo = "013467007045764", "1000111003"
				return r
			}(),
			row(4, "98674558", 50, 1205, "4200000523202003118425213472", "2020-03-12 23:59:59", "1900000110"),
		}},
		{"flow_use_empty_mchid.csv", wxpay.FlowUse, []wxpay.FlowRow{
			row(2, "98674556", 1000, 10000, "4200000523202003118425213470", "2020-03-11 14:31:59", ""),
			row(3, "98674559", 1000, 3000, "4200000523202003118425213473", "2020-03-13 08:15:00", "1900000109"),
		}},
		{"flow_use_quoted_comma.csv", wxpay.FlowUse, []wxpay.FlowRow{func() wxpay.FlowRow {
			r := row(2, "98674560", 500, 2500, "4200000523202003118425213474", "2020-03-14 10:20:30", "1900000109")
			r.CouponType, r.DeviceNo, r.GoodsInfo = "单品代金券", "T01", "商品A,数量2,单价12.50"
			return r
		}()}},
		{"flow_refund_normal.csv", wxpay.FlowRefund, []wxpay.FlowRow{func() wxpay.FlowRow {
			r := row(2, "98674556", 1000, 10000, "4200000523202003118425213470", "2020-03-15 16:00:00", "1900000109")
			r.TradeType = "退款"
			return r
		}()}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(filepath.Join("testdata", tc.file))
			require.NoError(t, err)

			rows, kind, err := readFlow(t, bytes.NewReader(raw))
			require.NoError(t, err)
			require.Equal(t, tc.kind, kind)
			require.Len(t, rows, len(tc.rows))
			for i := range rows {
				require.True(t, tc.rows[i].Time.Equal(rows[i].Time), "row %d time", i)
				rows[i].Time = tc.rows[i].Time
			}
			require.Equal(t, tc.rows, rows)

			// The writer reproduces the real file byte for byte.
			var buf bytes.Buffer
			require.NoError(t, wxpay.WriteFlowFile(&buf, tc.kind, tc.rows))
			require.Equal(t, string(raw), buf.String())
		})
	}
}

func TestFlowFileFooterMismatch(t *testing.T) {
	t.Parallel()
	f, err := os.Open(filepath.Join("testdata", "flow_use_footer_mismatch.csv"))
	require.NoError(t, err)
	defer f.Close()
	rows, _, err := readFlow(t, f)
	require.ErrorContains(t, err, "总条数 says 3 rows, file has 2")
	require.Len(t, rows, 2)
}

func TestFlowFileTolerance(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join("testdata", "flow_use_normal.csv"))
	require.NoError(t, err)

	t.Run("BOM", func(t *testing.T) {
		t.Parallel()
		rows, _, err := readFlow(t, bytes.NewReader(append([]byte("\xEF\xBB\xBF"), raw...)))
		require.NoError(t, err)
		require.Len(t, rows, 3)
	})
	t.Run("LF and half-width parentheses, reordered columns", func(t *testing.T) {
		t.Parallel()
		in := "优惠id,批次id,优惠金额(元),消耗时间,消耗商户号\n`1,`2,`3.1,`2020-01-01 00:00:00,`\n总条数\n`1\n"
		rows, _, err := readFlow(t, strings.NewReader(in))
		require.NoError(t, err)
		require.Equal(t, []wxpay.FlowRow{{StockID: "2", CouponID: "1", Amount: 310, Time: cst("2020-01-01 00:00:00"), Line: 2}}, rows)
		require.Equal(t, time.Date(2019, 12, 31, 16, 0, 0, 0, time.UTC), rows[0].Time.UTC())
	})
	t.Run("refund aliases", func(t *testing.T) {
		t.Parallel()
		in := "批次id,优惠id,退款金额（元）,退款时间,退款商户号\r\n`1,`2,`-3.10,`2020-01-01 00:00:00,`1900000109\r\n总条数\r\n`1\r\n"
		rows, kind, err := readFlow(t, strings.NewReader(in))
		require.NoError(t, err)
		require.Equal(t, wxpay.FlowRefund, kind)
		require.Equal(t, []wxpay.FlowRow{{StockID: "1", CouponID: "2", Amount: -310, Time: cst("2020-01-01 00:00:00"), MchID: "1900000109", Line: 2}}, rows)
	})
	t.Run("empty file with footer", func(t *testing.T) {
		t.Parallel()
		var buf bytes.Buffer
		require.NoError(t, wxpay.WriteFlowFile(&buf, wxpay.FlowUse, nil))
		rows, _, err := readFlow(t, &buf)
		require.NoError(t, err)
		require.Empty(t, rows)
	})
	for name, in := range map[string]string{
		"truncated":           string(raw[:bytes.Index(raw, []byte("总条数"))]),
		"no header":           "",
		"missing column":      "批次id,消耗时间\r\n",
		"no time column":      "批次id,优惠id,优惠金额（元）\r\n",
		"footer not a number": strings.Replace(string(raw), "`3", "`x", 1),
		"row after footer":    string(raw) + "`1,`2\r\n",
		"bad amount":          strings.Replace(string(raw), "`0.50", "`0.505", 1),
		"float amount":        strings.Replace(string(raw), "`0.50", "`5e-1", 1),
		"bad time":            strings.Replace(string(raw), "2020-03-12 23:59:59", "2020/03/12 23:59", 1),
		"short row":           strings.Replace(string(raw), `,"","",""`, `,""`, 1),
	} {
		_, _, err := readFlow(t, strings.NewReader(in))
		require.Error(t, err, name)
	}
}

func TestParseYuan(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{
		"0.00": 0, "10.00": 1000, "0.5": 50, "7": 700, "12.30": 1230, "-0.01": -1, "99999999.99": 9999999999, "0.1": 10,
	} {
		got, err := wxpay.ParseYuan(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", ".5", "1.", "1.234", "1,000.00", "+1", "1e2", "abc", "--1", "1.2.3", "1234567890123456"} {
		_, err := wxpay.ParseYuan(in)
		require.Error(t, err, in)
	}
}

func TestWriteFlowFileRejectsUnquotableValues(t *testing.T) {
	t.Parallel()
	err := wxpay.WriteFlowFile(io.Discard, wxpay.FlowUse, []wxpay.FlowRow{{CouponID: "1,2"}})
	require.Error(t, err)
}
