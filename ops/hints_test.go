package ops_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/ops"
	"github.com/issuer-dev/issuer/queue"
)

// A halted batch's next step follows the outcome that halted it.
func TestNextStepForHalts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ reason, want string }{
		{"budget_exhausted: NOT_ENOUGH 批次预算不足", "top up the stock's budget on the WeChat Pay merchant platform, then `issuer batch resume 7`"},
		{"stock_unavailable: STOCK_STATUS_ERR 批次已暂停", "check that the stock is started and not expired (`issuer stock show`), then `issuer batch resume 7`"},
		{"config_error: MCH_NOT_EXISTS 商户号不存在", "fix the merchant configuration WeChat Pay refused (mchid, appid, keys, stock creator), then `issuer batch resume 7`"},
		{"spend_cap: 10.00 of the 10.00 yuan cap is issued or in doubt; no remaining recipient fits under it",
			"it reached its --max-amount-yuan cap; cancel it with `issuer batch cancel 7`, or import the rest as a new batch"},
		{"unclassified: SOMETHING_NEW 未知", "see `issuer batch show 7`, fix the cause, then `issuer batch resume 7`"},
		{"", "see `issuer batch show 7`, fix the cause, then `issuer batch resume 7`"},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			t.Parallel()
			reason := tc.reason
			step := ops.NextStep(&queue.Batch{ID: 7, Status: queue.BatchHalted, HaltReason: &reason})
			require.Equal(t, "batch 7 is halted ("+tc.reason+"); "+tc.want, step)
		})
	}
}
