package report

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"
)

// Sheet names of the xlsx report.
const (
	SheetSummary    = "Summary"
	SheetRecipients = "Recipients"
	SheetProblems   = "Problems"
	// SheetGuide explains every column of the other sheets, in Chinese.
	SheetGuide = "说明"
	// SheetAudit keeps what analysts need not see and auditors do: the
	// flow files' digests and where the server keeps them.
	SheetAudit = "审计"
)

// axisFont is the charts' axis labels: dark enough to read when printed.
var axisFont = excelize.Font{Color: "262626", Size: 9}

// maxSheetRows is Excel's row limit, header included.
const maxSheetRows = 1 << 20

// yuan is fen as Excel's number type. Every amount is computed in integer
// fen; this is only the cell's encoding, and for any amount below 2^53 fen
// the double nearest the two-decimal value prints back as exactly that value.
func yuan(fen int64) float64 { return float64(fen) / 100 }

type xlsxStyles struct {
	title, header, int, yuan, percent, date, datetime int
}

func newStyles(f *excelize.File) (xlsxStyles, error) {
	var s xlsxStyles
	var errs []error
	add := func(dst *int, st *excelize.Style) {
		id, err := f.NewStyle(st)
		errs = append(errs, err)
		*dst = id
	}
	custom := func(s string) *string { return &s }
	add(&s.title, &excelize.Style{Font: &excelize.Font{Bold: true, Size: 14}})
	add(&s.header, &excelize.Style{Font: &excelize.Font{Bold: true},
		Fill:   excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"DDEBF7"}},
		Border: []excelize.Border{{Type: "bottom", Color: "808080", Style: 1}}})
	add(&s.int, &excelize.Style{NumFmt: 3}) // #,##0
	add(&s.yuan, &excelize.Style{CustomNumFmt: custom("#,##0.00")})
	add(&s.percent, &excelize.Style{NumFmt: 10}) // 0.00%
	add(&s.date, &excelize.Style{CustomNumFmt: custom("yyyy-mm-dd")})
	add(&s.datetime, &excelize.Style{CustomNumFmt: custom("yyyy-mm-dd hh:mm:ss")})
	return s, errors.Join(errs...)
}

// WriteXLSX renders the report as a workbook: Summary (figures, outcomes by
// class and daily redemptions, each with a native chart, and the flow
// files), Recipients and Problems.
func (r *Report) WriteXLSX(ctx context.Context, w io.Writer) error {
	f := excelize.NewFile()
	defer f.Close()
	st, err := newStyles(f)
	if err != nil {
		return fmt.Errorf("report xlsx: %w", err)
	}
	if err := f.SetSheetName("Sheet1", SheetSummary); err != nil {
		return fmt.Errorf("report xlsx: %w", err)
	}
	for _, name := range []string{SheetRecipients, SheetProblems, SheetGuide, SheetAudit} {
		if _, err := f.NewSheet(name); err != nil {
			return fmt.Errorf("report xlsx: %w", err)
		}
	}
	truncated, err := r.recipientsSheet(ctx, f, st)
	if err != nil {
		return fmt.Errorf("report xlsx: %w", err)
	}
	if err := r.problemsSheet(f, st); err != nil {
		return fmt.Errorf("report xlsx: %w", err)
	}
	if err := r.summarySheet(f, st, truncated); err != nil {
		return fmt.Errorf("report xlsx: %w", err)
	}
	if err := guideSheet(f, st); err != nil {
		return fmt.Errorf("report xlsx: %w", err)
	}
	if err := r.auditSheet(f, st); err != nil {
		return fmt.Errorf("report xlsx: %w", err)
	}
	f.SetActiveSheet(0)
	if _, err := f.WriteTo(w); err != nil {
		return fmt.Errorf("report xlsx: %w", err)
	}
	return nil
}

// sheetWriter writes typed cells of a normal (not streamed) sheet.
type sheetWriter struct {
	f     *excelize.File
	sheet string
	err   error
}

