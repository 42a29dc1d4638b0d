package alert

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/issuer-dev/issuer/internal/money"
)

// The robots' Chinese text. Every alert says what happened, which batch
// and stock, what it means in money and what to do next; the commands
// named are the operators' contract, so they can be pasted as they are.

var severityLabel = map[string]string{
	SeverityCritical: "严重",
	SeverityError:    "错误",
	SeverityWarning:  "警告",
	SeverityInfo:     "通知",
}

func label(severity string) string {
	if l, ok := severityLabel[severity]; ok {
		return l
	}
	return severity
}

// title is what happened, in a few words.
func title(a Alert) string {
	switch a.Kind {
	case KindBatchHalted:
		if a.BatchID != 0 {
			return fmt.Sprintf("批次 %d 已停止发券", a.BatchID)
		}
		return "批次已停止发券"
	case KindMerchantHalted:
		if a.MchID != "" {
			return fmt.Sprintf("商户 %s 的全部批次已停止发券", a.MchID)
		}
		return "商户的全部批次已停止发券"
	case KindConfigError:
		return "配置或密钥错误,无法发券"
	case KindReview:
		if a.BatchID != 0 {
			return fmt.Sprintf("批次 %d 有收件人发券结果不明", a.BatchID)
		}
		return "有收件人发券结果不明,待核实"
	case KindReconcileAnomaly:
		if a.StockID != "" {
			return fmt.Sprintf("批次号 %s 对账异常", a.StockID)
		}
		return "对账异常"
	}
	return a.Kind
}

// meaning is what the alert means in money.
func meaning(a Alert) string {
	if s := a.Stakes; s != nil {
		parts := []string{fmt.Sprintf("已发 %d 张,面额 %s", s.IssuedCoupons, money.YuanGrouped(s.IssuedFen))}
		if s.PendingCoupons > 0 {
			parts = append(parts, fmt.Sprintf("尚未发出 %d 张,面额 %s", s.PendingCoupons, money.YuanGrouped(s.PendingFen)))
		}
		if s.InDoubtCoupons > 0 {
			parts = append(parts, fmt.Sprintf("结果不明 %d 张,面额 %s(可能已发出,核实前不得当作未发)", s.InDoubtCoupons, money.YuanGrouped(s.InDoubtFen)))
		}
		return strings.Join(parts, ";")
	}
	switch a.Kind {
	case KindBatchHalted:
		return "该批次剩余收件人暂不发券,已发出的券不受影响"
	case KindMerchantHalted:
		return "该商户所有批次暂停,不会再发出任何券"
	case KindConfigError:
		return "修正之前一张券也发不出去"
	case KindReview:
		return "这些券可能已发出,也可能没有:核实前不会重发,也不可当作未发"
	case KindReconcileAnomaly:
		return "核销或退款流水与发券记录不一致,核销金额与对账报表可能不准"
	}
	return ""
}

// next is what to do, with the command to run.
func next(a Alert) string {
	switch a.Kind {
	case KindBatchHalted:
		if a.BatchID != 0 {
			return fmt.Sprintf("查看原因 `issuer batch show %d`;补充预算或重新激活批次后执行 `issuer batch resume %d`", a.BatchID, a.BatchID)
		}
		return "查看原因 `issuer batch list`;补充预算或重新激活批次后执行 `issuer batch resume <批次ID>`"
	case KindMerchantHalted:
		return "检查商户证书、密钥与接口权限(`issuer config check`),修正后对各批次执行 `issuer batch resume <批次ID>`"
	case KindConfigError:
		return "执行 `issuer config check` 修正配置,然后重启 `issuer run`"
	case KindReview:
		if a.BatchID != 0 {
			return fmt.Sprintf("执行 `issuer review resolve --batch %d` 向微信支付核实(只查询,不重发)", a.BatchID)
		}
		return "执行 `issuer review resolve` 向微信支付核实(只查询,不重发)"
	case KindReconcileAnomaly:
		if a.StockID != "" {
			return fmt.Sprintf("查看 `issuer report reconcile --stock %s`,确认后重新执行 `issuer reconcile --stock %s`", a.StockID, a.StockID)
		}
		return "查看 `issuer report reconcile`,确认后重新执行 `issuer reconcile`"
	}
	return ""
}

