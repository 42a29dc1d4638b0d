package report_test

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"

	"github.com/issuer-dev/issuer/intake"
	"github.com/issuer-dev/issuer/internal/dbtest"
	"github.com/issuer-dev/issuer/internal/excelcsv"
	"github.com/issuer-dev/issuer/internal/money"
	"github.com/issuer-dev/issuer/jobs"
	"github.com/issuer-dev/issuer/report"
	"github.com/issuer-dev/issuer/wxpay"
)

// problemSection is one section of problems as a format shows it.
type problemSection struct {
	title  string
	total  int      // from the section's title
	kinds  []string // of the rows listed, in order
	openid []string
	notes  []string
	more   int // from its "(more)" line
}

var sectionTitle = regexp.MustCompile(`^(In doubt or in review|Other problems): (\d+)`)

// sheetSectionTitle is a section's title on the Problems sheet.
var sheetSectionTitle = regexp.MustCompile(`^(待确认或待复核|其他问题)：(\d+)`)

// problemSections reads the Problems sheet back.
func problemSections(t *testing.T, f *excelize.File) []problemSection {
	t.Helper()
	rows, err := f.GetRows(report.SheetProblems)
	require.NoError(t, err)
	var out []problemSection
	for _, row := range rows {
		if len(row) == 0 || row[0] == "" {
			continue
		}
		if m := sheetSectionTitle.FindStringSubmatch(row[0]); m != nil {
			n, _ := strconv.Atoi(m[2])
			out = append(out, problemSection{title: m[1], total: n})
			continue
		}
		require.NotEmpty(t, out, "a row before the first section: %v", row)
		s := &out[len(out)-1]
		switch row[0] {
		case "问题", report.NoneCell: // the header, or an empty section
		case report.MoreCell:
			_, err := fmt.Sscanf(row[7], "本节另有 %d 个", &s.more)
			require.NoError(t, err, row[7])
		default:
			s.kinds = append(s.kinds, report.ProblemKind(row[0]))
			s.openid = append(s.openid, cellAt(row, 4))
			s.notes = append(s.notes, cellAt(row, 9))
		}
	}
	return out
}

func cellAt(row []string, i int) string {
	if i < len(row) {
		return row[i]
	}
	return ""
}

var cols = regexp.MustCompile(`\s{2,}`)

// textProblems reads the text report's problems back: its head's total and
// its sections.
func textProblems(t *testing.T, text string) (total int, sections []problemSection) {
	t.Helper()
	lines := strings.Split(text, "\n")
	i := 0
	for ; i < len(lines) && !strings.HasPrefix(lines[i], "Problems: "); i++ {
	}
	require.Less(t, i, len(lines), "no Problems line")
	if lines[i] == "Problems: none" {
		return 0, nil
	}
	_, err := fmt.Sscanf(lines[i], "Problems: %d", &total)
	require.NoError(t, err)
	for _, l := range lines[i+1:] {
		switch m := sectionTitle.FindStringSubmatch(l); {
		case l == "":
		case m != nil:
			n, _ := strconv.Atoi(m[2])
			sections = append(sections, problemSection{title: m[1], total: n})
		case strings.HasPrefix(l, "KIND "):
		case strings.HasPrefix(l, "(more) "):
			s := &sections[len(sections)-1]
			_, err := fmt.Sscanf(l, "(more) %d", &s.more)
			require.NoError(t, err)
		default:
			s := &sections[len(sections)-1]
			s.kinds = append(s.kinds, strings.Fields(l)[0])
		}
	}
	return total, sections
}

// textLines reads the per-batch table of a text report: batch id → column
// title → value.
func textLines(t *testing.T, text string) map[string]map[string]string {
	t.Helper()
	lines := strings.Split(text, "\n")
	out := map[string]map[string]string{}
	for i, l := range lines {
		if l != "Per batch (amounts in yuan)" {
			continue
		}
		header := cols.Split(lines[i+1], -1)
		for _, row := range lines[i+2:] {
			if row == "" || !regexp.MustCompile(`^[0-9]`).MatchString(row) {
				break
			}
			vals := cols.Split(row, -1)
			require.Len(t, vals, len(header), row)
			m := map[string]string{}
			for j, h := range header {
				m[h] = vals[j]
			}
			out[vals[0]] = m
		}
	}
	return out
}

