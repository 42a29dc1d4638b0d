package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

// benchConsole measures the console and /api/v1 of a real `issuer run` on
// a database the size of a busy year: many batches, millions of rows, one
// batch of a million. Pages must read the counters (batch_counts), never
// count a batch's rows, so their latency should not grow with the rows.
func benchConsole(ctx context.Context, args []string) error {
	fs := flagSet("console")
	bin := fs.String("bin", "bin/issuer", "issuer binary")
	batches := fs.Int("batches", 10_000, "batches in the database")
	rows := fs.Int("rows", 10_000_000, "recipients in the database, over all batches")
	big := fs.Int("big", 1_000_000, "recipients of the one big batch (batch 1)")
	requests := fs.Int("requests", 200, "requests per page measured")
	uploadRows := fs.Int("upload-rows", 1_000_000, "lines of the file uploaded through the API and imported by the CLI")
	_ = fs.Parse(args)
	if *batches < 2 || *rows <= *big {
		return errors.New("console: want at least 2 batches and more rows than the big batch")
	}

	rig, err := newIssueRig(ctx, 0, wxsim.Faults{})
	if err != nil {
		return err
	}
	defer rig.cleanup()

	fmt.Printf("\n## Console and API: %d batches, %d recipients (batch 1: %d), a real `issuer run`\n\n", *batches, *rows, *big)
	start := time.Now()
	if err := fillConsoleDB(ctx, rig.db, *batches, *rows, *big); err != nil {
		return fmt.Errorf("console: build the database: %w", err)
	}
	built := time.Since(start)

	token, err := adminToken(ctx, rig, *bin)
	if err != nil {
		return err
	}

	d, err := startDaemon(ctx, *bin, append(append([]string{}, rig.env...),
		"ISSUER_HTTP_ADDR=127.0.0.1:0",
		// Nothing is sent while measuring: no scheduled pass in the run.
		"ISSUER_SCHEDULES_ISSUE=0 0 1 1 *", "ISSUER_SCHEDULES_RECONCILE=0 0 1 1 *", "ISSUER_SCHEDULES_HOUSEKEEPING=0 0 1 1 *",
		"ISSUER_RECONCILE_DIR="+filepath.Join(rig.dir, "flowfiles")))
	if err != nil {
		return err
	}
	defer d.stop()

	page, err := loginPage(d)
	if err != nil {
		return err
	}
	api := &http.Client{Timeout: 10 * time.Minute}
	auth := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }

	fmt.Printf("Database built in %.0f s (generate_series inserts, indexes rebuilt after, VACUUM ANALYZE).\n\n", built.Seconds())
	small := int64(*batches) // the newest batch: a few hundred rows
	targets := []pageTarget{
		{"GET /batches (list page)", page, "/batches", nil},
		{fmt.Sprintf("GET /batches/1 (%d rows)", *big), page, "/batches/1", nil},
		{fmt.Sprintf("GET /batches/%d (%d rows)", small, (*rows-*big)/(*batches-1)), page, fmt.Sprintf("/batches/%d", small), nil},
		{"GET /api/v1/batches (default paging)", api, "/api/v1/batches", auth},
		{"GET /api/v1/batches/1", api, "/api/v1/batches/1", auth},
		{"GET / (home dashboard)", page, "/", nil},
		{"GET /reconciliation", page, "/reconciliation", nil},
	}
	read, err := firstReconRead(ctx, page, d.url)
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	fmt.Printf("The reconciliation page's first read of its figures (in the background; the page says so meanwhile): %.1f s.\n\n", read.Seconds())
	if err := measurePages(ctx, d, targets, *requests); err != nil {
		return err
	}
	return measureUpload(ctx, rig, *bin, api, d, token, *uploadRows)
}

