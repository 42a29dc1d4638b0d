package wxpay_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/wxpay"
)

// seedAnswer is one row of the classification table test: an error answer as
// a seed page lists it (status, code, message verbatim, spacing included).
type seedAnswer struct {
	kind    wxpay.Kind
	status  int
	code    string
	message string
	want    wxpay.Outcome
}

// seedAnswers holds every error code of the four seed pages with each of
// its documented messages, plus the message variants of the wire notes.
var seedAnswers = []seedAnswer{
	// 002 代金券 send.
	{wxpay.KindFavor, 400, "PARAM_ERROR", "回调 url 不能为空", wxpay.OutcomeInvalidRequest},
	{wxpay.KindFavor, 400, "PARAM_ERROR", "回调商户不能为空", wxpay.OutcomeInvalidRequest},
	{wxpay.KindFavor, 400, "PARAM_ERROR", "券 id 必填", wxpay.OutcomeInvalidRequest},
	{wxpay.KindFavor, 400, "PARAM_ERROR", "appid 必填", wxpay.OutcomeConfigError},
	{wxpay.KindFavor, 400, "PARAM_ERROR", "openid 必填", wxpay.OutcomeInvalidUser},
	{wxpay.KindFavor, 400, "PARAM_ERROR", "页大小超过阈值", wxpay.OutcomeInvalidRequest},
	{wxpay.KindFavor, 400, "PARAM_ERROR", "输入时间格式错误", wxpay.OutcomeInvalidRequest},
	{wxpay.KindFavor, 400, "PARAM_ERROR", "批次号必填", wxpay.OutcomeConfigError},
	{wxpay.KindFavor, 400, "PARAM_ERROR", "商户号必填", wxpay.OutcomeConfigError},
	{wxpay.KindFavor, 400, "PARAM_ERROR", "非法的批次状态", wxpay.OutcomeStockUnavailable},
	{wxpay.KindFavor, 400, "MCH_NOT_EXISTS", "商户号不合法", wxpay.OutcomeConfigError},
	{wxpay.KindFavor, 400, "INVALID_REQUEST", "openid 与 appID 不匹配", wxpay.OutcomeInvalidUser},
	{wxpay.KindFavor, 400, "INVALID_REQUEST", "活动已结束或未激活", wxpay.OutcomeStockUnavailable},
	{wxpay.KindFavor, 400, "INVALID_REQUEST", "非法的商户号", wxpay.OutcomeConfigError},
	{wxpay.KindFavor, 400, "APPID_MCHID_NOT_MATCH", "商户号与 appid 不匹配", wxpay.OutcomeConfigError},
	{wxpay.KindFavor, 403, "USER_ACCOUNT_ABNORMAL", "用户非法", wxpay.OutcomeUserAbnormal},
	{wxpay.KindFavor, 403, "NOT_ENOUGH", "批次预算不足", wxpay.OutcomeBudgetExhausted},
	{wxpay.KindFavor, 403, "REQUEST_BLOCKED", "调用商户无权限", wxpay.OutcomeConfigError},
	{wxpay.KindFavor, 403, "REQUEST_BLOCKED", "商户无权发券", wxpay.OutcomeConfigError},
	{wxpay.KindFavor, 403, "REQUEST_BLOCKED", "批次不支持跨商户发券", wxpay.OutcomeConfigError},
	{wxpay.KindFavor, 403, "REQUEST_BLOCKED", "用户被限领拦截", wxpay.OutcomeUserLimited},
	{wxpay.KindFavor, 404, "RESOURCE_NOT_EXISTS", "批次不存在", wxpay.OutcomeStockUnavailable},
	{wxpay.KindFavor, 429, "FREQUENCY_LIMIT_EXCEED", "接口限频", wxpay.OutcomeThrottled},

	// 001 商品券 send.
	{wxpay.KindProduct, 400, "PARAM_ERROR", "参数错误", wxpay.OutcomeInvalidRequest},
	{wxpay.KindProduct, 400, "INVALID_REQUEST", "HTTP 请求不符合微信支付 APIv3 接口规则", wxpay.OutcomeConfigError},
	{wxpay.KindProduct, 401, "SIGN_ERROR", "验证不通过", wxpay.OutcomeConfigError},
	{wxpay.KindProduct, 500, "SYSTEM_ERROR", "系统异常,请稍后重试", wxpay.OutcomeUnknown},
	{wxpay.KindProduct, 400, "APPID_MCHID_NOT_MATCH", "AppID 与请求方商户无关联关系", wxpay.OutcomeConfigError},
	{wxpay.KindProduct, 400, "INVALID_REQUEST", "发券模式不合法", wxpay.OutcomeConfigError},
	{wxpay.KindProduct, 400, "MCH_NOT_EXISTS", "商户号不存在", wxpay.OutcomeConfigError},
	{wxpay.KindProduct, 400, "RESOURCE_ALREADY_EXISTS", "发券凭证已存在", wxpay.OutcomeAlreadyIssued},
	{wxpay.KindProduct, 400, "STOCK_NOT_EXISTS", "批次不存在", wxpay.OutcomeStockUnavailable},
	{wxpay.KindProduct, 400, "STOCK_STATE_ERROR", "批次状态错误", wxpay.OutcomeStockUnavailable},
	{wxpay.KindProduct, 400, "STOCK_EXPIRED", "批次已过期", wxpay.OutcomeStockUnavailable},
	{wxpay.KindProduct, 400, "STOCK_INSUFFICIENT", "批次库存不足", wxpay.OutcomeBudgetExhausted},
	{wxpay.KindProduct, 400, "STOCK_NO_PRODUCT", "批次未关联商品信息", wxpay.OutcomeStockUnavailable},
	{wxpay.KindProduct, 400, "USER_ALREADY_RECEIVED", "用户已领取", wxpay.OutcomeUserLimited},
	{wxpay.KindProduct, 400, "USER_RECEIVE_LIMIT", "用户领取限制", wxpay.OutcomeUserLimited},
	{wxpay.KindProduct, 403, "NO_AUTH", "无权限", wxpay.OutcomeConfigError},
	{wxpay.KindProduct, 403, "RULE_LIMIT", "券批次未关联商品信息", wxpay.OutcomeStockUnavailable},
	{wxpay.KindProduct, 403, "RULE_LIMIT", "品牌未开通名片功能", wxpay.OutcomeConfigError},
	{wxpay.KindProduct, 403, "RULE_LIMIT", "用户未开通会员功能", wxpay.OutcomeInvalidUser},
	{wxpay.KindProduct, 404, "RESOURCE_NOT_EXISTS", "查询的资源不存在", wxpay.OutcomeStockUnavailable},
	{wxpay.KindProduct, 404, "USER_NOT_EXISTS", "OpenID不正确", wxpay.OutcomeInvalidUser},
	{wxpay.KindProduct, 429, "FREQUENCY_LIMITED", "频率限制", wxpay.OutcomeThrottled},
	{wxpay.KindProduct, 500, "SYSTEM_ERROR", "系统失败", wxpay.OutcomeUnknown},

	// Variants from the wire notes and the generic v3 rules.
	{wxpay.KindFavor, 400, "INVALID_REQUEST", "openid与appID不匹配", wxpay.OutcomeInvalidUser},
	{wxpay.KindFavor, 400, "INVALID_REQUEST", "OPENID与APPID不匹配", wxpay.OutcomeInvalidUser},
	{wxpay.KindFavor, 400, "INVALID_REQUEST", "调用频率过高", wxpay.OutcomeThrottled},
	{wxpay.KindFavor, 400, "INVALID_REQUEST", " 活动已结束或未激活 ", wxpay.OutcomeStockUnavailable},
	{wxpay.KindFavor, 400, "INVALID_REQUEST", "something new", wxpay.OutcomeUnclassified},
	{wxpay.KindProduct, 429, "FREQUENCY_LIMITED", "请求过于频繁", wxpay.OutcomeThrottled},
	{wxpay.KindFavor, 429, "RATELIMIT_EXCEEDED", "", wxpay.OutcomeThrottled},
	{wxpay.KindFavor, 429, "RATE_LIMITED", "", wxpay.OutcomeThrottled},
	{wxpay.KindFavor, 429, "SYSTEM_ERROR", "any code on 429", wxpay.OutcomeThrottled},
	{wxpay.KindFavor, 429, "", "", wxpay.OutcomeThrottled},
	{wxpay.KindFavor, 403, "FREQUENCY_LIMITED", "throttle code on another status", wxpay.OutcomeThrottled},
	{wxpay.KindFavor, 502, "", "<html>Bad Gateway</html>", wxpay.OutcomeUnknown},
	{wxpay.KindFavor, 503, "NOT_ENOUGH", "5xx wins over the code", wxpay.OutcomeUnknown},
	{wxpay.KindFavor, 400, "SYSTEM_ERROR", "", wxpay.OutcomeUnknown},
	{wxpay.KindFavor, 403, "REQUEST_BLOCKED", "新的拦截原因", wxpay.OutcomeUnclassified},
	{wxpay.KindProduct, 403, "RULE_LIMIT", "其他规则限制", wxpay.OutcomeUnclassified},
	{wxpay.KindFavor, 401, "", "", wxpay.OutcomeConfigError},
	{wxpay.KindFavor, 400, "SOMETHING_NEW", "", wxpay.OutcomeUnclassified},
	{wxpay.KindFavor, 418, "", "", wxpay.OutcomeUnclassified},

	// 000 mini-program plugin: outer errcode and per-coupon codes, as the
	// plugin reports them (no HTTP status).
	{wxpay.KindPlugin, 0, "PARAM_ERROR", "参数错误", wxpay.OutcomeInvalidRequest},
	{wxpay.KindPlugin, 0, "USER_NOT_EXISTS", "登录态获取失效", wxpay.OutcomeInvalidUser},
	{wxpay.KindPlugin, 0, "USER_GET_FAILED", "登录态获取失败", wxpay.OutcomeUnknown},
	{wxpay.KindPlugin, 0, "SIGN_ERROR", "签名错误", wxpay.OutcomeConfigError},
	{wxpay.KindPlugin, 0, "SYSTEMERROR", "发券超时", wxpay.OutcomeUnknown},
	{wxpay.KindPlugin, 0, "FAILED", "该张券发券失败", wxpay.OutcomeUnclassified},
	{wxpay.KindPlugin, 0, "NOTENOUGH", "总预算用完", wxpay.OutcomeBudgetExhausted},
	{wxpay.KindPlugin, 0, "DAYLIMIT", "用户达到单天限领", wxpay.OutcomeUserDailyLimit},
	{wxpay.KindPlugin, 0, "NATURELIMIT", "用户自然人限领", wxpay.OutcomeUserLimited},
	{wxpay.KindPlugin, 0, "MAXQUOTA", "用户领取张数达到上限", wxpay.OutcomeUserLimited},
	{wxpay.KindPlugin, 0, "DUPREQUEST", "已通过该发券凭证给用户发券", wxpay.OutcomeAlreadyIssued},
	{wxpay.KindPlugin, 0, "NOTRUNNING", "批次状态非运营中", wxpay.OutcomeStockUnavailable},
}