// summaryLines reads the Summary sheet's per-batch table: batch id (""
// for coupons issuer never issued) → column title → raw value.
func summaryLines(t *testing.T, f *excelize.File) map[string]map[string]string {
	t.Helper()
	rows, err := f.GetRows(report.SheetSummary, excelize.Options{RawCellValue: true})
	require.NoError(t, err)
	out := map[string]map[string]string{}
	for i, row := range rows {
		if len(row) == 0 || row[0] != report.TitlePerBatch {
			continue
		}
		header := rows[i+1]
		fields := report.Fields(report.SummaryColumns)
		for _, r := range rows[i+2:] {
			if len(r) == 0 {
				break
			}
			m := map[string]string{}
			for j, h := range header {
				m[fields[h]] = cellAt(r, j)
			}
			out[m["batch_id"]] = m
		}
	}
	return out
}

// recipientTally is what the per-recipient rows of a format add up to, per
// batch.
type recipientTally struct{ rows, used, inDoubt, cancelled int }

func tally(t *testing.T, header []string, rows [][]string) map[string]*recipientTally {
	t.Helper()
	idx := map[string]int{}
	fields := report.Fields(report.RecipientColumns)
	for i, h := range header {
		if f, ok := fields[h]; ok {
			h = f // a sheet's Chinese title
		}
		idx[h] = i
	}
	out := map[string]*recipientTally{}
	for _, r := range rows {
		b := r[idx["batch_id"]]
		if out[b] == nil {
			out[b] = &recipientTally{}
		}
		x := out[b]
		x.rows++
		if n, _ := strconv.Atoi(cellAt(r, idx["uses"])); n > 0 {
			x.used++
		}
		if cellAt(r, idx["in_doubt"]) == "true" || cellAt(r, idx["in_doubt"]) == "1" || cellAt(r, idx["in_doubt"]) == "TRUE" {
			x.inDoubt++
		}
		if r[idx["status"]] == "cancelled" {
			x.cancelled++
		}
	}
	return out
}

