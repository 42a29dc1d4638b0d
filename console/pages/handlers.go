package pages

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/internal/money"
	"github.com/issuer-dev/issuer/ops"
	"github.com/issuer-dev/issuer/report"
)

// listPageSize is the batches per page of /batches.
const listPageSize = 50

// maxListed bounds the review rows and problems a page lists.
const maxListed = 100

func (p *Pages) pageRoutes() {
	p.con.Page("GET /batches", auth.ActRead, p.batchesPage)
	p.con.Handle("GET /batches/{id}", auth.ActRead, http.HandlerFunc(p.batchPage))
	// As in the API, ops authorizes (and audits refusals of) the acts it has.
	for _, a := range []struct {
		name string
		act  auth.Action
	}{{"pause", ""}, {"resume", ""}, {"cancel", ""}, {"approve", auth.ActApprove}, {"reject", auth.ActReject}} {
		p.con.Handle("POST /batches/{id}/"+a.name, a.act, p.pageAction(a.name))
	}
	p.con.Handle("POST /batches/{id}/settle", "", http.HandlerFunc(p.pageSettle))
	p.batchFlowRoutes()
	p.con.Page("GET /upload", auth.ActImport, p.uploadPage)
	p.con.Handle("POST /upload", auth.ActImport, http.HandlerFunc(p.uploadDryRun))
	p.con.Handle("GET /upload/{token}", auth.ActImport, http.HandlerFunc(p.uploadResult))
	p.con.Handle("POST /upload/{token}/create", auth.ActImport, http.HandlerFunc(p.uploadCreate))
	p.con.Handle("POST /upload/{token}/drop", auth.ActImport, http.HandlerFunc(p.uploadDrop))
	p.con.Handle("GET /upload/{token}/rejects.csv", auth.ActImport, http.HandlerFunc(p.uploadRejects))
	p.con.Page("GET /reconciliation", auth.ActRead, p.reconPage)
	p.con.Page("GET /operations", auth.ActRead, p.operationsPage)
}

// batchRow is a batch as the list shows it.
type batchRow struct {
	*ops.Batch
	Bar      template.HTML
	Done     int
	Total    int
	Uploader string
	Created  string
	// HaltLabel says what halted the batch; HaltRaw is WeChat Pay's code
	// and message, if it gave them.
	HaltLabel, HaltRaw string
	Amount             string // face value of the accepted rows, 元
}

type batchesData struct {
	Rows     []batchRow
	Statuses []string
	Legend   []string
	Filter   struct{ Status, Stock, From, To, Name, Has string }
	NextURL  string
	FirstURL string
	Zone     string
	Sort     map[string]sortHeader
	Back     string // this list, for the bulk pages to return to
}

// legend is the progress bar's segments in order.
var legend = []string{"issued", "failed", "review", "in_doubt", "pending", "cancelled"}

// BatchStatuses lists every batch status the contract names.
var BatchStatuses = []string{"pending", "awaiting_approval", "running", "paused", "halted", "completed", "cancelled", "rejected"}

func (p *Pages) batchesPage(w http.ResponseWriter, r *http.Request) {
	f, err := p.batchFilter(r, listPageSize+1, listPageSize)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	if f.Limit > listPageSize+1 {
		f.Limit = listPageSize + 1
	}
	bs, err := p.svc.Batches(r.Context(), actor(r), f)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	d := batchesData{Statuses: BatchStatuses, Legend: legend, Zone: p.zone(), Sort: sortHeaders(q), Back: listURL(q, nil)}
	d.Filter.Status, d.Filter.Stock, d.Filter.From, d.Filter.To = q.Get("status"), q.Get("stock"), q.Get("from"), q.Get("to")
	d.Filter.Name, d.Filter.Has = f.Name, f.Has
	page := f.Offset / listPageSize
	if len(bs) > listPageSize {
		bs = bs[:listPageSize]
		if f.Sort != "" {
			d.NextURL = listURL(q, map[string]string{"page": strconv.Itoa(page + 1)})
		} else {
			d.NextURL = listURL(q, map[string]string{"before_id": strconv.FormatInt(bs[len(bs)-1].ID, 10)})
		}
	}
	if f.BeforeID > 0 || page > 0 {
		d.FirstURL = listURL(q, nil)
	}
	ids := make([]int64, len(bs))
	for i, b := range bs {
		ids[i] = b.ID
	}
	extras, err := p.svc.BatchExtras(r.Context(), actor(r), ids)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	for _, b := range bs {
		e := extras[b.ID]
		row := batchRow{Batch: b, Uploader: e.Uploader, Created: p.when(b.CreatedAt), Amount: money.YuanGrouped(b.AmountFen)}
		if b.HaltReason != nil {
			row.HaltLabel, row.HaltRaw = p.haltText(r, *b.HaltReason)
		}
		for _, n := range b.Counts {
			row.Total += n
		}
		row.Done = b.Counts[ops.StatusIssued]
		row.Bar = bar(segments(b.Counts, b.InDoubt, b.PendingInDoubt), fmt.Sprintf("%d / %d", row.Done, row.Total))
		d.Rows = append(d.Rows, row)
	}
	p.con.Render(w, r, http.StatusOK, "batches", d)
}

