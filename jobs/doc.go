// Package jobs holds issuer's scheduled work: the issue job that drains the
// queue through WeChat Pay, nightly reconciliation and housekeeping.
package jobs
