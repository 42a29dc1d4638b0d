package pages

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"time"

	"github.com/issuer-dev/issuer/internal/excelcsv"
	"github.com/issuer-dev/issuer/internal/money"
	"github.com/issuer-dev/issuer/ops"
)

// The upload flow, each step a page of its own so that Back and reload
// never post again: POST /upload checks the file (a dry run, nothing
// stored) and answers 303 to GET /upload/{token}, which shows the money,
// the stock and what creating would meet; POST /upload/{token}/create
// answers 303 to the new batch, and a second post of the same create (a
// resubmitted form) goes to the same batch instead of meeting the
// duplicate-file refusal.

type uploadData struct {
	Token   string
	Report  *ops.ImportAnswer
	Preview *previewView
	Rejects []rejectLine
	Over    bool // more rejects than the form allowed
	Form    struct{ Stock, Kind, Name, MaxRejects string }
	Error   string
	Notice  string
	Name    string
}

// previewView is ops.ImportPreview as the page shows it: amounts in yuan,
// times in the configured zone.
type previewView struct {
	*ops.ImportPreview
	Amount       string
	Send         int // the lines that would be sent
	Stock        *stockBudgetView
	StockErr     string
	Approval     approvalView
	Blocked      bool
	Duplicate    bool
	DuplicateID  int64
	AllowedLimit int
}

type stockBudgetView struct {
	*ops.StockLeft
	Face, Budget, Remaining, Queued, After, End string
	Over                                        bool
}

type approvalView struct {
	Rule                            string
	MinCoupons, DailyCoupons        int
	MinAmount, DailyAmount, DayYuan string
	DayCoupons                      int64
	Any                             bool
	Rules                           string // the thresholds in words
}

func (p *Pages) uploadPage(w http.ResponseWriter, r *http.Request) {
	var d uploadData
	q := r.URL.Query()
	d.Form.Stock, d.Form.Kind, d.Form.Name, d.Form.MaxRejects = q.Get("stock"), q.Get("kind"), q.Get("name"), q.Get("max_rejects")
	if d.Form.Kind == "" {
		d.Form.Kind = ops.KindFavor
	}
	if d.Form.MaxRejects == "" {
		d.Form.MaxRejects = "0"
	}
	d.Notice, d.Error = p.con.TakeFlash(w, r)
	p.con.Render(w, r, http.StatusOK, "upload", d)
}

// uploadBack answers a dry run that could not run: 303 to the form, its
// fields kept, with why.
func (p *Pages) uploadBack(w http.ResponseWriter, r *http.Request, fields map[string]string, err error) {
	status := ops.HTTPStatus(err)
	if status == http.StatusForbidden {
		p.fail(w, r, err)
		return
	}
	v := url.Values{}
	for _, k := range []string{"stock", "kind", "name", "max_rejects"} {
		if fields[k] != "" {
			v.Set(k, fields[k])
		}
	}
	to := "/upload"
	if len(v) > 0 {
		to += "?" + v.Encode()
	}
	p.con.Redirect(w, r, to, "", p.uploadErr(r, status, err))
}

// uploadErr says in the page's language what went wrong with an upload
// or a create, and what works instead.
func (p *Pages) uploadErr(r *http.Request, status int, err error) string {
	var dup *ops.DuplicateFileError
	switch {
	case errors.Is(err, ops.ErrStockStopped):
		return p.con.T(r, "money.err.stock_stopped")
	case errors.As(err, &dup):
		return p.con.T(r, "money.err.duplicate", dup.BatchID)
	case errors.Is(err, ops.ErrTooManyRejects):
		return p.con.T(r, "money.err.too_many_rejects")
	}
	return p.errMessage(r, err)
}

// uploadDryRun spools the file, checks every line without storing any,
// asks WeChat Pay for the stock, keeps the file for create or drop, and
// sends the browser to the result.
func (p *Pages) uploadDryRun(w http.ResponseWriter, r *http.Request) {
	// The uploader's own oldest waiting upload makes way, before the new
	// one takes disk.
	p.makeRoom(actor(r).Name, p.opts.PendingPerUser)
	u, err := p.receive(w, r)
	if err != nil {
		p.uploadBack(w, r, nil, err)
		return
	}
	pu := &pendingUpload{upload: *u, owner: actor(r).Name}
	f, err := readImportFields(u.fields)
	if err != nil {
		pu.remove()
		p.uploadBack(w, r, u.fields, err)
		return
	}
	allowed := f.maxRejects
	f.dryRun, f.maxRejects = true, dryRunAll
	pv, first, err := p.preview(r, pu, f)
	if err != nil {
		pu.remove()
		p.uploadBack(w, r, u.fields, err)
		return
	}
	f.dryRun, f.maxRejects = false, allowed
	pu.fields, pu.report, pu.preview, pu.rejects, pu.created = f, pv.Report, pv, first, timeNow()
	tok, err := p.keep(pu)
	if err != nil {
		pu.remove()
		p.uploadBack(w, r, u.fields, err)
		return
	}
	p.con.Redirect(w, r, "/upload/"+tok, "", "")
}

