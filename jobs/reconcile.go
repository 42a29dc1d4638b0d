package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/issuer-dev/issuer/wxpay"
)

// FlowSource is the part of the WeChat Pay client reconciliation uses.
type FlowSource interface {
	MchID() string
	QueryStock(ctx context.Context, stockID, creatorMchID string) (*wxpay.Stock, error)
	UseFlow(ctx context.Context, stockID string) (*wxpay.FlowDownload, error)
	RefundFlow(ctx context.Context, stockID string) (*wxpay.FlowDownload, error)
	Download(ctx context.Context, url string, w io.Writer, wantSHA1 string) (int64, error)
}

// Pacer spaces calls to an endpoint with a documented per-client limit.
type Pacer interface {
	Wait(ctx context.Context) error
}

// Reconcile fetches the use-flow and refund-flow files of every 代金券 stock
// the merchant issued from, checks their SHA1, keeps the raw file under Dir
// and loads its rows into flow_uses and flow_refunds (see FlowStore.Load).
//
// WeChat Pay publishes a stock's files from 10:00 (Beijing time) the day
// after the stock ends; until then, and when nothing was redeemed, it
// answers 404 "账单文件不存在", which is a normal "not yet". A run fetches a
// stock's use-flow once it is due and until one is loaded, and its
// refund-flow every run for RefundWindow after that (refunds keep coming
// after a stock ends). ReconcileOptions.StockID fetches both now, whatever
// the schedule.
type Reconcile struct {
	DB     *sqlx.DB
	Source FlowSource
	// Dir keeps the raw files, one folder per stock, named by content
	// (kind-flow-SHA1.csv), so a day re-fetched with the same content
	// reuses its file.
	Dir string
	// Location gives "today" for the day a file is recorded under; default
	// Asia/Shanghai.
	Location *time.Location
	// Pacer spaces the use-flow and refund-flow metadata calls, which
	// WeChat Pay limits to 5 a minute per IP; default NewFlowPacer().
	Pacer Pacer
	// RefundWindow is how long after a stock's files are due its
	// refund-flow is fetched again each run; default 30 days.
	RefundWindow time.Duration
	// Attempts bounds the tries of one file when the download fails
	// (transport error, SHA1 mismatch, expired url); default 2.
	Attempts int
	Now      func() time.Time
	Logger   *slog.Logger
}

// ReconcileOptions scope one run.
type ReconcileOptions struct {
	// StockID, when set, fetches only this stock, now, whatever the
	// schedule (and whether or not issuer issued from it).
	StockID string
	// Date is the day the files are recorded under (YYYY-MM-DD); default
	// today in Location.
	Date string
}

// FlowOutcome says what happened to one flow file in a run.
type FlowOutcome string

// Flow outcomes.
const (
	FlowLoaded    FlowOutcome = "loaded"    // recorded for the day; NewRows rows were new
	FlowUnchanged FlowOutcome = "unchanged" // the same file was already recorded for the day
	FlowNotYet    FlowOutcome = "not_yet"   // 404 账单文件不存在: not published yet, or nothing to list
	FlowNotDue    FlowOutcome = "not_due"   // the schedule says not now
	FlowSkipped   FlowOutcome = "skipped"   // issuer cannot fetch it (another merchant created the stock)
	FlowRejected  FlowOutcome = "rejected"  // SHA1 matched but the file is malformed: recorded, nothing loaded
	FlowFailed    FlowOutcome = "failed"    // no verified file: API, transport or checksum error; nothing recorded
)

// FlowResult is one stock's use-flow or refund-flow in a run.
type FlowResult struct {
	StockID string
	Kind    wxpay.FlowKind
	Outcome FlowOutcome
	Reason  string    // why not due, not yet or skipped
	File    *FlowFile // the file recorded, for loaded, unchanged and rejected
	Err     error     // for failed and rejected
}

// ReconcileSummary is the result of one run.
type ReconcileSummary struct {
	Date    string
	Results []FlowResult
}

// Count counts the results with any of the outcomes.
func (s *ReconcileSummary) Count(outcomes ...FlowOutcome) int {
	n := 0
	for _, r := range s.Results {
		if slices.Contains(outcomes, r.Outcome) {
			n++
		}
	}
	return n
}

