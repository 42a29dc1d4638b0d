package report

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/issuer-dev/issuer/internal/money"
	"github.com/issuer-dev/issuer/internal/textable"
	"github.com/issuer-dev/issuer/queue"
)

// textProblems is how many problems the text report lists.
const textProblems = 30

// WriteText renders the report as aligned tables for a terminal.
func (r *Report) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, r.Title)
	fmt.Fprintln(bw, r.scopeLine())
	r.writeTextBatch(bw)
	r.writeTextFiles(bw)
	r.writeTextLines(bw)
	r.writeTextClasses(bw)
	r.writeTextDays(bw)
	r.writeTextProblems(bw)
	return bw.Flush()
}

// writeTextBatch is the head of a batch's report: its recipients by status.
func (r *Report) writeTextBatch(w io.Writer) {
	b := r.Batch
	if b == nil {
		return
	}
	var parts []string
	for _, st := range queue.RecipientStatuses {
		parts = append(parts, fmt.Sprintf("%s %d", st, b.Counts[st]))
	}
	fmt.Fprintf(w, "Recipients %d from %s: %s; in doubt %d (pending or review: WeChat Pay may have issued them)\n",
		b.Accepted, b.SourceFile, strings.Join(parts, ", "), b.InDoubt)
	if b.HaltReason != nil {
		fmt.Fprintf(w, "Halted: %s\n", *b.HaltReason)
	}
	if !r.reconciled() {
		fmt.Fprintln(w, "商品券 (product coupons) are in no use-flow or refund-flow file: only their issuing is reported.")
	}
}

// writeTextFiles lists the flow files the report counts.
func (r *Report) writeTextFiles(w io.Writer) {
	section(w, "Flow files (latest per stock and kind, and every rejected one)")
	files := r.LatestFiles()
	if len(files) == 0 {
		fmt.Fprintln(w, "none fetched yet (issuer reconcile fetches them once due; --stock ID fetches now)")
		return
	}
	t := textable.New("STOCK", "FILE", "DAY", "ROWS>", "NEW>", "STATUS", "SHA1", "KEPT AT")
	for _, f := range files {
		status := f.Status
		if f.Error != "" {
			status += ": " + f.Error
		}
		t.Add(f.StockID, f.Kind+"-flow", f.Date, itoa(f.Rows), itoa(f.NewRows), status, short(f.SHA1), f.Path)
	}
	t.Write(w)
}

// writeTextLines is the table per batch, with a total per stock issued
// from by more than one line.
func (r *Report) writeTextLines(w io.Writer) {
	section(w, "Per batch (amounts in yuan)")
	if len(r.Lines) == 0 {
		fmt.Fprintln(w, "no recipients and no flow rows")
		return
	}
	t := textable.New("BATCH", "NAME", "STOCK", "ISSUED>", "IN DOUBT>", "USED>", "USED FROM", "REFUNDED>", "NET USED>",
		"USE RATE>", "优惠金额（元）>", "REFUNDED AMOUNT>", "NET AMOUNT>", "ORDERS>", "订单总金额（元）>", "UNKNOWN>",
		"OTHER PROBLEMS>")
	row := func(batch, name string, l Line, rate string) {
		orderAmount := "-"
		if l.OrderAmountKnown() {
			orderAmount = money.Yuan(l.OrderAmount)
		}
		t.Add(batch, name, l.StockID, itoa(l.Issued), itoa(l.InDoubt), itoa(l.Used), usageLabel(l.UsageSource),
			itoa(l.Refunded), itoa(l.NetUsed), rate, money.Yuan(l.UsedAmount), money.Yuan(l.RefundedAmount),
			money.Yuan(l.NetUsedAmount()), itoa(l.Orders), orderAmount, itoa(l.UnknownCoupons),
			itoa(l.RefundsWithoutUse+l.UsedBeforeIssue+l.CallbackOnly+l.FileOnly))
	}
	for i, l := range r.Lines {
		if l.BatchID == 0 {
			row("-", "(not issued by issuer)", l, "-")
		} else {
			rate := l.UseRatePercent()
			if !r.reconciled() {
				rate = "-"
			}
			row(strconv.FormatInt(l.BatchID, 10), l.BatchName, l, rate)
		}
		last := i+1 == len(r.Lines) || r.Lines[i+1].StockID != l.StockID
		if first := i == 0 || r.Lines[i-1].StockID != l.StockID; last && !first {
			total, rate := r.stockTotal(l)
			row("total", "", total, rate)
		}
	}
	t.Write(w)
	if r.reconciled() {
		for _, s := range r.UsageFromCallbacks() {
			fmt.Fprintf(w, "Stock %s: no use-flow file loaded yet; USED is used so far, from stored COUPON.USE callbacks. "+
				"Refunds and order amounts come with the files.\n", s)
		}
	}
}

