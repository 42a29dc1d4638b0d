// Package limitmodel serves WeChat Pay's coupon send behind hidden limits
// modelled independently of the simulator (wxpay/wxsim): a second opinion on
// the adaptive limiter (package ratelimit), which was tuned against wxsim and
// must ride limits nobody here wrote.
//
// The models share no code and no assumption with wxsim's limit. Each
// request first waits the server's own latency, drawn uniformly within
// ±Jitter of Config.Latency, and only then is the limit consulted: the
// limit sees arrivals spread and reordered by that latency, and the answer
// leaves the moment the limit has judged, so a throttle is news of what
// happened one latency after the send, not at it. Two limits:
//
//   - Bucket is golang.org/x/time/rate's token bucket, Allow per request:
//     refilled at the limit, Depth's worth of tokens deep.
//   - SlidingLog admits a request when fewer than the limit's worth of
//     Depth were admitted in the Depth before it (a log of admission
//     times): no refill in between, a burst comes back a whole Depth later.
//
// Above the limit a send is answered 429 FREQUENCY_LIMITED, signed as every
// answer is. The server speaks enough of the wire protocol for the real
// `issuer import` and `issuer issue` to run against it: requests are
// verified with the merchant's public key (401 SIGN_ERROR otherwise), and
// answers are signed with the platform key through wxpay's public signing
// API, with the key layout of `issuer sim keys` (Keys). Endpoints:
//
//	POST /v3/marketing/favor/users/{openid}/coupons   代金券 send, behind the limit; a repeated out_request_no gets its coupon_id again
//	GET  /v3/marketing/favor/stocks/{stock_id}        any stock: running, a fixed 10-yuan face value
//
// Log returns every judged send with its arrival time and verdict; Figures
// turns it into the ratio of the limit a run got.
package limitmodel
