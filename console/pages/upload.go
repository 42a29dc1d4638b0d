package pages

import (
	"crypto/rand"

	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/issuer-dev/issuer/console"
	"github.com/issuer-dev/issuer/internal/excelcsv"
	"github.com/issuer-dev/issuer/ops"
)

// maxRejectsShown is how many rejected lines an answer lists.
const maxRejectsShown = 100

// maxFieldBytes bounds a form field other than the file.
const maxFieldBytes = 64 << 10

// upload is a multipart request whose file is spooled to disk.
type upload struct {
	path     string // the file on disk; remove it when done
	filename string
	fields   map[string]string
	disk     quotaFile // what the file takes of the disk quota
}

func (u *upload) remove() {
	if u.path != "" {
		_ = os.Remove(u.path)
	}
	u.disk.release()
}

// errUploadsFull: the uploads waiting and being received take all the
// disk or all the places set aside for them.
var errUploadsFull = &ops.Error{Code: ops.EUNAVAILABLE, Message: "the uploads waiting for create or drop fill the space set aside for them " +
	"(console.pending_uploads_mb); create or drop one, or try again once some have expired"}

// diskQuota counts the bytes the pages keep on disk against a limit.
type diskQuota struct {
	mu          sync.Mutex
	used, limit int64
}

func (q *diskQuota) take(n int64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.used+n > q.limit {
		return false
	}
	q.used += n
	return true
}

func (q *diskQuota) give(n int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.used -= n
}

// quotaFile writes to f what the quota allows, and remembers how much it
// took so that release gives it back once.
type quotaFile struct {
	f     io.Writer
	q     *diskQuota
	taken *int64
}

func newQuotaFile(f io.Writer, q *diskQuota) quotaFile {
	return quotaFile{f: f, q: q, taken: new(int64)}
}

func (w quotaFile) Write(b []byte) (int, error) {
	if !w.q.take(int64(len(b))) {
		return 0, errUploadsFull
	}
	*w.taken += int64(len(b))
	return w.f.Write(b)
}

func (w quotaFile) release() {
	if w.q != nil && *w.taken > 0 {
		w.q.give(*w.taken)
		*w.taken = 0
	}
}

// receive streams the request's parts: the file part to a temporary file,
// every other part into fields. Past the upload limit it answers an error
// for which ops.HTTPStatus says 413, and the partial file is gone.
func (p *Pages) receive(w http.ResponseWriter, r *http.Request) (_ *upload, err error) {
	p.extendDeadlines(w, true)
	r.Body = http.MaxBytesReader(w, r.Body, p.con.MaxUploadBytes())
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, badRequest("want a multipart/form-data upload: %v", err)
	}
	u := &upload{fields: map[string]string{}}
	defer func() {
		if err != nil {
			u.remove()
		}
	}()
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, p.readErr(err)
		}
		name := part.FormName()
		if name == "file" {
			if u.path != "" {
				return nil, badRequest("one file per upload")
			}
			f, err := os.CreateTemp(p.opts.TempDir, "upload-*.csv")
			if err != nil {
				return nil, fmt.Errorf("spool upload: %w", err)
			}
			u.path, u.filename = f.Name(), filepath.Base(part.FileName())
			u.disk = newQuotaFile(f, p.disk)
			_, err = io.Copy(u.disk, part)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return nil, p.readErr(err)
			}
			continue
		}
		b, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
		if err != nil {
			return nil, p.readErr(err)
		}
		if len(b) > maxFieldBytes {
			return nil, badRequest("form field %q is too long", name)
		}
		u.fields[name] = string(b)
	}
	if u.path == "" {
		return nil, badRequest("the upload has no file part named \"file\"")
	}
	if u.filename == "" || u.filename == "." {
		u.filename = "upload.csv"
	}
	return u, nil
}

func (p *Pages) readErr(err error) error {
	if errors.Is(err, errUploadsFull) {
		return err
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return fmt.Errorf("the upload is larger than %d MB (console.max_upload_mb): %w", tooBig.Limit>>20, err)
	}
	return badRequest("reading the upload: %v", err)
}

// importFields are the form fields of an import.
type importFields struct {
	stock, kind, name, encoding string
	maxRejects                  int
	dryRun                      bool
	// The money guards (the contract's "Money guards"), passed through
	// as typed: ops parses them the same way for every front end.
	guards ops.ImportGuards
}

func readImportFields(fields map[string]string) (importFields, error) {
	f := importFields{stock: strings.TrimSpace(fields["stock"]), kind: strings.TrimSpace(fields["kind"]),
		name: strings.TrimSpace(fields["name"]), encoding: strings.TrimSpace(fields["encoding"])}
	if v := strings.TrimSpace(fields["max_rejects"]); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return f, badRequest("max_rejects must be a number ≥ 0")
		}
		f.maxRejects = n
	}
	switch strings.ToLower(strings.TrimSpace(fields["dry_run"])) {
	case "", "false", "0", "off", "no":
	case "true", "1", "on", "yes":
		f.dryRun = true
	default:
		return f, badRequest("dry_run must be true or false")
	}
	for _, g := range ops.GuardFields() {
		if err := f.guards.Set(g.Name, fields[g.Name]); err != nil {
			return f, badRequest("%v", err)
		}
	}
	return f, nil
}