// preview runs the dry run of pu's file, writing every rejected line to
// its rejects file.
func (p *Pages) preview(r *http.Request, pu *pendingUpload, f importFields) (*ops.ImportPreview, []rejectLine, error) {
	rf, err := os.CreateTemp(p.opts.TempDir, "rejects-*.csv")
	if err != nil {
		return nil, nil, fmt.Errorf("rejects file: %w", err)
	}
	pu.rejectsPath = rf.Name()
	pu.rejectsDisk = newQuotaFile(rf, p.disk)
	_, _ = io.WriteString(pu.rejectsDisk, excelcsv.BOM) // Excel reads UTF-8 with a byte-order mark
	cw := excelcsv.NewWriter(pu.rejectsDisk)
	_ = cw.Write([]string{"line", "reason", "raw"})
	file, err := os.Open(pu.path)
	if err != nil {
		_ = rf.Close()
		return nil, nil, fmt.Errorf("open upload: %w", err)
	}
	defer file.Close()
	req, first := importRequest(file, pu.filename, f, cw)
	pv, err := p.svc.PreviewImport(r.Context(), actor(r), req)
	cw.Flush()
	if err == nil {
		err = cw.Error() // the disk quota, even for the rejects
	}
	if cerr := rf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, err
	}
	return pv, *first, nil
}

// uploadResult shows a dry run kept under its token.
func (p *Pages) uploadResult(w http.ResponseWriter, r *http.Request) {
	tok := r.PathValue("token")
	if id, ok := p.createdBatch(tok, actor(r).Name); ok {
		// Back after creating: the batch is what there is to see.
		http.Redirect(w, r, fmt.Sprintf("/batches/%d", id), http.StatusSeeOther)
		return
	}
	var d uploadData
	d.Notice, d.Error = p.con.TakeFlash(w, r)
	u, ok := p.take(tok, actor(r).Name, false)
	if !ok {
		d.Form.Kind, d.Form.MaxRejects = ops.KindFavor, "0"
		d.Error = p.con.T(r, "upload.expired")
		p.con.Render(w, r, http.StatusNotFound, "upload", d)
		return
	}
	d.Token, d.Name, d.Report, d.Rejects = tok, u.filename, u.report, u.rejects
	d.Rejects = slices.Clone(u.rejects) // said in the reader's language; the upload keeps intake's words
	for i := range d.Rejects {
		d.Rejects[i].Reason = p.rejectText(r, d.Rejects[i].Reason)
	}
	d.Over = u.report.Rejected > u.fields.maxRejects
	d.Form.Stock, d.Form.Kind, d.Form.Name = u.fields.stock, u.fields.kind, u.fields.name
	d.Preview = p.previewView(r, u.preview, u.fields.maxRejects)
	p.con.Render(w, r, http.StatusOK, "upload", d)
}

