package pages

import (
	"embed"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/console"
	"github.com/issuer-dev/issuer/ops"
)

//go:embed templates/*.html
var templateFS embed.FS

// Options configure the pages.
type Options struct {
	// Location is the time zone pages show times in (config timezone).
	Location *time.Location
	// TempDir holds uploads between the dry run and the create; default
	// a directory under os.TempDir().
	TempDir string
	// UploadTTL is how long an uploaded file waits for create or drop
	// (default an hour). Each user keeps at most PendingPerUser uploads
	// waiting (default 5; their own oldest goes first), never at the cost
	// of another user's; PendingMax bounds the uploads waiting of all
	// users (default 100) and PendingBytes the disk they and the uploads
	// being received take (default four times the upload limit): past
	// either, an upload is refused (503) until some are created, dropped or
	// expire.
	UploadTTL      time.Duration
	PendingPerUser int
	PendingMax     int
	PendingBytes   int64
	// TransferTimeout bounds an upload or a download (default 30
	// minutes): the daemon's server has short read and write timeouts,
	// which these routes extend.
	TransferTimeout time.Duration
	// BackgroundReportRows: a batch of more rows has its Excel report
	// built in the background with its progress shown (default 100,000).
	BackgroundReportRows int
	Logger               *slog.Logger
}

// Pages serves the batch, upload, reconciliation and operations pages and
// their API. Close removes the uploads still waiting.
type Pages struct {
	con  *console.Server
	svc  *ops.Service
	opts Options
	log  *slog.Logger

	recon  *reconCache   // the reconciliation page's figures
	builds *reportBuilds // big batches' Excel reports built in the background

	mu      sync.Mutex
	pending map[string]*pendingUpload
	created map[string]createdUpload // uploads created, by token
	disk    *diskQuota               // the bytes of every upload and rejects file on disk
}

// Register adds the pages and routes to con.
func Register(con *console.Server, svc *ops.Service, opts Options) (*Pages, error) {
	if opts.Location == nil {
		// One clock: the console's, which is the config's zone.
		opts.Location = con.Location()
		if svc.Config != nil && svc.Config.Location != nil {
			opts.Location = svc.Config.Location
		}
	}
	if opts.TempDir == "" {
		opts.TempDir = filepath.Join(os.TempDir(), "issuer-uploads")
	}
	if opts.UploadTTL <= 0 {
		opts.UploadTTL = time.Hour
	}
	if err := os.MkdirAll(opts.TempDir, 0o700); err != nil {
		return nil, fmt.Errorf("pages: upload directory: %w", err)
	}
	removeStale(opts.TempDir, opts.UploadTTL)
	// Each process keeps its uploads in a directory of its own, removed
	// by Close; one left by a process that died goes at the next start.
	dir, err := os.MkdirTemp(opts.TempDir, "run-")
	if err != nil {
		return nil, fmt.Errorf("pages: upload directory: %w", err)
	}
	opts.TempDir = dir
	if opts.PendingMax <= 0 {
		opts.PendingMax = 100
	}
	if opts.PendingPerUser <= 0 {
		opts.PendingPerUser = 5
	}
	if opts.PendingBytes <= 0 {
		opts.PendingBytes = 4 * con.MaxUploadBytes()
	}
	if opts.BackgroundReportRows <= 0 {
		opts.BackgroundReportRows = 100_000
	}
	if opts.TransferTimeout <= 0 {
		opts.TransferTimeout = 30 * time.Minute
	}
	p := &Pages{con: con, svc: svc, opts: opts, log: opts.Logger, pending: map[string]*pendingUpload{}, recon: newReconCache(),
		builds: newReportBuilds(), created: map[string]createdUpload{},
		disk: &diskQuota{limit: opts.PendingBytes}}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if err := con.AddTemplates(templateFS, "templates/*.html"); err != nil {
		return nil, err
	}
	for _, m := range []map[string]map[string]string{messages, stockMessages, homeMessages, moneyMessages} {
		for lang, msgs := range m {
			con.AddMessages(lang, msgs)
		}
	}
	p.apiRoutes()
	p.pageRoutes()
	p.stockRoutes()
	p.homeRoutes()
	p.searchRoutes()
	p.bulkRoutes()
	p.notifyRoutes()
	p.reportBuildRoutes()
	return p, nil
}

// Close removes every upload still waiting for create or drop, and waits
// for the reconciliation figures being read.
func (p *Pages) Close() {
	p.recon.close()
	p.builds.close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for tok, u := range p.pending {
		u.remove()
		delete(p.pending, tok)
	}
	_ = os.RemoveAll(p.opts.TempDir)
}

// removeStale removes the upload directories of processes that ended
// without Close, once they are older than any upload may wait.
func removeStale(dir string, ttl time.Duration) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		info, err := e.Info()
		if err == nil && e.IsDir() && strings.HasPrefix(e.Name(), "run-") && time.Since(info.ModTime()) > 2*ttl {
			_ = os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

func actor(r *http.Request) auth.Actor {
	a, _ := console.ActorFrom(r.Context())
	return a
}

func badRequest(format string, args ...any) error { return ops.Errorf(ops.EINVALID, format, args...) }

// errMessage is what a person is told: the error itself for the statuses
// that describe the request, never an internal error's text. A page says
// the errors people meet in their language (sayError).
func (p *Pages) errMessage(r *http.Request, err error) string {
	if ops.ErrorCode(err) == ops.EINTERNAL {
		p.log.Error("console request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if msg, ok := p.sayError(r, ops.HTTPStatus(err), err); ok {
		return msg
	}
	return ops.ErrorMessage(err)
}

// inline is how a page shows an act that failed: a refusal of the role is
// the error page, as any forbidden request is (ok false: answered); any
// other error is a status and a message for the page the act came from.
func (p *Pages) inline(w http.ResponseWriter, r *http.Request, err error) (status int, msg string, ok bool) {
	if ops.ErrorCode(err) == ops.EFORBIDDEN {
		p.fail(w, r, err)
		return 0, "", false
	}
	return ops.HTTPStatus(err), p.errMessage(r, err), true
}

// fail answers err as JSON for /api/… and as the error page otherwise.
func (p *Pages) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := ops.HTTPStatus(err)
	msg := p.errMessage(r, err)
	if status == http.StatusBadRequest {
		// What was wrong is the operation's own sentence.
		p.con.FailDetail(w, r, status, p.con.T(r, "error.bad_request_page"), msg)
		return
	}
	p.con.Fail(w, r, status, msg)
}

// when formats t in the configured zone.
func (p *Pages) when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.In(p.opts.Location).Format("2006-01-02 15:04:05")
}

func (p *Pages) whenPtr(t *time.Time) string {
	if t == nil {
		return "—"
	}
	return p.when(*t)
}

// zone labels times: the configured zone's name.
func (p *Pages) zone() string { return p.opts.Location.String() }

// safeHTML marks markup this package built from numbers and escaped text.
func safeHTML(s string) template.HTML { return template.HTML(s) } //nolint:gosec // built by bar and chart only

// timeNow is the wall clock, for upload expiry.
func timeNow() time.Time { return time.Now() }