func TestClassifyAPIErrors(t *testing.T) {
	t.Parallel()
	for _, a := range seedAnswers {
		err := fmt.Errorf("send: %w", &wxpay.APIError{Status: a.status, Code: a.code, Message: a.message, Signed: true})
		got := wxpay.Classify(wxpay.SendResult{Kind: a.kind, Status: a.status}, err)
		require.Equal(t, a.want, got, "%s %d %s %q", a.kind, a.status, a.code, a.message)
	}
}

// An unsigned error answer (a gateway's, or a forgery) may halt a batch or
// slow the sender down, but never finish a recipient: failing it would
// skip it, and "already issued" would claim a coupon nobody confirmed.
func TestClassifyUnsignedNeverFinishesARow(t *testing.T) {
	t.Parallel()
	for _, a := range seedAnswers {
		signed := &wxpay.APIError{Status: a.status, Code: a.code, Message: a.message, Signed: true}
		unsigned := *signed
		unsigned.Signed = false
		res := wxpay.SendResult{Kind: a.kind, Status: a.status}
		want := wxpay.Classify(res, signed)
		got := wxpay.Classify(res, &unsigned)
		if want.Terminal() {
			require.Equal(t, wxpay.OutcomeUnknown, got, "%s %s", a.code, a.message)
		} else {
			require.Equal(t, want, got, "%s %s", a.code, a.message)
		}
	}
}