type batchData struct {
	Batch       *ops.Batch
	Progress    progressAnswer
	Bar         template.HTML
	Chart       template.HTML
	Segments    []Segment
	Statuses    []string
	Outcomes    []outcomeCount
	Uploader    string
	Created     string
	Money       struct{ Issued, Pending, InDoubt string }
	Review      []reviewRow
	ReviewMore  int
	Lookup      *ops.Recipient
	LookupErr   string
	OpenID      string
	Notice      string
	Error       string
	Live        bool
	LastAttempt string
	HaltKey     string
	HaltLabel   string // what halted the batch, in the reader's language
	HaltRaw     string // WeChat Pay's code and message, if any
	// LookupNote is the found row's note in the reader's language, else
	// as recorded.
	LookupNote      string
	LookupNoteKnown bool
	// The batch's money and decisions as batchflow.go fills them.
	Facts moneyView
	// BigReport: the Excel report is built in the background (more than
	// Options.BackgroundReportRows rows).
	BigReport bool
}

type outcomeCount struct {
	Outcome string
	Count   int
}

type reviewRow struct {
	ops.ReviewRow
	Last      string
	NoteText  string // the note in the reader's language
	NoteKnown bool   // else NoteText is the note as recorded
}

func (p *Pages) reviewRow(r *http.Request, row ops.ReviewRow) reviewRow {
	rr := reviewRow{ReviewRow: row, Last: p.whenPtr(row.LastAttemptAt)}
	rr.NoteText, rr.NoteKnown = p.noteText(r, row.Note)
	return rr
}

func (p *Pages) batchPage(w http.ResponseWriter, r *http.Request) {
	notice, errMsg := p.con.TakeFlash(w, r)
	switch ok := r.URL.Query().Get("ok"); ok {
	case "pause", "resume", "cancel", "approve", "reject", "import", "guards":
		if notice == "" {
			notice = p.con.T(r, "batch.ok_"+ok)
		}
	}
	p.renderBatch(w, r, http.StatusOK, notice, errMsg)
}

