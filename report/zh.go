package report

import (
	"fmt"
	"strings"
)

// The workbook's words, in Chinese: its titles and the labels of the
// codes it shows (batch status, file kind and status, problem kind, send
// outcome). 券批次 is WeChat Pay's stock, 发放批次 issuer's batch.

// Titles of the workbook's tables and its fixed cells.
const (
	TitlePerBatch = "按发放批次"
	TitleClasses  = "按结果"
	TitleDaily    = "每日核销"
	TitleFiles    = "明细文件"
	// ProblemsNone is the Problems sheet when there is none.
	ProblemsNone = "问题：无"
	// NoneCell is a section of the Problems sheet without rows.
	NoneCell = "无"
	// MoreCell starts the line counting the problems of a section not
	// listed.
	MoreCell = "（更多）"
)

// scopeLineZh says what the workbook counts and in which zone.
func (r *Report) scopeLineZh() string {
	files := "全部已下载的明细文件"
	if r.AsOf != "" {
		files = r.AsOf + " 及之前的明细文件"
	}
	return fmt.Sprintf("统计%s；日期和时间按 %s；金额单位：元。", files, r.Location)
}

var batchStatusWords = map[string]string{
	"pending": "待发放", "awaiting_approval": "待审批", "running": "发放中", "paused": "已暂停",
	"halted": "已中止", "completed": "已完成", "cancelled": "已取消", "rejected": "已驳回",
}

func batchStatusZh(s string) string { return zhOr(batchStatusWords, s) }

func fileKindZh(kind string) string {
	return zhOr(map[string]string{"use": "核销明细", "refund": "退款明细"}, kind)
}

func fileStatusZh(status string) string {
	return zhOr(map[string]string{"loaded": "已加载", "rejected": "被拒"}, status)
}

func problemKindZh(kind string) string {
	if l, ok := anomalyLabel[kind]; ok {
		return l
	}
	return zhOr(map[string]string{"in_doubt": "待确认", "review": "待复核"}, kind)
}

// classWords label the recipients' classes on the workbook. A class
// counts each recipient once, so "used" is a coupon used and not refunded
// since: the per-batch table's 净核销, not its 已核销 (every use).
var classWords = map[string]string{
	"used": "净核销（核销后未退款）", "refunded": "核销后已退款", "unused": "已发放未使用", "issued": "已发放",
	"in_doubt": "待确认", "review": "待复核", "pending": "待发放", "cancelled": "已取消",
}

func classLabelZh(key string) string {
	if o, ok := strings.CutPrefix(key, "failed:"); ok {
		return "发放失败（" + zhOr(outcomeZh, o) + "）"
	}
	return zhOr(classWords, key)
}

// outcomeZh labels the send outcomes a failed recipient can end with.
var outcomeZh = map[string]string{
	"user_limited": "用户已达每人限领", "user_daily_limit": "用户已达当日上限", "user_abnormal": "用户账户被风控拒绝",
	"invalid_user": "用户不符合领取条件", "invalid_request": "请求被拒绝", "unclassified": "无法识别的应答",
	"budget_exhausted": "券批次预算已用完", "stock_unavailable": "券批次不可发放", "config_error": "商户配置被拒",
	"not_issued_by_query": "查询核实未发放",
}

func zhOr(m map[string]string, code string) string {
	if l, ok := m[code]; ok {
		return l
	}
	return code
}
