package main

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"

	"github.com/issuer-dev/issuer/internal/excelcsv"
	"github.com/issuer-dev/issuer/internal/money"
	"github.com/issuer-dev/issuer/internal/simtest"
	"github.com/issuer-dev/issuer/jobs"
	"github.com/issuer-dev/issuer/queue"
	"github.com/issuer-dev/issuer/ratelimit"
	"github.com/issuer-dev/issuer/report"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

// reconcileSetup is a migrated database and a simulator whose 代金券 stock
// 9856000 issuer issued n coupons of, through the CLI.
func reconcileSetup(t *testing.T, n int) (*testBundle, *simtest.Sim) {
	t.Helper()
	b := setup(t)
	sim := simtest.Start(t, wxsim.Options{
		Stocks: []wxsim.StockSpec{{ID: "9856000", Kind: wxsim.KindFavor, Budget: 10000, CouponValue: 500, CouponMinimum: 5000}},
		Seed:   7,
		// About what follows the download, not when files are published.
		EarlyFlows: true,
	})
	maps.Copy(b.env, sim.Env())
	b.env["ISSUER_RECONCILE_DIR"] = filepath.Join(b.dir, "flowfiles")
	var list strings.Builder
	list.WriteString("openid\n")
	for i := range n {
		fmt.Fprintf(&list, "oRecon%05d\n", i)
	}
	r := b.issuer(t, list.String(), "import", "--stock", "9856000", "--name", "春节满减", "-")
	require.Equal(t, 0, r.code, r.stderr)
	// Issued by the job itself: this test is about what comes after.
	ctx := context.Background()
	store := queue.NewStore(b.schema.DB)
	job := &jobs.Issue{Store: store, Sender: sim.Client(t, 8), Limiter: ratelimit.NewFixed(2000, nil), Concurrency: 8,
		Lease: 30 * time.Second, Owner: "reconcile-test", Policy: jobs.Policy{MaxAttempts: 5}}
	for range 10 {
		_, err := job.Run(ctx, jobs.IssueOptions{})
		require.NoError(t, err)
		if left, err := store.Remaining(ctx, 0); err == nil && left == 0 {
			break
		}
	}
	require.Len(t, sim.Ledger("9856000"), n)
	return b, sim
}

// parseCSV reads a CSV issuer wrote as a program does: past the
// byte-order mark, values without the tab that keeps them text in Excel.
func parseCSV(t *testing.T, s string) [][]string {
	t.Helper()
	require.True(t, strings.HasPrefix(s, excelcsv.BOM), "the byte-order mark, for Excel")
	recs, err := excelcsv.ReadAll(strings.NewReader(s))
	require.NoError(t, err, s)
	return recs
}

// readCSV parses a report and keys its lines by batch_id.
func readCSV(t *testing.T, s string) (header []string, lines map[string]map[string]string) {
	t.Helper()
	recs := parseCSV(t, s)
	require.NotEmpty(t, recs)
	lines = map[string]map[string]string{}
	for _, rec := range recs[1:] {
		m := map[string]string{}
		for i, h := range recs[0] {
			m[h] = rec[i]
		}
		lines[m["batch_id"]] = m
	}
	return recs[0], lines
}

