// Package queue is the Postgres work queue of recipients and their batches.
//
// It owns every state change of the batches and recipients tables
// (schema.sql) after they are created: the state of every recipient from
// pending through in_flight to a final status (issued, failed, cancelled)
// or review, with its doubt flag and spend-cap reservation (the state
// machine in ARCHITECTURE.md, "A recipient row"), the batch lifecycle
// (awaiting_approval, pending, running, paused, halted, completed,
// cancelled, rejected), and the operations on them: claiming due rows under
// a lease with FOR UPDATE SKIP LOCKED, recording outcomes in batched
// statements, rescuing expired leases, cancelling and sealing, settling
// rows in doubt, approving, and exporting results. The import (package
// intake) is the one other writer: it inserts a batch and its recipients,
// and sets the batch's counts and import guards, in the transaction that
// creates them; the counters (batch_outcome_counts) are kept by triggers.
//
// A recipient's out_request_no is written at import and never changed, so
// every send of a row, however often it is retried or rescued, is the same
// idempotent request to WeChat Pay.
package queue
