package report

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/issuer-dev/issuer/internal/excelcsv"
	"github.com/issuer-dev/issuer/internal/money"
)

// ReconcileCSVHeader is the reconciliation CSV's header. Its first nine
// columns are a contract with operators' scripts; more may be appended.
var ReconcileCSVHeader = []string{
	"batch_id", "stock_id", "issued", "used", "refunded", "net_used", "use_rate", "used_amount", "unknown_coupons",
	"refunded_amount", "net_used_amount", "orders", "order_amount", "refunds_without_use", "used_before_issue",
	"callback_only", "file_only", "recipients", "batch_name", "usage_source", "in_doubt", "cancelled", "review",
	"pending", "failed",
}

// BatchCSVHeader is the batch CSV's header: one line per recipient.
var BatchCSVHeader = []string{
	"batch_id", "openid", "out_request_no", "status", "outcome", "coupon_id", "issued_at", "class", "uses", "used_at",
	"used_amount", "order_amount", "transaction_id", "consume_mchid", "refunds", "refunded_at", "refunded_amount",
	"callback_at", "in_doubt", "note", "usage_source",
}

// WriteCSV renders the report for machines: a reconciliation report as one
// line per batch and stock (batch_id empty on the line of coupons issuer
// never issued), a batch report as one line per recipient. Amounts are
// yuan with two decimals, use_rate a fraction with four, times RFC 3339.
// usage_source says where used comes from: flow_files, or callbacks (used
// so far, order_amount empty: callbacks carry none). in_doubt, cancelled,
// review, pending and failed split the recipients not issued; rows in
// doubt are never counted as failed or cancelled.
//
// The file is for Excel as much as for programs: it begins with a UTF-8
// byte-order mark, and the batch report's long digit ids (out_request_no,
// coupon_id, transaction_id, consume_mchid) carry a leading tab so that
// Excel keeps them as text (see internal/excelcsv). The reconciliation
// report's columns are a contract and stay bare. In both, a cell a
// spreadsheet would run as a formula (a batch named =HYPERLINK(…), an
// out_request_no -A1*1000) gets a quote in front (excelcsv.Writer), also in
// WritePlainCSV, which leaves out only the mark and the tabs.
func (r *Report) WriteCSV(ctx context.Context, w io.Writer) error {
	return r.writeCSV(ctx, w, false)
}

// WritePlainCSV is WriteCSV for scripts: no byte-order mark, bare values.
func (r *Report) WritePlainCSV(ctx context.Context, w io.Writer) error {
	return r.writeCSV(ctx, w, true)
}

func (r *Report) writeCSV(ctx context.Context, w io.Writer, plain bool) error {
	if err := excelcsv.WriteBOM(w, plain); err != nil {
		return fmt.Errorf("report csv: %w", err)
	}
	text := func(s string) string { return excelcsv.Text(s, plain) }
	cw := excelcsv.NewWriter(w)
	if r.Batch != nil {
		if err := cw.Write(BatchCSVHeader); err != nil {
			return err
		}
		err := r.EachRecipient(ctx, func(rec *Recipient) error {
			order := ""
			if rec.OrderAmount != nil {
				order = money.Yuan(*rec.OrderAmount)
			}
			return cw.Write([]string{
				strconv.FormatInt(rec.BatchID, 10), rec.OpenID, text(rec.OutRequestNo), rec.Status, rec.Outcome, text(rec.CouponID),
				r.rfc3339(rec.IssuedAt), rec.Class, itoa(rec.Uses), r.rfc3339(rec.UsedAt), money.Yuan(rec.UsedAmount),
				order, text(rec.TransactionID), text(rec.ConsumeMchID), itoa(rec.Refunds), r.rfc3339(rec.RefundedAt),
				money.Yuan(rec.RefundedAmount), r.rfc3339(rec.CallbackAt), strconv.FormatBool(rec.InDoubt), rec.Note,
				rec.UsageSource,
			})
		})
		if err != nil {
			return err
		}
	} else {
		if err := cw.Write(ReconcileCSVHeader); err != nil {
			return err
		}
		for _, l := range r.Lines {
			batch := ""
			if l.BatchID != 0 {
				batch = strconv.FormatInt(l.BatchID, 10)
			}
			rate := l.UseRate()
			orderAmount := ""
			if l.OrderAmountKnown() {
				orderAmount = money.Yuan(l.OrderAmount)
			}
			err := cw.Write([]string{
				batch, l.StockID, itoa(l.Issued), itoa(l.Used), itoa(l.Refunded), itoa(l.NetUsed), rate,
				money.Yuan(l.UsedAmount), itoa(l.UnknownCoupons), money.Yuan(l.RefundedAmount),
				money.Yuan(l.NetUsedAmount()), itoa(l.Orders), orderAmount,
				itoa(l.RefundsWithoutUse), itoa(l.UsedBeforeIssue), itoa(l.CallbackOnly), itoa(l.FileOnly),
				itoa(l.Recipients), l.BatchName, l.UsageSource, itoa(l.InDoubt), itoa(l.Cancelled), itoa(l.Review),
				itoa(l.Pending), itoa(l.Failed),
			})
			if err != nil {
				return err
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("report csv: %w", err)
	}
	return nil
}

func (r *Report) rfc3339(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.In(r.Location).Format(time.RFC3339)
}
