package report

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/issuer-dev/issuer/internal/money"
	"github.com/issuer-dev/issuer/internal/textable"
)

// The digest in Chinese: markdown for the chat robots, aligned tables for
// a terminal. The commands named are the operators' contract, so they can
// be pasted as they are.

// digestListed bounds each list of the markdown: WeCom takes 4096 bytes
// of markdown, and a digest should be read in a glance.
const digestListed = 10

var anomalyLabel = map[string]string{
	"footer_mismatch":      "明细文件总条数不符",
	"file_rejected":        "明细文件被拒",
	"unknown_coupon":       "非本系统发放的券",
	"refund_without_use":   "有退款无核销",
	"used_before_issue":    "发放前已核销",
	"callback_not_in_file": "回调未见于明细文件",
	"use_without_callback": "核销无回调",
}

var usageZh = map[string]string{UsageFlowFiles: "明细文件", UsageCallbacks: "回调(截至目前)"}

// Title is the digest's title.
func (d *Digest) Title() string { return "发券日报 " + d.Day }

// Definitions says what "on the day" means for each figure.
func (d *Digest) Definitions() string {
	return "口径:已发按 issued_at、失败按转为失败的 updated_at、结果不明按最近一次发送 last_attempt_at 落在当日(" +
		d.Location.String() + ")计;金额为券面额(元);结果不明的券可能已发出,核实前不得当作未发。"
}

func (b DigestBatch) summary() string {
	parts := []string{fmt.Sprintf("已发 %d 张 %s", b.Issued, money.YuanGrouped(b.IssuedFen))}
	if b.UnknownValue > 0 {
		parts[0] += fmt.Sprintf("(另有 %d 张面额未记录)", b.UnknownValue)
	}
	if b.Failed > 0 {
		parts = append(parts, fmt.Sprintf("失败 %d 张", b.Failed))
	}
	if b.InDoubt > 0 {
		parts = append(parts, fmt.Sprintf("结果不明 %d 张 %s", b.InDoubt, money.YuanGrouped(b.InDoubtFen)))
	}
	return strings.Join(parts, " · ")
}

// batchLabel names a batch in a line of the digest: "批次 7 春节满减(9856000)",
// the name and stock through esc (markdownText or textable.Clean).
func batchLabel(id int64, name, stock string, esc func(string) string) string {
	s := fmt.Sprintf("批次 %d", id)
	if name != "" {
		s += " " + esc(name)
	}
	return s + "(" + esc(stock) + ")"
}

// markdownEscapes turn the characters the chat robots' markdown acts on
// into their full-width forms, which read the same in a Chinese line and
// which no robot renders: links and images ([ ] ( ) !), emphasis and code
// (* ` ~; an underscore is left, for within a word, as in budget_exhausted,
// it emphasises nothing), headings, quotes and tables (# > |), HTML and WeCom's <@userid>
// mentions (< >), DingTalk's @mobile mentions (@), escapes (\), and the
// :// that makes a bare address a link.
var markdownEscapes = strings.NewReplacer(
	"[", "［", "]", "］", "(", "（", ")", "）", "!", "！",
	"*", "＊", "`", "｀", "~", "～",
	"#", "＃", ">", "＞", "|", "｜", "<", "＜",
	"@", "＠", "\\", "＼", "://", "：//", "&", "＆",
)

// markdownText returns text from outside (a batch name, a stock id, a
// halt reason with WeChat Pay's message) as plain text inside the
// digest's markdown: no link, mention, emphasis or line break of its own.
// Control characters (in names stored before names were checked) become
// spaces.
func markdownText(s string) string {
	s = strings.Map(func(r rune) rune {
		if textable.Unprintable(r) {
			return ' '
		}
		return r
	}, s)
	return markdownEscapes.Replace(s)
}

// HaltNext is what to do about a halt, with the command to run.
func HaltNext(h DigestHalt) string {
	outcome, _, _ := strings.Cut(h.Reason, ":")
	switch {
	case outcome == "budget_exhausted":
		return fmt.Sprintf("在商户平台为批次号 %s 追加预算后执行 `issuer batch resume %d`", h.StockID, h.BatchID)
	case outcome == "stock_unavailable":
		return fmt.Sprintf("激活或重启批次号 %s(`issuer stock start|restart %s`)后执行 `issuer batch resume %d`", h.StockID, h.StockID, h.BatchID)
	case outcome == "config_error":
		return fmt.Sprintf("执行 `issuer config check` 修正商户证书、密钥或权限后执行 `issuer batch resume %d`", h.BatchID)
	case strings.HasPrefix(outcome, "spend_cap"):
		return fmt.Sprintf("已达金额上限:确需继续才提高上限,否则执行 `issuer batch cancel %d`", h.BatchID)
	}
	return fmt.Sprintf("查看原因 `issuer batch show %d`,排除后执行 `issuer batch resume %d`", h.BatchID, h.BatchID)
}