// set writes v at (col, row), 1-based, with style (0: none).
func (s *sheetWriter) set(col, row int, v any, style int) {
	if s.err != nil {
		return
	}
	cell, err := excelize.CoordinatesToCellName(col, row)
	if err == nil {
		err = s.f.SetCellValue(s.sheet, cell, v)
	}
	if err == nil && style != 0 {
		err = s.f.SetCellStyle(s.sheet, cell, cell, style)
	}
	s.err = err
}

// row writes cells from column 1; a cell is a value or a styled value.
func (s *sheetWriter) row(row int, cells ...any) {
	for i, c := range cells {
		if sc, ok := c.(styled); ok {
			s.set(i+1, row, sc.v, sc.style)
		} else if c != nil {
			s.set(i+1, row, c, 0)
		}
	}
}

func (s *sheetWriter) header(row int, style int, titles ...string) {
	for i, t := range titles {
		s.set(i+1, row, t, style)
	}
}

// widths sets the widths of columns 1, 2, … in turn.
func (s *sheetWriter) widths(widths ...float64) {
	for i, wd := range widths {
		if s.err != nil {
			return
		}
		col, _ := excelize.ColumnNumberToName(i + 1)
		s.err = s.f.SetColWidth(s.sheet, col, col, wd)
	}
}

// fitOnePageWide prints the sheet landscape, one page wide and as many
// pages long as it takes.
func (s *sheetWriter) fitOnePageWide() {
	if s.err != nil {
		return
	}
	s.err = s.f.SetSheetProps(s.sheet, &excelize.SheetPropsOptions{FitToPage: new(true)})
	if s.err == nil {
		s.err = s.f.SetPageLayout(s.sheet, &excelize.PageLayoutOptions{
			Orientation: new("landscape"), FitToWidth: new(1), FitToHeight: new(0),
		})
	}
}

type styled struct {
	v     any
	style int
}

func ref(sheet string, col1, row1, col2, row2 int) string {
	a, _ := excelize.CoordinatesToCellName(col1, row1, true)
	b, _ := excelize.CoordinatesToCellName(col2, row2, true)
	return fmt.Sprintf("%s!%s:%s", sheet, a, b)
}

// chartRows is the height of a chart, in rows, so sections do not overlap.
const chartRows = 18

func (r *Report) summarySheet(f *excelize.File, st xlsxStyles, truncated int) error {
	s := &sheetWriter{f: f, sheet: SheetSummary}
	r.summaryHead(s, st, truncated)
	row := r.summaryLines(s, st, 6)
	row, err := r.summaryClasses(s, st, row)
	if err != nil {
		return err
	}
	if row, err = r.summaryDays(s, st, row); err != nil {
		return err
	}
	r.summaryFiles(s, st, row)
	s.widths(22, 24, 14, 11, 11, 11, 11, 19, 11, 16, 17, 17, 10, 16, 17, 20, 18, 14, 10, 14, 10, 10, 10, 10, 10)
	// Printed, the summary is one page wide, landscape.
	s.fitOnePageWide()
	return s.err
}

// summaryHead is the title, the scope, the batch's id and name, and notes
// on what the sheet leaves out.
func (r *Report) summaryHead(s *sheetWriter, st xlsxStyles, truncated int) {
	s.set(1, 1, r.Title, st.title)
	s.set(1, 2, r.scopeLine()+" Amounts in yuan.", 0)
	if b := r.Batch; b != nil {
		// Id and name in cells of their own, for filters and lookups.
		s.row(3, styled{"批次ID", st.header}, b.ID, styled{"批次名称", st.header}, b.Name,
			styled{"批次号", st.header}, b.StockID, styled{"状态", st.header}, b.Status)
	}
	row := 4
	if truncated > 0 {
		s.set(1, row, fmt.Sprintf("The Recipients sheet stops at Excel's limit: %d recipients more are in the CSV report.", truncated), 0)
		row++
	}
	if r.reconciled() {
		if cbs := r.UsageFromCallbacks(); len(cbs) > 0 {
			s.set(1, row, fmt.Sprintf("No use-flow file loaded yet for stock %s: used is used so far, from stored COUPON.USE callbacks "+
				"(usage_source callbacks); refunds and order amounts come with the files.", strings.Join(cbs, ", ")), 0)
		}
	}
}