// Failures counts the results that need an operator: failed or rejected.
func (s *ReconcileSummary) Failures() int { return s.Count(FlowFailed, FlowRejected) }

// Flow files appear from this hour (Beijing time) the day after a stock ends.
const flowPublishHour = 10

// DateLayout is the layout of file days (ReconcileOptions.Date).
const DateLayout = "2006-01-02"

// Run fetches, verifies and loads what is due. It returns an error naming
// every file that failed or was rejected, after trying all of them.
func (j *Reconcile) Run(ctx context.Context, opts ReconcileOptions) (*ReconcileSummary, error) {
	if j.DB == nil || j.Source == nil || j.Dir == "" {
		return nil, errors.New("reconcile: database, WeChat Pay client and directory are required")
	}
	now := j.now()
	loc := j.Location
	if loc == nil {
		loc = wxpay.Beijing()
	}
	date := opts.Date
	if date == "" {
		date = now.In(loc).Format(DateLayout)
	} else if _, err := time.Parse(DateLayout, date); err != nil {
		return nil, fmt.Errorf("reconcile: date %q is not YYYY-MM-DD", date)
	}
	stocks, err := j.stocks(ctx, opts.StockID)
	if err != nil {
		return nil, fmt.Errorf("reconcile: %w", err)
	}
	sum := &ReconcileSummary{Date: date}
	for _, st := range stocks {
		for _, kind := range []wxpay.FlowKind{wxpay.FlowUse, wxpay.FlowRefund} {
			if err := ctx.Err(); err != nil {
				return sum, err
			}
			res := FlowResult{StockID: st.ID, Kind: kind}
			switch {
			case st.Creator != j.Source.MchID():
				res.Outcome = FlowSkipped
				res.Reason = fmt.Sprintf("stock created by merchant %s: only its creator can download flow files", st.Creator)
			case opts.StockID == "":
				if why, err := j.notDue(ctx, &st, kind, date, now); err != nil {
					res.Outcome, res.Err = FlowFailed, err
				} else if why != "" {
					res.Outcome, res.Reason = FlowNotDue, why
				}
			}
			if res.Outcome == "" {
				res = j.fetch(ctx, st.ID, kind, date)
			}
			j.log(res)
			sum.Results = append(sum.Results, res)
		}
	}
	var errs []error
	for _, r := range sum.Results {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("stock %s %s-flow: %w", r.StockID, r.Kind, r.Err))
		}
	}
	if len(errs) > 0 {
		return sum, fmt.Errorf("reconcile: %w", errors.Join(errs...))
	}
	return sum, nil
}

func (j *Reconcile) now() time.Time {
	if j.Now != nil {
		return j.Now()
	}
	return time.Now()
}

func (j *Reconcile) logger() *slog.Logger {
	if j.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return j.Logger
}

func (j *Reconcile) log(r FlowResult) {
	attrs := []any{"stock_id", r.StockID, "kind", r.Kind, "outcome", r.Outcome}
	if r.Reason != "" {
		attrs = append(attrs, "reason", r.Reason)
	}
	if f := r.File; f != nil {
		attrs = append(attrs, "rows", f.Rows, "new_rows", f.NewRows, "sha1", f.SHA1, "path", f.Path)
	}
	switch r.Outcome {
	case FlowFailed, FlowRejected:
		j.logger().Error("flow file", append(attrs, "err", r.Err)...)
	default:
		j.logger().Info("flow file", attrs...)
	}
}

// stockRef is a stock to reconcile and the merchant that created it.
type stockRef struct {
	ID      string `db:"stock_id"`
	Creator string `db:"creator"`
	// fetched by notDue, once per run
	info *wxpay.Stock
}

