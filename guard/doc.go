// Package guard is the one home of the money guards: the rules that keep
// a recipient list from issuing more, sooner or to other people than its
// uploader and approver meant. Each guard is a small type with the SQL it
// runs beside it and a table test:
//
//   - DuplicateFile refuses a file (by SHA-256) that is already a live
//     batch of the stock, unless allowed.
//   - Repeats skips openids that already have a coupon of the stock
//     issued, on its way or possibly issued in another batch, unless
//     allowed.
//   - SpendCap is the most face value a batch may issue (reserved at the
//     claim; the batches_cap_check constraint holds it when changed), and
//     Amount what the batch is worth, which the cap and approval need.
//   - Approval holds a batch at or over a threshold (per batch, or per
//     stock per day) for an operator other than its uploader.
//   - Paused creates the batch paused.
//   - Schedule is the start time and the daily send window: the claim
//     takes rows only of an open batch (OpenSQL, the schema's batch_open).
//   - Priority orders the claim: higher first, equal ones in turns.
//   - StockState says why a 代金券 stock cannot issue (paused, stopped, not
//     activated, ended): the issue pass halts its batches (jobs).
//
// A guard bites at two moments: at import (Import.Apply, in the import's
// transaction, under a per-stock lock so two imports cannot both pass)
// and at the claim (queue.Claim, which uses OpenSQL and reserves against
// the spend cap in the same statement). Later changes of a batch's guards
// are queue.SetGuards'. The stock's own state is not stored: the issue
// pass asks WeChat Pay and judges it with StockState.
//
// Front ends pass the guards through as people type them (Request, in
// ops.ImportRequest); Request.Parse reads them the same way for all.
//
// # Where to add a guard
//
// Add its type here with its SQL and a table test, a field to Request and
// Import (with its parsing in Parse and its columns in Import.columns or a
// step of Import.Apply), a column in a new section of schema.sql, and its
// field on the one form that sets it (Fields lists them, for the upload
// form, the API and the import flags). A guard judged at the claim adds to
// OpenSQL.
package guard