func (d *Digest) anomalies() string {
	var parts []string
	for _, k := range otherKinds {
		if n := d.Anomalies[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", anomalyLabel[k], n))
		}
	}
	return strings.Join(parts, " · ")
}

func (s DigestStock) summary() string {
	out := fmt.Sprintf("已核销 %d / 已发 %d 张(%s),", s.UsedOfIssued, s.Issued, s.UseRatePercent())
	if other := s.Used - s.UsedOfIssued; other > 0 {
		out = fmt.Sprintf("已核销 %d / 已发 %d 张(%s);另核销非本系统发放的券 %d 张;共", s.UsedOfIssued, s.Issued, s.UseRatePercent(), other)
	}
	out += money.YuanGrouped(s.UsedFen)
	if s.Refunded > 0 {
		out += fmt.Sprintf(";退款 %d 张 %s", s.Refunded, money.YuanGrouped(s.RefundedFen))
	}
	return out + " · 来源:" + usageZh[s.UsageSource]
}

func (d *Digest) reviewLine() string {
	line := fmt.Sprintf("待复核 %d 条,结果不明 %d 条 %s", d.Review.Review, d.Review.InDoubt, money.YuanGrouped(d.Review.InDoubtFen))
	if d.Review.Oldest != nil {
		line += ",最早 " + d.Review.Oldest.In(d.Location).Format("2006-01-02 15:04")
	}
	return line
}

// more says how many items a list left out.
func more(n int) string {
	if n <= digestListed {
		return ""
	}
	return fmt.Sprintf("- 另有 %d 项未列出\n", n-digestListed)
}

// Markdown renders the digest for the chat robots: the title (the robots
// show it in bold) and the body.
func (d *Digest) Markdown() (title, body string) {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("> %s 00:00 至次日 00:00(%s)\n\n", d.Day, d.Location)
	w("**当日发放**\n")
	if len(d.Batches) == 0 {
		w("- 当日无发放、失败或结果不明的记录\n")
	} else {
		w("- 合计:%s\n", d.Total.summary())
		for i, bt := range d.Batches {
			if i == digestListed {
				break
			}
			w("- %s:%s\n", batchLabel(bt.BatchID, bt.Name, bt.StockID, markdownText), bt.summary())
		}
		b.WriteString(more(len(d.Batches)))
	}
	if len(d.Stocks) > 0 {
		w("\n**核销(截至 %s 日终)**\n", d.Day)
		for i, s := range d.Stocks {
			if i == digestListed {
				break
			}
			w("- %s:%s\n", markdownText(s.StockID), s.summary())
		}
		b.WriteString(more(len(d.Stocks)))
	}
	if n := d.AnomaliesTotal(); n > 0 {
		w("\n**对账异常 %d 项**:%s\n- 查看 `issuer report reconcile --date %s`\n", n, d.anomalies(), d.Day)
	}
	if n := len(d.AwaitingApproval); n > 0 {
		w("\n**待审批 %d 个批次**\n", n)
		for i, a := range d.AwaitingApproval {
			if i == digestListed {
				break
			}
			w("- %s:%d 张 %s,上传人 %s → `issuer batch approve %d --as <审批人>`\n",
				batchLabel(a.BatchID, a.Name, a.StockID, markdownText), a.Accepted, money.YuanGrouped(a.AmountFen), markdownText(orDash(a.UploadedBy)), a.BatchID)
		}
		b.WriteString(more(n))
	}
	if n := len(d.Halts); n > 0 {
		w("\n**未解除的中止 %d 个批次**\n", n)
		for i, h := range d.Halts {
			if i == digestListed {
				break
			}
			w("- %s:%s;未发 %d 张 %s → %s\n", batchLabel(h.BatchID, h.Name, h.StockID, markdownText), markdownText(h.Reason), h.Pending,
				money.YuanGrouped(h.PendingFen), HaltNext(markdownHalt(h)))
		}
		b.WriteString(more(n))
	}
	if d.Review.Review > 0 || d.Review.InDoubt > 0 {
		w("\n**待核实**:%s → `issuer review resolve`(只查询,不重发)\n", d.reviewLine())
		for i, rb := range d.Review.ByBatch {
			if i == 5 {
				w("- 另有 %d 个批次\n", len(d.Review.ByBatch)-5)
				break
			}
			w("- 批次 %d:待复核 %d,结果不明 %d\n", rb.BatchID, rb.Review, rb.InDoubt)
		}
	}
	if !d.NeedsAttention() {
		w("\n无待审批、中止、待核实或对账异常。\n")
	}
	w("\n%s\n", d.Definitions())
	return d.Title(), b.String()
}

// markdownHalt is h with its stock id fit for the markdown.
func markdownHalt(h DigestHalt) DigestHalt {
	h.StockID = markdownText(h.StockID)
	return h
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// WriteText renders the digest as aligned tables for a terminal.
func (d *Digest) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "%s(%s 00:00 至次日 00:00,%s;金额单位:元)\n", d.Title(), d.Day, d.Location)
	d.writeIssued(bw)
	d.writeUses(bw)
	fmt.Fprintf(bw, "\n对账异常:")
	if n := d.AnomaliesTotal(); n == 0 {
		fmt.Fprintf(bw, "无\n")
	} else {
		fmt.Fprintf(bw, "%d 项(%s),查看 issuer report reconcile --date %s\n", n, d.anomalies(), d.Day)
	}
	d.writeApprovals(bw)
	d.writeHalts(bw)
	d.writeReview(bw)
	fmt.Fprintf(bw, "\n%s\n", d.Definitions())
	return bw.Flush()
}

