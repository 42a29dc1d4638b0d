// Package jobs holds issuer's work against WeChat Pay: the issue job that
// drains the queue (claim, send, classify, record), reconciliation (flow
// files fetched, verified and loaded into flow_files, flow_uses and
// flow_refunds by FlowStore; COUPON.USE callbacks stored beside them) and
// the settlement of rows in doubt.
//
// Each job is a plain value with a Run method, run once by a command or on
// a schedule by the daemon. jobs must not schedule, elect or record runs
// (package daemon does), parse flags or print (cmd/issuer), or change a
// batch or recipient except through queue's state machine.
package jobs
