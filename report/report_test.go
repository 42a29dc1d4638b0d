package report_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"

	"github.com/issuer-dev/issuer/intake"
	"github.com/issuer-dev/issuer/internal/dbtest"
	"github.com/issuer-dev/issuer/internal/excelcsv"
	"github.com/issuer-dev/issuer/jobs"
	"github.com/issuer-dev/issuer/report"
	"github.com/issuer-dev/issuer/wxpay"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// xlsxOut keeps the test workbooks for a look (scripts/report-screenshots.sh).
var xlsxOut = flag.String("xlsx-out", "", "write the test workbooks to `DIR`")

const stock = "9856000"

type testBundle struct {
	db      *sqlx.DB
	batch1  int64
	batch2  int64
	product int64
	loc     *time.Location
}

// setup builds a merchant's state with every kind of outcome and problem:
//
//	batch 1: oA used (98674556), oB used and refunded (98674557), oC used
//	         before issuer recorded it issued (98674560), oD failed
//	         (user_limited), oE in review
//	batch 2: oF issued and unused (98674590; a callback says it was used),
//	         oG pending
//	files:   98674558 and 98674561 used, 98679999 refunded, none issued by
//	         issuer; a use-flow rejected for its 总条数 footer
//	product: a 商品券 batch, for a batch report without flow files
func setup(t *testing.T) *testBundle {
	t.Helper()
	ctx := context.Background()
	db := dbtest.New(t).DB
	loc, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	b := &testBundle{db: db, loc: loc}
	imp := func(stock, kind, name string, openids ...string) int64 {
		list := "openid,out_request_no\n"
		for _, o := range openids {
			list += o + ",1900000109202003100000" + o + "\n"
		}
		rep, err := intake.Import(ctx, db, strings.NewReader(list), intake.Options{
			StockID: stock, Kind: kind, Name: name, MchID: "1900000109", AppID: "wx233544546545989", Source: name + ".csv",
		})
		require.NoError(t, err)
		return rep.BatchID
	}
	b.batch1 = imp(stock, "favor", "春节满减", "oA", "oB", "oC", "oD", "oE")
	b.batch2 = imp(stock, "favor", "会员回馈", "oF", "oG")
	b.product = imp("1212345", "product", "VIP product coupons", "oP", "oQ")
	issued := func(openid, coupon, at string) {
		_, err := db.Exec(`UPDATE recipients SET status = 'issued', outcome = 'issued', coupon_id = $2, attempts = 1,
			issued_at = $3::timestamptz, last_attempt_at = $3::timestamptz WHERE openid = $1`, openid, coupon, at)
		require.NoError(t, err)
	}
	issued("oA", "98674556", "2020-03-10 10:00:00+08")
	issued("oB", "98674557", "2020-03-10 10:00:01+08")
	issued("oC", "98674560", "2020-03-15 09:00:00+08")
	issued("oF", "98674590", "2020-03-10 10:00:02+08")
	_, err = db.Exec(`UPDATE recipients SET status = 'failed', outcome = 'user_limited', attempts = 1, wx_code = 'REQUEST_BLOCKED',
		wx_message = '用户被限领拦截', last_attempt_at = '2020-03-10 10:00:03+08' WHERE openid = 'oD'`)
	require.NoError(t, err)
	_, err = db.Exec(`UPDATE recipients SET status = 'review', outcome = 'unknown', doubt_since = now(), attempts = 10, wx_code = 'SYSTEM_ERROR',
		wx_message = '系统异常,请稍后重试', last_attempt_at = '2020-03-10 10:05:00+08' WHERE openid = 'oE'`)
	require.NoError(t, err)
	_, err = db.Exec(`UPDATE recipients SET status = 'issued', outcome = 'issued', coupon_code = 'P-' || openid, attempts = 1,
		issued_at = '2020-03-10 11:00:00+08', last_attempt_at = '2020-03-10 11:00:00+08' WHERE openid = 'oP'`)
	require.NoError(t, err)

	// COUPON.USE callbacks, received before the files were downloaded.
	callback := func(id, coupon, consumed, txn string) {
		_, err := jobs.StoreCouponUse(ctx, db, &wxpay.Notification{ID: id, EventType: wxpay.EventCouponUse, CreateTime: consumed},
			&wxpay.CouponUse{StockID: stock, CouponID: coupon, StockCreatorMchID: "1900000109", Status: wxpay.CouponUsed,
				NormalCouponInformation: &wxpay.NormalCouponInformation{CouponAmount: 1000, TransactionMinimum: 5000},
				ConsumeInformation:      &wxpay.ConsumeInformation{ConsumeTime: consumed, ConsumeMchID: "1900000109", TransactionID: txn}})
		require.NoError(t, err)
	}
	callback("N1", "98674556", "2020-03-11T14:31:59+08:00", "4200000523202003118425213470")
	callback("N2", "98674590", "2020-03-13T12:00:00+08:00", "4200000523202003118425210000")

	_, err = db.Exec(`UPDATE coupon_use_callbacks SET received_at = '2025-03-01 09:00:00+08'`)
	require.NoError(t, err)
	downloaded := time.Date(2025, 3, 1, 10, 30, 0, 0, loc)
	load := func(name, day string) {
		path := filepath.Join("..", "jobs", "testdata", "reconcile", name)
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		sum := sha1.Sum(raw)
		kind := wxpay.FlowUse
		if strings.HasPrefix(name, "refund") {
			kind = wxpay.FlowRefund
		}
		_, err = jobs.LoadFlowFile(ctx, db, &jobs.FlowFile{StockID: stock, Kind: kind, Date: day, SHA1: hex.EncodeToString(sum[:]),
			Path: path, Bytes: int64(len(raw)), DownloadedAt: downloaded})
		if !strings.Contains(name, "footer") {
			require.NoError(t, err)
		}
	}
	load("use_normal.csv", "2025-03-01")
	load("use_quoted_comma.csv", "2025-03-02")
	load("refund_normal.csv", "2025-03-02")
	load("use_footer_mismatch.csv", "2025-03-02")
	return b
}

