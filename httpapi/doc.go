// Package httpapi is the issuer daemon's HTTP handler: the endpoints that
// probes, Prometheus, WeChat Pay and the mini-program backend call on the
// listener named by http.addr.
//
// New builds one http.Handler from a Config; the caller owns the listener,
// the http.Server and its timeouts, and everything the endpoints depend on
// (readiness check, metrics gatherer, callback store, keys). The package
// holds no mutable package-level state.
//
// # Endpoints
//
//	GET  /healthz          200 "ok": the process answers
//	GET  /readyz           200, or 503 with the reason from Config.Ready
//	GET  /metrics          Prometheus exposition of Config.Gatherer
//	POST /callbacks/wxpay  COUPON.USE notifications from WeChat Pay
//	POST /plugin/sign      send-coupon plugin parameters and V2 signature
//
// With Config.CallbacksElsewhere, New leaves POST /callbacks/wxpay out and
// NewCallbacks serves it alone (every other path 404), for a second
// listener (http.callback_addr) that is the only one facing the internet.
//
// A known path called with the wrong method answers 405 with an Allow
// header. Every request is logged with log/slog: probes and scrapes at
// debug, everything else at info. A panicking handler is logged and
// answered 500 instead of taking the connection down silently.
//
// # Callbacks
//
// POST /callbacks/wxpay reads at most MaxCallbackBytes, verifies the
// Wechatpay-* signature headers and decrypts the resource with
// wxpay.ParseNotification, then hands the coupon to Config.StoreCouponUse,
// which must be idempotent by notification id. The whole exchange is bounded
// by Config.CallbackTimeout (4 s by default) because WeChat Pay waits 5 s.
// Answers follow WeChat Pay's convention, {"code":"SUCCESS","message":"成功"}
// or {"code":"FAIL","message":"…"}:
//
//	200  stored, or already stored (WeChat Pay repeats deliveries up to 9 times)
//	401  missing, stale, forged or probe signature; nothing is stored
//	400  authenticated but unreadable or not COUPON.USE
//	413  body over MaxCallbackBytes
//	500  authenticated but not decryptable with the APIv3 key (a config_error
//	     alert through Config.Alerts), or the store failed or timed out:
//	     WeChat Pay retries
//	503  callbacks are not configured (no verifier, APIv3 key or store); a
//	     config_error alert too
//
// # Plugin signing
//
// POST /plugin/sign is the mini-program backend's signer. It requires
// Authorization: Bearer <plugin token>, compared in constant time, and takes
//
//	{"send_coupon_merchant": "…", "coupons": [{"stock_id": "…", "out_request_no": "…", "coupon_code": "…"}]}
//
// with 1 to 10 coupons (send_coupon_merchant and coupon_code optional). It
// answers exactly what `issuer plugin-sign` prints:
//
//	{"send_coupon_merchant": "…", "send_coupon_params": [{"stock_id", "out_request_no"[, "coupon_code"]}], "sign": "…"}
//
// The APIv2 key signs but is never returned or logged. The signature is only
// valid for the merchant that owns the key, so a send_coupon_merchant other
// than Config.PluginMerchant is refused. With no token configured the
// endpoint answers 404; without an APIv2 key or merchant, 503. Errors are
// JSON {"code": "…", "message": "…"}: PARAM_ERROR (400, or 413 for a body
// over MaxPluginBytes), UNAUTHORIZED (401), DISABLED (404), NOT_CONFIGURED
// (503), INTERNAL (500).
//
// # Metrics
//
// NewMetrics registers this package's collectors: requests and their
// durations by handler, callbacks by result, plugin signatures by result.
// Every labelled series starts at zero so rate() and absent() alerts work
// from the first scrape.
package httpapi
