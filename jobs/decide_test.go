package jobs

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/queue"
	"github.com/issuer-dev/issuer/wxpay"
)

func TestDecide(t *testing.T) {
	t.Parallel()
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	p := Policy{MaxAttempts: 5, MaxUnclassified: 3, BackoffBase: time.Second, BackoffCap: time.Minute, Location: shanghai}.withDefaults()
	now := time.Date(2026, 11, 22, 15, 0, 0, 0, time.UTC) // 23:00 in Shanghai
	apiErr := func(status int, code, msg string) error {
		return &wxpay.APIError{Status: status, Code: code, Message: msg}
	}

	tests := []struct {
		name     string
		kind     wxpay.Kind
		attempts int
		outcome  wxpay.Outcome
		res      wxpay.SendResult
		err      error
		status   string
		uncount  bool
		halt     halt
		check    func(t *testing.T, r queue.Result)
	}{
		{name: "IssuedFavor", kind: wxpay.KindFavor, attempts: 1, outcome: wxpay.OutcomeIssued, res: wxpay.SendResult{CouponID: "9867041"},
			status: queue.StatusIssued, check: func(t *testing.T, r queue.Result) { require.Equal(t, "9867041", r.CouponID) }},
		{name: "IssuedProductKeepsCode", kind: wxpay.KindProduct, attempts: 1, outcome: wxpay.OutcomeIssued, res: wxpay.SendResult{CouponID: "CODE1"},
			status: queue.StatusIssued, check: func(t *testing.T, r queue.Result) { require.Equal(t, "CODE1", r.CouponCode) }},
		{name: "AlreadyIssued", kind: wxpay.KindProduct, attempts: 2, outcome: wxpay.OutcomeAlreadyIssued,
			err: apiErr(400, "RESOURCE_ALREADY_EXISTS", "发券凭证已存在"), status: queue.StatusIssued},
		{name: "ThrottledRequeuesUncounted", attempts: 1, outcome: wxpay.OutcomeThrottled, err: apiErr(429, "FREQUENCY_LIMIT_EXCEED", "接口限频"),
			status: queue.StatusPending, uncount: true, check: func(t *testing.T, r queue.Result) {
				require.WithinDuration(t, now, r.NextAttemptAt, 250*time.Millisecond)
			}},
		{name: "UnknownRetries", attempts: 2, outcome: wxpay.OutcomeUnknown, err: errors.New("timeout"), status: queue.StatusPending,
			check: func(t *testing.T, r queue.Result) {
				require.True(t, r.NextAttemptAt.After(now))
				require.False(t, r.NextAttemptAt.After(now.Add(2*time.Second)), "full jitter under base·2^(n-1)")
				require.Equal(t, "timeout", r.WxMessage)
			}},
		{name: "UnknownAtMaxGoesToReview", attempts: 5, outcome: wxpay.OutcomeUnknown, err: apiErr(500, "SYSTEM_ERROR", "系统异常"), status: queue.StatusReview},
		{name: "UnclassifiedRetriesAFewTimes", attempts: 2, outcome: wxpay.OutcomeUnclassified, status: queue.StatusPending},
		{name: "UnclassifiedThenReview", attempts: 3, outcome: wxpay.OutcomeUnclassified, status: queue.StatusReview},
		{name: "BudgetHaltsBatch", attempts: 1, outcome: wxpay.OutcomeBudgetExhausted, err: apiErr(403, "NOT_ENOUGH", "批次预算不足"),
			status: queue.StatusPending, uncount: true, halt: halt{batch: true, reason: "budget_exhausted: NOT_ENOUGH 批次预算不足"}},
		{name: "StockHaltsBatch", attempts: 1, outcome: wxpay.OutcomeStockUnavailable, err: apiErr(400, "INVALID_REQUEST", "活动已结束或未激活"),
			status: queue.StatusPending, uncount: true, halt: halt{batch: true, reason: "stock_unavailable: INVALID_REQUEST 活动已结束或未激活"}},
		{name: "ConfigHaltsMerchant", attempts: 1, outcome: wxpay.OutcomeConfigError, err: apiErr(401, "SIGN_ERROR", "错误的签名,验签失败"),
			status: queue.StatusPending, uncount: true, halt: halt{merchant: true, reason: "config_error: SIGN_ERROR 错误的签名,验签失败"}},
		{name: "DailyLimitAfterMidnightShanghai", attempts: 1, outcome: wxpay.OutcomeUserDailyLimit, status: queue.StatusPending, uncount: true,
			check: func(t *testing.T, r queue.Result) {
				midnight := time.Date(2026, 11, 23, 0, 0, 0, 0, shanghai)
				require.False(t, r.NextAttemptAt.Before(midnight))
				require.True(t, r.NextAttemptAt.Before(midnight.Add(10*time.Minute)))
			}},
		{name: "UserLimitedFails", attempts: 1, outcome: wxpay.OutcomeUserLimited, status: queue.StatusFailed},
		{name: "InvalidUserFails", attempts: 1, outcome: wxpay.OutcomeInvalidUser, status: queue.StatusFailed},
		{name: "AbnormalFails", attempts: 1, outcome: wxpay.OutcomeUserAbnormal, status: queue.StatusFailed},
		{name: "InvalidRequestFails", attempts: 1, outcome: wxpay.OutcomeInvalidRequest, err: apiErr(400, "PARAM_ERROR", "参数错误"), status: queue.StatusFailed,
			check: func(t *testing.T, r queue.Result) {
				require.Equal(t, "PARAM_ERROR", r.WxCode)
				require.Equal(t, "参数错误", r.WxMessage)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			kind := tt.kind
			if kind == "" {
				kind = wxpay.KindFavor
			}
			row := queue.Claimed{ID: 7, Kind: string(kind), Attempts: tt.attempts}
			r, h := decide(p, row, tt.res, tt.err, tt.outcome, now, rand.New(rand.NewPCG(1, 2)))
			require.Equal(t, tt.status, r.Status)
			require.Equal(t, tt.uncount, r.Uncount)
			require.Equal(t, string(tt.outcome), r.Outcome)
			require.True(t, r.Answered)
			require.Equal(t, tt.halt, h)
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

func TestEveryOutcomeDecided(t *testing.T) {
	t.Parallel()
	p := Policy{}.withDefaults()
	type want struct {
		status       string
		haltBatch    bool
		haltMerchant bool
		uncount      bool // the attempt is given back
		later        bool // due again later than now
	}
	// What each outcome must lead to, for a row on its first attempt.
	wants := map[wxpay.Outcome]want{
		wxpay.OutcomeIssued:           {status: queue.StatusIssued},
		wxpay.OutcomeAlreadyIssued:    {status: queue.StatusIssued},
		wxpay.OutcomeThrottled:        {status: queue.StatusPending, uncount: true, later: true},
		wxpay.OutcomeUnknown:          {status: queue.StatusPending, later: true},
		wxpay.OutcomeBudgetExhausted:  {status: queue.StatusPending, haltBatch: true, uncount: true},
		wxpay.OutcomeStockUnavailable: {status: queue.StatusPending, haltBatch: true, uncount: true},
		wxpay.OutcomeConfigError:      {status: queue.StatusPending, haltMerchant: true, uncount: true},
		wxpay.OutcomeUserLimited:      {status: queue.StatusFailed},
		wxpay.OutcomeUserDailyLimit:   {status: queue.StatusPending, uncount: true, later: true},
		wxpay.OutcomeUserAbnormal:     {status: queue.StatusFailed},
		wxpay.OutcomeInvalidUser:      {status: queue.StatusFailed},
		wxpay.OutcomeInvalidRequest:   {status: queue.StatusFailed},
		wxpay.OutcomeUnclassified:     {status: queue.StatusPending, later: true},
	}
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, o := range wxpay.Outcomes() {
		w, ok := wants[o]
		require.True(t, ok, "outcome %s has no expected decision", o)
		r, h := decide(p, queue.Claimed{Attempts: 1}, wxpay.SendResult{CouponID: "1"}, nil, o, now, rand.New(rand.NewPCG(1, 2)))
		require.Equal(t, w.status, r.Status, "%s: status", o)
		require.Equal(t, w.haltBatch, h.batch, "%s: halts the batch", o)
		require.Equal(t, w.haltMerchant, h.merchant, "%s: halts the merchant", o)
		require.Equal(t, w.uncount, r.Uncount, "%s: gives the attempt back", o)
		require.Equal(t, w.later, r.NextAttemptAt.After(now), "%s: due later", o)
		require.Equal(t, string(o), r.Outcome, "%s: recorded outcome", o)
	}
	// The queue's own names for "in doubt" are the classifier's.
	require.Equal(t, string(wxpay.OutcomeUnknown), queue.OutcomeUnknown)
	require.Equal(t, string(wxpay.OutcomeUnclassified), queue.OutcomeUnclassified)
	// After max attempts, in doubt goes to review, never failed.
	for _, o := range []wxpay.Outcome{wxpay.OutcomeUnknown, wxpay.OutcomeUnclassified} {
		r, _ := decide(p, queue.Claimed{Attempts: p.MaxAttempts}, wxpay.SendResult{}, nil, o, now, rand.New(rand.NewPCG(1, 2)))
		require.Equal(t, queue.StatusReview, r.Status, o)
	}
}

func TestBackoffFullJitterCapped(t *testing.T) {
	t.Parallel()
	p := Policy{BackoffBase: time.Second, BackoffCap: 30 * time.Second}.withDefaults()
	rnd := rand.New(rand.NewPCG(3, 4))
	for attempt := 1; attempt < 70; attempt++ {
		d := backoff(p, attempt, rnd)
		require.Positive(t, d)
		require.LessOrEqual(t, d, 30*time.Second)
	}
}
