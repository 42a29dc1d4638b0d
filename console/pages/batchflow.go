package pages

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/internal/money"
	"github.com/issuer-dev/issuer/ops"
)

// The batch page's money, decisions and guards: the approval step with
// its summary and comment, the guards editor, and a halt's next step in
// the console. ops decides (who may, the cap never below what is issued
// or in doubt, the uploader never approving); the page only renders.

func (p *Pages) batchFlowRoutes() {
	p.con.Handle("GET /batches/{id}/approve", auth.ActRead, http.HandlerFunc(p.approvePage))
	p.con.Handle("POST /batches/{id}/guards", auth.ActGuards, http.HandlerFunc(p.pageGuards))
}

// moneyView is what the batch page shows beyond the progress.
type moneyView struct {
	// Parts partition the rows (issued, in flight, pending, in doubt, in
	// review, failed, cancelled) with their face value: they add up to
	// Total and TotalYuan.
	Parts     []partRow
	Total     int
	TotalYuan string
	Amount    string // the batch's amount at import
	Decision  decisionView
	Guards    guardsView
	Uploader  bool // the viewer uploaded the batch
	Halt      haltView
}

type partRow struct {
	ops.Part
	Yuan string
}

type decisionView struct {
	ApprovedBy, ApprovedAt, ApprovedYuan, Comment string
	RejectedBy, RejectedAt, Reason                string
}

// guardsView is the batch's guards as the editor's fields hold them.
type guardsView struct {
	Editable             bool // the batch may still send and the viewer may change guards
	Awaiting             bool // awaiting approval: name and paused-once-approved too
	Cap, Window, StartAt string
	Priority             int
	Reserved             string // what the cap may not go below
	StartPaused          bool
	Zone                 string
}

// haltView says where a halt's next step is in the console.
type haltView struct {
	FromWX    bool   // the reason is WeChat Pay's answer, not issuer's
	StockLink string // the stock's page (start, restart) when the halt is the stock's
	CapLink   bool   // the cap editor on this page
	UploadFor string // a new batch for another stock: the stock is over
	// Detail is issuer's own explanation in the page's language where it
	// is known; otherwise the page shows the halt's Detail as it is.
	Detail string
}

// haltDetail is the catalogue key of issuer's own halt explanations: the
// stock guard's (by the stock's state) and the spend cap's.
func haltDetail(h *ops.HaltAdvice, b *ops.Batch) (string, []any) {
	switch {
	case strings.HasPrefix(h.Outcome, "spend_cap") && b.MaxAmountFen != nil:
		return "money.halt.d.spend_cap", []any{money.Yuan(b.ReservedFen), money.Yuan(*b.MaxAmountFen)}
	case h.Outcome != "stock_unavailable":
		return "", nil
	}
	for _, k := range []struct{ text, key string }{{"is paused", "paused"}, {"is stopped", "stopped"},
		{"not activated", "unactivated"}, {"being reviewed", "audit"}, {"ended at", "ended"}} {
		if strings.Contains(h.Detail, k.text) {
			return "money.halt.d." + k.key, []any{b.StockID}
		}
	}
	return "", nil
}