// summaryLines is the table per batch from row; it returns its last row.
func (r *Report) summaryLines(s *sheetWriter, st xlsxStyles, row int) int {
	s.set(1, row, "Per batch", st.title)
	row++
	s.header(row, st.header, Titles(SummaryColumns)...)
	for _, l := range r.Lines {
		row++
		var batch, name any = l.BatchID, l.BatchName
		if l.BatchID == 0 {
			batch, name = nil, "（非 issuer 发放）"
		}
		var rate any
		if l.Issued > 0 && l.BatchID != 0 && r.reconciled() {
			rate = styled{float64(l.Used) / float64(l.Issued), st.percent}
		}
		var orderAmount any
		if l.OrderAmountKnown() {
			orderAmount = styled{yuan(l.OrderAmount), st.yuan}
		}
		s.row(row, batch, name, l.StockID, styled{l.Recipients, st.int}, styled{l.Issued, st.int},
			styled{l.Used, st.int}, styled{l.Refunded, st.int}, styled{l.NetUsed, st.int}, rate,
			styled{yuan(l.UsedAmount), st.yuan}, styled{yuan(l.RefundedAmount), st.yuan},
			styled{yuan(l.NetUsedAmount()), st.yuan}, styled{l.Orders, st.int}, orderAmount,
			styled{l.UnknownCoupons, st.int}, styled{l.RefundsWithoutUse, st.int}, styled{l.UsedBeforeIssue, st.int},
			styled{l.CallbackOnly, st.int}, styled{l.FileOnly, st.int}, l.UsageSource,
			styled{l.InDoubt, st.int}, styled{l.Cancelled, st.int}, styled{l.Review, st.int},
			styled{l.Pending, st.int}, styled{l.Failed, st.int})
	}

	return row
}

// summaryClasses is the outcomes by class below row, with a bar chart
// beside; it returns the last row they take.
func (r *Report) summaryClasses(s *sheetWriter, st xlsxStyles, row int) (int, error) {
	row += 3
	classTop := row
	s.set(1, row, "Outcomes by class", st.title)
	row++
	s.header(row, st.header, Titles(ClassColumns)...)
	first := row + 1
	for _, c := range r.Classes {
		row++
		s.row(row, c.Label, styled{c.Count, st.int})
	}
	if s.err != nil {
		return row, s.err
	}
	if len(r.Classes) > 0 {
		err := s.f.AddChart(SheetSummary, cellName(4, classTop), &excelize.Chart{
			Type:      excelize.Bar,
			Series:    []excelize.ChartSeries{{Name: ref(SheetSummary, 2, first-1, 2, first-1), Categories: ref(SheetSummary, 1, first, 1, row), Values: ref(SheetSummary, 2, first, 2, row)}},
			Title:     excelize.ChartTitle{Paragraph: []excelize.RichTextRun{{Text: "Outcomes by class"}}},
			Legend:    excelize.ChartLegend{Position: "none"},
			PlotArea:  excelize.ChartPlotArea{ShowVal: true},
			XAxis:     excelize.ChartAxis{ReverseOrder: true, Font: axisFont},
			YAxis:     excelize.ChartAxis{Font: axisFont, MajorGridLines: true, MajorUnit: countUnit(maxClass(r.Classes))},
			GapWidth:  new(uint(60)),
			Dimension: excelize.ChartDimension{Width: 640, Height: 340},
		})
		if err != nil {
			return row, fmt.Errorf("outcomes chart: %w", err)
		}
	}
	row = max(row, classTop+chartRows)

	return row, nil
}

