// Package queue is the Postgres work queue of recipients and their batches.
//
// It owns the batches and recipients tables (schema.sql): the state of every
// recipient from pending through in_flight to a terminal status (issued,
// failed, review), the batch lifecycle (pending, running, paused, halted,
// completed, cancelled), and the operations on them: claiming due rows
// under a lease with FOR UPDATE SKIP LOCKED, recording outcomes in batched
// transactions, rescuing expired leases, and exporting results.
//
// A recipient's out_request_no is written at import and never changed, so
// every send of a row, however often it is retried or rescued, is the same
// idempotent request to WeChat Pay.
package queue
