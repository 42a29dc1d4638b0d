package report

import (
	"fmt"
	"regexp"
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

// NoteZh is a recipient's note, as queue writes it (settlement evidence,
// a lease that expired mid-send), in Chinese; ok is false for a note it
// does not know, returned as it is.
func NoteZh(note string) (string, bool) { return sayZh(notesZh, note) }

// ProblemDetailZh is a problem's detail, as the report's query writes it,
// in Chinese; ok is false for a detail it does not know, returned as it
// is.
func ProblemDetailZh(detail string) (string, bool) { return sayZh(detailsZh, detail) }

type patternZh struct {
	re  *regexp.Regexp
	say func(m []string) string
}

func sayZh(ps []patternZh, s string) (string, bool) {
	if s == "" {
		return "", true
	}
	for _, p := range ps {
		if m := p.re.FindStringSubmatch(s); m != nil {
			return p.say(m), true
		}
	}
	return s, false
}

var notesZh = []patternZh{
	{regexp.MustCompile(`^confirmed by query: the user holds coupon (\S+) of stock (\S+), created (.+), while this row was being sent$`),
		func(m []string) string {
			return fmt.Sprintf("查询核实已发放：用户持有券批次 %s 的券 %s，创建于 %s，正是本记录发送期间。", m[2], m[1], m[3])
		}},
	{regexp.MustCompile(`^not issued, by query: the user holds no coupon of stock (\S+) that can be this row's(?: \(coupons (.*) belong to other rows\))?$`),
		func(m []string) string {
			s := fmt.Sprintf("查询核实未发放：用户没有券批次 %s 中可归于本记录的券", m[1])
			if m[2] != "" {
				s += "（券 " + m[2] + " 属于其他记录）"
			}
			return s + "。"
		}},
	{regexp.MustCompile(`^the user holds (\d+) coupons of stock (\S+) created while this row was being sent and owned by no other row \((.*)\): check in the merchant platform which one out_request_no (\S+) created$`),
		func(m []string) string {
			return fmt.Sprintf("用户持有 %s 张券批次 %s 的券，都创建于本记录发送期间且不属于其他记录（%s）：请在商户平台核对商户单号 %s 创建的是哪一张。",
				m[1], m[2], strings.ReplaceAll(m[3], " created ", " 创建于 "), m[4])
		}},
	{regexp.MustCompile(`^the lease expired while this row was being sent`),
		func([]string) string {
			return "发送期间租约到期：请求可能已到达微信支付，将通过向微信支付查询核实。"
		}},
}

var detailsZh = []patternZh{
	{regexp.MustCompile(`^(in doubt, in review|in doubt, pending \(sent again with the same out_request_no\)|in review): last answer (\S+)(?: \((.*)\))? after (\d+) attempts?(; WeChat Pay may have issued it)?$`),
		func(m []string) string {
			state := map[string]string{"in doubt, in review": "待确认，待复核", "in review": "待复核"}[m[1]]
			if state == "" {
				state = "待确认，待发放（以相同的商户单号再次发送）"
			}
			s := fmt.Sprintf("%s：最近一次应答为“%s”", state, zhOr(answerZh, m[2]))
			if m[3] != "" {
				s += "（微信支付：" + m[3] + "）"
			}
			s += fmt.Sprintf("，共尝试 %s 次", m[4])
			if m[5] != "" {
				s += "；微信支付可能已发券"
			}
			return s
		}},
	{regexp.MustCompile(`^(use|refund)-flow of (\S+) rejected, nothing loaded: (.*) \(sha1 (\S+), kept at (.*)\)$`),
		func(m []string) string {
			return fmt.Sprintf("%s 的%s被拒，未加载：%s（SHA-1 %s，保存在 %s）", m[2], fileKindZh(m[1]), m[3], m[4], m[5])
		}},
	{regexp.MustCompile(`^in the (use|refund)-flow; issuer never issued it$`),
		func(m []string) string { return "见于" + fileKindZh(m[1]) + "，但不是 issuer 发放的券" }},
	{regexp.MustCompile(`^a COUPON.USE callback reports its use; issuer never issued it$`),
		func([]string) string { return "COUPON.USE 回调报告了核销，但不是 issuer 发放的券" }},
	{regexp.MustCompile(`^refunded; no COUPON.USE callback reports a use of it$`),
		func([]string) string { return "已退款，但没有报告其核销的 COUPON.USE 回调" }},
	{regexp.MustCompile(`^refunded; the use-flow has no use of it$`),
		func([]string) string { return "已退款，但核销明细中没有其核销" }},
	{regexp.MustCompile(`^used (.+), issued (.+)$`),
		func(m []string) string { return fmt.Sprintf("核销于 %s，发放于 %s", m[1], m[2]) }},
	{regexp.MustCompile(`^COUPON.USE callback (\S+) reports a use; the use-flow has none$`),
		func(m []string) string {
			return fmt.Sprintf("COUPON.USE 回调 %s 报告了核销，核销明细中没有", m[1])
		}},
	{regexp.MustCompile(`^in the use-flow; no COUPON.USE callback stored for it$`),
		func([]string) string { return "见于核销明细，但没有收到其 COUPON.USE 回调" }},
}

// answerZh labels the outcome of a row's last answer.
var answerZh = map[string]string{
	"unknown": "应答不明", "unclassified": "无法识别的应答", "throttled": "被限流", "issued": "已发放", "none": "无",
}

// titleZh is the workbook's title: the batch, or the stocks reconciled.
func (r *Report) titleZh() string {
	if b := r.Batch; b != nil {
		kind := zhOr(map[string]string{"favor": "代金券", "product": "商品券"}, b.Kind)
		return fmt.Sprintf("发放批次 %d「%s」— 券批次 %s（%s），%s", b.ID, b.Name, b.StockID, kind, batchStatusZh(b.Status))
	}
	if len(r.Stocks) == 0 {
		return "对账：尚无数据"
	}
	return "代金券券批次 " + strings.Join(r.Stocks, "、") + " 对账"
}