// summaryDays is the daily redemptions below row, with a column chart
// beside; it returns the last row they take.
func (r *Report) summaryDays(s *sheetWriter, st xlsxStyles, row int) (int, error) {
	row += 2
	dayTop := row
	s.set(1, row, "Daily redemptions", st.title)
	row++
	s.header(row, st.header, Titles(DayColumns)...)
	first := row + 1
	for _, d := range r.Days {
		row++
		// The day is text, not a date cell: the chart's categories are
		// its labels as they are, with no number format to misread (a
		// date format on text categories showed 2026-01-01 for every
		// day of 2026-12). ISO days sort and filter as text just as well.
		s.row(row, d.Date.Format(time.DateOnly), styled{d.Uses, st.int}, styled{yuan(d.UsedAmount), st.yuan},
			styled{d.Refunds, st.int}, styled{yuan(d.RefundedAmount), st.yuan})
	}
	if s.err != nil {
		return row, s.err
	}
	if len(r.Days) > 0 {
		err := s.f.AddChart(SheetSummary, cellName(7, dayTop), &excelize.Chart{
			Type: excelize.Col,
			Series: []excelize.ChartSeries{
				{Name: ref(SheetSummary, 2, first-1, 2, first-1), Categories: ref(SheetSummary, 1, first, 1, row), Values: ref(SheetSummary, 2, first, 2, row)},
				{Name: ref(SheetSummary, 4, first-1, 4, first-1), Categories: ref(SheetSummary, 1, first, 1, row), Values: ref(SheetSummary, 4, first, 4, row)},
			},
			Title:      excelize.ChartTitle{Paragraph: []excelize.RichTextRun{{Text: "Daily redemptions"}}},
			VaryColors: new(false),
			Legend:     excelize.ChartLegend{Position: "bottom"},
			XAxis:      excelize.ChartAxis{Font: axisFont},
			YAxis:      excelize.ChartAxis{Font: axisFont, MajorGridLines: true, MajorUnit: countUnit(maxDay(r.Days))},
			GapWidth:   new(dayGap(len(r.Days))),
			Dimension:  excelize.ChartDimension{Width: 640, Height: 340},
		})
		if err != nil {
			return row, fmt.Errorf("daily chart: %w", err)
		}
	} else {
		s.set(1, row+1, "no redemptions recorded", 0)
	}
	row = max(row, dayTop+chartRows)

	return row, nil
}

// summaryFiles lists the flow files below row.
func (r *Report) summaryFiles(s *sheetWriter, st xlsxStyles, row int) {
	row += 2
	s.set(1, row, "Flow files", st.title)
	row++
	// Digests and server paths are on the audit sheet, not here.
	s.header(row, st.header, Titles(FileColumns)...)
	for _, fl := range r.Files {
		row++
		s.row(row, r.fileCells(fl, st)...)
	}
	if len(r.Files) == 0 {
		s.set(1, row+1, "none fetched yet", 0)
	}
}

func cellName(col, row int) string {
	c, _ := excelize.CoordinatesToCellName(col, row)
	return c
}