func TestReconcileAndReportEndToEnd(t *testing.T) {
	t.Parallel()
	b, sim := reconcileSetup(t, 200)
	used, err := sim.Server.Redeem("9856000", 0.3)
	require.NoError(t, err)
	refunded, err := sim.Server.Refund("9856000", 1.0/6) // ~5% of those issued
	require.NoError(t, err)
	require.Equal(t, 60, used)
	require.Equal(t, 10, refunded)

	r := b.issuer(t, "", "reconcile", "--stock", "9856000", "--date", "2025-03-01")
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `9856000\s+use-flow\s+loaded\s+60\s+60`, r.stdout)
	require.Regexp(t, `9856000\s+refund-flow\s+loaded\s+10\s+10`, r.stdout)

	// The simulator's truth.
	var usedAmount, refundedAmount, orderAmount int64
	orders := map[string]bool{}
	for _, c := range sim.Ledger("9856000") {
		if c.Use != nil {
			usedAmount += c.CouponAmount
			orderAmount += c.Use.OrderAmount
			orders[c.Use.TransactionID] = true
		}
		if c.RefundedAt != nil {
			refundedAmount += c.CouponAmount
		}
	}

	r = b.issuer(t, "", "report", "reconcile", "--format", "csv")
	require.Equal(t, 0, r.code, r.stderr)
	header, lines := readCSV(t, r.stdout)
	require.Equal(t, "batch_id,stock_id,issued,used,refunded,net_used,use_rate,used_amount,unknown_coupons", strings.Join(header[:9], ","))
	require.Len(t, lines, 1, "no coupon outside issuer's batches")
	want := map[string]string{
		"batch_id": "1", "stock_id": "9856000", "issued": "200", "used": "60", "refunded": "10", "net_used": "50",
		"use_rate": "0.3000", "used_amount": money.Yuan(usedAmount), "unknown_coupons": "0",
		"refunded_amount": money.Yuan(refundedAmount), "net_used_amount": money.Yuan(usedAmount - refundedAmount),
		"orders": strconv.Itoa(len(orders)), "order_amount": money.Yuan(orderAmount), "refunds_without_use": "0",
		"used_before_issue": "0", "callback_only": "0", "file_only": "0", "recipients": "200", "batch_name": "春节满减",
		"usage_source": "flow_files", "in_doubt": "0", "cancelled": "0", "review": "0", "pending": "0", "failed": "0",
	}
	require.Equal(t, want, lines["1"])
	require.Equal(t, "300.00", lines["1"]["used_amount"], "60 coupons of 5.00 yuan")

	// The batch report: every recipient's coupon as the ledger has it.
	r = b.issuer(t, "", "report", "batch", "1", "--format", "csv")
	require.Equal(t, 0, r.code, r.stderr)
	recs := parseCSV(t, r.stdout)
	require.Equal(t, report.BatchCSVHeader, recs[0])
	require.Len(t, recs, 201)
	classes := map[string]string{}
	for _, rec := range recs[1:] {
		classes[rec[5]] = rec[7] // coupon_id → class
	}
	for _, c := range sim.Ledger("9856000") {
		wantClass := "unused"
		switch {
		case c.RefundedAt != nil:
			wantClass = "refunded"
		case c.Use != nil:
			wantClass = "used"
		}
		require.Equal(t, wantClass, classes[c.CouponID], c.CouponID)
	}

	// Text and xlsx, then everything again: identical.
	dir := b.dir
	text1 := b.issuer(t, "", "report", "reconcile")
	require.Equal(t, 0, text1.code, text1.stderr)
	require.Contains(t, text1.stdout, "30.00%")
	batchText1 := b.issuer(t, "", "report", "batch", "1")
	require.Equal(t, 0, batchText1.code, batchText1.stderr)
	x1 := filepath.Join(dir, "r1.xlsx")
	r = b.issuer(t, "", "report", "reconcile", "-o", x1)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stderr, "wrote "+x1)
	csv1 := b.issuer(t, "", "report", "reconcile", "--format", "csv").stdout

	r = b.issuer(t, "", "reconcile", "--stock", "9856000", "--date", "2025-03-01")
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `use-flow\s+unchanged`, r.stdout)
	require.Regexp(t, `refund-flow\s+unchanged`, r.stdout)

	require.Equal(t, text1.stdout, b.issuer(t, "", "report", "reconcile").stdout)
	require.Equal(t, batchText1.stdout, b.issuer(t, "", "report", "batch", "1").stdout)
	require.Equal(t, csv1, b.issuer(t, "", "report", "reconcile", "--format", "csv").stdout)
	x2 := filepath.Join(dir, "r2.xlsx")
	r = b.issuer(t, "", "report", "reconcile", "--format", "xlsx", "-o", x2)
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, xlsxContent(t, x1), xlsxContent(t, x2))

	// The batch xlsx: the three sheets, the figures typed.
	bx := filepath.Join(dir, "batch1.xlsx")
	r = b.issuer(t, "", "report", "batch", "1", "-o", bx)
	require.Equal(t, 0, r.code, r.stderr)
	f, err := excelize.OpenFile(bx)
	require.NoError(t, err)
	defer f.Close()
	require.Equal(t, []string{report.SheetSummary, report.SheetRecipients, report.SheetProblems, report.SheetGuide, report.SheetAudit}, f.GetSheetList())
	cells, err := f.SearchSheet(report.SheetSummary, "春节满减")
	require.NoError(t, err)
	require.Len(t, cells, 2, "the batch's name above, and its line in the per-batch table")
	col, row, err := excelize.CellNameToCoordinates(cells[1])
	require.NoError(t, err)
	issued, _ := excelize.CoordinatesToCellName(col+3, row)
	v, err := f.GetCellValue(report.SheetSummary, issued, excelize.Options{RawCellValue: true})
	require.NoError(t, err)
	require.Equal(t, "200", v)
	typ, err := f.GetCellType(report.SheetSummary, issued)
	require.NoError(t, err)
	require.Equal(t, excelize.CellTypeUnset, typ, "a number, not a string")
	rows, err := f.GetRows(report.SheetRecipients)
	require.NoError(t, err)
	require.Len(t, rows, 201)
}

