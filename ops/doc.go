// Package ops is the one home of every operation a person performs on
// issuer: import a recipient list, list, show, pause, resume, cancel and
// export batches, settle rows in review, reports, 代金券 stocks (create,
// start, pause, restart, stop, show, list, scope, a user's coupons, the
// notification address), plugin signing, reconciliation on demand, the
// morning digest, accounts and API tokens (Accounts). The CLI, the HTTP
// API and the console all call these methods and nothing else, so each
// operation is authorized, audited and done one way.
//
// Every method takes the acting auth.Actor, checks it against the
// permission table in package auth and records the act (allowed or not)
// in the audit log. Business rules that concern a row or a batch live one
// level down, in queue's state machine and the claim, and the money
// guards in package guard, so that no caller — not even one that skips
// this package — can go around them.
//
// # The audit log and the act
//
// The rule, decided once: an act that lets money go or changes who may
// act commits together with its audit row, so if the row cannot be
// written the act does not happen and fails (EINTERNAL). These are the
// money acts — import, approve, reject, resume, priority, a batch's
// guards (moneyAct: the row is written in the act's own transaction,
// through intake's BeforeCommit and queue.Store.Recording) — and every act
// on accounts and tokens (Accounts, which auth.Store records in the
// change's transaction). Acts that stop money — pause and cancel — and
// acts done at WeChat Pay, which no transaction of ours can undo (stock
// actions, the notification address, reconciliation, plugin signing), are
// recorded after the fact: such an act is done even when the audit log
// cannot be written, and the failure to record is logged (an emergency
// stop must not wait on the audit log). A refusal or a failed act changed
// nothing and is recorded after the fact too.
//
// Operations on stocks, coupons and plugin signatures talk to WeChat Pay
// (or nothing) only and work on a Service without a database; the
// WeChat Pay request building, paging and checks of their arguments are
// here, never in a front end.
//
// # What callers see
//
// ops must not parse flags, forms or JSON, print, or render: front ends do
// that. They take their requests and answers from here (ImportRequest and
// ImportAnswer, one JSON shape for the command line's --json and the API;
// Batch; GuardsRequest; User and Token) and tell failures apart by one
// vocabulary of codes (Error, ErrorCode, ErrorMessage, in the style of
// wtf's error.go): ErrorCode translates the errors of the packages below
// (queue, intake, auth, report, WeChat Pay) into EINVALID, ENOTFOUND,
// ECONFLICT, EFORBIDDEN and the rest, HTTPStatus maps a code to the API's
// status and ExitCode to the command line's exit status. A refusal of the
// actor matches auth.ErrForbidden, the one sentinel of it.
package ops