// requireAgree renders r as text, CSV and xlsx and checks that every
// format shows the model's counts: the lines, the recipients (xlsx
// Recipients sheet, and the batch CSV) and the problems, with "(more)"
// lines that add up.
func requireAgree(t *testing.T, r *report.Report) {
	t.Helper()
	text := render(t, r, report.Text)
	csvOut := render(t, r, report.CSV)
	raw := render(t, r, report.XLSX)
	f, err := excelize.OpenReader(strings.NewReader(raw))
	require.NoError(t, err)
	defer f.Close()

	txt, sum := textLines(t, text), summaryLines(t, f)
	recs, err := excelcsv.ReadAll(strings.NewReader(csvOut))
	require.NoError(t, err)
	var csvLines map[string]map[string]string
	if r.Batch == nil {
		csvLines = map[string]map[string]string{}
		for _, rec := range recs[1:] {
			m := map[string]string{}
			for i, h := range recs[0] {
				m[h] = rec[i]
			}
			csvLines[m["batch_id"]] = m
		}
		require.Len(t, csvLines, len(r.Lines))
	}
	require.Len(t, sum, len(r.Lines))

	sheet, err := f.GetRows(report.SheetRecipients, excelize.Options{RawCellValue: true})
	require.NoError(t, err)
	fromSheet := tally(t, sheet[0], sheet[1:])
	var fromCSV map[string]*recipientTally
	if r.Batch != nil {
		fromCSV = tally(t, recs[0], recs[1:])
	}

	for _, l := range r.Lines {
		id := ""
		if l.BatchID != 0 {
			id = strconv.FormatInt(l.BatchID, 10)
		}
		want := map[string]string{
			"issued": itoa(l.Issued), "used": itoa(l.Used), "refunded": itoa(l.Refunded), "net_used": itoa(l.NetUsed),
			"unknown_coupons": itoa(l.UnknownCoupons), "usage_source": l.UsageSource, "in_doubt": itoa(l.InDoubt),
			"cancelled": itoa(l.Cancelled), "review": itoa(l.Review), "pending": itoa(l.Pending), "failed": itoa(l.Failed),
			"callback_only": itoa(l.CallbackOnly), "file_only": itoa(l.FileOnly), "used_amount": money.Yuan(l.UsedAmount),
		}
		for k, v := range want {
			if csvLines != nil {
				require.Equal(t, v, csvLines[id][k], "csv line %q %s", id, k)
			}
			got := sum[id][k]
			if k == "used_amount" {
				fv, err := strconv.ParseFloat(got, 64)
				require.NoError(t, err)
				got = fmt.Sprintf("%.2f", fv)
			}
			require.Equal(t, v, got, "xlsx Summary line %q %s", id, k)
		}
		if id != "" {
			tl := txt[id]
			require.NotNil(t, tl, "text line %s", id)
			require.Equal(t, itoa(l.Issued), tl["ISSUED"])
			require.Equal(t, itoa(l.InDoubt), tl["IN DOUBT"])
			require.Equal(t, itoa(l.Used), tl["USED"])
			require.Equal(t, itoa(l.Refunded), tl["REFUNDED"])
			require.Equal(t, itoa(l.UnknownCoupons), tl["UNKNOWN"])
			require.Equal(t, itoa(l.RefundsWithoutUse+l.UsedBeforeIssue+l.CallbackOnly+l.FileOnly), tl["OTHER PROBLEMS"])
			if l.UsageSource == report.UsageCallbacks {
				require.Equal(t, "callbacks (so far)", tl["USED FROM"])
			}

			x := fromSheet[id]
			require.NotNil(t, x, "recipients of batch %s on the sheet", id)
			require.Equal(t, recipientTally{l.Recipients, l.Used, l.InDoubt, l.Cancelled}, *x, "Recipients sheet, batch %s", id)
			if fromCSV != nil {
				require.Equal(t, recipientTally{l.Recipients, l.Used, l.InDoubt, l.Cancelled}, *fromCSV[id], "batch CSV, batch %s", id)
			}
		}
	}

	// Problems: the text and the sheet show the model's sections, and the
	// rows listed plus the "(more)" lines are every problem.
	total, textSecs := textProblems(t, text)
	require.Equal(t, r.ProblemsTotal(), total)
	sheetSecs := problemSections(t, f)
	model := []report.Section{r.RecipientProblems(), r.OtherProblems()}
	if total == 0 {
		require.Empty(t, textSecs)
		return
	}
	sumTotals := 0
	for i, s := range model {
		x := sheetSecs[i]
		require.Equal(t, s.Total, x.total, "sheet section %s", x.title)
		require.Equal(t, s.Total, len(x.kinds)+x.more, "sheet section %s: listed + more", x.title)
		require.Len(t, x.kinds, len(s.Listed))
		sumTotals += x.total
	}
	require.Equal(t, total, sumTotals)
	var nonEmpty []report.Section
	for _, s := range model {
		if s.Total > 0 {
			nonEmpty = append(nonEmpty, s)
		}
	}
	require.Len(t, textSecs, len(nonEmpty))
	for i, s := range nonEmpty {
		require.Equal(t, s.Total, textSecs[i].total)
		require.Equal(t, s.Total, len(textSecs[i].kinds)+textSecs[i].more, "text section %s: listed + more", textSecs[i].title)
	}
	// Every kind's count, where the sheet lists them all.
	if len(r.Problems) == total {
		counted := map[string]int{}
		for _, x := range sheetSecs {
			for _, k := range x.kinds {
				counted[k]++
			}
		}
		for k, n := range r.ProblemCounts {
			require.Equal(t, n, counted[k], k)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestReportStatuses: cancelled rows are nobody's pending; rows in doubt
// and in review are a section of their own, first, with their notes; every
// figure counts rows in doubt as in doubt.
func TestReportStatuses(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	rep, err := intake.Import(ctx, b.db, strings.NewReader("openid\noH\noI\noJ\noK\noL\noM\n"), intake.Options{
		StockID: stock, Kind: "favor", Name: "状态", MchID: "1900000109", AppID: "wx233544546545989", Source: "statuses.csv",
	})
	require.NoError(t, err)
	id := rep.BatchID
	for _, q := range []string{
		`UPDATE recipients SET status = 'cancelled' WHERE openid = 'oH'`,
		`UPDATE recipients SET status = 'pending', outcome = 'unknown', doubt_since = now(), attempts = 2, wx_code = 'SYSTEM_ERROR',
			last_attempt_at = '2020-03-10 10:06:00+08',
			note = 'the lease expired while this row was being sent: the send may have reached WeChat Pay' WHERE openid = 'oI'`,
		`UPDATE recipients SET status = 'review', outcome = 'invalid_request', attempts = 1, wx_code = 'PARAM_ERROR',
			last_attempt_at = '2020-03-10 10:07:00+08', note = 'a person must look: the stock''s creator changed' WHERE openid = 'oJ'`,
		`UPDATE recipients SET status = 'review', outcome = 'unclassified', doubt_since = now(), attempts = 3, last_attempt_at = '2020-03-10 10:08:00+08',
			note = 'two coupons of the stock can be this row''s: a person must look' WHERE openid = 'oK'`,
		`UPDATE recipients SET status = 'failed', outcome = 'user_limited', attempts = 1 WHERE openid = 'oM'`,
	} {
		_, err := b.db.Exec(q)
		require.NoError(t, err)
	}

	r := reconciliation(t, b.db, b.opts(""))
	var line report.Line
	for _, l := range r.Lines {
		if l.BatchID == id {
			line = l
		}
	}
	require.Equal(t, 6, line.Recipients)
	require.Equal(t, 0, line.Issued)
	require.Equal(t, 2, line.InDoubt, "oI pending and oK in review: in doubt")
	require.Equal(t, 1, line.Review, "oJ: in review, not in doubt")
	require.Equal(t, 1, line.Pending, "oL only: oH is cancelled, oI in doubt")
	require.Equal(t, 1, line.Cancelled)
	require.Equal(t, 1, line.Failed)
	require.Equal(t, line.Recipients, line.Issued+line.InDoubt+line.Review+line.Pending+line.Cancelled+line.Failed)

	// The first section: the three rows (and oE of batch 1), in doubt first.
	sec := r.RecipientProblems()
	require.Equal(t, 4, sec.Total)
	var got []string
	for _, p := range sec.Listed {
		got = append(got, p.Kind+" "+p.OpenID)
	}
	require.Equal(t, []string{"in_doubt oE", "in_doubt oI", "in_doubt oK", "review oJ"}, got)
	require.Contains(t, sec.Listed[1].Note, "lease expired")
	require.Contains(t, sec.Listed[1].Detail, "in doubt, pending")
	require.Equal(t, "1900000109202003100000oE", sec.Listed[0].OutRequestNo)
	for _, p := range r.Problems[:4] {
		require.True(t, report.IsRecipientProblem(p.Kind), "recipients first: %v", p)
	}
	requireAgree(t, r)

	// The sheet shows the notes; nothing lists oH.
	raw := render(t, r, report.XLSX)
	f, err := excelize.OpenReader(strings.NewReader(raw))
	require.NoError(t, err)
	defer f.Close()
	secs := problemSections(t, f)
	require.Equal(t, []string{"oE", "oI", "oK", "oJ"}, secs[0].openid)
	require.Equal(t, "two coupons of the stock can be this row's: a person must look", secs[0].notes[2])
	require.NotContains(t, render(t, r, report.Text), " oH ")

	// The batch report: its header counts cancelled and in doubt.
	br := batchReport(t, b.db, id, b.opts(""))
	require.Equal(t, 1, br.Batch.Counts["cancelled"])
	require.Equal(t, 2, br.Batch.InDoubt)
	text := render(t, br, report.Text)
	require.Contains(t, text, "pending 2, in_flight 0, issued 0, failed 1, review 2, cancelled 1; in doubt 2")
	requireAgree(t, br)

	// Few problems listed: the "(more)" lines count the rest, per section.
	opts := b.opts("")
	opts.MaxProblems = 3
	requireAgree(t, reconciliation(t, b.db, opts))
	opts.MaxProblems = 6
	short := reconciliation(t, b.db, opts)
	require.Len(t, short.Problems, 6)
	require.Equal(t, short.ProblemsTotal()-6, short.OtherProblems().Unlisted())
	requireAgree(t, short)
}

// TestReportWhileCallbacksStream: during a campaign (no use-flow yet) the
// report shows usage so far from stored COUPON.USE callbacks, labelled as
// such; taken while callbacks keep arriving, each report is one snapshot:
// its formats, rendered after more callbacks were stored, agree with each
// other and with it.
func TestReportWhileCallbacksStream(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.New(t).DB
	const campaign, coupons = "7770001", 300
	var list strings.Builder
	list.WriteString("openid\n")
	for i := range coupons + 4 {
		fmt.Fprintf(&list, "oS%04d\n", i)
	}
	imp, err := intake.Import(ctx, db, strings.NewReader(list.String()), intake.Options{
		StockID: campaign, Kind: "favor", Name: "双十一", MchID: "1900000109", AppID: "wx233544546545989", Source: "campaign.csv",
	})
	require.NoError(t, err)
	_, err = db.Exec(`UPDATE recipients SET status = 'issued', outcome = 'issued', attempts = 1,
		coupon_id = 'C' || substr(openid, 3), issued_at = '2025-11-01 10:00:00+08', last_attempt_at = '2025-11-01 10:00:00+08'
		WHERE batch_id = $1 AND openid < $2`, imp.BatchID, fmt.Sprintf("oS%04d", coupons))
	require.NoError(t, err)
	// The four last rows: cancelled, in doubt, in review, pending.
	for i, q := range []string{
		`UPDATE recipients SET status = 'cancelled' WHERE openid = $1`,
		`UPDATE recipients SET status = 'pending', outcome = 'unknown', doubt_since = now(), attempts = 1 WHERE openid = $1`,
		`UPDATE recipients SET status = 'review', outcome = 'unknown', doubt_since = now(), attempts = 5, note = 'asked WeChat Pay: no answer yet' WHERE openid = $1`,
		`SELECT $1`,
	} {
		_, err := db.Exec(q, fmt.Sprintf("oS%04d", coupons+i))
		require.NoError(t, err)
	}

	// The stream: a callback for every coupon issued, then for coupons of
	// the stock issuer never issued, until the test stops it.
	streamCtx, stop := context.WithCancel(ctx)
	progress := make(chan int)
	var wg sync.WaitGroup
	var streamErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(progress)
		for i := 0; ; i++ {
			coupon := fmt.Sprintf("C%04d", i)
			if i >= coupons {
				coupon = fmt.Sprintf("X%06d", i)
			}
			consumed := fmt.Sprintf("2025-11-%02dT12:00:00+08:00", 2+i%3)
			_, err := jobs.StoreCouponUse(streamCtx, db, &wxpay.Notification{ID: fmt.Sprintf("N%06d", i), EventType: wxpay.EventCouponUse, CreateTime: consumed},
				&wxpay.CouponUse{StockID: campaign, CouponID: coupon, StockCreatorMchID: "1900000109", Status: wxpay.CouponUsed,
					NormalCouponInformation: &wxpay.NormalCouponInformation{CouponAmount: 500, TransactionMinimum: 5000},
					ConsumeInformation: &wxpay.ConsumeInformation{ConsumeTime: consumed, ConsumeMchID: "1900000109",
						TransactionID: fmt.Sprintf("42000005232025110%011d", i)}})
			if streamCtx.Err() != nil {
				return
			}
			if err != nil {
				streamErr = err
				return
			}
			select { // the test reads when it waits; the stream does not
			case progress <- i + 1:
			default:
			}
		}
	}()
	t.Cleanup(func() { stop(); wg.Wait() })
	waitFor := func(n int) int {
		for got := range progress {
			if got >= n {
				return got
			}
		}
		require.NoError(t, streamErr)
		t.Fatal("the stream stopped")
		return 0
	}

	waitFor(50)
	rec := reconciliation(t, db, report.Options{})
	batch := batchReport(t, db, imp.BatchID, report.Options{})
	// More callbacks are stored before anything is rendered.
	stored := waitFor(coupons + 50)

	var line report.Line
	for _, l := range rec.Lines {
		if l.BatchID == imp.BatchID {
			line = l
		}
	}
	require.Equal(t, report.UsageCallbacks, line.UsageSource)
	require.Equal(t, []string{campaign}, rec.UsageFromCallbacks())
	require.GreaterOrEqual(t, line.Used, 50)
	require.Less(t, line.Used+rec.Lines[len(rec.Lines)-1].UnknownCoupons, stored, "the report is older than the renders")
	require.Equal(t, int64(500)*int64(line.Used), line.UsedAmount)
	require.Equal(t, 2, line.InDoubt, "pending and in review")
	require.Equal(t, 1, line.Cancelled)
	require.Equal(t, 0, line.Review, "the review row is in doubt")
	require.Equal(t, 1, line.Pending)
	require.Zero(t, line.FileOnly+line.CallbackOnly, "no use-flow yet: nothing to compare")
	text := render(t, rec, report.Text)
	require.Contains(t, text, "Stock 7770001: no use-flow file loaded yet; USED is used so far, from stored COUPON.USE callbacks.")
	requireAgree(t, rec)
	requireAgree(t, batch)
	// Rendering again, later still, changes nothing.
	waitFor(stored + 20)
	require.Equal(t, text, render(t, rec, report.Text))
	require.Equal(t, render(t, batch, report.CSV), render(t, batch, report.CSV))

	stop()
	wg.Wait()
	require.NoError(t, streamErr)

	// A report taken now sees every coupon used.
	now := reconciliation(t, db, report.Options{StockID: campaign})
	require.Equal(t, coupons, now.Lines[0].Used)
	require.Equal(t, "1.0000", now.Lines[0].UseRate())
	requireAgree(t, now)
	var buf bytes.Buffer
	require.NoError(t, now.Write(ctx, &buf, report.CSV))
	require.True(t, strings.HasPrefix(strings.TrimPrefix(buf.String(), excelcsv.BOM),
		"batch_id,stock_id,issued,used,refunded,net_used,use_rate,used_amount,unknown_coupons,"), "the CSV contract")
}