func (p *Pages) previewView(r *http.Request, pv *ops.ImportPreview, allowed int) *previewView {
	rep := pv.Report
	v := &previewView{ImportPreview: pv, Amount: money.Yuan(rep.AmountFen), Send: rep.Accepted, Blocked: pv.Blocked(),
		AllowedLimit: allowed}
	for _, c := range pv.Checks {
		if c.Code == ops.CheckDuplicateFile {
			v.Duplicate, v.DuplicateID = true, c.BatchID
		}
	}
	if st := pv.Stock; st != nil {
		sv := &stockBudgetView{StockLeft: st, Face: money.Yuan(st.FaceValueFen), Budget: money.Yuan(st.MaxAmountFen),
			Remaining: money.Yuan(st.RemainingFen), Queued: money.Yuan(st.QueuedFen),
			After: money.Yuan(st.RemainingFen - st.QueuedFen - rep.AmountFen), End: "—"}
		sv.Over = st.MaxAmountFen > 0 && st.RemainingFen-st.QueuedFen-rep.AmountFen < 0
		if !st.AvailableEnd.IsZero() {
			sv.End = p.when(st.AvailableEnd)
		}
		v.Stock = sv
	}
	if pv.StockErr != nil {
		v.StockErr = p.stockErr(r, pv.StockErr)
	}
	a := pv.Approval
	v.Approval = approvalView{Rule: rep.ApprovalRule, MinCoupons: a.MinCoupons, DailyCoupons: a.DailyCoupons,
		MinAmount: money.Yuan(a.MinAmountFen), DailyAmount: money.Yuan(a.DailyAmountFen), DayCoupons: rep.DayCoupons,
		DayYuan: money.Yuan(rep.DayAmountFen),
		Any:     a.MinCoupons > 0 || a.MinAmountFen > 0 || a.DailyCoupons > 0 || a.DailyAmountFen > 0}
	people := func(n int) string {
		if n <= 0 {
			return p.con.T(r, "money.off")
		}
		return p.con.T(r, "money.people", n)
	}
	yuan := func(fen int64) string {
		if fen <= 0 {
			return p.con.T(r, "money.off")
		}
		return "¥" + money.Yuan(fen)
	}
	v.Approval.Rules = p.con.T(r, "money.approval.rules", people(a.MinCoupons), yuan(a.MinAmountFen),
		people(a.DailyCoupons), yuan(a.DailyAmountFen))
	return v
}

func (p *Pages) uploadCreate(w http.ResponseWriter, r *http.Request) {
	a := actor(r)
	tok := r.PathValue("token")
	if id, ok := p.createdBatch(tok, a.Name); ok {
		// The same create posted again (Back, reload): the batch it made.
		p.con.Redirect(w, r, fmt.Sprintf("/batches/%d", id), p.con.T(r, "money.created_already", id), "")
		return
	}
	u, ok := p.take(tok, a.Name, true)
	if !ok {
		p.con.Redirect(w, r, "/upload", "", p.con.T(r, "upload.expired"))
		return
	}
	f := u.fields
	// Accepting the rejected lines the dry run showed, and storing a file
	// that is a live batch already, are explicit choices on the page.
	if r.PostFormValue("accept_rejects") == "true" {
		f.maxRejects = max(f.maxRejects, u.report.Rejected)
	}
	if r.PostFormValue("allow_duplicate") == "true" {
		f.guards.AllowDuplicate = true
	}
	rep, _, err := p.runImport(r, u.path, u.filename, f, nil)
	if err != nil {
		status := ops.HTTPStatus(err)
		if status == http.StatusForbidden {
			u.remove()
			p.fail(w, r, err)
			return
		}
		// The file waits again under its token: the page says what works.
		p.putBack(tok, u)
		p.con.Redirect(w, r, "/upload/"+tok, "", p.uploadErr(r, status, err))
		return
	}
	u.remove()
	p.noteCreated(tok, a.Name, rep.BatchID)
	p.con.Redirect(w, r, fmt.Sprintf("/batches/%d?ok=import", rep.BatchID), "", "")
}

// putBack keeps u under tok again after a create that failed.
func (p *Pages) putBack(tok string, u *pendingUpload) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending[tok] = u
}

// createdUpload remembers which batch an upload's create made, for as
// long as the upload could have waited.
type createdUpload struct {
	owner string
	batch int64
	at    time.Time
}

func (p *Pages) noteCreated(tok, owner string, batch int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := timeNow()
	for k, c := range p.created {
		if now.Sub(c.at) > p.opts.UploadTTL {
			delete(p.created, k)
		}
	}
	p.created[tok] = createdUpload{owner: owner, batch: batch, at: now}
}

func (p *Pages) createdBatch(tok, owner string) (int64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.created[tok]
	if !ok || c.owner != owner || timeNow().Sub(c.at) > p.opts.UploadTTL {
		return 0, false
	}
	return c.batch, true
}

// stockErr says in the page's language why WeChat Pay could not tell the
// stock's state: WeChat Pay's own refusal with its code and message, no
// merchant keys, or no answer; the error itself goes to the log.
func (p *Pages) stockErr(r *http.Request, err error) string {
	p.log.Warn("stock query failed", "path", r.URL.Path, "err", err)
	var we ops.WXError
	switch {
	case errors.Is(err, ops.ErrNoWX):
		return p.con.T(r, "recon.err.keys")
	case errors.As(err, &we):
		return p.con.T(r, "recon.err.refused", we.Code, we.Message)
	}
	return p.con.T(r, "recon.err.network")
}