func TestClassifyPlugin(t *testing.T) {
	t.Parallel()
	require.Equal(t, wxpay.OutcomeIssued, wxpay.ClassifyPlugin("OK", "SUCCESS", ""))
	require.Equal(t, wxpay.OutcomeIssued, wxpay.ClassifyPlugin("", "SUCCESS", ""))
	for _, a := range seedAnswers {
		if a.kind != wxpay.KindPlugin {
			continue
		}
		// Per-coupon codes come under errcode OK; outer codes replace it.
		errcode, code := "OK", a.code
		switch a.code {
		case "PARAM_ERROR", "USER_NOT_EXISTS", "USER_GET_FAILED", "SIGN_ERROR", "SYSTEMERROR":
			errcode, code = a.code, ""
		}
		require.Equal(t, a.want, wxpay.ClassifyPlugin(errcode, code, a.message), a.code)
	}
}

func TestClassifyNonAPIAnswers(t *testing.T) {
	t.Parallel()
	issued := wxpay.SendResult{Kind: wxpay.KindFavor, Status: 200, CouponID: "9867041"}
	cases := map[string]struct {
		res  wxpay.SendResult
		err  error
		want wxpay.Outcome
	}{
		"2xx with coupon id":     {issued, nil, wxpay.OutcomeIssued},
		"2xx without coupon id":  {wxpay.SendResult{Status: 200}, nil, wxpay.OutcomeUnknown},
		"timeout":                {wxpay.SendResult{}, &wxpay.TransportError{MaybeSent: true, Err: context.DeadlineExceeded}, wxpay.OutcomeUnknown},
		"reset":                  {wxpay.SendResult{}, &wxpay.TransportError{MaybeSent: true, Err: errors.New("connection reset by peer")}, wxpay.OutcomeUnknown},
		"refused everywhere":     {wxpay.SendResult{}, &wxpay.TransportError{Err: errors.New("connection refused")}, wxpay.OutcomeUnknown},
		"cancelled":              {wxpay.SendResult{}, context.Canceled, wxpay.OutcomeUnknown},
		"bad signature on 2xx":   {wxpay.SendResult{Status: 200}, fmt.Errorf("x: %w", wxpay.ErrSignature), wxpay.OutcomeUnknown},
		"unreadable 2xx body":    {wxpay.SendResult{Status: 200}, fmt.Errorf("x: %w", wxpay.ErrMalformedResponse), wxpay.OutcomeUnknown},
		"refused before sending": {wxpay.SendResult{}, fmt.Errorf("x: %w", wxpay.ErrInvalidRequest), wxpay.OutcomeInvalidRequest},
	}
	for name, tc := range cases {
		require.Equal(t, tc.want, wxpay.Classify(tc.res, tc.err), name)
	}
}

