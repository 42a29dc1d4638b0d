// Package wxsim is a WeChat Pay API v3 simulator that speaks the true wire
// protocol, for tests, `make demo` and benchmarks: requests must be signed
// by a known merchant, answers are signed with the platform key, and the
// answers, limits and faults are those the issuer must survive.
//
// # Serving
//
// New builds a Server from Options (Keys is the only required field; see
// GenerateKeys and LoadKeys for the key layout of `issuer sim keys`). Serve
// Handler with httptest.NewServer, or call Start; Close stops everything the
// server started, and must come before closing an httptest.Server so that
// held answers return.
//
// `issuer sim` is Flags (Register on a flag set, Check, Options) and Serve;
// `issuer sim keys` is WriteKeys.
//
// # Endpoints
//
// At their real paths, every request verified (Authorization fields in any
// order, known mchid, the merchant's certificate serial, the signature over
// the exact bytes, |skew| < 5 min; otherwise 401 SIGN_ERROR
// "错误的签名,验签失败" with a detail naming the issue), every answer signed
// (Wechatpay-Timestamp, -Nonce, -Signature, -Serial = the public key id,
// Request-Id) except file downloads:
//
//	POST /v3/marketing/favor/users/{openid}/coupons           代金券 send (../shared/seeds/002_58cae772e1279f90.txt)
//	POST /v3/marketing/busifavor/product-coupons/send         商品券 send (../shared/seeds/001_cccd931d1aeabe10.txt)
//	POST /v3/marketing/favor/coupon-stocks                    create (unactivated)
//	POST /v3/marketing/favor/stocks/{stock_id}/start|pause|restart|stop  (stop: "stoped", for good)
//	GET  /v3/marketing/favor/stocks/{stock_id}                query
//	GET  /v3/marketing/favor/stocks                           list (offset = page number, limit ≤ 10, create_start/end_time)
//	GET  /v3/marketing/favor/stocks/{stock_id}/merchants|items  StockSpec.Merchants (default the creator) / Items
//	GET  /v3/marketing/favor/users/{openid}/coupons            a user's coupons (§3.2.11, from the ledger)
//	GET  /v3/marketing/favor/users/{openid}/coupons/{coupon_id}
//	GET|POST /v3/marketing/favor/callbacks                     the notification address (= Options.CallbackURL)
//	GET  /v3/marketing/favor/stocks/{stock_id}/use-flow       {url, hash_type, hash_value}, unsigned
//	GET  /v3/marketing/favor/stocks/{stock_id}/refund-flow
//	GET  /v3/billdownload/file?token=…                        the flow file, unsigned, url valid 30 s
//
// Flow files exist from 10:00 Beijing time the day after the stock ended
// (stopped, expired, or past its availability), on the simulator's
// calendar: Options.ClockOffset, Server.SetClockOffset or PUT /sim/clock
// move it (signature timestamps stay on the real clock). Options.EarlyFlows
// serves them as soon as something was redeemed. The download url's host is
// Options.BaseURL when set (a simulator behind a proxy).
//
// # Stocks and sends
//
// A stock has a kind (favor or product), a budget in coupons, a per-user
// limit (0 = none) and a status. Sends answer, in this order: 429 when the
// merchant's hidden token bucket is empty (Options.Limit, changeable while
// running), injected latency and a 500 before issuing, parameter checks, the
// openid prefixes below, the replay of a known out_request_no (代金券: 200
// with the same coupon_id; 商品券: 400 RESOURCE_ALREADY_EXISTS "发券凭证已存在"),
// then the stock's rules:
//
//	                         代金券 (favor)                              商品券 (product)
//	unknown stock            404 RESOURCE_NOT_EXISTS 批次不存在          400 STOCK_NOT_EXISTS 批次不存在
//	caller is not creator    403 REQUEST_BLOCKED 商户无权发券            403 NO_AUTH 无权限
//	paused / unactivated     400 INVALID_REQUEST 活动已结束或未激活      400 STOCK_STATE_ERROR 批次状态错误
//	expired                  400 INVALID_REQUEST 活动已结束或未激活      400 STOCK_EXPIRED 批次已过期
//	budget used up           403 NOT_ENOUGH 批次预算不足                 400 STOCK_INSUFFICIENT 批次库存不足
//	per-user limit reached   403 REQUEST_BLOCKED 用户被限领拦截          400 USER_RECEIVE_LIMIT 用户领取限制
//	rate limit               429 FREQUENCY_LIMIT_EXCEED 接口限频         429 FREQUENCY_LIMITED 请求过于频繁
//
// # Openid prefixes
//
// An openid starting with one of these prefixes always gets the same error,
// so tests can reach every row of wxpay.Classify without setting up state:
//
//	prefix         代金券 (favor)                                  商品券 (product)
//	abnormal_      403 USER_ACCOUNT_ABNORMAL 用户非法              same
//	badapp_        400 INVALID_REQUEST openid与appID不匹配         same
//	nouser_        404 USER_NOT_EXISTS OpenID不正确                same
//	nomember_      403 RULE_LIMIT 用户未开通会员功能               same
//	param_         400 PARAM_ERROR 参数错误                        same
//	daylimit_      403 DAYLIMIT 用户达到单天限领                   same
//	limited_       403 REQUEST_BLOCKED 用户被限领拦截              400 USER_RECEIVE_LIMIT 用户领取限制
//	received_      400 USER_ALREADY_RECEIVED 用户已领取            same
//	noauth_        403 REQUEST_BLOCKED 商户无权发券                403 NO_AUTH 无权限
//	noperm_        403 REQUEST_BLOCKED 调用商户无权限              403 NO_AUTH 无权限
//	crossmch_      403 REQUEST_BLOCKED 批次不支持跨商户发券        same
//	badmch_        400 INVALID_REQUEST 非法的商户号                400 MCH_NOT_EXISTS 商户号不存在
//	appmismatch_   400 APPID_MCHID_NOT_MATCH 商户号与appid不匹配   400 APPID_MCHID_NOT_MATCH AppID与请求方商户无关联关系
//	badmode_       400 INVALID_REQUEST 发券模式不合法              same
//	signerr_       401 SIGN_ERROR 错误的签名,验签失败              same
//	busy_          400 INVALID_REQUEST 调用频率过高                same
//	throttle_      429 FREQUENCY_LIMIT_EXCEED 接口限频             429 FREQUENCY_LIMITED 请求过于频繁
//	syserr_        500 SYSTEM_ERROR 系统异常,请稍后重试            same
//	nobudget_      403 NOT_ENOUGH 批次预算不足                     400 STOCK_INSUFFICIENT 批次库存不足
//	notrunning_    400 INVALID_REQUEST 活动已结束或未激活          400 STOCK_STATE_ERROR 批次状态错误
//	expired_       400 INVALID_REQUEST 活动已结束或未激活          400 STOCK_EXPIRED 批次已过期
//	noproduct_     403 RULE_LIMIT 券批次未关联商品信息             400 STOCK_NO_PRODUCT 批次未关联商品信息
//	weird_         400 SIM_UNDOCUMENTED 模拟器返回的未归类错误     same
//
// # Faults
//
// Faults (Options.Faults, changeable while running) apply to coupon sends
// only, each drawn independently with its probability: a 500 before issuing;
// after issuing (the coupon is in the ledger) a 500, a held answer (until
// the client gives up, Close, or HangMax, after which the real answer is
// sent late), or a TCP reset (SO_LINGER 0); latency with jitter; a forged
// answer signature; a WECHATPAY/SIGNTEST/ probe signature. Options.Seed
// makes the draws reproducible for sequential tests.
//
// # Ledger, redemption, callbacks
//
// Every coupon issued is in the ledger (Server.Ledger, GET /sim/ledger).
// With Options.LedgerPath each issue is appended and fsynced before the
// answer, and a restart reloads it: replays still get the same answer and
// budgets stay spent. Redeem and Refund simulate the use and refund of a
// fraction of the 代金券, feeding the use-flow and refund-flow files, and
// queue a COUPON.USE notification per redemption, signed with the platform
// key and encrypted with the APIv3 key, POSTed to the callback URL and
// retried on non-2xx up to Options.CallbackAttempts times.
//
// # Admin API
//
// Unsigned, under /sim/, answered to loopback clients only: the ledger,
// stats (totals and per-second accepted/throttled counts), the limit,
// stocks (add, pause, resume, expire), faults, redemption and refund, the
// callback URL, the calendar offset, and coupons granted as if by another
// channel (GrantCoupon: no out_request_no). AdminClient drives it from
// another package or process.
//
// # Left out
//
// Stock status changes by time (other than the end of availability),
// coupon expiry other than leaving expired coupons out of a user's list,
// the "switch" of the notification address, 商品券 redemption,
// platform-certificate mode and TLS.
package wxsim
