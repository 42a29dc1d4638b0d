package wxpay

import (
	"errors"
	"net/http"
	"strings"
	"unicode"
)

// Outcome is what one send answer means for its recipient. It is the only
// vocabulary the issue job (package jobs) needs: WeChat Pay's codes stay in this file.
type Outcome string

// Outcomes, one per row of the classification table.
const (
	// OutcomeIssued: the coupon was issued by this call (2xx with coupon_id
	// or send_coupon_result). A 代金券 replay answers exactly like a first
	// send, 200 with the original coupon_id, so it lands here too: the two
	// cannot be told apart on the wire and both carry the coupon id.
	OutcomeIssued Outcome = "issued"
	// OutcomeAlreadyIssued: WeChat Pay says this out_request_no was used
	// before (商品券 RESOURCE_ALREADY_EXISTS, plugin DUPREQUEST); the
	// recipient has the coupon.
	OutcomeAlreadyIssued Outcome = "already_issued"
	// OutcomeThrottled: rate limited; nothing was issued. Slow down and
	// requeue without counting an attempt.
	OutcomeThrottled Outcome = "throttled"
	// OutcomeUnknown: the coupon may or may not have been issued (5xx,
	// timeout, reset, unreadable or unauthenticated 2xx). Retry with the
	// same out_request_no.
	OutcomeUnknown Outcome = "unknown"
	// OutcomeBudgetExhausted: the stock has no budget left; halt the batch.
	OutcomeBudgetExhausted Outcome = "budget_exhausted"
	// OutcomeStockUnavailable: the stock does not exist or is not running;
	// halt the batch.
	OutcomeStockUnavailable Outcome = "stock_unavailable"
	// OutcomeConfigError: credentials, permissions or merchant/appid setup
	// are wrong; every send of the merchant will fail the same way. Halt the
	// merchant's job and alert.
	OutcomeConfigError Outcome = "config_error"
	// OutcomeUserLimited: the recipient reached the stock's per-user limit.
	OutcomeUserLimited Outcome = "user_limited"
	// OutcomeUserDailyLimit: the recipient reached the per-day limit; retry
	// after midnight in the configured timezone.
	OutcomeUserDailyLimit Outcome = "user_daily_limit"
	// OutcomeUserAbnormal: WeChat Pay's risk control refuses the account.
	OutcomeUserAbnormal Outcome = "user_abnormal"
	// OutcomeInvalidUser: the openid is unknown, belongs to another appid,
	// or the user lacks a prerequisite (membership).
	OutcomeInvalidUser Outcome = "invalid_user"
	// OutcomeInvalidRequest: WeChat Pay rejected the request's parameters
	// for this row; the message says which.
	OutcomeInvalidRequest Outcome = "invalid_request"
	// OutcomeUnclassified: an answer this package does not know. Retry a
	// few times, then send to review with the full body.
	OutcomeUnclassified Outcome = "unclassified"
)

// Outcomes lists every outcome, in table order.
func Outcomes() []Outcome {
	return []Outcome{
		OutcomeIssued, OutcomeAlreadyIssued, OutcomeThrottled, OutcomeUnknown,
		OutcomeBudgetExhausted, OutcomeStockUnavailable, OutcomeConfigError,
		OutcomeUserLimited, OutcomeUserDailyLimit, OutcomeUserAbnormal,
		OutcomeInvalidUser, OutcomeInvalidRequest, OutcomeUnclassified,
	}
}

// Valid reports whether o is one of the defined outcomes.
func (o Outcome) Valid() bool {
	for _, x := range Outcomes() {
		if o == x {
			return true
		}
	}
	return false
}

// Success reports whether the recipient has the coupon.
func (o Outcome) Success() bool {
	return o == OutcomeIssued || o == OutcomeAlreadyIssued
}

// Terminal reports whether the row is finished: sending again can change
// nothing. Halting outcomes are not terminal: the row waits for the stock
// or the configuration to be fixed.
func (o Outcome) Terminal() bool {
	switch o {
	case OutcomeIssued, OutcomeAlreadyIssued, OutcomeUserLimited,
		OutcomeUserAbnormal, OutcomeInvalidUser, OutcomeInvalidRequest:
		return true
	}
	return false
}

// HaltsBatch reports whether no further row of the batch (same stock) can
// succeed until an operator acts.
func (o Outcome) HaltsBatch() bool {
	return o == OutcomeBudgetExhausted || o == OutcomeStockUnavailable || o == OutcomeConfigError
}