func (b *testBundle) opts(asOf string) report.Options {
	return report.Options{AsOf: asOf, Location: b.loc}
}

// reconciliation builds a reconciliation report, closed when the test ends.
func reconciliation(t *testing.T, db *sqlx.DB, opts report.Options) *report.Report {
	t.Helper()
	r, err := report.Reconciliation(context.Background(), db, opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, r.Close()) })
	return r
}

// batchReport builds a batch report, closed when the test ends.
func batchReport(t *testing.T, db *sqlx.DB, id int64, opts report.Options) *report.Report {
	t.Helper()
	r, err := report.Batch(context.Background(), db, id, opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, r.Close()) })
	return r
}

func render(t *testing.T, r *report.Report, f report.Format) string {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, r.Write(context.Background(), &buf, f))
	return buf.String()
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./report/ -update")
	require.Equal(t, string(want), got)
}

func TestReportGolden(t *testing.T) {
	t.Parallel()
	b := setup(t)

	rec := reconciliation(t, b.db, b.opts(""))
	checkGolden(t, "reconcile.txt", render(t, rec, report.Text))
	checkGolden(t, "reconcile.csv", render(t, rec, report.CSV))

	asOf := reconciliation(t, b.db, b.opts("2025-03-01"))
	checkGolden(t, "reconcile_2025-03-01.txt", render(t, asOf, report.Text))

	batch := batchReport(t, b.db, b.batch1, b.opts(""))
	checkGolden(t, "batch1.txt", render(t, batch, report.Text))
	checkGolden(t, "batch1.csv", render(t, batch, report.CSV))

	product := batchReport(t, b.db, b.product, b.opts(""))
	checkGolden(t, "batch_product.txt", render(t, product, report.Text))

	// For scripts: the same lines without the byte-order mark and tabs.
	var plain bytes.Buffer
	require.NoError(t, batch.WritePlainCSV(context.Background(), &plain))
	bare := func(s string) [][]string {
		recs, err := excelcsv.ReadAll(strings.NewReader(s))
		require.NoError(t, err)
		return recs
	}
	require.Equal(t, bare(render(t, batch, report.CSV)), bare(plain.String()))
	require.False(t, strings.HasPrefix(plain.String(), excelcsv.BOM))
	require.NotContains(t, plain.String(), "\t")
}