// recipientsSheet streams the recipients; it returns how many did not fit.
func (r *Report) recipientsSheet(ctx context.Context, f *excelize.File, st xlsxStyles) (int, error) {
	sw, err := f.NewStreamWriter(SheetRecipients)
	if err != nil {
		return 0, err
	}
	widths := []float64{9, 32, 30, 10, 18, 14, 20, 16, 6, 20, 15, 17, 32, 13, 8, 20, 15, 20, 9, 60, 13}
	for i, wd := range widths {
		if err := sw.SetColWidth(i+1, i+1, wd); err != nil {
			return 0, err
		}
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return 0, err
	}
	header := Titles(RecipientColumns)
	if err := sw.SetRow("A1", headerCells(header, st.header)); err != nil {
		return 0, err
	}
	row, over := 1, 0
	timeCell := func(t *time.Time) any {
		if t == nil {
			return nil
		}
		return excelize.Cell{Value: t.In(r.Location), StyleID: st.datetime}
	}
	err = r.EachRecipient(ctx, func(rec *Recipient) error {
		if row == maxSheetRows {
			over++
			return nil
		}
		row++
		if r.progress != nil && (row-1)%progressEvery == 0 {
			r.progress(row - 1)
		}
		var used, order, refunded any
		if rec.Uses > 0 {
			used = excelize.Cell{Value: yuan(rec.UsedAmount), StyleID: st.yuan}
		}
		if rec.OrderAmount != nil {
			order = excelize.Cell{Value: yuan(*rec.OrderAmount), StyleID: st.yuan}
		}
		if rec.Refunds > 0 {
			refunded = excelize.Cell{Value: yuan(rec.RefundedAmount), StyleID: st.yuan}
		}
		return sw.SetRow("A"+strconv.Itoa(row), []any{
			rec.BatchID, rec.OpenID, rec.OutRequestNo, rec.Status, rec.Outcome, rec.CouponID, timeCell(rec.IssuedAt),
			classLabel(rec.Class), rec.Uses, timeCell(rec.UsedAt), used, order, rec.TransactionID, rec.ConsumeMchID,
			rec.Refunds, timeCell(rec.RefundedAt), refunded, timeCell(rec.CallbackAt), rec.InDoubt, rec.Note,
			rec.UsageSource,
		})
	})
	if err != nil {
		return 0, err
	}
	if row > 1 {
		// A table gives the header its filter buttons (and keeps them
		// when rows are sorted).
		last, _ := excelize.CoordinatesToCellName(len(header), row)
		err := sw.AddTable(&excelize.Table{Range: "A1:" + last, Name: "Recipients", StyleName: "TableStyleLight1",
			ShowRowStripes: new(false)})
		if err != nil {
			return 0, err
		}
	}
	if r.progress != nil {
		r.progress(row - 1)
	}
	return over, sw.Flush()
}

// countUnit is the step of a count axis: whole coupons when the counts are
// small (no 0.5 ticks), else the spreadsheet's choice (0).
func countUnit(maxCount int) float64 {
	if maxCount <= 10 {
		return 1
	}
	return 0
}

func maxClass(cs []Class) int {
	m := 0
	for _, c := range cs {
		m = max(m, c.Count)
	}
	return m
}

func maxDay(ds []Day) int {
	m := 0
	for _, d := range ds {
		m = max(m, d.Uses, d.Refunds)
	}
	return m
}

// dayGap is the daily chart's gap between days, in percent of a bar: wide
// when there are few days, so that one day is two slim bars rather than
// two slabs filling the chart.
func dayGap(days int) uint {
	switch {
	case days <= 2:
		return 500 // Excel's maximum
	case days <= 7:
		return 250
	}
	return 80
}

// fileCells is a flow file's row of the Flow files table.
func (r *Report) fileCells(fl File, st xlsxStyles) []any {
	day, _ := time.Parse(time.DateOnly, fl.Date)
	return []any{fl.StockID, fl.Kind + "-flow", styled{day, st.date}, styled{fl.Rows, st.int},
		styled{fl.NewRows, st.int}, fl.Status, styled{fl.Bytes, st.int},
		styled{fl.DownloadedAt.In(r.Location), st.datetime}, fl.Error}
}

// auditSheet lists the flow files with their SHA1 digests and the paths
// the server keeps them at: for auditors, not for the analysts' summary.
func (r *Report) auditSheet(f *excelize.File, st xlsxStyles) error {
	s := &sheetWriter{f: f, sheet: SheetAudit}
	s.set(1, 1, "Flow files: digests and where the server keeps them", st.title)
	s.header(2, st.header, Titles(AuditFileColumns)...)
	for i, fl := range r.Files {
		s.row(3+i, append(r.fileCells(fl, st), fl.SHA1, fl.Path)...)
	}
	if len(r.Files) == 0 {
		s.set(1, 3, "none fetched yet", 0)
	}
	s.widths(12, 13, 12, 9, 9, 10, 10, 19, 30, 42, 60)
	return s.err
}