// stocks lists the 代金券 stocks the merchant issued from, or just id.
func (j *Reconcile) stocks(ctx context.Context, id string) ([]stockRef, error) {
	mchid := j.Source.MchID()
	if id != "" {
		var creators []string
		err := j.DB.SelectContext(ctx, &creators, `SELECT DISTINCT stock_creator_mchid FROM batches
			WHERE kind = 'favor' AND stock_id = $1 AND mchid = $2`, id, mchid)
		if err != nil {
			return nil, fmt.Errorf("stocks: %w", err)
		}
		creator := mchid
		if len(creators) == 1 {
			creator = creators[0]
		}
		return []stockRef{{ID: id, Creator: creator}}, nil
	}
	var out []stockRef
	err := j.DB.SelectContext(ctx, &out, `
		SELECT b.stock_id, min(b.stock_creator_mchid) AS creator
		FROM batches b
		WHERE b.kind = 'favor' AND b.mchid = $1
		  AND EXISTS (SELECT 1 FROM recipients r WHERE r.batch_id = b.id AND r.status = 'issued')
		GROUP BY b.stock_id
		ORDER BY b.stock_id`, mchid)
	if err != nil {
		return nil, fmt.Errorf("stocks: %w", err)
	}
	return out, nil
}

// notDue says why a stock's file of kind is not to be fetched in this run,
// or "" when it is due.
func (j *Reconcile) notDue(ctx context.Context, st *stockRef, kind wxpay.FlowKind, date string, now time.Time) (string, error) {
	if st.info == nil {
		info, err := j.Source.QueryStock(ctx, st.ID, st.Creator)
		if err != nil {
			return "", fmt.Errorf("query stock: %w", err)
		}
		st.info = info
	}
	end, err := stockEnd(st.info)
	if err != nil {
		return "", err
	}
	if st.info.Status != wxpay.StockStopped && now.Before(end) {
		return fmt.Sprintf("stock is %s until %s", st.info.Status, end.In(wxpay.Beijing()).Format(time.DateTime)), nil
	}
	due := FlowsDue(end)
	if now.Before(due) {
		return fmt.Sprintf("files are published from %s", due.Format(time.DateTime+" MST")), nil
	}
	switch kind {
	case wxpay.FlowUse:
		loaded, err := NewFlowStore(j.DB).UseFlowLoadedSince(ctx, st.ID, due)
		if err != nil {
			return "", err
		}
		if loaded {
			return "the final use-flow is loaded", nil
		}
	case wxpay.FlowRefund:
		window := j.RefundWindow
		if window <= 0 {
			window = 30 * 24 * time.Hour
		}
		if now.After(due.Add(window)) {
			return fmt.Sprintf("refund window ended %s", due.Add(window).Format(time.DateOnly)), nil
		}
		recorded, err := NewFlowStore(j.DB).RefundFlowLoadedFor(ctx, st.ID, date)
		if err != nil {
			return "", err
		}
		if recorded {
			return "already loaded for " + date, nil
		}
	}
	return "", nil
}

// stockEnd is when a stock stopped: its stop time when it was stopped
// early, else the end of its availability.
func stockEnd(s *wxpay.Stock) (time.Time, error) {
	v := s.AvailableEndTime
	if s.StopTime != "" {
		v = s.StopTime
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("stock %s: end time %q: %w", s.StockID, v, err)
	}
	return t, nil
}

// FlowsDue is when WeChat Pay publishes the flow files of a stock that
// ended at end: 10:00 Beijing time the next day.
func FlowsDue(end time.Time) time.Time {
	d := end.In(wxpay.Beijing())
	return time.Date(d.Year(), d.Month(), d.Day()+1, flowPublishHour, 0, 0, 0, d.Location())
}

