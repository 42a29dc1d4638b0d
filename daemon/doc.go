// Package daemon is the runtime of `issuer run`, apart from the work it
// runs: the scheduler (robfig/cron parsing and wrappers, catch-up after
// downtime), job runs and singleton election (table job_runs, session
// advisory locks) and instance heartbeats (table instances), through which
// instances share the merchant's rate budget.
//
// daemon owns job_runs and instances: nothing else writes them. It must
// not know what a job does: jobs (package jobs) and the wiring that picks
// them (cmd/issuer) hand it RunFuncs, and it records their counts and
// errors without reading them. It sends nothing to WeChat Pay and touches
// no batch or recipient.
package daemon