// guideSheet explains every column of every sheet, briefly, in Chinese.
func guideSheet(f *excelize.File, st xlsxStyles) error {
	s := &sheetWriter{f: f, sheet: SheetGuide}
	s.set(1, 1, "各列说明", st.title)
	s.set(1, 2, "金额单位为元；时间为配置的时区。待确认的收券人可能已经发放，绝不要算作未发放。", 0)
	row := 4
	for _, t := range []struct {
		sheet, table string
		cols         []Column
	}{
		{SheetSummary, "Per batch 按批次", SummaryColumns},
		{SheetSummary, "Outcomes by class 按结果", ClassColumns},
		{SheetSummary, "Daily redemptions 每日核销", DayColumns},
		{SheetSummary, "Flow files 账单文件", FileColumns},
		{SheetRecipients, "收券人明细", RecipientColumns},
		{SheetProblems, "问题", ProblemColumns},
		{SheetAudit, "账单文件（审计）", AuditFileColumns[len(FileColumns):]},
	} {
		s.set(1, row, t.sheet+" · "+t.table, st.title)
		row++
		s.header(row, st.header, "列名", "字段", "说明")
		for _, c := range t.cols {
			row++
			s.row(row, c.Title, c.Field, c.Desc)
		}
		row += 2
	}
	s.widths(22, 22, 90)
	// Printed, the three columns stay on one page wide.
	s.fitOnePageWide()
	return s.err
}

func headerCells(titles []string, style int) []any {
	out := make([]any, len(titles))
	for i, t := range titles {
		out[i] = excelize.Cell{Value: t, StyleID: style}
	}
	return out
}

// problemsSheet lists the problems in two sections, each with its title,
// header and a "(more)" line when not every row is listed: recipients in
// doubt or in review first, then files, coupons and callbacks.
func (r *Report) problemsSheet(f *excelize.File, st xlsxStyles) error {
	sw, err := f.NewStreamWriter(SheetProblems)
	if err != nil {
		return err
	}
	for i, wd := range []float64{22, 14, 9, 14, 32, 20, 15, 90, 30, 60} {
		if err := sw.SetColWidth(i+1, i+1, wd); err != nil {
			return err
		}
	}
	header := headerCells(Titles(ProblemColumns), st.header)
	row := 0
	put := func(cells []any) error {
		row++
		return sw.SetRow("A"+strconv.Itoa(row), cells)
	}
	title := func(text string) error {
		return put([]any{excelize.Cell{Value: text, StyleID: st.title}})
	}
	if r.ProblemsTotal() == 0 {
		if err := title("Problems: none"); err != nil {
			return err
		}
		return sw.Flush()
	}
	sections := []struct {
		title string
		sec   Section
	}{
		{"In doubt or in review: %d — rows in doubt may have been issued by WeChat Pay; never count them as not issued", r.RecipientProblems()},
		{"Other problems: %d", r.OtherProblems()},
	}
	for i, s := range sections {
		if i > 0 {
			row++ // a blank row between sections
		}
		if err := title(fmt.Sprintf(s.title, s.sec.Total)); err != nil {
			return err
		}
		if s.sec.Total == 0 {
			if err := put([]any{"none"}); err != nil {
				return err
			}
			continue
		}
		if err := put(header); err != nil {
			return err
		}
		for _, p := range s.sec.Listed {
			var batch, at, amount any
			if p.BatchID != nil {
				batch = *p.BatchID
			}
			if p.At != nil {
				at = excelize.Cell{Value: p.At.In(r.Location), StyleID: st.datetime}
			}
			if p.Amount != nil {
				amount = excelize.Cell{Value: yuan(*p.Amount), StyleID: st.yuan}
			}
			if err := put([]any{p.Kind, p.StockID, batch, p.CouponID, p.OpenID, at, amount, p.Detail, p.OutRequestNo, p.Note}); err != nil {
				return err
			}
		}
		if n := s.sec.Unlisted(); n > 0 {
			if err := put([]any{"(more)", nil, nil, nil, nil, nil, nil, fmt.Sprintf("%d more problems of this section not listed", n)}); err != nil {
				return err
			}
		}
	}
	return sw.Flush()
}
