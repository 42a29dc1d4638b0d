package report_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/report"
)

// TestChineseDetails: the problems' details and the rows' notes the report
// and the console show read in Chinese; what is not known stays as it is.
func TestChineseDetails(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		known    bool
	}{
		{"in doubt, in review: last answer unknown (SYSTEM_ERROR 系统异常,请稍后重试) after 10 attempts; WeChat Pay may have issued it",
			"待确认，待复核：最近一次应答为“应答不明”（微信支付：SYSTEM_ERROR 系统异常,请稍后重试），共尝试 10 次；微信支付可能已发券", true},
		{"in review: last answer unclassified after 1 attempt", "待复核：最近一次应答为“无法识别的应答”，共尝试 1 次", true},
		{"use-flow of 2025-03-02 rejected, nothing loaded: flow file: 总条数 says 3 rows, file has 2 (sha1 a0e2, kept at /var/x.csv)",
			"2025-03-02 的核销明细被拒，未加载：flow file: 总条数 says 3 rows, file has 2（SHA-1 a0e2，保存在 /var/x.csv）", true},
		{"in the refund-flow; issuer never issued it", "见于退款明细，但不是 issuer 发放的券", true},
		{"used 2020-03-14 10:20:30, issued 2020-03-15 09:00:00", "核销于 2020-03-14 10:20:30，发放于 2020-03-15 09:00:00", true},
		{"COUPON.USE callback N2 reports a use; the use-flow has none", "COUPON.USE 回调 N2 报告了核销，核销明细中没有", true},
		{"something new", "something new", false},
	} {
		got, known := report.ProblemDetailZh(tc.in)
		require.Equal(t, tc.want, got)
		require.Equal(t, tc.known, known, tc.in)
	}
	got, known := report.NoteZh("not issued, by query: the user holds no coupon of stock 98 that can be this row's (coupons [c1] belong to other rows)")
	require.True(t, known)
	require.Equal(t, "查询核实未发放：用户没有券批次 98 中可归于本记录的券（券 [c1] 属于其他记录）。", got)
	got, known = report.NoteZh("the lease expired while this row was being sent: the send may have reached WeChat Pay")
	require.True(t, known)
	require.Contains(t, got, "租约到期")
}