func (p *Pages) fillMoney(r *http.Request, d *batchData, pr *ops.Progress) error {
	b := pr.Batch
	v := &d.Facts
	v.Amount = money.Yuan(b.AmountFen)
	var total int64
	for _, pt := range pr.Parts {
		v.Parts = append(v.Parts, partRow{Part: pt, Yuan: money.Yuan(pt.Fen)})
		v.Total += pt.Count
		total += pt.Fen
	}
	v.TotalYuan = money.Yuan(total)
	// The bar and its legend are the same parts, in the same snapshot.
	d.Segments = d.Segments[:0]
	for _, pt := range pr.Parts {
		d.Segments = append(d.Segments, Segment{Key: pt.Key, Count: pt.Count})
	}
	d.Bar = bar(d.Segments, fmt.Sprintf("%d / %d", pr.Counts[ops.StatusIssued], pr.Total))
	a := actor(r)
	v.Uploader = b.UploadedBy != "" && b.UploadedBy == a.Name
	dec := &v.Decision
	if b.ApprovedBy != nil {
		dec.ApprovedBy, dec.ApprovedAt = *b.ApprovedBy, p.whenPtr(b.ApprovedAt)
		if b.ApprovedAmountFen != nil {
			dec.ApprovedYuan = money.Yuan(*b.ApprovedAmountFen)
		}
		if b.ApproveComment != nil {
			dec.Comment = *b.ApproveComment
		}
	}
	if b.RejectedBy != nil {
		dec.RejectedBy, dec.RejectedAt = *b.RejectedBy, p.whenPtr(b.RejectedAt)
		if b.RejectReason != nil {
			dec.Reason = *b.RejectReason
		}
	}
	g := &v.Guards
	g.Editable = a.Can(auth.ActGuards) && slices.Contains([]string{ops.BatchPending, ops.BatchAwaitingApproval,
		ops.BatchRunning, ops.BatchPaused, ops.BatchHalted}, b.Status)
	g.Awaiting = b.Status == ops.BatchAwaitingApproval
	g.Cap, g.Window, g.StartAt, g.Priority, g.StartPaused = capText(b), b.Window, p.startText(b), b.Priority, b.StartPaused
	g.Reserved, g.Zone = money.Yuan(b.ReservedFen), p.zone()
	if h := pr.Halt; h != nil {
		v.Halt.FromWX = h.Source == ops.HaltFromWeChatPay
		if key, args := haltDetail(h, b); key != "" {
			v.Halt.Detail = p.con.T(r, key, args...)
		}
		switch {
		case h.Outcome == "stock_unavailable" && strings.Contains(h.Detail, "stopped"),
			h.Outcome == "stock_unavailable" && strings.Contains(h.Detail, "ended at"):
			v.Halt.UploadFor, v.Halt.StockLink = b.StockID, "/stocks/"+b.StockID
		case h.Outcome == "stock_unavailable", h.Outcome == "budget_exhausted":
			v.Halt.StockLink = "/stocks/" + b.StockID
		case strings.HasPrefix(h.Outcome, "spend_cap"):
			v.Halt.CapLink = true
		}
	}
	return nil
}

func capText(b *ops.Batch) string {
	if b.MaxAmountFen == nil {
		return ""
	}
	return money.Yuan(*b.MaxAmountFen)
}

// startText is the batch's start time as the editor takes it back.
func (p *Pages) startText(b *ops.Batch) string {
	if b.StartAt == nil {
		return ""
	}
	return b.StartAt.In(p.opts.Location).Format("2006-01-02 15:04")
}

// batchErr is an act's refusal in the page's language where the console
// offers what works instead.
func (p *Pages) batchErr(r *http.Request, status int, msg string, err error) string {
	switch {
	case errors.Is(err, ops.ErrCapBelowReserved):
		return p.con.T(r, "money.err.cap_below") + " (" + msg + ")"
	case errors.Is(err, ops.ErrNoFaceValue):
		return p.con.T(r, "money.err.no_face") + " (" + msg + ")"
	}
	return msg
}

// approveData is the approval step: everything an approver decides on.
type approveData struct {
	Batch     *ops.Batch
	Uploader  string
	Self      bool // the viewer uploaded it: someone else decides
	Amount    string
	Cap       string
	StartAt   string
	Stock     *stockBudgetView
	StockErr  string
	Created   string
	Zone      string
	Error     string
	Approvals approvalView
	CapBelow  bool // the spend cap is below the batch's amount: it halts there
}