func TestOutcomeAttributes(t *testing.T) {
	t.Parallel()
	type attrs struct{ success, terminal, haltsBatch, haltsMerchant, countsAttempt, retry, midnight, throttles bool }
	want := map[wxpay.Outcome]attrs{
		wxpay.OutcomeIssued:           {success: true, terminal: true, countsAttempt: true},
		wxpay.OutcomeAlreadyIssued:    {success: true, terminal: true, countsAttempt: true},
		wxpay.OutcomeThrottled:        {retry: true, throttles: true},
		wxpay.OutcomeUnknown:          {countsAttempt: true, retry: true},
		wxpay.OutcomeBudgetExhausted:  {haltsBatch: true},
		wxpay.OutcomeStockUnavailable: {haltsBatch: true},
		wxpay.OutcomeConfigError:      {haltsBatch: true, haltsMerchant: true},
		wxpay.OutcomeUserLimited:      {terminal: true, countsAttempt: true},
		wxpay.OutcomeUserDailyLimit:   {retry: true, midnight: true},
		wxpay.OutcomeUserAbnormal:     {terminal: true, countsAttempt: true},
		wxpay.OutcomeInvalidUser:      {terminal: true, countsAttempt: true},
		wxpay.OutcomeInvalidRequest:   {terminal: true, countsAttempt: true},
		wxpay.OutcomeUnclassified:     {countsAttempt: true, retry: true},
	}
	require.Len(t, wxpay.Outcomes(), len(want))
	for _, o := range wxpay.Outcomes() {
		w, ok := want[o]
		require.True(t, ok, o)
		require.True(t, o.Valid())
		got := attrs{o.Success(), o.Terminal(), o.HaltsBatch(), o.HaltsMerchant(), o.CountsAttempt(), o.Retry(), o.RetryAfterMidnight(), o.Throttles()}
		require.Equal(t, w, got, o)
		require.False(t, o.Terminal() && o.Retry(), "%s: terminal outcomes are not retried", o)
	}
	require.False(t, wxpay.Outcome("failed").Valid())
}

