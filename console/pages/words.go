package pages

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/issuer-dev/issuer/console"
	"github.com/issuer-dev/issuer/ops"
	"github.com/issuer-dev/issuer/report"
)

// Codes on the pages. A batch's halt reason, a row's outcome, a stock's
// state or a job's counts are codes issuer and WeChat Pay record; pages
// show each through the catalogue (console.View.Word) in the reader's
// language, and WeChat Pay's own code and message, where they help, as a
// secondary detail marked <code class="raw">.

// haltText is a halt reason as a person reads it: what halted the batch
// in their language, and WeChat Pay's own code and message (raw, "" when
// issuer halted it on its own: a spending cap, a stock found not running).
func (p *Pages) haltText(r *http.Request, reason string) (label, raw string) {
	if reason == "" {
		return "", ""
	}
	outcome, rest, _ := strings.Cut(reason, ": ")
	if strings.HasPrefix(outcome, "spend_cap") {
		label = p.con.Word(r, "outcome", "spend_cap")
		if m := spendCapRe.FindStringSubmatch(rest); m != nil {
			label += p.con.T(r, "halt.sep") + p.con.T(r, "halt.text.spend_cap", m[1], m[2])
		}
		return label, ""
	}
	label = p.con.Word(r, "outcome", outcome)
	if m := stockHaltRe.FindStringSubmatch(rest); m != nil && outcome == "stock_unavailable" {
		what := p.con.T(r, "halt.stock.other")
		switch {
		case m[2] != "":
			what = p.con.T(r, "halt.stock.ended", p.wxTime(m[2]))
		case strings.HasPrefix(m[3], "is paused"):
			what = p.con.T(r, "halt.stock.paused")
		case strings.HasPrefix(m[3], "is stopped"):
			what = p.con.T(r, "halt.stock.stoped")
		case strings.HasPrefix(m[3], "is not activated"):
			what = p.con.T(r, "halt.stock.unactivated")
		case strings.HasPrefix(m[3], "is still being reviewed"):
			what = p.con.T(r, "halt.stock.audit")
		}
		return label + p.con.T(r, "halt.sep") + p.con.T(r, "halt.text.stock", m[1], what), ""
	}
	// "<outcome>: <CODE> <message>": WeChat Pay's words, shown as they are.
	return label, rest
}

var (
	// The spend-cap halt's reason, as queue writes it (HaltSpendCapped).
	spendCapRe = regexp.MustCompile(`^([0-9.]+) of the ([0-9.]+) yuan cap`)
	// jobs' stock check: "stock ID is …" or "stock ID ended at T: …".
	stockHaltRe = regexp.MustCompile(`^stock (\S+) (?:ended at (\S+): .*|(.*))$`)
)

// noteText is a row's note (queue's settlement evidence, a lease that
// expired mid-send) as a person reads it; a note report.NoteZh does not
// know is shown as recorded (ok false: mark it raw).
func (p *Pages) noteText(r *http.Request, note string) (text string, ok bool) {
	if console.Lang(r) != "zh" {
		return note, true
	}
	return report.NoteZh(note)
}

// rejectText is an upload's reason for rejecting a line (intake's words,
// which the rejects CSV keeps) in the reader's language; a reason it does
// not know is returned as it is.
func (p *Pages) rejectText(r *http.Request, reason string) string {
	if console.Lang(r) != "zh" {
		return reason
	}
	for _, rr := range rejectsZh {
		if m := rr.re.FindStringSubmatch(reason); m != nil {
			args := make([]any, len(m)-1)
			for i, v := range m[1:] {
				args[i] = v
			}
			return fmt.Sprintf(rr.zh, args...)
		}
	}
	return reason
}

var rejectsZh = []struct {
	re *regexp.Regexp
	zh string
}{
	{regexp.MustCompile(`^(\w+) is empty$`), "%s 为空"},
	{regexp.MustCompile(`^(\w+) is (\d+) characters, at most (\d+) allowed$`), "%s 长 %s 个字符，最多 %s 个"},
	{regexp.MustCompile(`^(\w+) ("(?:[^"\\]|\\.)*") contains ("(?:[^"\\]|\\.)*"), not allowed$`), "%s %s 含有不允许的字符 %s"},
	{regexp.MustCompile(`^has (\d+) fields, the header has (\d+)$`), "有 %s 列，表头有 %s 列"},
	{regexp.MustCompile(`^not valid UTF-8`), "不是有效的 UTF-8 文本（Excel 在中文 Windows 上另存的文件请选 GBK 编码）"},
	{regexp.MustCompile(`^(\w+) ("(?:[^"\\]|\\.)*") is not a positive whole number of fen$`), "%s %s 不是正整数（单位：分）"},
	{regexp.MustCompile(`^out_request_no ("(?:[^"\\]|\\.)*") repeats line (\d+) \(it must be unique per merchant\)$`), "商户单号 %s 与第 %s 行重复（同一商户内必须唯一）"},
	{regexp.MustCompile(`^out_request_no ("(?:[^"\\]|\\.)*") is already used by batch (\d+) \(it must be unique per merchant\)$`), "商户单号 %s 已被发放批次 %s 使用（同一商户内必须唯一）"},
}