func (p *Pages) approvePage(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	ctx, a := r.Context(), actor(r)
	b, err := p.svc.Batch(ctx, a, id)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	if b.Status != ops.BatchAwaitingApproval {
		// Decided already (Back to a step that is over): the batch says how.
		http.Redirect(w, r, fmt.Sprintf("/batches/%d", id), http.StatusSeeOther)
		return
	}
	_, errMsg := p.con.TakeFlash(w, r)
	d := approveData{Batch: b, Uploader: b.UploadedBy, Self: b.UploadedBy == a.Name, Amount: money.Yuan(b.AmountFen),
		Cap: capText(b), StartAt: p.startText(b), Created: p.when(b.CreatedAt), Zone: p.zone(), Error: errMsg,
		CapBelow: b.MaxAmountFen != nil && *b.MaxAmountFen < b.AmountFen}
	st, err := p.svc.BatchStockBudget(ctx, a, id)
	switch {
	case ops.ErrorCode(err) == ops.EFORBIDDEN:
		p.fail(w, r, err)
		return
	case err != nil:
		d.StockErr = p.stockErr(r, err)
	case st != nil:
		sv := &stockBudgetView{StockLeft: st, Face: money.Yuan(st.FaceValueFen), Budget: money.Yuan(st.MaxAmountFen),
			Remaining: money.Yuan(st.RemainingFen), Queued: money.Yuan(st.QueuedFen),
			After: money.Yuan(st.RemainingFen - st.QueuedFen), End: "—"}
		// QueuedFen counts this batch already.
		sv.Over = st.MaxAmountFen > 0 && st.RemainingFen-st.QueuedFen < 0
		if !st.AvailableEnd.IsZero() {
			sv.End = p.when(st.AvailableEnd)
		}
		d.Stock = sv
	}
	p.con.Render(w, r, http.StatusOK, "approve", d)
}

// pageGuards is the guards editor's post: only the fields that differ
// from the batch's guards change (an emptied field removes its guard),
// through ops, which audits each change and refuses a cap below what is
// issued, in flight or in doubt.
func (p *Pages) pageGuards(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	ctx, a := r.Context(), actor(r)
	back := fmt.Sprintf("/batches/%d", id)
	b, err := p.svc.Batch(ctx, a, id)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	var req ops.GuardsRequest
	field := func(name, cur string, dst **string) {
		v := strings.TrimSpace(r.PostFormValue(name))
		if _, sent := r.PostForm[name]; !sent || v == cur {
			return
		}
		if v == "" {
			v = ops.None
		}
		*dst = &v
	}
	if err := r.ParseForm(); err != nil {
		p.con.Redirect(w, r, back, "", p.con.T(r, "money.err.form"))
		return
	}
	field("max_amount_yuan", capText(b), &req.MaxAmountYuan)
	field("window", b.Window, &req.Window)
	field("start_at", p.startText(b), &req.StartAt)
	if v := strings.TrimSpace(r.PostFormValue("priority")); v != "" && v != strconv.Itoa(b.Priority) {
		n, err := strconv.Atoi(v)
		if err != nil {
			p.con.Redirect(w, r, back+"#guards", "", p.con.T(r, "money.err.priority"))
			return
		}
		req.Priority = &n
	}
	if b.Status == ops.BatchAwaitingApproval {
		if paused := r.PostFormValue("paused") == "true"; paused != b.StartPaused {
			req.Paused = &paused
		}
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	rename := b.Status == ops.BatchAwaitingApproval && name != "" && name != b.Name
	if req == (ops.GuardsRequest{}) && !rename {
		p.con.Redirect(w, r, back+"#guards", p.con.T(r, "money.guards_unchanged"), "")
		return
	}
	fail := func(err error) {
		if status, msg, ok := p.inline(w, r, err); ok {
			p.con.Redirect(w, r, back+"#guards", "", p.batchErr(r, status, msg, err))
		}
	}
	if rename {
		if _, err := p.svc.RenameBatch(ctx, a, id, name); err != nil {
			fail(err)
			return
		}
	}
	if req != (ops.GuardsRequest{}) {
		if _, err := p.svc.SetBatchGuards(ctx, a, id, req); err != nil {
			fail(err)
			return
		}
	}
	http.Redirect(w, r, back+"?ok=guards#guards", http.StatusSeeOther)
}