// fetch gets, verifies, keeps and loads one file, retrying a failed
// download with fresh metadata (the url lives ~30 s).
func (j *Reconcile) fetch(ctx context.Context, stockID string, kind wxpay.FlowKind, date string) FlowResult {
	res := FlowResult{StockID: stockID, Kind: kind}
	attempts := j.Attempts
	if attempts <= 0 {
		attempts = 2
	}
	pacer := j.Pacer
	if pacer == nil {
		pacer = NewFlowPacer()
	}
	for attempt := 1; ; attempt++ {
		if err := pacer.Wait(ctx); err != nil {
			res.Outcome, res.Err = FlowFailed, err
			return res
		}
		meta, err := j.meta(ctx, stockID, kind)
		if wxpay.IsNotFound(err) {
			res.Outcome, res.Reason = FlowNotYet, "WeChat Pay has no file yet: "+notFoundMessage(err)
			return res
		}
		if err != nil {
			res.Outcome, res.Err = FlowFailed, err
			if wxpay.IsThrottle(err) && attempt < attempts {
				if b, ok := pacer.(interface{ Backoff() }); ok {
					b.Backoff()
				}
				continue
			}
			return res
		}
		f, err := j.download(ctx, stockID, kind, date, meta)
		if err != nil {
			res.Outcome, res.Err = FlowFailed, err
			if attempt < attempts && ctx.Err() == nil {
				j.logger().Warn("flow file download failed; fetching a new url", "stock_id", stockID, "kind", kind, "attempt", attempt, "err", err)
				continue
			}
			return res
		}
		changed, err := NewFlowStore(j.DB).Load(ctx, f)
		res.File = f
		var bad *FlowFileError
		switch {
		case errors.As(err, &bad):
			res.Outcome, res.Err = FlowRejected, err
		case err != nil:
			res.Outcome, res.Err = FlowFailed, err
		case changed:
			res.Outcome = FlowLoaded
		default:
			res.Outcome = FlowUnchanged
		}
		return res
	}
}

func (j *Reconcile) meta(ctx context.Context, stockID string, kind wxpay.FlowKind) (*wxpay.FlowDownload, error) {
	if kind == wxpay.FlowRefund {
		return j.Source.RefundFlow(ctx, stockID)
	}
	return j.Source.UseFlow(ctx, stockID)
}

func notFoundMessage(err error) string {
	var e *wxpay.APIError
	if errors.As(err, &e) && e.Message != "" {
		return e.Code + " " + e.Message
	}
	return err.Error()
}

// download streams the file into a temporary file beside its final place
// and renames it there only once its SHA1 matched: a truncated or altered
// download leaves nothing behind.
func (j *Reconcile) download(ctx context.Context, stockID string, kind wxpay.FlowKind, date string, meta *wxpay.FlowDownload) (*FlowFile, error) {
	dir, err := filepath.Abs(filepath.Join(j.Dir, safeName(stockID)))
	if err != nil {
		return nil, fmt.Errorf("flow file dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("flow file dir: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+string(kind)+"-flow-*.partial")
	if err != nil {
		return nil, fmt.Errorf("flow file: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	at := j.now()
	n, err := j.Source.Download(ctx, meta.URL, tmp, meta.HashValue)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	sum := strings.ToLower(meta.HashValue)
	path := filepath.Join(dir, fmt.Sprintf("%s-flow-%s.csv", kind, sum))
	if err := os.Rename(tmp.Name(), path); err != nil {
		return nil, fmt.Errorf("flow file: %w", err)
	}
	return &FlowFile{StockID: stockID, Kind: kind, Date: date, SHA1: sum, Path: path, Bytes: n, DownloadedAt: at}, nil
}

// safeName keeps a stock id usable as a directory name.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 || r == '.' {
			return '_'
		}
		return r
	}, s)
}

// FlowPacer lets at most N calls through in any sliding window. The zero
// value is not usable; see NewFlowPacer.
type FlowPacer struct {
	n      int
	window time.Duration
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error

	mu    sync.Mutex
	calls []time.Time // the last n call times, oldest first
}

// NewFlowPacer paces calls as the use-flow and refund-flow endpoints
// require: 5 a minute per IP.
func NewFlowPacer() *FlowPacer { return NewPacer(5, time.Minute) }

// NewPacer lets n calls through in any window.
func NewPacer(n int, window time.Duration) *FlowPacer {
	return &FlowPacer{n: max(n, 1), window: window, now: time.Now, sleep: sleepCtx}
}

// Wait blocks until a call is allowed, and counts it.
func (p *FlowPacer) Wait(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		now := p.now()
		if len(p.calls) < p.n {
			p.calls = append(p.calls, now)
			return nil
		}
		if free := p.calls[0].Add(p.window); !now.Before(free) {
			p.calls = append(p.calls[1:], now)
			return nil
		} else if err := p.sleep(ctx, free.Sub(now)); err != nil {
			return err
		}
	}
}

// Backoff treats the window as full from now: the endpoint said it was
// throttled, so another client shares the limit.
func (p *FlowPacer) Backoff() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	p.calls = p.calls[:0]
	for range p.n {
		p.calls = append(p.calls, now)
	}
}