// writeIssued is the digest's table of the day's issuing per batch.
func (d *Digest) writeIssued(w io.Writer) {
	fmt.Fprintf(w, "\n当日发放\n")
	if len(d.Batches) == 0 {
		fmt.Fprintf(w, "当日无发放、失败或结果不明的记录\n")
		return
	}
	t := textable.New("批次>", "名称", "批次号", "状态", "已发>", "面额>", "面额未记录>", "失败>", "结果不明>", "不明面额>")
	row := func(id, name, stock, status string, b DigestBatch) {
		t.Add(id, name, stock, status, itoa(b.Issued), money.Yuan(b.IssuedFen), itoa(b.UnknownValue), itoa(b.Failed),
			itoa(b.InDoubt), money.Yuan(b.InDoubtFen))
	}
	for _, b := range d.Batches {
		row(strconv.FormatInt(b.BatchID, 10), b.Name, b.StockID, b.Status, b)
	}
	row("合计", "", "", "", d.Total)
	t.Write(w)
}

// writeUses is the digest's table of redemptions per stock.
func (d *Digest) writeUses(w io.Writer) {
	fmt.Fprintf(w, "\n核销(截至 %s 日终)\n", d.Day)
	if len(d.Stocks) == 0 {
		fmt.Fprintf(w, "尚无代金券批次\n")
		return
	}
	// As the reconciliation report's stock total: every use counts,
	// the use rate is of what issuer issued.
	t := textable.New("批次号", "来源", "已发>", "已核销>", "其中非本系统发放>", "核销率>", "核销金额>", "退款>", "退款金额>", "净核销>")
	for _, s := range d.Stocks {
		t.Add(s.StockID, usageZh[s.UsageSource], itoa(s.Issued), itoa(s.Used), itoa(s.Used-s.UsedOfIssued), s.UseRatePercent(),
			money.Yuan(s.UsedFen), itoa(s.Refunded), money.Yuan(s.RefundedFen), itoa(s.NetUsed))
	}
	t.Write(w)
}

// writeApprovals lists the batches awaiting approval.
func (d *Digest) writeApprovals(w io.Writer) {
	fmt.Fprintf(w, "\n待审批:")
	if len(d.AwaitingApproval) == 0 {
		fmt.Fprintf(w, "无\n")
		return
	}
	fmt.Fprintf(w, "%d 个批次\n", len(d.AwaitingApproval))
	t := textable.New("批次>", "名称", "批次号", "张数>", "面额>", "上传人", "上传时间", "下一步")
	for _, a := range d.AwaitingApproval {
		t.Add(strconv.FormatInt(a.BatchID, 10), a.Name, a.StockID, itoa(a.Accepted), money.Yuan(a.AmountFen), orDash(a.UploadedBy),
			a.CreatedAt.In(d.Location).Format("2006-01-02 15:04"), fmt.Sprintf("issuer batch approve %d --as <审批人>", a.BatchID))
	}
	t.Write(w)
}

// writeHalts lists the halts nobody has lifted, each with what to do.
func (d *Digest) writeHalts(w io.Writer) {
	fmt.Fprintf(w, "\n未解除的中止:")
	if len(d.Halts) == 0 {
		fmt.Fprintf(w, "无\n")
		return
	}
	fmt.Fprintf(w, "%d 个批次\n", len(d.Halts))
	for _, h := range d.Halts {
		fmt.Fprintf(w, "- %s,自 %s:%s;未发 %d 张 %s\n  下一步:%s\n", batchLabel(h.BatchID, h.Name, h.StockID, textable.Clean),
			h.Since.In(d.Location).Format("2006-01-02 15:04"), textable.Clean(h.Reason), h.Pending, money.Yuan(h.PendingFen),
			textable.Clean(strings.ReplaceAll(HaltNext(h), "`", "")))
	}
}

// writeReview counts the rows to settle, per batch.
func (d *Digest) writeReview(w io.Writer) {
	fmt.Fprintf(w, "\n待核实:")
	if d.Review.Review == 0 && d.Review.InDoubt == 0 {
		fmt.Fprintf(w, "无\n")
		return
	}
	fmt.Fprintf(w, "%s;执行 issuer review resolve 向微信支付核实(只查询,不重发)\n", d.reviewLine())
	t := textable.New("批次>", "待复核>", "结果不明>")
	for _, rb := range d.Review.ByBatch {
		t.Add(strconv.FormatInt(rb.BatchID, 10), itoa(rb.Review), itoa(rb.InDoubt))
	}
	t.Write(w)
}