// adminToken adds one admin, whose session is for the pages and whose
// token (returned) is for the API.
func adminToken(ctx context.Context, rig *issueRig, bin string) (string, error) {
	pw := filepath.Join(rig.dir, "pw")
	if err := os.WriteFile(pw, []byte("bench-password-1\n"), 0o600); err != nil {
		return "", err
	}
	if _, err := measure(ctx, rig.env, bin, "user", "add", "bench", "--role", "admin", "--password-file", pw); err != nil {
		return "", err
	}
	tc := exec.CommandContext(ctx, bin, "user", "token", "bench")
	tc.Env = append(os.Environ(), rig.env...)
	tok, err := tc.Output() // the token alone is on stdout
	if err != nil {
		return "", fmt.Errorf("console: user token: %w", err)
	}
	token := strings.TrimSpace(string(tok))
	return token, nil
}

// loginPage is a client of the console's pages, logged in as the admin.
func loginPage(d *daemon) (*http.Client, error) {
	jar, _ := cookiejar.New(nil)
	page := &http.Client{Jar: jar, Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := page.PostForm(d.url+"/login", url.Values{"username": {"bench"}, "password": {"bench-password-1"}})
	if err != nil {
		return nil, fmt.Errorf("console: login: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return nil, fmt.Errorf("console: login: %s", resp.Status)
	}
	return page, nil
}

// pageTarget is a page or endpoint measured, with the client that asks
// for it.
type pageTarget struct {
	name   string
	client *http.Client
	path   string
	prep   func(*http.Request)
}

// measurePages prints the latencies of n requests for each target.
func measurePages(ctx context.Context, d *daemon, targets []pageTarget, n int) error {
	fmt.Printf("| request | n | p50 | p95 | max | bytes |\n|---|---:|---:|---:|---:|---:|\n")
	for _, t := range targets {
		lat, size, err := latencies(ctx, t.client, d.url+t.path, t.prep, n)
		if err != nil {
			return fmt.Errorf("console: %s: %w", t.name, err)
		}
		fmt.Printf("| %s | %d | %s | %s | %s | %d |\n", t.name, len(lat), ms(pct(lat, 50)), ms(pct(lat, 95)), ms(lat[len(lat)-1]), size)
	}
	return nil
}

// measureUpload imports the same file of uploadRows lines through the CLI
// and through the API, into the same database, each for a stock of its
// own (no duplicate-file refusal), and prints their times and the
// daemon's memory. Nothing is sent: no issue pass is scheduled in the run.
func measureUpload(ctx context.Context, rig *issueRig, bin string, api *http.Client, d *daemon, token string, uploadRows int) error {
	csv := filepath.Join(rig.dir, "upload.csv")
	if _, err := measure(ctx, nil, "go", "run", "./internal/tools/sample", "-n", fmt.Sprint(uploadRows), "-o", csv, "-seed", "13"); err != nil {
		return err
	}
	cli, err := measure(ctx, rig.env, bin, "import", "--stock", "9856001", "--json", csv)
	if err != nil {
		return err
	}
	// The peak of the upload alone: writing 5 to clear_refs resets VmHWM
	// to the current RSS (the start-up runs and the page requests above
	// set the peak so far).
	hwmBefore := procStatusBytes(d.pid(), "VmHWM")
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", d.pid()), []byte("5"), 0)
	rssBefore := procStatusBytes(d.pid(), "VmRSS")
	up, upPeak, err := uploadFile(ctx, api, d, token, csv)
	if err != nil {
		return fmt.Errorf("console: upload: %w", err)
	}
	fmt.Printf("\n| %d-line file | wall | ratio |\n|---|---:|---:|\n", uploadRows)
	fmt.Printf("| `issuer import` | %.2f s | 1.00× |\n", cli.wall.Seconds())
	fmt.Printf("| `POST /api/v1/batches` to `issuer run` | %.2f s | %.2f× |\n", up.Seconds(), up.Seconds()/cli.wall.Seconds())
	fmt.Printf("\nDaemon RSS: %s before the upload (peak so far %s), peak during the upload (VmHWM) %s; the file is streamed to disk, never held whole.\n",
		mib(rssBefore), mib(hwmBefore), mib(upPeak))
	return nil
}

// fillConsoleDB writes batches and rows straight into the tables in a few
// big statements. The recipients' indexes and keys are dropped first and
// built again after (one sort each instead of ten million inserts into
// seven b-trees); the counter triggers stay, so the counters are exact.
func fillConsoleDB(ctx context.Context, db *sqlx.DB, batches, rows, big int) error {
	conn, err := db.Connx(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	f := &filler{ctx: ctx, conn: conn}
	if err := f.exec(`SET maintenance_work_mem = '512MB'`); err != nil {
		return err
	}
	if err := f.exec(`SET max_parallel_maintenance_workers = 2`); err != nil {
		return err
	}
	if err := f.batches(batches, rows, big); err != nil {
		return err
	}
	keep, err := f.dropKeys()
	if err != nil {
		return err
	}
	if err := f.bigBatch(big); err != nil {
		return err
	}
	if err := f.otherRows(rows-big, batches); err != nil {
		return err
	}
	for _, k := range keep {
		if err := f.exec(k.Create); err != nil {
			return err
		}
	}
	return f.exec(`VACUUM ANALYZE`)
}

// filler runs fillConsoleDB's statements on one connection.
type filler struct {
	ctx  context.Context
	conn *sqlx.Conn
}

func (f *filler) exec(q string, args ...any) error {
	if _, err := f.conn.ExecContext(f.ctx, q, args...); err != nil {
		return fmt.Errorf("%.60s…: %w", strings.Join(strings.Fields(q), " "), err)
	}
	return nil
}

// recipientRows are the columns the fill writes.
const recipientRows = `batch_id, mchid, openid, out_request_no, source_line, status, outcome, attempts,
		coupon_id, wx_code, last_attempt_at, first_attempt_at, issued_at, created_at`

// batches writes the batches and their import to the audit log.
func (f *filler) batches(batches, rows, big int) error {
	// Batch 1 is the big one, paused mid-run; the rest are done, newest
	// last, an hour apart, a few cancelled or halted.
	if err := f.exec(`INSERT INTO batches (name, stock_id, kind, mchid, appid, stock_creator_mchid, status, halt_reason,
			source_file, source_sha256, lines, accepted, uploaded_by, face_value_fen, amount_fen, created_at, updated_at)
		SELECT 'member list ' || g, '9856000', 'favor', '1900000109', 'wx233544546545989', '1900000109',
			CASE WHEN g = 1 THEN 'paused' WHEN g % 97 = 0 THEN 'cancelled' WHEN g % 89 = 0 THEN 'halted' ELSE 'completed' END,
			CASE WHEN g % 89 = 0 AND g % 97 <> 0 AND g <> 1 THEN 'budget_exhausted: NOT_ENOUGH 批次预算不足' END,
			'list-' || g || '.csv', md5(g::text), n, n, 'bench', 100, n * 100,
			now() - ($1::int - g) * interval '1 hour', now() - ($1::int - g) * interval '1 hour'
		FROM generate_series(1, $1::int) g,
			LATERAL (SELECT CASE WHEN g = 1 THEN $2::int ELSE ($3::int - $2::int) / ($1::int - 1)
				+ CASE WHEN g - 2 < ($3::int - $2::int) % ($1::int - 1) THEN 1 ELSE 0 END END AS n) c`,
		batches, big, rows); err != nil {
		return err
	}
	return f.exec(`INSERT INTO audit_log (at, actor, role, action, batch_id, stock_id, source, outcome, message)
		SELECT created_at, 'bench', 'admin', 'import', id, stock_id, 'cli', 'ok', 'imported' FROM batches`)
}

// recipientKey is a key or index of recipients dropped for the fill, and
// how to build it again.
type recipientKey struct {
	Drop   string `db:"drop_sql"`
	Create string `db:"create_sql"`
}

// dropKeys drops the keys of recipients (with their own indexes) and its
// other indexes, and returns them to be built again after.
func (f *filler) dropKeys() ([]recipientKey, error) {
	var keep []recipientKey
	if err := f.conn.SelectContext(f.ctx, &keep, `
		SELECT 'ALTER TABLE recipients DROP CONSTRAINT ' || conname AS drop_sql,
			'ALTER TABLE recipients ADD CONSTRAINT ' || conname || ' ' || pg_get_constraintdef(oid) AS create_sql
		FROM pg_constraint WHERE conrelid = 'recipients'::regclass AND contype IN ('p', 'u')
		UNION ALL
		SELECT 'DROP INDEX ' || indexname, indexdef FROM pg_indexes
		WHERE schemaname = current_schema() AND tablename = 'recipients'
			AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = 'recipients'::regclass)`); err != nil {
		return nil, fmt.Errorf("list keys and indexes: %w", err)
	}
	for _, k := range keep {
		if err := f.exec(k.Drop); err != nil {
			return nil, err
		}
	}
	return keep, nil
}

// bigBatch writes the rows of batch 1.
func (f *filler) bigBatch(big int) error {
	// The big batch, paused mid-run: 60% issued, 1% failed, 0.5% in
	// review, 0.5% pending in doubt, the rest pending. An hour of sends.
	if err := f.exec(`INSERT INTO recipients (`+recipientRows+`)
		SELECT 1, '1900000109', 'oBig' || g, '190000010920261130' || lpad(g::text, 10, '0'), g + 1, s.status, s.outcome,
			CASE WHEN s.outcome IS NULL THEN 0 ELSE 1 END,
			CASE WHEN s.status = 'issued' THEN (10000000000 + g)::text END,
			CASE s.outcome WHEN 'invalid_user' THEN 'USER_ACCOUNT_ABNORMAL' END,
			CASE WHEN s.outcome IS NOT NULL THEN now() - interval '1 hour' + g * interval '3 ms' END,
			CASE WHEN s.outcome IS NOT NULL THEN now() - interval '1 hour' + g * interval '3 ms' END,
			CASE WHEN s.status = 'issued' THEN now() - interval '1 hour' + g * interval '3 ms' END,
			now() - interval '2 hours'
		FROM generate_series(1, $1::int) g,
			LATERAL (SELECT CASE WHEN g % 200 = 7 THEN 'review' WHEN g % 200 = 9 THEN 'pending' WHEN g % 100 = 3 THEN 'failed'
					WHEN g <= $1::int * 6 / 10 THEN 'issued' ELSE 'pending' END AS status,
				CASE WHEN g % 200 IN (7, 9) THEN 'unknown' WHEN g % 100 = 3 THEN 'invalid_user'
					WHEN g <= $1::int * 6 / 10 THEN 'issued' END AS outcome) s`, big); err != nil {
		return err
	}
	return nil
}

// otherRows writes the rows of the other batches.
func (f *filler) otherRows(others, batches int) error {
	// The rest, spread over the other batches, all issued, a few failed,
	// in statements of a million rows.
	const step = 1_000_000
	for lo := 0; lo < others; lo += step {
		hi := min(lo+step, others) - 1
		if err := f.exec(`INSERT INTO recipients (`+recipientRows+`)
			SELECT b, '1900000109', 'o' || g, '190000010920251130' || lpad(g::text, 10, '0'), g / ($3::int - 1) + 2,
				CASE WHEN g % 250 = 1 THEN 'failed' ELSE 'issued' END,
				CASE WHEN g % 250 = 1 THEN 'invalid_user' ELSE 'issued' END, 1,
				CASE WHEN g % 250 <> 1 THEN (20000000000 + g)::text END,
				CASE WHEN g % 250 = 1 THEN 'USER_ACCOUNT_ABNORMAL' END,
				t, t, CASE WHEN g % 250 <> 1 THEN t END, t
			FROM generate_series($1::bigint, $2::bigint) g,
				LATERAL (SELECT 2 + g % ($3::int - 1) AS b) bb,
				LATERAL (SELECT now() - ($3::int - b) * interval '1 hour' AS t) tt`, lo, hi, batches); err != nil {
			return err
		}
	}
	return nil
}

// daemon is a running `issuer run`.
type daemon struct {
	cmd  *exec.Cmd
	url  string
	done chan error
}

func (d *daemon) pid() int { return d.cmd.Process.Pid }

// stop sends SIGTERM and waits for the daemon to exit.
func (d *daemon) stop() {
	_ = d.cmd.Process.Signal(os.Interrupt)
	select {
	case <-d.done:
	case <-time.After(time.Minute):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

func startDaemon(ctx context.Context, bin string, env []string) (*daemon, error) {
	cmd := exec.CommandContext(ctx, bin, "run")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = io.Discard
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("issuer run: %w", err)
	}
	d := &daemon{cmd: cmd, done: make(chan error, 1)}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				select {
				case found <- u:
				default:
				}
			}
		}
		d.done <- cmd.Wait()
	}()
	select {
	case d.url = <-found:
		return d, nil
	case err := <-d.done:
		d.done <- err
		return nil, fmt.Errorf("issuer run exited before listening: %v", err)
	case <-time.After(time.Minute):
		d.stop()
		return nil, errors.New("issuer run: not listening after a minute")
	}
}

// latencies GETs u n times in a row (after a few unmeasured requests that
// warm the connection and the caches) and returns the sorted latencies
// and the size of the last answer.
// firstReconRead views the reconciliation page until it shows figures
// (its first view starts reading them in the background) and says how long
// that took.
func firstReconRead(ctx context.Context, c *http.Client, base string) (time.Duration, error) {
	start := time.Now()
	for time.Since(start) < 30*time.Minute {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/reconciliation", nil)
		if err != nil {
			return 0, err
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, fmt.Errorf("reconciliation: %w", err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return 0, fmt.Errorf("reconciliation: %w", err)
		}
		if strings.Contains(string(b), `id="recon-asof"`) {
			return time.Since(start), nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return 0, errors.New("reconciliation: no figures after 30 minutes")
}

func latencies(ctx context.Context, c *http.Client, u string, prep func(*http.Request), n int) ([]time.Duration, int, error) {
	var out []time.Duration
	size := 0
	for i := -5; i < n; i++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, 0, err
		}
		if prep != nil {
			prep(req)
		}
		t := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			return nil, 0, err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, 0, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, 0, fmt.Errorf("%s: %.200s", resp.Status, b)
		}
		if i >= 0 {
			out = append(out, time.Since(t))
		}
		size = len(b)
	}
	slices.Sort(out)
	return out, size, nil
}

// uploadFile streams path as POST /api/v1/batches and returns the wall
// time and the daemon's peak RSS after.
func uploadFile(ctx context.Context, c *http.Client, d *daemon, token, path string) (time.Duration, int64, error) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := func() error {
			for k, v := range map[string]string{"stock": "9856002", "kind": "favor", "name": "api upload"} {
				if err := mw.WriteField(k, v); err != nil {
					return err
				}
			}
			fw, err := mw.CreateFormFile("file", filepath.Base(path))
			if err != nil {
				return err
			}
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.Copy(fw, f); err != nil {
				return err
			}
			return mw.Close()
		}()
		pw.CloseWithError(err)
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url+"/api/v1/batches", pr)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	t := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, 0, err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	wall := time.Since(t)
	if resp.StatusCode != http.StatusCreated {
		return 0, 0, fmt.Errorf("%s: %.300s", resp.Status, b)
	}
	return wall, procStatusBytes(d.pid(), "VmHWM"), nil
}

func pct(sorted []time.Duration, p int) time.Duration {
	return sorted[min(len(sorted)-1, (len(sorted)*p+99)/100-1)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
