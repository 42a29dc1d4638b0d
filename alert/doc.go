// Package alert tells operators about what needs a person: a batch or a
// merchant halted, a configuration error, recipients sent to review,
// reconciliation anomalies. It owns delivery to the channels (a JSON
// webhook, WeCom, DingTalk and Feishu group robots) and the Chinese text
// the robots show; it must never make issuing wait, and never log a
// channel's URL or secret.
//
// Every alert is an ERROR log line. It is also queued for every channel
// whose minimum severity it meets, by a Notifier that never makes the
// caller wait: Notify only logs and enqueues, and Run delivers, one
// goroutine per channel.
//
//	n := alert.New(alert.Config{WebhookURL: cfg.Alerts.WebhookURL, Channels: channels, Logger: log})
//	go n.Run(ctx) // returns after ctx is done and a bounded final drain
//	...
//	n.Notify(alert.Alert{Kind: alert.KindBatchHalted, Severity: alert.SeverityCritical,
//		BatchID: 42, MchID: "1900012345", Message: "批次预算不足"})
//	err := n.Send(ctx, alert.Message{Title: "发券日报", Markdown: "…"}) // free text, e.g. a digest
//
// # Channels
//
// The webhook (Config.WebhookURL, or a Channel of type webhook) receives
// each alert's JSON in its own POST. The robots receive Chinese markdown:
// what happened, which batch and stock, what it means in money (Stakes),
// and the command to run next. WeCom: {"msgtype":"markdown"} with <@userid>
// mentions. DingTalk: {"msgtype":"markdown","at":{"atUserIds"}}, signed
// when Channel.Secret is set (timestamp in ms and sign = base64 HMAC-SHA256
// keyed with the secret over "timestamp\nsecret", in the query). Feishu:
// an interactive card or text, signed when Channel.Secret is set (timestamp
// in s and sign = base64 HMAC-SHA256 keyed with "timestamp\nsecret" over
// nothing, in the body). A robot's 200 answer with a non-zero errcode or
// code is a failure; its rate-limit codes are retried.
//
// # Delivery
//
// A request has a per-attempt timeout (Config.Timeout, 5 s). A 2xx answer
// delivers it; a transport error, 408, 425, 429 or 5xx is retried
// Config.Retries times (3) with doubling, jittered backoff from
// Config.Backoff (1 s); any other answer is final. What cannot be delivered
// is logged and counted, never retried later: the log line is the record.
//
// Robots take about 20 messages a minute (Channel.RateLimit). A channel at
// its limit waits, and the alerts queued meanwhile go out folded into one
// message (as many as fit the robot's size limit, the rest in the next),
// so a burst costs a few messages and loses nothing.
//
// When a channel's queue (Config.QueueSize, 256) is full, Notify drops the
// alert for that channel, with a log line and a count: issuing never
// waits on a slow receiver. When Run's context is done, each channel keeps
// delivering what is queued for at most Config.DrainTimeout (5 s), then
// counts the rest as dropped and returns.
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
// failed, dropped, suppressed; over all channels),
// issuer_alert_channel_total{channel,result},
// issuer_alert_channel_requests_total{channel,result} and
// issuer_alert_queue_length. Stats returns the same counts.
package alert
