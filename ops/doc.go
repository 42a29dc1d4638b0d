// Package ops is the one home of every operation a person performs on
// issuer: import a recipient list, list, show, pause, resume, cancel and
// export batches, settle rows in review, reports, 代金券 stocks (create,
// start, pause, restart, stop, show, list, scope, a user's coupons, the
// notification address), plugin signing, reconciliation on demand, the morning digest. The CLI, the HTTP API and the console all call these methods and
// nothing else, so each operation is authorized, audited and done one way.
//
// Every method takes the acting auth.Actor, checks it against the
// permission table in package auth and records the act (allowed or not)
// in the audit log. Business rules that concern a row or a batch live one
// level down, in queue's state machine and the claim, so that no caller —
// not even one that skips this package — can go around them.
//
// Operations on stocks, coupons and plugin signatures talk to WeChat Pay
// (or nothing) only and work on a Service without a database; the
// WeChat Pay request building, paging and checks of their arguments are
// here, never in a front end.
//
// ops must not parse flags, forms or JSON, print, or render: front ends do
// that. It returns typed errors that front ends map to exit codes and HTTP
// statuses: ErrForbidden (403), queue.ErrNotFound (404), queue.ErrState
// (409), *InvalidError (400/422).
package ops