// TestClassifyCoversSeedCodes checks that every error code printed in the
// seed pages has a row above, so a code added to a page is not forgotten.
func TestClassifyCoversSeedCodes(t *testing.T) {
	t.Parallel()
	codes := []string{
		"PARAM_ERROR", "MCH_NOT_EXISTS", "INVALID_REQUEST", "APPID_MCHID_NOT_MATCH", "USER_ACCOUNT_ABNORMAL",
		"NOT_ENOUGH", "REQUEST_BLOCKED", "RESOURCE_NOT_EXISTS", "FREQUENCY_LIMIT_EXCEED", // 002
		"SIGN_ERROR", "SYSTEM_ERROR", "RESOURCE_ALREADY_EXISTS", "STOCK_NOT_EXISTS", "STOCK_STATE_ERROR",
		"STOCK_EXPIRED", "STOCK_INSUFFICIENT", "STOCK_NO_PRODUCT", "USER_ALREADY_RECEIVED", "USER_RECEIVE_LIMIT",
		"NO_AUTH", "RULE_LIMIT", "USER_NOT_EXISTS", "FREQUENCY_LIMITED", // 001
		"USER_GET_FAILED", "SYSTEMERROR", "FAILED", "NOTENOUGH", "DAYLIMIT", "NATURELIMIT", "MAXQUOTA",
		"DUPREQUEST", "NOTRUNNING", // 000 (OK and SUCCESS: TestClassifyPlugin)
	}
	// When the seed pages sit next to the repository, read the codes from
	// them rather than trusting the list.
	if files, _ := filepath.Glob(filepath.Join("..", "..", "shared", "seeds", "00*.txt")); len(files) > 0 {
		notCodes := map[string]bool{"JAVA": true, "POST": true, "NORMAL": true, "TODO": true, "METHOD": true, "JSON": true,
			"MEMBER": true, "PATH": true, "HOST": true, "HMAC": true, "WXML": true, "MERCHANT_API": true, "HTTP": true,
			"BODY": true, "APPID": true, "SUCCESS": true, "CODE": true, "GET": true, "URL": true, "SHA1": true, "SHA256": true,
			"RSA": true, "AEAD_AES_256_GCM": true, "COUPON": true, "USE": true, "HTTPS": true, "BODY_": true, "PHP": true, "CUT_TO": true}
		re := regexp.MustCompile(`\b[A-Z][A-Z_]{3,}[A-Z]\b`)
		seen := map[string]bool{}
		for _, f := range files {
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			for _, c := range re.FindAllString(string(b), -1) {
				if !notCodes[c] && !seen[c] {
					seen[c] = true
					codes = append(codes, c)
				}
			}
		}
	}
	covered := map[string]bool{}
	for _, a := range seedAnswers {
		covered[a.code] = true
	}
	for _, c := range codes {
		require.True(t, covered[c], "seed code %s has no classification row", c)
	}
}

func TestMaybeDoneAndIsThrottle(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name               string
		err                error
		maybeDone, throttl bool
	}{
		{"5xx", &wxpay.APIError{Status: 500, Code: "SYSTEM_ERROR"}, true, false},
		{"4xx refusal", &wxpay.APIError{Status: 400, Code: "PARAM_ERROR"}, false, false},
		{"429", fmt.Errorf("list: %w", &wxpay.APIError{Status: 429}), false, true},
		{"frequency code on 403", &wxpay.APIError{Status: 403, Code: "FREQUENCY_LIMITED"}, false, true},
		{"frequency message", &wxpay.APIError{Status: 400, Code: "INVALID_REQUEST", Message: "请求过于频繁"}, false, true},
		{"lost answer", &wxpay.TransportError{MaybeSent: true, Err: errors.New("reset")}, true, false},
		{"never connected", &wxpay.TransportError{Err: errors.New("refused")}, false, false},
		{"unsigned", fmt.Errorf("x: %w", wxpay.ErrSignature), true, false},
		{"unreadable", wxpay.ErrMalformedResponse, true, false},
		{"invalid request", wxpay.ErrInvalidRequest, false, false},
	} {
		require.Equal(t, tc.maybeDone, wxpay.MaybeDone(tc.err), tc.name)
		require.Equal(t, tc.throttl, wxpay.IsThrottle(tc.err), tc.name)
	}
}