func TestReportFigures(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rec := reconciliation(t, b.db, b.opts(""))
	require.Len(t, rec.Lines, 3)
	l1, l2, unknown := rec.Lines[0], rec.Lines[1], rec.Lines[2]

	require.Equal(t, b.batch1, l1.BatchID)
	require.Equal(t, 3, l1.Issued)
	require.Equal(t, 3, l1.Used)
	require.Equal(t, 1, l1.Refunded)
	require.Equal(t, 2, l1.NetUsed)
	require.Equal(t, "1.0000", l1.UseRate())
	require.Equal(t, int64(1000+1000+500), l1.UsedAmount)
	require.Equal(t, int64(1000), l1.RefundedAmount)
	require.Equal(t, 3, l1.Orders)
	require.Equal(t, int64(10000+5820+2500), l1.OrderAmount)
	require.Equal(t, 1, l1.UsedBeforeIssue)
	require.Equal(t, 0, l1.UnknownCoupons)

	require.Equal(t, b.batch2, l2.BatchID)
	require.Equal(t, 1, l2.Issued)
	require.Equal(t, 0, l2.Used)
	require.Equal(t, "0.0000", l2.UseRate())
	require.Equal(t, 1, l2.CallbackOnly, "the callback for 98674590 has no use in the file")

	require.Zero(t, unknown.BatchID)
	require.Equal(t, 3, unknown.UnknownCoupons)
	require.Equal(t, 2, unknown.Used)
	require.Equal(t, 1, unknown.RefundsWithoutUse)
	require.Equal(t, int64(50+500), unknown.UsedAmount)

	require.Equal(t, map[string]int{"footer_mismatch": 1, "unknown_coupon": 3, "refund_without_use": 1, "used_before_issue": 1,
		"callback_not_in_file": 1, "use_without_callback": 4, "in_doubt": 1}, rec.ProblemCounts)

	classes := map[string]int{}
	for _, c := range rec.Classes {
		classes[c.Key] = c.Count
	}
	require.Equal(t, map[string]int{"used": 2, "refunded": 1, "unused": 1, "pending": 1, "in_doubt": 1, "failed:user_limited": 1}, classes,
		"oE's last answer was SYSTEM_ERROR: in doubt, not failed")
	require.Equal(t, 1, l1.InDoubt)
	require.Equal(t, 1, l1.Failed)
	require.Equal(t, report.UsageFlowFiles, l1.UsageSource)

	// As of the first day, only that day's file counts.
	asOf := reconciliation(t, b.db, b.opts("2025-03-01"))
	require.Equal(t, 2, asOf.Lines[0].Used)
	require.Equal(t, 0, asOf.Lines[0].Refunded)
	require.Zero(t, asOf.ProblemCounts["footer_mismatch"])

	_, err := report.Reconciliation(context.Background(), b.db, report.Options{StockID: "404"})
	require.ErrorIs(t, err, report.ErrNoData)

	// A good use-flow fetched after the rejected one replaces it.
	good := filepath.Join("..", "jobs", "testdata", "reconcile", "use_empty_mchid.csv")
	raw, err := os.ReadFile(good)
	require.NoError(t, err)
	sum := sha1.Sum(raw)
	_, err = jobs.LoadFlowFile(context.Background(), b.db, &jobs.FlowFile{StockID: stock, Kind: wxpay.FlowUse, Date: "2025-03-03",
		SHA1: hex.EncodeToString(sum[:]), Path: good, Bytes: int64(len(raw)), DownloadedAt: time.Date(2025, 3, 3, 10, 30, 0, 0, b.loc)})
	require.NoError(t, err)
	rec = reconciliation(t, b.db, b.opts(""))
	require.Zero(t, rec.ProblemCounts["footer_mismatch"])
	require.Equal(t, 3, rec.Lines[0].Used, "98674559 is no coupon of issuer's")
}

func TestReportUseRate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		used, issued int
		rate, pct    string
	}{
		{0, 0, "", "-"},
		{1, 3, "0.3333", "33.33%"},
		{2, 3, "0.6667", "66.67%"},
		{3, 3, "1.0000", "100.00%"},
		{1, 8, "0.1250", "12.50%"},
		{1, 20000, "0.0001", "0.01%"},
		{1, 30000, "0.0000", "0.00%"},
	} {
		l := report.Line{Used: tc.used, Issued: tc.issued}
		require.Equal(t, tc.rate, l.UseRate(), "%d/%d", tc.used, tc.issued)
		require.Equal(t, tc.pct, l.UseRatePercent(), "%d/%d", tc.used, tc.issued)
	}
}

