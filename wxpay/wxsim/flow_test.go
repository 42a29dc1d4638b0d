package wxsim_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/internal/testutil"
	"github.com/issuer-dev/issuer/wxpay"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func flowPath(path, stockID string) string { return strings.Replace(path, "{stock_id}", stockID, 1) }

// flowBundle issues four 代金券 at a fixed time, redeems them in two rounds
// and refunds one, with a fixed seed: its flow files are reproducible.
func flowBundle(t *testing.T) (*testBundle, *testutil.Clock) {
	t.Helper()
	clk := testutil.NewClock(time.Date(2025, 3, 1, 10, 0, 0, 0, time.FixedZone("CST", 8*3600)))
	keys := *testKeys(t) // fixed ids: they appear in the files
	keys.MchID, keys.AppID = "1900000001", "wx8888888888888888"
	b := setup(t, wxsim.Options{
		Keys:   &keys,
		Stocks: []wxsim.StockSpec{{ID: "16000001", Budget: 10, CouponValue: 500, CouponMinimum: 2000}},
		Seed:   7,
		Now:    clk.Now,
	})
	for i := range 4 {
		couponID(t, b.sendFavor(t, "16000001", fmt.Sprint("user", i), fmt.Sprint("1900000001202503010000", i)))
	}
	clk.Advance(90 * time.Minute)
	n, err := b.sim.Redeem("16000001", 0.5)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	clk.Advance(26*time.Hour + 17*time.Second)
	n, err = b.sim.Redeem("16000001", 1)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	clk.Advance(3 * time.Hour)
	n, err = b.sim.Refund("16000001", 0.25)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	// WeChat Pay publishes the files from 10:00 the day after the stock
	// ends: end it now (03-02 16:30) and step to 03-03 10:30.
	require.NoError(t, b.sim.SetStockStatus("16000001", wxsim.StatusExpired))
	clk.Advance(18 * time.Hour)
	return b, clk
}