// stockTotal adds up the lines of l's stock, with the use rate of what
// issuer issued: coupons it never issued count in the other columns only.
func (r *Report) stockTotal(l Line) (Line, string) {
	var total, issued Line
	for _, o := range r.Lines {
		if o.StockID == l.StockID {
			total.add(o)
			if o.BatchID != 0 {
				issued.add(o)
			}
		}
	}
	total.StockID, total.UsageSource = l.StockID, l.UsageSource
	return total, issued.UseRatePercent()
}

// writeTextClasses counts the recipients by outcome class.
func (r *Report) writeTextClasses(w io.Writer) {
	section(w, "Outcomes by class")
	recipients := 0
	for _, c := range r.Classes {
		recipients += c.Count
	}
	t := textable.New("CLASS", "RECIPIENTS>", "SHARE>")
	for _, c := range r.Classes {
		t.Add(c.Label, itoa(c.Count), percent(c.Count, recipients))
	}
	t.Write(w)
}

// writeTextDays is the table of redemptions per day.
func (r *Report) writeTextDays(w io.Writer) {
	section(w, "Daily redemptions (amounts in yuan)")
	if len(r.Days) == 0 {
		fmt.Fprintln(w, "no redemptions recorded")
		return
	}
	t := textable.New("DAY", "USES>", "优惠金额（元）>", "REFUNDS>", "REFUNDED AMOUNT>")
	for _, d := range r.Days {
		t.Add(d.Date.Format(time.DateOnly), itoa(d.Uses), money.Yuan(d.UsedAmount), itoa(d.Refunds), money.Yuan(d.RefundedAmount))
	}
	t.Write(w)
}

// writeTextProblems lists the problems in two sections, recipients in doubt
// or in review first, at most textProblems rows each; a "(more)" line
// counts the rest of a section.
func (r *Report) writeTextProblems(w io.Writer) {
	total := r.ProblemsTotal()
	if total == 0 {
		section(w, "Problems: none")
		return
	}
	var counts []string
	for _, k := range problemKinds {
		if n := r.ProblemCounts[k]; n > 0 {
			counts = append(counts, fmt.Sprintf("%s %d", k, n))
		}
	}
	section(w, fmt.Sprintf("Problems: %d (%s)", total, strings.Join(counts, ", ")))
	more := func(s Section, shown int) {
		if n := s.Total - shown; n > 0 {
			fmt.Fprintf(w, "(more) %d not listed here; the xlsx report's Problems sheet lists %d of this section\n", n, len(s.Listed))
		}
	}
	if s := r.RecipientProblems(); s.Total > 0 {
		section(w, fmt.Sprintf("In doubt or in review: %d — rows in doubt may have been issued by WeChat Pay; they are never counted as not issued", s.Total))
		t := textable.New("KIND", "STOCK", "BATCH", "OPENID", "OUT_REQUEST_NO", "LAST ATTEMPT", "COUPON", "DETAIL", "NOTE")
		shown := min(len(s.Listed), textProblems)
		for _, p := range s.Listed[:shown] {
			t.Add(p.Kind, p.StockID, r.batchText(p.BatchID), p.OpenID, p.OutRequestNo, r.timeText(p.At), p.CouponID, p.Detail, p.Note)
		}
		t.Write(w)
		more(s, shown)
	}
	if s := r.OtherProblems(); s.Total > 0 {
		section(w, fmt.Sprintf("Other problems: %d", s.Total))
		t := textable.New("KIND", "STOCK", "BATCH", "COUPON", "OPENID", "TIME", "AMOUNT>", "DETAIL")
		shown := min(len(s.Listed), textProblems)
		for _, p := range s.Listed[:shown] {
			amount := ""
			if p.Amount != nil {
				amount = money.Yuan(*p.Amount)
			}
			t.Add(p.Kind, p.StockID, r.batchText(p.BatchID), p.CouponID, p.OpenID, r.timeText(p.At), amount, p.Detail)
		}
		t.Write(w)
		more(s, shown)
	}
}

func (r *Report) batchText(id *int64) string {
	if id == nil {
		return ""
	}
	return strconv.FormatInt(*id, 10)
}

func (r *Report) timeText(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.In(r.Location).Format(time.DateTime)
}

// usageLabel names a usage source for people.
func usageLabel(src string) string {
	switch src {
	case UsageCallbacks:
		return "callbacks (so far)"
	case UsageFlowFiles:
		return "flow files"
	}
	return "-"
}

// scopeLine says which rows count and how times are shown.
func (r *Report) scopeLine() string {
	files := "every flow file fetched"
	if r.AsOf != "" {
		files = "flow files fetched for " + r.AsOf + " or before"
	}
	return fmt.Sprintf("Counting %s; days and times in %s.", files, r.Location)
}

func section(w io.Writer, title string) { fmt.Fprintf(w, "\n%s\n", title) }

func itoa(n int) string { return strconv.Itoa(n) }

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