func TestReportXLSX(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rec := reconciliation(t, b.db, b.opts(""))
	raw := render(t, rec, report.XLSX)
	if *xlsxOut != "" {
		require.NoError(t, os.WriteFile(filepath.Join(*xlsxOut, "reconcile.xlsx"), []byte(raw), 0o644))
		batch := batchReport(t, b.db, b.batch1, b.opts(""))
		require.NoError(t, os.WriteFile(filepath.Join(*xlsxOut, "batch.xlsx"), []byte(render(t, batch, report.XLSX)), 0o644))
	}

	f, err := excelize.OpenReader(strings.NewReader(raw))
	require.NoError(t, err)
	defer f.Close()
	require.Equal(t, []string{report.SheetSummary, report.SheetRecipients, report.SheetProblems, report.SheetGuide, report.SheetAudit},
		f.GetSheetList())

	// Summary: the per-batch table, typed.
	cell := findCell(t, f, report.SheetSummary, report.TitlePerBatch)
	col, row, err := excelize.CellNameToCoordinates(cell)
	require.NoError(t, err)
	header := rowValues(t, f, report.SheetSummary, row+1)
	require.Equal(t, []string{"发放批次ID", "发放批次名称", "券批次号", "收券人数", "已发放", "已核销", "已退款", "净核销", "核销率", "优惠金额（元）"}, header[:10])
	first := row + 2
	requireNumber(t, f, report.SheetSummary, col, first, strconv.FormatInt(b.batch1, 10))
	requireNumber(t, f, report.SheetSummary, col+4, first, "3")      // issued
	requireNumber(t, f, report.SheetSummary, col+8, first, "1")      // use_rate 100%
	requireNumber(t, f, report.SheetSummary, col+9, first, "25")     // 25.00 yuan
	requireNumber(t, f, report.SheetSummary, col+13, first, "183.2") // 订单总金额 183.20
	requireString(t, f, report.SheetSummary, col+1, first, "春节满减")   // name
	requireNumber(t, f, report.SheetSummary, col+14, first+2, "3")   // unknown coupons
	v, err := f.GetCellValue(report.SheetSummary, cellName(col+9, first))
	require.NoError(t, err)
	require.Equal(t, "25.00", v, "shown with two decimals")

	// Daily redemptions: days as text labels (the chart's categories, with
	// no date format to misread), counts as numbers.
	cell = findCell(t, f, report.SheetSummary, report.TitleDaily)
	_, row, _ = excelize.CellNameToCoordinates(cell)
	require.Equal(t, report.Titles(report.DayColumns), rowValues(t, f, report.SheetSummary, row+1)[:5])
	requireString(t, f, report.SheetSummary, 1, row+2, "2020-03-11")
	requireNumber(t, f, report.SheetSummary, 2, row+2, "1")

	// Flow files: no server paths or digests for analysts; the audit
	// sheet keeps them.
	for _, hidden := range []string{"flowfiles", "sha1", "SHA1"} {
		cells, err := f.SearchSheet(report.SheetSummary, hidden, true)
		require.NoError(t, err)
		require.Empty(t, cells, hidden)
	}
	audit, err := f.GetRows(report.SheetAudit)
	require.NoError(t, err)
	require.Equal(t, report.Titles(report.AuditFileColumns), audit[1])
	require.Len(t, audit[2], len(report.AuditFileColumns))
	require.Len(t, audit[2][9], 40, "a SHA1 in hex")

	// Every column explained on the 说明 sheet.
	guide, err := f.GetRows(report.SheetGuide)
	require.NoError(t, err)
	explained := map[string]bool{}
	for _, g := range guide {
		if len(g) == 3 && g[2] != "" {
			explained[g[0]] = true
		}
	}
	for _, cols := range [][]report.Column{report.SummaryColumns, report.DayColumns, report.RecipientColumns, report.ProblemColumns, report.AuditFileColumns} {
		for _, c := range cols {
			require.True(t, explained[c.Title], c.Title)
		}
	}

	// Recipients: one row per recipient, Chinese titles for the file's columns.
	rows, err := f.GetRows(report.SheetRecipients)
	require.NoError(t, err)
	require.Len(t, rows, 1+7)
	require.Equal(t, report.Titles(report.RecipientColumns), rows[0], "a Chinese title on every column")
	tables, err := f.GetTables(report.SheetRecipients)
	require.NoError(t, err)
	require.Len(t, tables, 1, "the header has filter buttons")
	require.Equal(t, "A1:U8", tables[0].Range)
	require.Equal(t, "oA", rows[1][1])
	requireNumber(t, f, report.SheetRecipients, 11, 2, "10") // 优惠金额 10.00
	requireNumber(t, f, report.SheetRecipients, 10, 2, "")   // 消耗时间, a date-time

	// Problems: every kind, the recipients in doubt first.
	sections := problemSections(t, f)
	require.Len(t, sections, 2)
	require.Equal(t, "待确认或待复核", sections[0].title)
	require.Equal(t, []string{"in_doubt"}, sections[0].kinds)
	kinds := map[string]bool{}
	for _, k := range sections[1].kinds {
		kinds[k] = true
	}
	for _, k := range []string{"footer_mismatch", "unknown_coupon", "refund_without_use", "used_before_issue", "callback_not_in_file", "use_without_callback"} {
		require.True(t, kinds[k], k)
	}

	// Two native charts on the Summary sheet.
	charts := chartsOf(t, raw)
	require.Len(t, charts, 2)
	joined := strings.Join(charts, "\n")
	require.Contains(t, joined, `<barChart><barDir val="bar">`)
	require.Contains(t, joined, `<barChart><barDir val="col">`)
	require.Contains(t, joined, report.TitleClasses)
	require.Contains(t, joined, report.TitleDaily)
	require.Contains(t, joined, "&#39;"+report.SheetSummary+"&#39;!$A$")
	// The daily chart's categories are text with no date format, its axis
	// labels dark, and one day is not two slabs.
	daily := charts[1]
	if !strings.Contains(daily, report.TitleDaily) {
		daily = charts[0]
	}
	require.NotContains(t, daily, "yyyy-mm-dd")
	require.Contains(t, daily, `<gapWidth val="250">`, "four days: bars of a sensible width")
	require.NotContains(t, joined, `val="D9D9D9"`, "no 15% grey labels")
	require.Contains(t, joined, `val="262626"`)
}