func TestFlowFilesGolden(t *testing.T) {
	t.Parallel()
	b, _ := flowBundle(t)
	for _, tt := range []struct{ path, golden string }{
		{wxpay.PathUseFlow, "use-flow.golden.csv"},
		{wxpay.PathRefundFlow, "refund-flow.golden.csv"},
	} {
		t.Run(tt.golden, func(t *testing.T) {
			t.Parallel()
			meta := b.signedCall(t, http.MethodGet, flowPath(tt.path, "16000001"), nil)
			require.Equal(t, http.StatusOK, meta.status, "%s", meta.body)
			require.Empty(t, meta.header.Get(wxpay.HeaderSignature), "metadata answers are unsigned, as WeChat Pay's")
			require.NotEmpty(t, meta.header.Get(wxpay.HeaderRequestID))
			var m struct {
				URL       string `json:"url"`
				HashType  string `json:"hash_type"`
				HashValue string `json:"hash_value"`
			}
			meta.decode(t, &m)
			require.Equal(t, "SHA1", m.HashType)
			u, err := url.Parse(m.URL)
			require.NoError(t, err)
			require.Equal(t, b.url, u.Scheme+"://"+u.Host)
			require.Equal(t, "/v3/billdownload/file", u.Path)

			file := b.signedCall(t, http.MethodGet, u.RequestURI(), nil)
			require.Equal(t, http.StatusOK, file.status, "%s", file.body)
			require.Empty(t, file.header.Get(wxpay.HeaderSignature), "downloads are not signed")
			sum := sha1.Sum(file.body)
			require.Equal(t, m.HashValue, hex.EncodeToString(sum[:]))

			golden := filepath.Join("testdata", tt.golden)
			if *update {
				require.NoError(t, os.WriteFile(golden, file.body, 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			require.Equal(t, string(want), string(file.body))
		})
	}
}

// TestFlowFileFormat pins the format facts independently of the golden.
func TestFlowFileFormat(t *testing.T) {
	t.Parallel()
	b, _ := flowBundle(t)
	ctx := context.Background()
	meta, err := b.client.UseFlow(ctx, "16000001")
	require.NoError(t, err)
	var buf bytes.Buffer
	_, err = b.client.Download(ctx, meta.URL, &buf, meta.HashValue)
	require.NoError(t, err)

	data := buf.String()
	require.False(t, strings.HasPrefix(data, "\xEF\xBB\xBF"), "no BOM")
	lines := strings.Split(data, "\r\n")
	require.Equal(t, "", lines[len(lines)-1], "every line ends in CRLF")
	lines = lines[:len(lines)-1]
	require.NotContains(t, strings.Join(lines, ""), "\n")
	require.Equal(t, "批次id,优惠id,优惠类型,优惠金额（元）,订单总金额（元）,交易类型,支付单号,消耗时间,消耗商户号,设备号,银行流水号,单品信息", lines[0])
	require.Equal(t, []string{"总条数", "`4"}, lines[len(lines)-2:])
	for _, line := range lines[1 : len(lines)-2] {
		fields := strings.Split(line, ",")
		require.Len(t, fields, 12, line)
		for _, f := range fields[:9] {
			require.True(t, strings.HasPrefix(f, "`"), "field %q of %q", f, line)
		}
		for _, f := range fields[9:] {
			require.True(t, strings.HasPrefix(f, `"`) && strings.HasSuffix(f, `"`), "field %q of %q", f, line)
		}
		require.Equal(t, "`5.00", fields[3], "yuan with two decimals")
	}

	// The client's parser reads it back.
	fr, err := wxpay.NewFlowReader(strings.NewReader(data))
	require.NoError(t, err)
	ledger := map[string]wxsim.Coupon{}
	for _, c := range b.sim.Ledger("16000001") {
		ledger[c.CouponID] = c
	}
	n := 0
	for {
		row, err := fr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		c, ok := ledger[row.CouponID]
		require.True(t, ok, "row for unknown coupon %s", row.CouponID)
		require.Equal(t, c.Use.TransactionID, row.TransactionID)
		require.Equal(t, c.Use.OrderAmount, row.OrderAmount)
		require.Equal(t, int64(500), row.Amount)
		require.True(t, c.Use.At.Equal(row.Time))
		require.Equal(t, b.keys.MchID, row.MchID)
		n++
	}
	require.Equal(t, 4, n)
}

func TestFlowErrors(t *testing.T) {
	t.Parallel()
	b, clk := flowBundle(t)
	b.sim.AddStock(wxsim.StockSpec{ID: "EMPTY", Budget: 10})

	t.Run("nothing redeemed", func(t *testing.T) {
		a := b.signedCall(t, http.MethodGet, flowPath(wxpay.PathUseFlow, "EMPTY"), nil)
		require.Equal(t, http.StatusNotFound, a.status)
		b.verified(t, a)
		code, msg, _ := a.errorBody(t)
		require.Equal(t, "RESOURCE_NOT_EXISTS", code)
		require.Equal(t, "账单文件不存在", msg)
		_, err := b.client.UseFlow(context.Background(), "EMPTY")
		require.True(t, wxpay.IsNotFound(err), "%v", err)
	})

	t.Run("unknown stock", func(t *testing.T) {
		a := b.signedCall(t, http.MethodGet, flowPath(wxpay.PathRefundFlow, "NOPE"), nil)
		require.Equal(t, http.StatusNotFound, a.status)
		_, msg, _ := a.errorBody(t)
		require.Equal(t, "批次不存在", msg)
	})

	meta := b.signedCall(t, http.MethodGet, flowPath(wxpay.PathUseFlow, "16000001"), nil)
	var m struct {
		URL string `json:"url"`
	}
	meta.decode(t, &m)
	u, err := url.Parse(m.URL)
	require.NoError(t, err)

	t.Run("unsigned download", func(t *testing.T) {
		a := b.signedCall(t, http.MethodGet, u.RequestURI(), nil, withAuth(""))
		require.Equal(t, http.StatusUnauthorized, a.status)
	})

	t.Run("expired url", func(t *testing.T) {
		clk.Advance(31 * time.Second)
		a := b.signedCall(t, http.MethodGet, u.RequestURI(), nil)
		require.Equal(t, http.StatusNotFound, a.status)
		b.verified(t, a)
	})
}