// fatalText is what is wrong with an uploaded file as a whole (intake's
// FatalError) in the reader's language; a message it does not know is
// returned as it is.
func (p *Pages) fatalText(r *http.Request, msg string) string {
	if console.Lang(r) != "zh" {
		return msg
	}
	for _, f := range fatalZh {
		if m := f.re.FindStringSubmatch(msg); m != nil {
			args := make([]any, len(m)-1)
			for i, v := range m[1:] {
				args[i] = v
			}
			return fmt.Sprintf(f.zh, args...)
		}
	}
	return msg
}

var fatalZh = []struct {
	re *regexp.Regexp
	zh string
}{
	{regexp.MustCompile(`^header: no openid column; accepted columns for (\w+) stocks: (.*)$`), "表头没有 openid 列；%s 券批次可用的列：%s"},
	{regexp.MustCompile(`^header: unknown column ("(?:[^"\\]|\\.)*") in column (\d+); accepted columns for (\w+) stocks: (.*)$`), "表头第 %[2]s 列 %[1]s 不认识；%[3]s 券批次可用的列：%[4]s"},
	{regexp.MustCompile(`^header: column ("(?:[^"\\]|\\.)*") appears twice \(columns (\d+) and (\d+)\)$`), "表头的列 %s 出现了两次（第 %s 列和第 %s 列）"},
	{regexp.MustCompile(`^header: column ("(?:[^"\\]|\\.)*") applies to (\S+) stocks, not (\w+)$`), "表头的列 %s 只适用于 %s 券批次，不适用于 %s"},
	{regexp.MustCompile(`^header: the columns are separated by (\w+), not commas`), "各列以 %s 分隔而不是逗号：请把文件另存为 CSV（Excel 中选“CSV UTF-8（逗号分隔）”）后重新上传"},
	{regexp.MustCompile(`^header: the first line ("(?:[^"\\]|\\.)*") looks like a recipient, not a header`), "第一行 %s 像是收券人而不是表头：请在文件开头加一行列名（openid，或 openid,coupon_value,… 等）后重新上传"},
}

// sayError is what a page tells a person of an error people meet, in
// their language: a refusal of the role, something gone, a state that
// does not allow the act, a duplicate or broken file, the uploads' limits,
// the server's own failure. ok is false for the API, which answers the
// error's own text, and for an error it does not know.
func (p *Pages) sayError(r *http.Request, status int, err error) (msg string, ok bool) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		return "", false
	}
	var dup *ops.DuplicateFileError
	var fatal *ops.FatalError
	var tooBig *http.MaxBytesError
	var wx ops.WXError // WeChat Pay's own refusal: shown with its code
	switch {
	case status == http.StatusInternalServerError:
		return p.con.T(r, "error.internal"), true
	case errors.As(err, &dup):
		return p.con.T(r, "error.duplicate", dup.BatchID, p.con.Word(r, "bstatus", dup.Status)), true
	case status == http.StatusForbidden:
		return p.con.T(r, "error.forbidden", p.con.Word(r, "role", string(actor(r).Role))), true
	case errors.Is(err, ops.ErrNotFound), ops.ErrorCode(err) == ops.ENOTFOUND && !errors.As(err, &wx):
		return p.con.T(r, "error.not_found"), true
	case errors.Is(err, ops.ErrState):
		return p.con.T(r, "error.state"), true
	case errors.Is(err, ops.ErrTooManyRejects):
		return p.con.T(r, "error.too_many_rejects"), true
	case errors.As(err, &fatal):
		return p.con.T(r, "error.file", p.fatalText(r, fatal.Msg)), true
	case errors.Is(err, errUploadsFull):
		return p.con.T(r, "error.uploads_full"), true
	case errors.As(err, &tooBig):
		return p.con.T(r, "error.too_big", tooBig.Limit>>20), true
	}
	return "", false
}
