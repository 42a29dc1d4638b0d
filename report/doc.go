// Package report tells analysts what happened to the coupons issuer issued:
// how many were used and refunded, for how much, on which days, and what
// does not add up.
//
// It matches the rows WeChat Pay's use-flow and refund-flow files put in
// flow_uses and flow_refunds (see jobs.Reconcile) to recipients by coupon
// id, and so to their batch. Per batch and stock it counts coupons issued,
// used, refunded and net used (used more often than refunded), the use
// rate, the discount amounts (exact, in fen, shown as yuan with two
// decimals), and the orders (distinct payment transactions). Coupons in the
// files that issuer never issued are counted on a line of their stock with
// no batch.
//
// # Usage source
//
// Until a use-flow file is loaded for a stock, its usage is "used so far":
// the COUPON.USE callbacks stored in coupon_use_callbacks (UsageCallbacks).
// Once one is loaded the files are authoritative (UsageFlowFiles) and the
// callbacks are only compared with them. Every line carries its source.
//
// # Recipients not issued
//
// A recipient in doubt (recipients.in_doubt: a send of it got an answer
// that did not say whether WeChat Pay issued it, and nothing has settled
// it since) is counted as in doubt, never as pending,
// failed or not issued; cancelled rows are never pending. Rows in doubt and
// in review are the first section of the problems.
//
// # One snapshot
//
// A Report reads everything in one read-only REPEATABLE READ transaction,
// kept open until Close, and every format renders that snapshot: the text,
// the CSV and every sheet of the workbook agree. The package must not write
// to the database.
//
// # Problems
//
// A report lists, for review: flow files rejected (a 总条数 footer that
// disagrees with the rows, a truncated or malformed file), coupons in the
// files issuer never issued, refunds without a use, coupons used before
// issuer recorded them as issued, COUPON.USE callbacks whose use is not in
// the use-flow and uses in the use-flow with no callback (once callbacks are
// being stored for the stock); first of all, recipients in doubt or in
// review, with their notes.
//
// # As of a day
//
// Options.AsOf limits a report to rows first seen in files fetched for that
// day or before, and callbacks received by the end of that day, so a report
// can be reproduced later; without it every row counts.
//
// # The morning digest
//
// BuildDigest reads one day's issuing (issued, failed and in doubt per
// batch, the spend), the redemptions and anomalies of the reconciliation as
// of that day, and what waits for a person (approvals, halts, rows to
// settle), in one snapshot; digest.go states what "on the day" means for
// each figure. It renders as Chinese markdown for the alert channels and
// as tables for a terminal.
//
// # Formats
//
// Text is aligned tables for a terminal (column widths count CJK characters
// as two). CSV is for machines: the reconciliation report is one line per
// batch and stock (header ReconcileCSVHeader), the batch report one line per
// recipient; it is shaped for Excel too (internal/excelcsv: a byte-order
// mark, long digit ids kept as text), and WritePlainCSV is the bare form
// for scripts. XLSX is for analysts: a Summary sheet with the figures and
// two native Excel charts (outcomes by class, daily redemptions; the days
// are text categories), a Recipients sheet with filter buttons, a Problems
// sheet, a 说明 sheet explaining every column (Column: Chinese title, field
// name, meaning) and an 审计 sheet with the flow files' digests and server
// paths, which the Summary leaves out. Numbers, amounts and times are typed
// cells; every column has a Chinese title.
package report