// where names the batch, stock and merchant.
func where(a Alert) string {
	var parts []string
	if a.BatchID != 0 {
		parts = append(parts, fmt.Sprintf("批次 %d", a.BatchID))
	}
	if a.StockID != "" {
		parts = append(parts, "批次号(stock_id) "+a.StockID)
	}
	if a.MchID != "" {
		parts = append(parts, "商户 "+a.MchID)
	}
	return strings.Join(parts, " · ")
}

// full renders one alert on its own.
func full(a Alert, loc *time.Location) (string, string) {
	head := fmt.Sprintf("【%s】%s", label(a.Severity), title(a))
	var b strings.Builder
	fmt.Fprintf(&b, "**%s**\n", head)
	if w := where(a); w != "" {
		fmt.Fprintf(&b, "- 对象:%s\n", w)
	}
	if a.Message != "" {
		fmt.Fprintf(&b, "- 详情:%s\n", a.Message)
	}
	if m := meaning(a); m != "" {
		fmt.Fprintf(&b, "- 金额:%s\n", m)
	}
	if n := next(a); n != "" {
		fmt.Fprintf(&b, "- 下一步:%s\n", n)
	}
	if a.Suppressed > 0 {
		fmt.Fprintf(&b, "- 同样的告警此前另有 %d 次,已合并\n", a.Suppressed)
	}
	fmt.Fprintf(&b, "- 时间:%s", a.Time.In(loc).Format("2006-01-02 15:04:05"))
	if a.Source != "" {
		fmt.Fprintf(&b, " · 来源:%s", a.Source)
	}
	b.WriteString("\n")
	return head, b.String()
}

// line renders one alert of several, on one line; the next steps follow
// the list once per distinct step.
func line(i int, a Alert) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d. 【%s】%s", i, label(a.Severity), title(a))
	if a.StockID != "" && a.Kind != KindReconcileAnomaly {
		fmt.Fprintf(&b, " · %s", a.StockID)
	}
	if a.Message != "" {
		fmt.Fprintf(&b, " · %s", truncate(a.Message, 160))
	}
	if s := a.Stakes; s != nil {
		fmt.Fprintf(&b, " · 已发 %s", money.YuanGrouped(s.IssuedFen))
		if s.PendingCoupons > 0 {
			fmt.Fprintf(&b, ",未发 %s", money.YuanGrouped(s.PendingFen))
		}
		if s.InDoubtCoupons > 0 {
			fmt.Fprintf(&b, ",不明 %s", money.YuanGrouped(s.InDoubtFen))
		}
	}
	if a.Suppressed > 0 {
		fmt.Fprintf(&b, "(另有 %d 次)", a.Suppressed)
	}
	b.WriteString("\n")
	return b.String()
}

// folded renders several alerts as one message.
func folded(alerts []Alert, loc *time.Location) (string, string) {
	counts := map[string]int{}
	for _, a := range alerts {
		counts[a.Severity]++
	}
	var bySeverity []string
	for _, s := range []string{SeverityCritical, SeverityError, SeverityWarning, SeverityInfo} {
		if counts[s] > 0 {
			bySeverity = append(bySeverity, fmt.Sprintf("%s %d", label(s), counts[s]))
		}
	}
	head := fmt.Sprintf("issuer 告警 %d 条(%s)", len(alerts), strings.Join(bySeverity, " · "))
	var b strings.Builder
	fmt.Fprintf(&b, "**%s**\n", head)
	steps := map[string]bool{}
	var order []string
	for i, a := range alerts {
		b.WriteString(line(i+1, a))
		if n := next(a); n != "" && !steps[n] {
			steps[n] = true
			order = append(order, n)
		}
	}
	if len(order) > 0 {
		b.WriteString("\n**下一步**\n")
		for _, n := range order {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	last := alerts[len(alerts)-1]
	fmt.Fprintf(&b, "\n时间:%s 至 %s", alerts[0].Time.In(loc).Format("01-02 15:04:05"), last.Time.In(loc).Format("01-02 15:04:05"))
	if last.Source != "" {
		fmt.Fprintf(&b, " · 来源:%s", last.Source)
	}
	b.WriteString("\n")
	return head, b.String()
}

// truncate cuts s to at most n runes.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// truncateBytes cuts s to at most n bytes on a rune boundary.
func truncateBytes(s string, n int) string {
	const mark = "…(已截断)"
	if len(s) <= n {
		return s
	}
	cut := max(n-len(mark), 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
