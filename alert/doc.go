// Package alert tells operators about what needs a person: a batch or a
// merchant halted, a configuration error, recipients sent to review,
// reconciliation anomalies.
//
// Every alert is an ERROR log line. When a webhook is configured, it is
// also POSTed there as JSON, by a Notifier that never makes the caller
// wait: Notify only logs and enqueues, and Run, one goroutine, delivers
// the queue.
//
//	n := alert.New(alert.Config{WebhookURL: cfg.Alerts.WebhookURL, Logger: log})
//	go n.Run(ctx) // returns after ctx is done and a bounded final drain
//	...
//	n.Notify(alert.Alert{Kind: alert.KindBatchHalted, Severity: alert.SeverityCritical,
//		BatchID: 42, MchID: "1900012345", Message: "批次预算不足"})
//
// # Delivery
//
// Each alert is one POST of its JSON (Content-Type: application/json) with
// a per-attempt timeout (Config.Timeout, 5 s). A 2xx answer delivers it;
// a transport error, 408, 425, 429 or 5xx is retried Config.Retries times
// (3) with doubling, jittered backoff from Config.Backoff (1 s); any other
// answer is final. An alert that cannot be delivered is logged and counted,
// never retried later: the log line is the record.
//
// When the queue (Config.QueueSize, 256) is full, Notify drops the alert
// for the webhook, with a log line and a count: issuing never waits on a
// slow receiver. When Run's context is done, it keeps delivering what is
// queued for at most Config.DrainTimeout (5 s), then counts the rest as
// dropped and returns. Alerts raised after that are still logged, and only
// logged.
//
// # Deduplication
//
// A halted batch can raise the same alert from every worker at once. An
// alert identical to one queued less than Config.DedupeWindow (1 minute)
// earlier (same kind, severity, batch, stock, merchant and message) is
// logged but not sent; the next one sent after the window carries the number
// suppressed in between in its "suppressed" field.
//
// # Metrics
//
// A Notifier is a prometheus.Collector: register it to export
// issuer_alerts_total{kind}, issuer_alert_webhook_total{result} (delivered,
// failed, dropped, suppressed) and issuer_alert_queue_length. Stats returns
// the same counts.
//
// The webhook URL can hold a token, so logs name only its scheme and host.
package alert