// HaltsMerchant reports whether every job of the merchant must stop and
// alert: its credentials or setup are wrong.
func (o Outcome) HaltsMerchant() bool { return o == OutcomeConfigError }

// InDoubt reports whether the answer leaves it open whether the coupon was
// issued: the row is retried with the same out_request_no, and settled by
// asking WeChat Pay, never counted as not issued.
func (o Outcome) InDoubt() bool { return o == OutcomeUnknown || o == OutcomeUnclassified }

// Throttles reports whether the answer is a rate-limit signal the sender's
// limiter must react to.
func (o Outcome) Throttles() bool { return o == OutcomeThrottled }

// CountsAttempt reports whether the answer consumes one of the row's
// attempts. Throttles, halts and the daily limit say nothing about the row
// itself, so they do not.
func (o Outcome) CountsAttempt() bool {
	switch o {
	case OutcomeThrottled, OutcomeBudgetExhausted, OutcomeStockUnavailable,
		OutcomeConfigError, OutcomeUserDailyLimit:
		return false
	}
	return true
}

// RetryAfterMidnight reports whether the row may only be retried on the next
// calendar day (in the configured timezone).
func (o Outcome) RetryAfterMidnight() bool { return o == OutcomeUserDailyLimit }

// Retry reports whether the row should be sent again, with the same
// out_request_no, after a backoff.
func (o Outcome) Retry() bool {
	switch o {
	case OutcomeThrottled, OutcomeUnknown, OutcomeUnclassified, OutcomeUserDailyLimit:
		return true
	}
	return false
}

// Classify maps the answer to one send — its result and the error the
// client returned — to an Outcome. It accepts any error: *APIError,
// transport and signature failures, malformed responses and client-side
// validation errors.
func Classify(res SendResult, err error) Outcome {
	if err == nil {
		if res.CouponID != "" {
			return OutcomeIssued
		}
		// A success without the coupon's identity cannot be stored: treat
		// it like an unreadable body and let the retry fetch the id.
		return OutcomeUnknown
	}
	var apiErr *APIError
	switch {
	case errors.Is(err, ErrInvalidRequest):
		return OutcomeInvalidRequest
	case errors.As(err, &apiErr):
		o := classifyCode(res.Kind, apiErr.Status, apiErr.Code, apiErr.Message)
		if o.Terminal() && !apiErr.Signed {
			// Only an authenticated answer may finish a recipient (failed,
			// or "already issued"): a forged one would skip it silently.
			// Retrying with the same out_request_no is always safe; halts
			// stay, as they only pause a batch.
			return OutcomeUnknown
		}
		return o
	default:
		// Transport failures, signature failures (including on a 2xx),
		// unreadable bodies, cancelled contexts: the request may have been
		// processed, so only a retry with the same out_request_no is safe.
		return OutcomeUnknown
	}
}

// ClassifyPlugin maps what the mini-program plugin reported for one coupon
// (the outer errcode, the coupon's code in send_coupon_result and its
// message) to an Outcome.
func ClassifyPlugin(errcode, code, message string) Outcome {
	if errcode != "" && errcode != "OK" {
		return classifyCode(KindPlugin, 0, errcode, message)
	}
	if code == "SUCCESS" {
		return OutcomeIssued
	}
	return classifyCode(KindPlugin, 0, code, message)
}

// classifyCode is the table. Order matters: throttling and server errors
// win over codes, codes whose meaning is unambiguous come next, and the
// overloaded codes are split by message.
func classifyCode(kind Kind, status int, code, message string) Outcome {
	switch {
	case status == http.StatusTooManyRequests:
		return OutcomeThrottled
	case status >= 500:
		return OutcomeUnknown
	}
	if o, ok := codeOutcome(code); ok {
		return o
	}
	if rules, otherwise, ok := messageRules(code); ok {
		msg := normalizeMessage(message)
		for _, r := range rules {
			if containsAny(msg, r.words...) {
				return r.outcome
			}
		}
		return otherwise
	}
	if status == http.StatusUnauthorized {
		return OutcomeConfigError
	}
	return OutcomeUnclassified
}