// xlsxContent is every sheet's cells, for comparing two workbooks.
func xlsxContent(t *testing.T, path string) map[string][][]string {
	t.Helper()
	f, err := excelize.OpenFile(path)
	require.NoError(t, err)
	defer f.Close()
	out := map[string][][]string{}
	for _, s := range f.GetSheetList() {
		rows, err := f.GetRows(s)
		require.NoError(t, err)
		out[s] = rows
	}
	return out
}

func TestReconcileNotYetAndErrors(t *testing.T) {
	t.Parallel()
	b, _ := reconcileSetup(t, 5)

	// Nothing redeemed yet: not an error.
	r := b.issuer(t, "", "reconcile", "--stock", "9856000")
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `use-flow\s+not_yet\s+.*账单文件不存在`, r.stdout)

	// The stock is running: its files are not due.
	r = b.issuer(t, "", "reconcile")
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `use-flow\s+not_due\s+.*running until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d Asia/Shanghai`, r.stdout)

	// A stock WeChat Pay does not know is not "not published yet".
	r = b.issuer(t, "", "reconcile", "--stock", "111")
	require.Equal(t, 1, r.code, r.stdout)
	require.Contains(t, r.stderr, "stock 111 does not exist for this merchant")

	r = b.issuer(t, "", "report", "reconcile", "--stock", "9856000")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "none fetched yet")

	for _, args := range [][]string{
		{"reconcile", "--date", "2025-13-01"},
		{"reconcile", "--stock", "98560O0"},
		{"reconcile", "extra"},
		{"report", "batch"},
		{"report", "batch", "x"},
		{"report", "reconcile", "--format", "pdf"},
		{"report", "reconcile", "--date", "yesterday"},
	} {
		r := b.issuer(t, "", args...)
		require.Equal(t, 2, r.code, "%v: %s", args, r.stderr)
	}
	r = b.issuer(t, "", "report", "batch", "99")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "batch 99")
	r = b.issuer(t, "", "report", "reconcile", "--stock", "404")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "no 代金券 batches and no flow files")

	r = b.issuer(t, "", "report", "reconcile", "--help")
	require.Equal(t, 0, r.code)
	require.Contains(t, r.stdout, "Usage: issuer report reconcile [--stock ID] [--date YYYY-MM-DD] [--format text|csv|xlsx] [-o FILE]")
}