type rejectLine = ops.RejectLine

// runImport imports the spooled file; firstRejects gets the first rejected
// lines and, when rejects is set, every rejected line is written there.
func (p *Pages) runImport(r *http.Request, path, filename string, f importFields, rejects *excelcsv.Writer) (*ops.ImportAnswer, []rejectLine, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("open upload: %w", err)
	}
	defer file.Close()
	req, first := importRequest(file, filename, f, rejects)
	rep, err := p.svc.Import(r.Context(), actor(r), req)
	return rep, *first, err
}

// importRequest is the import of file with the form's fields; the first
// rejected lines gather in *first and, when rejects is set, every one is
// written there.
func importRequest(file io.Reader, filename string, f importFields, rejects *excelcsv.Writer) (ops.ImportRequest, *[]rejectLine) {
	first := new([]rejectLine)
	req := ops.ImportRequest{Reader: file, Source: filename, StockID: f.stock, Kind: f.kind, Name: f.name,
		Encoding: f.encoding, MaxRejects: f.maxRejects, DryRun: f.dryRun,
		Guards: f.guards,
		OnReject: func(rj ops.Reject) {
			if len(*first) < maxRejectsShown {
				*first = append(*first, rejectLine{Line: rj.Line, Reason: rj.Reason})
			}
			if rejects != nil {
				_ = rejects.Write([]string{strconv.Itoa(rj.Line), rj.Reason, rj.Raw})
			}
		}}
	if req.Name == "" {
		req.Name = strings.TrimSuffix(filename, filepath.Ext(filename))
	}
	return req, first
}

func (p *Pages) apiImport(w http.ResponseWriter, r *http.Request) {
	u, err := p.receive(w, r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	defer u.remove()
	f, err := readImportFields(u.fields)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	rep, rejects, err := p.runImport(r, u.path, u.filename, f, nil)
	switch {
	case errors.Is(err, ops.ErrTooManyRejects):
		rep.Rejects, rep.Error = nonNil(rejects), err.Error()
		console.WriteJSON(w, ops.HTTPStatus(err), rep)
		return
	case err != nil:
		p.fail(w, r, err)
		return
	}
	rep.Rejects = rejects
	if f.dryRun {
		console.WriteJSON(w, http.StatusOK, rep)
		return
	}
	w.Header().Set("Location", fmt.Sprintf("/api/v1/batches/%d", rep.BatchID))
	console.WriteJSON(w, http.StatusCreated, rep)
}

func nonNil(r []rejectLine) []rejectLine {
	if r == nil {
		return []rejectLine{}
	}
	return r
}

// pendingUpload is a file that passed through a dry run and waits for its
// uploader to create the batch or drop it.
type pendingUpload struct {
	upload
	owner       string
	fields      importFields
	report      *ops.ImportAnswer
	preview     *ops.ImportPreview
	rejects     []rejectLine
	rejectsPath string
	rejectsDisk quotaFile
	created     time.Time
}

func (u *pendingUpload) remove() {
	u.upload.remove()
	if u.rejectsPath != "" {
		_ = os.Remove(u.rejectsPath)
	}
	u.rejectsDisk.release()
}

func newToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return fmt.Sprintf("%x", b)
}

// makeRoom drops expired uploads and, while owner keeps PendingPerUser
// uploads waiting (or more than room allows), owner's oldest: one user's
// dry runs never push out another user's upload.
func (p *Pages) makeRoom(owner string, room int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.makeRoomLocked(owner, room)
}

func (p *Pages) makeRoomLocked(owner string, room int) {
	p.pruneLocked(time.Now())
	for {
		var oldest string
		n := 0
		for tok, x := range p.pending {
			if x.owner != owner {
				continue
			}
			n++
			if oldest == "" || x.created.Before(p.pending[oldest].created) {
				oldest = tok
			}
		}
		if n <= room-1 || oldest == "" {
			return
		}
		p.pending[oldest].remove()
		delete(p.pending, oldest)
	}
}

// keep stores u under a new token after making room among its owner's
// uploads; past PendingMax uploads of all users it refuses
// (errUploadsFull) rather than drop another user's.
func (p *Pages) keep(u *pendingUpload) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.makeRoomLocked(u.owner, p.opts.PendingPerUser)
	if len(p.pending) >= p.opts.PendingMax {
		return "", errUploadsFull
	}
	tok := newToken()
	p.pending[tok] = u
	return tok, nil
}

func (p *Pages) pruneLocked(now time.Time) {
	for tok, u := range p.pending {
		if now.Sub(u.created) > p.opts.UploadTTL {
			u.remove()
			delete(p.pending, tok)
		}
	}
}

// take finds the upload under tok for its owner; with remove it is no
// longer kept (the caller then removes its files).
func (p *Pages) take(tok, owner string, remove bool) (*pendingUpload, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pruneLocked(time.Now())
	u, ok := p.pending[tok]
	if !ok || u.owner != owner {
		return nil, false
	}
	if remove {
		delete(p.pending, tok)
	}
	return u, true
}

// dryRunAll is the MaxRejects of the page's dry run: every line is
// checked and counted, so the page can show the whole accounting.
const dryRunAll = math.MaxInt32