func (p *Pages) renderBatch(w http.ResponseWriter, r *http.Request, status int, notice, errMsg string) {
	id, err := pathID(r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	ctx, a := r.Context(), actor(r)
	pr, err := p.svc.BatchProgress(ctx, a, id)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	b := pr.Batch
	d := batchData{Batch: b, Progress: p.progressAnswer(pr), Statuses: ops.RecipientStatuses(), Created: p.when(b.CreatedAt),
		Notice: notice, Error: errMsg,
		Live: b.Status != ops.BatchCompleted && b.Status != ops.BatchCancelled && b.Status != "rejected" || pr.Remaining > 0}
	if pr.Halt != nil {
		d.HaltLabel, d.HaltRaw = p.haltText(r, pr.Halt.Reason)
		d.HaltKey = "halt.other"
		switch o := pr.Halt.Outcome; {
		case o == "budget_exhausted" || o == "stock_unavailable" || o == "config_error":
			d.HaltKey = "halt." + o
		case strings.HasPrefix(o, "spend_cap"):
			d.HaltKey = "halt.spend_cap"
		}
	}
	d.BigReport = pr.Total > p.opts.BackgroundReportRows
	d.Segments = segments(pr.Counts, pr.InDoubt, pr.PendingInDoubt)
	d.Bar = bar(d.Segments, fmt.Sprintf("%d / %d", pr.Counts[ops.StatusIssued], pr.Total))
	rates := make([]float64, len(pr.Series))
	for i, pt := range pr.Series {
		rates[i] = pt.Rate
	}
	peak := 0.0
	for _, v := range rates {
		peak = max(peak, v)
	}
	d.Chart = lineChart("rate-chart", rates, fmt.Sprintf("%.1f/s", peak))
	for o, n := range pr.Outcomes {
		if o != "" {
			d.Outcomes = append(d.Outcomes, outcomeCount{o, n})
		}
	}
	sortOutcomes(d.Outcomes)
	d.Money.Issued, d.Money.Pending, d.Money.InDoubt = money.Yuan(pr.Money.IssuedFen), money.Yuan(pr.Money.PendingFen), money.Yuan(pr.Money.InDoubtFen)
	extras, err := p.svc.BatchExtras(ctx, a, []int64{id})
	if err != nil {
		p.fail(w, r, err)
		return
	}
	d.Uploader = extras[id].Uploader
	rows, err := p.svc.ReviewHead(ctx, a, id, maxListed)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	d.ReviewMore = max(0, pr.Counts[ops.StatusReview]-len(rows))
	for _, row := range rows {
		d.Review = append(d.Review, p.reviewRow(r, row))
	}
	if d.OpenID = strings.TrimSpace(r.URL.Query().Get("openid")); d.OpenID != "" {
		rec, err := p.svc.LookupRecipient(ctx, a, id, d.OpenID)
		switch {
		case err == nil:
			d.Lookup = rec
			d.LastAttempt = p.whenPtr(rec.LastAttemptAt)
			d.LookupNote, d.LookupNoteKnown = p.noteText(r, rec.Note)
		case errors.Is(err, ops.ErrNotFound):
			d.LookupErr = "not_found"
		default:
			d.LookupErr = p.errMessage(r, err)
		}
	}
	if err := p.fillMoney(r, &d, pr); err != nil {
		p.fail(w, r, err)
		return
	}
	p.con.Render(w, r, status, "batch", d)
}

func sortOutcomes(o []outcomeCount) {
	for i := 1; i < len(o); i++ {
		for j := i; j > 0 && (o[j].Count > o[j-1].Count || o[j].Count == o[j-1].Count && o[j].Outcome < o[j-1].Outcome); j-- {
			o[j], o[j-1] = o[j-1], o[j]
		}
	}
}

// pageAction is a batch action from the batch page's buttons.
func (p *Pages) pageAction(action string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r)
		if err != nil {
			p.fail(w, r, err)
			return
		}
		back := fmt.Sprintf("/batches/%d", id)
		reason := strings.TrimSpace(r.PostFormValue("reason"))
		if action == "reject" && reason == "" {
			p.con.Redirect(w, r, back+"/approve", "", p.con.T(r, "batch.reason_required"))
			return
		}
		if action == "approve" {
			_, err = p.svc.ApproveBatchComment(r.Context(), actor(r), id, r.PostFormValue("comment"))
		} else {
			_, err = p.batchAction(r.Context(), actor(r), action, id, reason)
		}
		if err != nil {
			if status, msg, ok := p.inline(w, r, err); ok {
				if action == "approve" || action == "reject" {
					back += "/approve"
				}
				p.con.Redirect(w, r, back, "", p.batchErr(r, status, msg, err))
			}
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/batches/%d?ok=%s", id, action), http.StatusSeeOther)
	})
}

func (p *Pages) pageSettle(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	back := fmt.Sprintf("/batches/%d", id)
	sum, err := p.svc.ResolveReview(r.Context(), actor(r), id)
	if err != nil {
		if _, msg, ok := p.inline(w, r, err); ok {
			p.con.Redirect(w, r, back, "", msg)
		}
		return
	}
	p.con.Redirect(w, r, back, p.con.T(r, "batch.settled", sum.Checked, sum.Issued, sum.NotIssued,
		sum.StillInDoubt, sum.Waiting), "")
}

func (p *Pages) uploadDrop(w http.ResponseWriter, r *http.Request) {
	if u, ok := p.take(r.PathValue("token"), actor(r).Name, true); ok {
		u.remove()
	}
	http.Redirect(w, r, "/upload", http.StatusSeeOther)
}

func (p *Pages) uploadRejects(w http.ResponseWriter, r *http.Request) {
	u, ok := p.take(r.PathValue("token"), actor(r).Name, false)
	if !ok {
		p.con.Fail(w, r, http.StatusNotFound, p.con.T(r, "upload.expired"))
		return
	}
	w.Header().Set("Content-Disposition", `attachment; filename="rejects.csv"`)
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	http.ServeFile(w, r, u.rejectsPath)
}

type reconLine struct {
	report.Line
	Source     string
	UseRate    string
	Used       string
	Refunded   string
	NetUsed    string
	OrderTotal string
}

type reconData struct {
	Stock     string
	Lines     []reconLine
	Totals    []reconLine
	Days      template.HTML
	DaysTable []dayRow
	Problems  []problemRow
	Counts    []outcomeCount
	More      int
	Files     []fileRow
	NoFiles   []string // stocks without a loaded use-flow file yet
	Query     string
	Zone      string
	Notice    string // what fetching flow files did
	Error     string
	// AsOf is when the figures were read and Building whether newer ones
	// are being read (see reconCache); LinesTotal counts the per-batch
	// lines, of which Lines shows the newest maxReconLines.
	AsOf       string
	Building   bool
	LinesTotal int
}