// chartsOf returns the chart parts of an xlsx file.
func chartsOf(t *testing.T, raw string) []string {
	t.Helper()
	zr, err := zip.NewReader(strings.NewReader(raw), int64(len(raw)))
	require.NoError(t, err)
	var out []string
	for _, zf := range zr.File {
		if strings.HasPrefix(zf.Name, "xl/charts/chart") {
			rc, err := zf.Open()
			require.NoError(t, err)
			var buf bytes.Buffer
			_, err = buf.ReadFrom(rc)
			rc.Close()
			require.NoError(t, err)
			out = append(out, buf.String())
		}
	}
	return out
}

func cellName(col, row int) string {
	c, _ := excelize.CoordinatesToCellName(col, row)
	return c
}

func findCell(t *testing.T, f *excelize.File, sheet, value string) string {
	t.Helper()
	cells, err := f.SearchSheet(sheet, value)
	require.NoError(t, err)
	require.NotEmpty(t, cells, "%s not on %s", value, sheet)
	return cells[0]
}

func rowValues(t *testing.T, f *excelize.File, sheet string, row int) []string {
	t.Helper()
	rows, err := f.GetRows(sheet)
	require.NoError(t, err)
	return rows[row-1]
}

// requireNumber checks a cell is a number (raw value want, when given).
func requireNumber(t *testing.T, f *excelize.File, sheet string, col, row int, want string) {
	t.Helper()
	c := cellName(col, row)
	typ, err := f.GetCellType(sheet, c)
	require.NoError(t, err)
	require.Contains(t, []excelize.CellType{excelize.CellTypeUnset, excelize.CellTypeNumber}, typ, "%s!%s is not a number", sheet, c)
	v, err := f.GetCellValue(sheet, c, excelize.Options{RawCellValue: true})
	require.NoError(t, err)
	_, err = strconv.ParseFloat(v, 64)
	require.NoError(t, err, "%s!%s = %q", sheet, c, v)
	if want != "" {
		require.Equal(t, want, v, "%s!%s", sheet, c)
	}
}

func requireString(t *testing.T, f *excelize.File, sheet string, col, row int, want string) {
	t.Helper()
	c := cellName(col, row)
	typ, err := f.GetCellType(sheet, c)
	require.NoError(t, err)
	require.Contains(t, []excelize.CellType{excelize.CellTypeSharedString, excelize.CellTypeInlineString}, typ)
	v, err := f.GetCellValue(sheet, c)
	require.NoError(t, err)
	require.Equal(t, want, v)
}
