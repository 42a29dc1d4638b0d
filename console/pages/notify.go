package pages

import (
	"encoding/json"
	"net/http"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/internal/money"
	"github.com/issuer-dev/issuer/ops"
)

// notifyRoutes put the bell in the bar and serve what it links to.
func (p *Pages) notifyRoutes() {
	p.con.Handle("GET /notifications", auth.ActRead, http.HandlerFunc(p.notificationsPage))
	p.con.Handle("POST /notifications/seen", auth.ActRead, http.HandlerFunc(p.notificationsSeen))
	p.con.SetBell(p.bellCount)
}

// bellCount is the bar's number; no bell for those who may not read, nor
// when it cannot be counted (the page itself still renders).
func (p *Pages) bellCount(r *http.Request) (int, bool) {
	a := actor(r)
	if !a.Can(auth.ActRead) {
		return 0, false
	}
	n, err := p.svc.Notifications(r.Context(), a)
	if err != nil {
		p.log.Warn("notification bell", "err", err)
		return 0, true
	}
	return n.Count(), true
}

type noteBatch struct {
	*ops.Batch
	Amount, Updated string
}

type verdictRow struct {
	ops.Verdict
	When, Detail string
	BatchID      int64
	New          bool
}

type notificationsData struct {
	Approvals, Halted []noteBatch
	Verdicts          []verdictRow
	Seen              string
	Zone              string
	Count             int
}

func (p *Pages) notificationsPage(w http.ResponseWriter, r *http.Request) {
	n, err := p.svc.Notifications(r.Context(), actor(r))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	d := notificationsData{Zone: p.zone(), Count: n.Count(), Seen: "—"}
	if !n.SeenAt.IsZero() {
		d.Seen = p.when(n.SeenAt)
	}
	row := func(b *ops.Batch) noteBatch {
		return noteBatch{Batch: b, Amount: money.YuanGrouped(b.AmountFen), Updated: p.when(b.UpdatedAt)}
	}
	for _, b := range n.Approvals {
		d.Approvals = append(d.Approvals, row(b))
	}
	for _, b := range n.Halted {
		d.Halted = append(d.Halted, row(b))
	}
	for _, e := range n.Verdicts {
		v := verdictRow{Verdict: e, When: p.when(e.Time), Detail: detailText(e.Detail), New: e.Time.After(n.SeenAt)}
		if e.BatchID != nil {
			v.BatchID = *e.BatchID
		}
		d.Verdicts = append(d.Verdicts, v)
	}
	p.con.Render(w, r, http.StatusOK, "notifications", d)
}

func (p *Pages) notificationsSeen(w http.ResponseWriter, r *http.Request) {
	if err := p.svc.MarkNotificationsSeen(r.Context(), actor(r)); err != nil {
		p.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/notifications", http.StatusSeeOther)
}

// detailText is an audit detail's text: a JSON string unquoted, anything
// else as it is.
func detailText(d []byte) string {
	s := string(d)
	if len(s) >= 2 && s[0] == '"' {
		var out string
		if err := json.Unmarshal(d, &out); err == nil {
			return out
		}
	}
	return s
}

type alertRow struct {
	ops.KeptAlert
	When string
}

func (p *Pages) alertRows(ks []ops.KeptAlert) []alertRow {
	out := make([]alertRow, 0, len(ks))
	for _, k := range ks {
		out = append(out, alertRow{KeptAlert: k, When: p.when(k.At)})
	}
	return out
}
