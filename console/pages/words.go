package pages

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/issuer-dev/issuer/console"
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
	// queue.HaltSpendCapped's reason.
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

// problemText is a reconciliation problem's detail and note as noteText
// says a note.
func (p *Pages) problemText(r *http.Request, detail string) (text string, ok bool) {
	if console.Lang(r) != "zh" {
		return detail, true
	}
	return report.ProblemDetailZh(detail)
}