type dayRow struct {
	Date                       string
	Uses, Refunds              int
	UsedAmount, RefundedAmount string
}

type problemRow struct {
	report.Problem
	At     string
	Amount string
	Batch  string
	// The detail and note in Chinese (Known), else as recorded.
	DetailText, NoteText   string
	DetailKnown, NoteKnown bool
}

type fileRow struct {
	report.File
	Downloaded string
}

func (p *Pages) reconPage(w http.ResponseWriter, r *http.Request) {
	notice, errMsg := p.con.TakeFlash(w, r)
	p.renderRecon(w, r, http.StatusOK, strings.TrimSpace(r.URL.Query().Get("stock")), notice, errMsg)
}

// renderRecon renders the reconciliation page of stock ("" for all) with
// a notice or an error from fetching flow files. The figures come from
// p.recon: a fetch's page reads them anew; otherwise they may be as old as
// the cache allows, and say when they were read.
func (p *Pages) renderRecon(w http.ResponseWriter, r *http.Request, status int, stock, notice, errMsg string) {
	a := actor(r)
	fresh := notice != "" || errMsg != ""
	d, err := p.recon.get(r.Context(), stock, fresh, func(ctx context.Context) (*reconData, error) {
		return p.buildRecon(ctx, a, stock)
	})
	if errors.Is(err, report.ErrNoData) {
		// A stock with nothing yet: the page still offers to fetch its
		// files, and says what a fetch did.
		if status == http.StatusOK && notice == "" {
			status = http.StatusNotFound
		}
		msg := p.con.T(r, "recon.no_data", stock)
		if errMsg != "" {
			msg = errMsg + " · " + msg
		}
		p.con.Render(w, r, status, "reconciliation", reconData{Stock: stock, Zone: p.zone(), Notice: notice, Error: msg})
		return
	}
	if errors.Is(err, errReconBuilding) {
		p.con.Render(w, r, http.StatusOK, "reconciliation", reconData{Stock: stock, Zone: p.zone(), Building: true})
		return
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	d.Notice, d.Error = notice, errMsg
	p.con.Render(w, r, status, "reconciliation", *d)
}

// buildRecon reads the reconciliation report of stock in one snapshot and
// formats what the page shows of it.
func (p *Pages) buildRecon(ctx context.Context, a auth.Actor, stock string) (*reconData, error) {
	rep, err := p.svc.ReconcileReport(ctx, a, report.Options{StockID: stock, Location: p.opts.Location, MaxProblems: maxListed})
	if err != nil {
		return nil, err
	}
	defer rep.Close()
	d := &reconData{Stock: stock, Zone: p.zone(), AsOf: p.when(time.Now())}
	if stock != "" {
		d.Query = "&stock=" + url.QueryEscape(stock)
	}
	totals := map[string]*report.Line{}
	var order []string
	// The newest batches' lines; every line is in the downloads.
	d.LinesTotal = len(rep.Lines)
	shown := newestLines(rep.Lines, maxReconLines)
	for _, l := range rep.Lines {
		if shown[l.BatchID] {
			d.Lines = append(d.Lines, p.reconLine(l, rep.Usage[l.StockID]))
		}
		t, ok := totals[l.StockID]
		if !ok {
			t = &report.Line{StockID: l.StockID}
			totals[l.StockID] = t
			order = append(order, l.StockID)
		}
		sumLine(t, l)
	}
	for _, s := range order {
		d.Totals = append(d.Totals, p.reconLine(*totals[s], rep.Usage[s]))
		if rep.Usage[s] == report.UsageCallbacks {
			d.NoFiles = append(d.NoFiles, s)
		}
	}
	var bars []Bar
	for _, day := range rep.Days {
		label := day.Date.Format("01-02")
		bars = append(bars, Bar{Label: label, Value: float64(day.Uses), Text: strconv.Itoa(day.Uses)})
		d.DaysTable = append(d.DaysTable, dayRow{Date: day.Date.Format("2006-01-02"), Uses: day.Uses, Refunds: day.Refunds,
			UsedAmount: money.Yuan(day.UsedAmount), RefundedAmount: money.Yuan(day.RefundedAmount)})
	}
	d.Days = barChart(bars)
	for _, pr := range rep.Problems {
		row := problemRow{Problem: pr, At: p.whenPtr(pr.At), Amount: "—", Batch: "—"}
		// Built once for every reader: the Chinese, and whether it is known,
		// beside the recorded English (the template picks by language).
		row.DetailText, row.DetailKnown = report.ProblemDetailZh(pr.Detail)
		row.NoteText, row.NoteKnown = report.NoteZh(pr.Note)
		if pr.Amount != nil {
			row.Amount = money.Yuan(*pr.Amount)
		}
		if pr.BatchID != nil {
			row.Batch = strconv.FormatInt(*pr.BatchID, 10)
		}
		d.Problems = append(d.Problems, row)
	}
	for k, n := range rep.ProblemCounts {
		if n > 0 {
			d.Counts = append(d.Counts, outcomeCount{k, n})
		}
	}
	sortOutcomes(d.Counts)
	d.More = rep.ProblemsTotal() - len(rep.Problems)
	for _, f := range rep.LatestFiles() {
		d.Files = append(d.Files, fileRow{File: f, Downloaded: p.when(f.DownloadedAt)})
	}
	return d, nil
}

func sumLine(t *report.Line, l report.Line) {
	t.Recipients += l.Recipients
	t.Issued += l.Issued
	t.Used += l.Used
	t.Refunded += l.Refunded
	t.NetUsed += l.NetUsed
	t.UsedAmount += l.UsedAmount
	t.RefundedAmount += l.RefundedAmount
	t.Orders += l.Orders
	t.OrderAmount += l.OrderAmount
	t.InDoubt += l.InDoubt
	t.Review += l.Review
	t.Pending += l.Pending
	t.Failed += l.Failed
	t.Cancelled += l.Cancelled
	t.UnknownCoupons += l.UnknownCoupons
}

func (p *Pages) reconLine(l report.Line, source string) reconLine {
	rl := reconLine{Line: l, Source: source, UseRate: l.UseRatePercent(), Used: money.Yuan(l.UsedAmount),
		Refunded: money.Yuan(l.RefundedAmount), NetUsed: money.Yuan(l.NetUsedAmount()), OrderTotal: "—"}
	if source != report.UsageCallbacks {
		rl.OrderTotal = money.Yuan(l.OrderAmount)
	}
	return rl
}

type opsData struct {
	*ops.Overview
	Instances []instanceRow
	Runs      []runRow
	Review    []reviewRow
	More      int
	Oldest    struct{ InDoubt, Review string }
	Zone      string
	Alerts    []alertRow
}

type instanceRow struct {
	ops.Instance
	Started, Heartbeat string
}

type runRow struct {
	ops.JobRun
	Started, Finished string
	Counts            []countField // the run's counts, labelled, without zeros
	RawCounts         string       // counts that are not numbers, as recorded
}

type countField struct {
	Key, Label string
	N          int64
}

// runCounts labels a job run's counts ({"issued": 120, …}): the job's
// own keys, issue outcomes and flow-file outcomes, in key order, zeros
// left out. What does not read as numbers is returned as it is.
func (p *Pages) runCounts(r *http.Request, raw []byte) ([]countField, string) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "{}" || s == "null" {
		return nil, ""
	}
	var m map[string]int64
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, s
	}
	keys := make([]string, 0, len(m))
	for k, n := range m {
		if n != 0 {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	out := make([]countField, 0, len(keys))
	for _, k := range keys {
		label := p.con.Word(r, "count", k)
		if label == k {
			label = p.con.Word(r, "outcome", k)
		}
		out = append(out, countField{Key: k, Label: label, N: m[k]})
	}
	return out, ""
}

func (p *Pages) operationsPage(w http.ResponseWriter, r *http.Request) {
	o, err := p.svc.Operations(r.Context(), actor(r), 50, maxListed)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	d := opsData{Overview: o, Zone: p.zone(), Alerts: p.alertRows(o.Alerts)}
	for _, in := range o.Instances {
		d.Instances = append(d.Instances, instanceRow{Instance: in, Started: p.when(in.StartedAt), Heartbeat: p.when(in.HeartbeatAt)})
	}
	for _, run := range o.Runs {
		row := runRow{JobRun: run, Started: p.when(run.StartedAt), Finished: p.whenPtr(run.FinishedAt)}
		row.Counts, row.RawCounts = p.runCounts(r, run.Counts)
		d.Runs = append(d.Runs, row)
	}
	for _, row := range o.Review {
		d.Review = append(d.Review, p.reviewRow(r, row))
	}
	d.More = o.ReviewTotal - len(o.Review)
	d.Oldest.InDoubt, d.Oldest.Review = p.when(o.Unsettled.OldestInDoubt), p.when(o.Unsettled.OldestReview)
	p.con.Render(w, r, http.StatusOK, "operations", d)
}
