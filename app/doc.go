// Package app wires issuer from its configuration and runs `issuer run`.
//
// The wiring is shared by the command line and the daemon: OpenDB (a pool
// whose schema version is checked, so a forgotten migrate says so),
// WXOptions and NewWXClient (the merchant's key files), NewLimiter and
// NewKeeper (the rate limit learned per merchant), NewIssueJob,
// NewAuthStore and AlertConfig. Env is the wiring of the one-shot commands:
// WithService (the operations on an opened, checked database),
// WithWXService (the WeChat Pay operations, which need no database and
// audit when one is reachable), OfflineService, IssuePass (`issuer issue`:
// one pass with its own pool, limiter and rate keeper) and SendDigestNow.
//
// Daemon is `issuer run`. NewDaemon opens what it needs and closes it again
// on failure; Run starts its parts in order, each a startstop.Service —
// platform certificates, the alert notifier, the registration of the
// callback address, the instance heartbeat, the rate keeper, the HTTP
// servers, the scheduler — and on a signal or a failed server stops them in
// the reverse order: no new job runs or claims first (in-flight sends
// finish and record within issue.shutdown_timeout), then the servers, and
// the notifier last, once nothing can raise an alert. The scheduled jobs are
// issue (every instance), and reconcile, housekeeping (package
// housekeeping) and the digest (one instance per activation).
package app