// codeOutcome is the outcome of the codes that say it alone.
func codeOutcome(code string) (Outcome, bool) {
	switch code {
	case "FREQUENCY_LIMITED", "FREQUENCY_LIMIT_EXCEED", "RATELIMIT_EXCEEDED", "RATE_LIMITED":
		return OutcomeThrottled, true
	case "SYSTEM_ERROR", "SYSTEMERROR", "USER_GET_FAILED":
		return OutcomeUnknown, true

	case "RESOURCE_ALREADY_EXISTS", "DUPREQUEST":
		return OutcomeAlreadyIssued, true

	case "NOT_ENOUGH", "STOCK_INSUFFICIENT", "NOTENOUGH":
		return OutcomeBudgetExhausted, true

	case "STOCK_STATE_ERROR", "STOCK_EXPIRED", "NOTRUNNING", "STOCK_NOT_EXISTS",
		"STOCK_NO_PRODUCT", "RESOURCE_NOT_EXISTS":
		// On a send the only resource looked up by id is the stock.
		return OutcomeStockUnavailable, true

	case "SIGN_ERROR", "APPID_MCHID_NOT_MATCH", "MCH_NOT_EXISTS", "NO_AUTH":
		return OutcomeConfigError, true

	case "USER_RECEIVE_LIMIT", "USER_ALREADY_RECEIVED", "MAXQUOTA", "NATURELIMIT":
		return OutcomeUserLimited, true
	case "DAYLIMIT":
		return OutcomeUserDailyLimit, true
	case "USER_ACCOUNT_ABNORMAL":
		return OutcomeUserAbnormal, true
	case "USER_NOT_EXISTS":
		return OutcomeInvalidUser, true

	case "FAILED":
		// Plugin: a per-coupon failure whose reason is only in the message.
		return OutcomeUnclassified, true
	}
	return "", false
}

// messageRule is an outcome for a code whose message holds one of words.
type messageRule struct {
	words   []string
	outcome Outcome
}

// messageRules are the rules, in order, of the codes whose outcome is in
// their message, and the outcome when no rule matches.
func messageRules(code string) ([]messageRule, Outcome, bool) {
	switch code {
	case "INVALID_REQUEST":
		return []messageRule{
			{[]string{"频率", "频繁"}, OutcomeThrottled},
			{[]string{"活动已结束或未激活", "活动未开始或已结束"}, OutcomeStockUnavailable},
			{[]string{"openid与appid不匹配"}, OutcomeInvalidUser},
			{[]string{"非法的商户号", "发券模式不合法", "不符合微信支付apiv3接口规则"}, OutcomeConfigError},
		}, OutcomeUnclassified, true
	case "REQUEST_BLOCKED":
		return []messageRule{
			{[]string{"用户被限领拦截"}, OutcomeUserLimited},
			{[]string{"调用商户无权限", "商户无权发券", "批次不支持跨商户发券"}, OutcomeConfigError},
		}, OutcomeUnclassified, true
	case "RULE_LIMIT":
		// Concurrent sends to one recipient have produced spurious
		// RULE_LIMIT answers; without a known message, retry and review.
		return []messageRule{
			{[]string{"会员"}, OutcomeInvalidUser},
			// A brand-level feature switch: every send of the merchant fails.
			{[]string{"品牌未开通"}, OutcomeConfigError},
			{[]string{"批次", "商品"}, OutcomeStockUnavailable},
		}, OutcomeUnclassified, true
	case "PARAM_ERROR":
		return []messageRule{
			{[]string{"非法的批次状态"}, OutcomeStockUnavailable},
			// Filled from configuration, not from the row.
			{[]string{"appid必填", "商户号必填", "批次号必填"}, OutcomeConfigError},
			{[]string{"openid必填"}, OutcomeInvalidUser},
		}, OutcomeInvalidRequest, true
	}
	return nil, "", false
}

// normalizeMessage folds case and drops all white space, so "openid 与
// appID 不匹配" and "openid与appID不匹配" compare equal.
func normalizeMessage(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return unicode.ToLower(r)
	}, s)
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// MaybeDone reports whether a call that failed with err may nevertheless
// have taken effect at WeChat Pay: the answer was lost after the request
// may have arrived, it was not authenticated or not readable, or it was a
// 5xx. Such a call is in doubt, never "failed": ask again with the same
// request number before doing anything else. A definite refusal (4xx)
// or a request that never left is not in doubt.
func MaybeDone(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status >= 500
	}
	var te *TransportError
	if errors.As(err, &te) {
		return te.MaybeSent
	}
	return errors.Is(err, ErrSignature) || errors.Is(err, ErrMalformedResponse)
}

// IsThrottle reports whether err is WeChat Pay's rate limit on any call:
// HTTP 429, or a frequency code (FREQUENCY_LIMITED and its kin) whatever
// the status. Nothing was done; slow down and ask again.
func IsThrottle(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && classifyCode(KindFavor, ae.Status, ae.Code, ae.Message) == OutcomeThrottled
}
