// Package wxpay is the issuer's only contact with WeChat Pay API v3: it signs
// what the issuer sends, authenticates what comes back, and says what every
// answer means.
//
// The simulator in wxpay/wxsim uses the same primitives from the other side
// of the wire, so a signature bug cannot hide behind a matching bug in a
// fake. The package holds no mutable package-level state; a Client is safe
// for concurrent use.
//
// # Signing and verification
//
// A Signer produces the WECHATPAY2-SHA256-RSA2048 Authorization header over
// METHOD\nURI\nTIMESTAMP\nNONCE\nBODY\n with the merchant's API key; the
// Client signs the exact bytes it sends. A Verifier authenticates answers and
// callbacks (Wechatpay-Timestamp, -Nonce, -Signature, -Serial) in public-key
// mode (NewPublicKeyVerifier, PUB_KEY_ID_…) or platform-certificate mode
// (NewCertificateVerifier). It refuses unknown serials, timestamps 5 minutes
// or more away, and WeChat Pay's deliberate WECHATPAY/SIGNTEST/ probes; every
// failure wraps ErrSignature.
//
// In certificate mode (NewCertStoreVerifier) and during a migration
// (NewCombinedVerifier, public key and certificates) the platform
// certificates live in a CertStore: the Client downloads them from
// /v3/certificates when it needs one, when an answer names an unknown
// serial (at most once per backoff, one download shared by all waiting) and,
// after CertStore.Start, on a schedule. CertPolicy says which certificates
// to believe: decrypted with the APIv3 key, matching serial, within dates,
// issued by the configured WeChat Pay CA, and carried by an answer signed by
// one of them or by one trusted before.
//
// # Client
//
// New builds a Client from Options (LoadOptions reads the key files named in
// the configuration). Every call takes a context and is bounded by
// Options.Timeout. A call moves to the backup domain only when the primary
// could not be reached at all (DNS or dial failure); once a request may have
// been delivered, failing over would only hide that, so the error is
// returned and the caller retries with the same out_request_no. A 2xx
// without a valid signature is refused. Non-2xx answers are *APIError;
// transport failures match ErrTransport (and *TransportError says whether
// the request may have been sent).
//
// Endpoints: SendFavor (代金券), SendProduct (商品券), CreateStock,
// StartStock, PauseStock, RestartStock, StopStock, QueryStock, ListStocks,
// StockMerchants, StockItems, QueryCoupon, UserCoupons (and AllUserCoupons),
// Callback, SetCallback, UseFlow, RefundFlow and Download, which streams a
// flow file into an io.Writer and checks its SHA1. Only the two flow
// metadata answers may come unsigned (as WeChat Pay documents them); they
// are verified whenever signature headers are present.
//
// # Classification
//
// Classify(result, err) turns the outcome of a send into an Outcome (issued,
// throttled, unknown, budget_exhausted, …), and ClassifyPlugin does the same
// for what the mini-program plugin reports. They are the only place that
// knows WeChat Pay's codes and overloaded messages; the issue job (package
// jobs) acts on the Outcome's attributes (Success, Terminal, Retry,
// HaltsBatch, HaltsMerchant, CountsAttempt, RetryAfterMidnight, Throttles). Anything that might have
// issued a coupon — 5xx, timeout, reset, an unauthenticated or unreadable
// 2xx — is OutcomeUnknown: retry with the same out_request_no.
//
// # Files, callbacks, plugin
//
// NewFlowReader parses use-flow and refund-flow files by header name, row by
// row, with amounts in integer fen and the 总条数 footer checked;
// WriteFlowFile writes the same format. ParseNotification verifies and
// decrypts (AEAD_AES_256_GCM) COUPON.USE callbacks. PluginParams and
// PluginSign build the V2 HMAC-SHA256 signed parameters of the send-coupon
// mini-program plugin.
//
// # Sources
//
// The official pages this package implements are kept beside the project as
// "seeds" (../shared/seeds/, Chinese, as published); comments cite them by
// number and section:
//
//	seed 000  000_9f8b680a6b433797.txt  小程序发券插件 (plugin.go)
//	seed 001  001_cccd931d1aeabe10.txt  商品券 send (send.go)
//	seed 002  002_58cae772e1279f90.txt  代金券 send (send.go)
//	seed 003  003_349c2f9f2becfc1b.txt  代金券 guide: stocks (stocks.go), coupons and a
//	                                    user's coupons §3.2.8, §3.2.11 (coupons.go), flow
//	                                    files §3.2.12–13 (download.go, flowfile.go), the
//	                                    notification address §3.2.14 (callback_address.go),
//	                                    COUPON.USE (notify.go)
package wxpay
