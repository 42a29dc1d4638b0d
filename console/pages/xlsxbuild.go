package pages

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/ops"
	"github.com/issuer-dev/issuer/report"
)

// A big batch's Excel report takes a while to build: above
// Options.BackgroundReportRows rows the batch page builds it in the
// background, shows how far it got, and offers the file once built.
// Smaller batches download at once.
const (
	// reportKept is how long a built file waits for its download.
	reportKept = 30 * time.Minute
	// maxReportBuilds bounds the builds under way at once.
	maxReportBuilds = 2
)

// errBuildsBusy: as many reports are being built as are allowed.
var errBuildsBusy = &ops.Error{Code: ops.EUNAVAILABLE, Message: "too many reports are being built; try again in a few minutes"}

// reportBuild is one batch's Excel report being built, or built.
type reportBuild struct {
	batch   int64
	total   int // the batch's rows
	done    atomic.Int64
	started time.Time
	path    string

	mu       sync.Mutex
	finished time.Time // zero while building
	err      error
}

func (b *reportBuild) state() (finished time.Time, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.finished, b.err
}

// reportBuilds are the builds of this process; close cancels and waits
// for them (their files go with the upload directory).
type reportBuilds struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	builds map[int64]*reportBuild
}

func newReportBuilds() *reportBuilds {
	ctx, cancel := context.WithCancel(context.Background())
	return &reportBuilds{ctx: ctx, cancel: cancel, builds: map[int64]*reportBuild{}}
}

func (rb *reportBuilds) close() {
	rb.cancel()
	rb.wg.Wait()
}

// get returns batch's build, forgetting (and removing) one kept too long.
func (rb *reportBuilds) get(batch int64) *reportBuild {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	b := rb.builds[batch]
	if b == nil {
		return nil
	}
	if finished, _ := b.state(); !finished.IsZero() && time.Since(finished) > reportKept {
		_ = os.Remove(b.path)
		delete(rb.builds, batch)
		return nil
	}
	return b
}

func (p *Pages) reportBuildRoutes() {
	p.con.Handle("GET /batches/{id}/report-build", auth.ActExport, http.HandlerFunc(p.reportBuildPage))
	p.con.Handle("POST /batches/{id}/report-build", auth.ActExport, http.HandlerFunc(p.reportBuildStart))
	p.con.Handle("GET /batches/{id}/report-build/file", auth.ActExport, http.HandlerFunc(p.reportBuildFile))
}

type reportBuildData struct {
	BatchID  int64
	Name     string
	Started  bool
	Ready    bool
	Error    string
	Done     int64
	Total    int
	Percent  int
	Began    string
	Finished string
}

func (p *Pages) reportBuildPage(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	bt, err := p.svc.Batch(r.Context(), actor(r), id)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	d := reportBuildData{BatchID: id, Name: bt.Name}
	if b := p.builds.get(id); b != nil {
		finished, berr := b.state()
		d.Started, d.Total, d.Done, d.Began = true, b.total, b.done.Load(), p.when(b.started)
		if d.Total > 0 {
			d.Percent = int(min(100, d.Done*100/int64(d.Total)))
		}
		if !finished.IsZero() {
			d.Finished = p.when(finished)
			if berr != nil {
				d.Error = p.errMessage(r, berr)
			} else {
				d.Ready, d.Percent = true, 100
			}
		}
	}
	p.con.Render(w, r, http.StatusOK, "reportbuild", d)
}

// reportBuildStart starts building the batch's Excel report, unless one is
// under way or built, and redirects to its progress.
func (p *Pages) reportBuildStart(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	if err := p.startReportBuild(actor(r), id); err != nil {
		p.fail(w, r, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/batches/%d/report-build", id), http.StatusSeeOther)
}

func (p *Pages) startReportBuild(a auth.Actor, id int64) error {
	rb := p.builds
	if b := rb.get(id); b != nil {
		if _, err := b.state(); err == nil {
			return nil // under way, or built and waiting
		}
	}
	rb.mu.Lock()
	defer rb.mu.Unlock()
	under := 0
	for _, b := range rb.builds {
		if finished, _ := b.state(); finished.IsZero() {
			under++
		}
	}
	if under >= maxReportBuilds {
		return errBuildsBusy
	}
	f, err := os.CreateTemp(p.opts.TempDir, fmt.Sprintf("batch-%d-*.xlsx", id))
	if err != nil {
		return fmt.Errorf("report file: %w", err)
	}
	b := &reportBuild{batch: id, started: time.Now(), path: f.Name()}
	// The report's snapshot lives as long as the build, not the request:
	// it is opened on the builds' context, as the actor who asked.
	rep, err := p.svc.BatchReport(rb.ctx, a, id, report.Options{Location: p.opts.Location,
		Progress: func(n int) { b.done.Store(int64(n)) }})
	if err != nil {
		f.Close()
		_ = os.Remove(f.Name())
		return err
	}
	if rep.Batch != nil {
		for _, n := range rep.Batch.Counts {
			b.total += n
		}
	}
	rb.builds[id] = b
	rb.wg.Go(func() {
		defer rep.Close()
		err := rep.Write(rb.ctx, f, report.XLSX)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			p.log.Error("report build", "batch", id, "err", err)
			_ = os.Remove(f.Name())
		}
		b.mu.Lock()
		b.finished, b.err = time.Now(), err
		b.mu.Unlock()
	})
	return nil
}

func (p *Pages) reportBuildFile(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	b := p.builds.get(id)
	if b == nil {
		p.con.Fail(w, r, http.StatusNotFound, p.con.T(r, "build.gone"))
		return
	}
	if finished, berr := b.state(); finished.IsZero() || berr != nil {
		http.Redirect(w, r, fmt.Sprintf("/batches/%d/report-build", id), http.StatusSeeOther)
		return
	}
	p.extendDeadlines(w, false)
	w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="batch-%d-report.xlsx"`, id))
	http.ServeFile(w, r, b.path)
}
