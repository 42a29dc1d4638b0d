package campaign

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // the postgres driver

	"github.com/issuer-dev/issuer/internal/dbtest"
	"github.com/issuer-dev/issuer/internal/simtest"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

// Operator is the account the campaign's operator acts are made as: an
// operator, never the uploader (imports are the CLI's own), so that it may
// approve.
const Operator = "olga"

// Timing of the phases after the chaos.
const (
	// drainFor is how long batches get to finish once the faults stop,
	// before every batch still open is cancelled.
	drainFor = 8 * time.Second
	// settleRounds bounds the `review resolve` rounds of quiescence.
	settleRounds = 30
)

// Result is what one seed's run found.
type Result struct {
	Scenario Scenario
	// Checked counts the invariant checks made (one per invariant and
	// subject: a coupon, a row, a batch).
	Checked int
	// Violations are the checks that failed, each naming its invariant.
	Violations []Violation
	// Log is the run's timeline: every act and what it answered.
	Log []string
	// Dir holds the instances' logs; it is kept when the seed fails.
	Dir string
}

// Violation is one failed check.
type Violation struct {
	Invariant string
	Detail    string
}

func (v Violation) String() string { return v.Invariant + ": " + v.Detail }

// run is one seed being played.
type run struct {
	t       testing.TB
	ctx     context.Context
	h       *Harness
	sc      Scenario
	dir     string
	cluster *dbtest.Cluster
	db      *sqlx.DB
	sim     *simtest.Sim
	env     []string // for every process: the run's configuration
	token   string   // Operator's API token, when the CLI takes ISSUER_TOKEN
	batches []int64  // batch id of each BatchPlan
	insts   []*instance
	t0      time.Time // start of the chaos phase

	mu       sync.Mutex
	log      []string
	findings []Violation // seen while running
	broken   []string    // failures of the harness in the chaos phase's goroutines
	calls    []cliCall   // every command run, for checkErrors
	pgDown   []window    // when PostgreSQL was down, and a moment after
}

// cliCall is one command the campaign ran and what it answered.
type cliCall struct {
	args       []string
	start, end time.Time
	res        cliResult
}

// window is a span of time.
type window struct{ from, to time.Time }

// pgSettle is how long after PostgreSQL is back a command may still fail
// for its having been down (a connection opened just before).
const pgSettle = 5 * time.Second

// Run plays sc and checks it. Setup failures fail t; the invariants'
// verdicts are in the Result.
func Run(t testing.TB, h *Harness, sc Scenario) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", fmt.Sprintf("issuer-campaign-%d-", sc.Seed))
	if err != nil {
		t.Fatal(err)
	}
	r := &run{t: t, ctx: ctx, h: h, sc: sc, dir: dir}
	t.Cleanup(func() {
		if !t.Failed() {
			os.RemoveAll(dir)
		}
	})
	r.setup()
	r.chaos()
	r.quiesce()
	res := &Result{Scenario: sc, Dir: dir}
	c := &checker{}
	r.checkViews(c) // needs an instance for the API
	r.logf("views checked")
	for _, in := range r.insts {
		err := in.stop(30 * time.Second)
		c.check("instances", err == nil, "i%d did not stop cleanly on SIGTERM: %v (see %s)", in.n, err, in.logf.Name())
	}
	r.logf("instances stopped")
	r.checkStore(c)
	r.checkErrors(c)
	r.logf("store checked")
	r.mu.Lock()
	for _, f := range r.findings {
		c.checked++
		c.violations = append(c.violations, f)
	}
	res.Log = append([]string(nil), r.log...)
	r.mu.Unlock()
	res.Checked, res.Violations = c.checked, c.violations
	return res
}

func (r *run) logf(format string, args ...any) {
	at := "setup"
	if !r.t0.IsZero() {
		at = fmt.Sprintf("%6.2fs", time.Since(r.t0).Seconds())
	}
	r.mu.Lock()
	r.log = append(r.log, at+" "+fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func (r *run) finding(invariant, format string, args ...any) {
	r.mu.Lock()
	r.findings = append(r.findings, Violation{Invariant: invariant, Detail: fmt.Sprintf(format, args...)})
	r.mu.Unlock()
}

// fatal ends the seed for a failure of the harness, not of issuer.
func (r *run) fatal(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("seed %d: "+format+"\nscenario: %s\nlog:\n%s", append(append([]any{r.sc.Seed}, args...), r.sc, strings.Join(r.snapshotLog(), "\n"))...)
}

// broke records a failure of the harness in a goroutine, where the test
// cannot be failed; chaos fails it once its goroutines are done.
func (r *run) broke(format string, args ...any) {
	r.mu.Lock()
	r.broken = append(r.broken, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func (r *run) snapshotLog() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log...)
}

// setup starts PostgreSQL and the simulator, migrates, adds the operator,
// imports the batches and starts the instances.
func (r *run) setup() {
	sc := r.sc
	begun := time.Now()
	r.cluster = dbtest.NewCluster(r.t)
	r.logf("%.1fs: PostgreSQL started", time.Since(begun).Seconds())
	db, err := sqlx.Open("postgres", r.cluster.URL)
	if err != nil {
		r.fatal("open database: %v", err)
	}
	db.SetMaxOpenConns(4)
	r.t.Cleanup(func() { db.Close() })
	r.db = db

	var stocks []wxsim.StockSpec
	for _, st := range sc.Stocks {
		stocks = append(stocks, wxsim.StockSpec{ID: st.ID, Kind: wxsim.Kind(st.Kind), Budget: st.Budget, CouponValue: st.ValueFen})
	}
	r.sim = simtest.Start(r.t, wxsim.Options{Stocks: stocks, Limit: sc.Limit, Seed: sc.Seed})
	r.env = r.processEnv()

	r.mustCLI(false, "", "migrate")
	if _, err := db.ExecContext(r.ctx, instrumentSQL); err != nil {
		r.fatal("instrument the database: %v", err)
	}
	r.addOperatorAndBatches()
	r.logf("%.1fs: cluster, simulator, operator and batches ready", time.Since(begun).Seconds())
	r.startInstances()
}

// processEnv is the environment of every issuer process of the run: the
// scenario's settings, the cluster and the simulator.
func (r *run) processEnv() []string {
	sc := r.sc
	env := map[string]string{
		"ISSUER_CONFIG":                 "",
		"ISSUER_DATABASE_URL":           r.cluster.URL,
		"ISSUER_WXPAY_TIMEOUT":          time.Duration(sc.Timeout).String(),
		"ISSUER_ISSUE_LEASE":            time.Duration(sc.Lease).String(),
		"ISSUER_ISSUE_CONCURRENCY":      strconv.Itoa(sc.Workers),
		"ISSUER_ISSUE_MAX_ATTEMPTS":     strconv.Itoa(sc.MaxAttempts),
		"ISSUER_ISSUE_RATE_INITIAL":     strconv.FormatFloat(sc.Limit/2, 'f', -1, 64),
		"ISSUER_ISSUE_RATE_MAX":         strconv.FormatFloat(sc.Limit*2, 'f', -1, 64),
		"ISSUER_ISSUE_SHUTDOWN_TIMEOUT": "10s",
		"ISSUER_SCHEDULES_ISSUE":        "@every 1s",
		"ISSUER_SCHEDULES_HOUSEKEEPING": "@every 2s",
		"ISSUER_SCHEDULES_RECONCILE":    "@every 1h",
		"ISSUER_HTTP_ADDR":              "127.0.0.1:0",
		"ISSUER_RECONCILE_DIR":          filepath.Join(r.dir, "flows"),
		"ISSUER_APPROVAL_MIN_COUPONS":   strconv.Itoa(sc.ApprovalMin),
	}
	for k, v := range r.sim.Env() {
		env[k] = v
	}
	out := cleanEnv()
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// addOperatorAndBatches adds the operator with an API token and imports
// the batches, side by side.
func (r *run) addOperatorAndBatches() {
	sc := r.sc
	pw := filepath.Join(r.dir, "password")
	if err := os.WriteFile(pw, []byte("campaign-password-1\n"), 0o600); err != nil {
		r.fatal("%v", err)
	}
	var wg sync.WaitGroup
	r.batches = make([]int64, len(sc.Batches))
	failed := make(chan string, len(sc.Batches)+1)
	wg.Go(func() {
		if res := r.cli(false, "", "user", "add", Operator, "--role", "operator", "--password-file", pw); res.Code != 0 {
			failed <- "user add: " + res.String()
			return
		}
		res := r.cli(false, "", "user", "token", Operator)
		if res.Code != 0 {
			failed <- "user token: " + res.String()
		}
		r.token = strings.TrimSpace(res.Stdout)
	})
	for i, b := range sc.Batches {
		wg.Go(func() {
			id, err := r.importBatch(i, b)
			if err != nil {
				failed <- err.Error()
			}
			r.batches[i] = id
		})
	}
	wg.Wait()
	close(failed)
	for msg := range failed {
		r.fatal("%s", msg)
	}
}

// startInstances starts the scenario's issuer run processes.
func (r *run) startInstances() {
	for n := 1; n <= r.sc.Instances; n++ {
		in, err := newInstance(n, r.h.Bin, r.env, r.dir)
		if err != nil {
			r.fatal("%v", err)
		}
		r.insts = append(r.insts, in)
		r.t.Cleanup(func() {
			in.kill()
			in.logf.Close()
		})
		if err := in.start(r.ctx, time.Now().Add(time.Minute)); err != nil {
			r.fatal("%v", err)
		}
	}
}

// instrumentSQL records, in the campaign's database only, every claim of
// a row and every state a batch commits: the evidence for "claimed while
// its batch was open". A batch's state is stamped by a deferred trigger,
// when its transaction commits, and read back whole then.
const instrumentSQL = `
CREATE TABLE campaign_claims (
	recipient_id   bigint      NOT NULL,
	batch_id       bigint      NOT NULL,
	out_request_no text        NOT NULL,
	at             timestamptz NOT NULL, -- the claiming statement's start, now()
	done           timestamptz NOT NULL, -- when it leased this row, after it read the batch
	owner          text
);
CREATE INDEX campaign_claims_row ON campaign_claims (recipient_id, at);
CREATE FUNCTION campaign_claim() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO campaign_claims VALUES (NEW.id, NEW.batch_id, NEW.out_request_no, now(), clock_timestamp(), NEW.lease_owner);
	RETURN NULL;
END $$;
CREATE TRIGGER campaign_claim AFTER UPDATE ON recipients FOR EACH ROW
	WHEN (NEW.status = 'in_flight' AND OLD.status <> 'in_flight') EXECUTE FUNCTION campaign_claim();

CREATE TABLE campaign_batch_states (
	batch_id     bigint      NOT NULL,
	at           timestamptz NOT NULL,
	status       text        NOT NULL,
	start_at     timestamptz,
	window_start smallint,
	window_end   smallint,
	window_tz    text
);
CREATE INDEX campaign_batch_states_batch ON campaign_batch_states (batch_id, at);
CREATE FUNCTION campaign_batch_state() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO campaign_batch_states
		SELECT id, clock_timestamp(), status, start_at, window_start, window_end, window_tz FROM batches WHERE id = NEW.id;
	RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER campaign_batch_insert AFTER INSERT ON batches DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW EXECUTE FUNCTION campaign_batch_state();
CREATE CONSTRAINT TRIGGER campaign_batch_update AFTER UPDATE ON batches DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.start_at IS DISTINCT FROM NEW.start_at
		OR OLD.window_start IS DISTINCT FROM NEW.window_start OR OLD.window_end IS DISTINCT FROM NEW.window_end)
	EXECUTE FUNCTION campaign_batch_state();
`

// beijing is the configured timezone's offset (Asia/Shanghai keeps no
// daylight saving time).
var beijing = time.FixedZone("CST", 8*3600)

func (r *run) importBatch(i int, b BatchPlan) (int64, error) {
	st := r.sc.Stocks[b.Stock]
	var csv strings.Builder
	csv.WriteString("openid\n")
	for j := range b.Rows {
		prefix := ""
		if j < b.Refused {
			prefix = []string{"limited_", "nouser_"}[j%2]
		}
		fmt.Fprintf(&csv, "%sc%db%dr%d\n", prefix, r.sc.Seed, i+1, j)
	}
	args := []string{"import", "--stock", st.ID, "--kind", st.Kind, "--name", fmt.Sprintf("b%d", i+1), "--json"}
	if b.CapYuan != "" {
		args = append(args, "--max-amount-yuan", b.CapYuan)
	}
	now := time.Now().In(beijing)
	switch b.Window {
	case "open":
		args = append(args, "--window", now.Add(-time.Hour).Format("15:04")+"-"+now.Add(2*time.Hour).Format("15:04"))
	case "closed":
		args = append(args, "--window", now.Add(2*time.Hour).Format("15:04")+"-"+now.Add(3*time.Hour).Format("15:04"))
	}
	if b.StartIn > 0 {
		args = append(args, "--start-at", now.Add(time.Duration(b.StartIn)).Format(time.RFC3339))
	}
	if b.Priority != 0 {
		args = append(args, "--priority", strconv.Itoa(b.Priority))
	}
	if b.Paused {
		args = append(args, "--paused")
	}
	args = append(args, "-")
	res := r.cli(false, csv.String(), args...)
	if res.Code != 0 {
		return 0, fmt.Errorf("import b%d: %s", i+1, res)
	}
	var out struct {
		BatchID  int64  `json:"batch_id"`
		Accepted int    `json:"accepted"`
		Status   string `json:"status"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &out); err != nil || out.BatchID == 0 {
		return 0, fmt.Errorf("import b%d: %v: %s", i+1, err, res.Stdout)
	}
	r.logf("import b%d = batch %d: %d rows, %s", i+1, out.BatchID, out.Accepted, out.Status)
	return out.BatchID, nil
}

// cli runs an issuer command. asOperator passes the operator's token
// (when the CLI takes one); commands without it act as the CLI itself.
func (r *run) cli(asOperator bool, stdin string, args ...string) cliResult {
	start := time.Now()
	res := r.runCLI(asOperator, stdin, args...)
	r.mu.Lock()
	r.calls = append(r.calls, cliCall{args: args, start: start, end: time.Now(), res: res})
	r.mu.Unlock()
	return res
}

func (r *run) runCLI(asOperator bool, stdin string, args ...string) cliResult {
	ctx, cancel := context.WithTimeout(r.ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.h.Bin, args...)
	cmd.Env = r.env
	dieWithUs(cmd)
	if asOperator && r.h.Tokens {
		cmd.Env = append(slices.Clone(r.env), "ISSUER_TOKEN="+r.token)
	}
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else {
			errb.WriteString(err.Error())
		}
	}
	return cliResult{Code: code, Stdout: out.String(), Stderr: errb.String()}
}

func (r *run) mustCLI(asOperator bool, stdin string, args ...string) cliResult {
	r.t.Helper()
	res := r.cli(asOperator, stdin, args...)
	if res.Code != 0 {
		r.fatal("issuer %s: %s", strings.Join(args, " "), res)
	}
	return res
}

// chaos plays the events: the faults and the limit's shape from the start,
// every act at its moment. Acts on one batch, one instance or one stock
// happen in their order; different ones overlap.
func (r *run) chaos() {
	r.t0 = time.Now()
	if err := r.sim.Server.SetFaults(r.sc.Faults); err != nil {
		r.fatal("set faults: %v", err)
	}
	if err := r.sim.Server.SetShape(wxsim.Shape{Steps: r.sc.Shape}); err != nil {
		r.fatal("set shape: %v", err)
	}
	r.logf("chaos: faults %s, shape %s", jsonOf(r.sc.Faults), jsonOf(r.sc.Shape))
	lanes := map[string][]Event{}
	for _, e := range r.sc.Events {
		var lane string
		switch {
		case e.Batch > 0:
			lane = fmt.Sprintf("b%d", e.Batch)
		case e.Instance > 0:
			lane = fmt.Sprintf("i%d", e.Instance)
		case e.Stock != "":
			lane = "s" + e.Stock
		case e.Do == ActResolve:
			lane = fmt.Sprintf("resolve@%v", e.At)
		default:
			lane = e.Do
		}
		lanes[lane] = append(lanes[lane], e)
	}
	var wg sync.WaitGroup
	for _, evs := range lanes {
		wg.Go(func() {
			for _, e := range evs {
				if d := time.Until(r.t0.Add(time.Duration(e.At))); d > 0 {
					time.Sleep(d)
				}
				r.act(e)
			}
		})
	}
	if d := time.Until(r.t0.Add(time.Duration(r.sc.Chaos))); d > 0 {
		time.Sleep(d)
	}
	wg.Wait()
	r.mu.Lock()
	broken := strings.Join(r.broken, "; ")
	r.mu.Unlock()
	if broken != "" {
		r.fatal("%s", broken)
	}
	r.logf("chaos over")
}

// act performs one event.
func (r *run) act(e Event) {
	srv := r.sim.Server
	switch e.Do {
	case ActPause, ActResume, ActCancel:
		res := r.cli(true, "", "batch", e.Do, r.id(e.Batch))
		r.logf("b%d %s: %s", e.Batch, e.Do, res)
	case ActApprove:
		res := r.cli(true, "", "batch", "approve", r.id(e.Batch), "--as", Operator)
		r.logf("b%d approve: %s", e.Batch, res)
	case ActReject:
		res := r.cli(true, "", "batch", "reject", r.id(e.Batch), "--as", Operator, "--reason", "campaign")
		r.logf("b%d reject: %s", e.Batch, res)
	case ActPriority:
		res := r.cli(true, "", "batch", "priority", r.id(e.Batch), strconv.Itoa(e.N))
		r.logf("b%d priority %d: %s", e.Batch, e.N, res)
	case ActGuards:
		flag, value, _ := strings.Cut(e.Guard, "=")
		res := r.cli(true, "", "batch", "guards", r.id(e.Batch), "--"+flag, value)
		r.logf("b%d guards --%s %s: %s", e.Batch, flag, value, res)
	case ActResolve:
		res := r.cli(true, "", "review", "resolve", "--json")
		r.logf("review resolve: %s", res)
	case ActKill:
		in := r.insts[e.Instance-1]
		in.kill()
		r.logf("i%d killed (SIGKILL); down for %v", e.Instance, time.Duration(e.For))
		time.Sleep(time.Duration(e.For))
		if err := in.start(r.ctx, time.Now().Add(time.Minute)); err != nil {
			r.broke("restart: %v", err)
		}
		r.logf("i%d started again", e.Instance)
	case ActPGRestart:
		r.logf("PostgreSQL stops for %v", time.Duration(e.For))
		down := time.Now()
		if err := r.cluster.Restart(time.Duration(e.For)); err != nil {
			r.broke("restart PostgreSQL: %v", err)
		}
		r.mu.Lock()
		r.pgDown = append(r.pgDown, window{down, time.Now().Add(pgSettle)})
		r.mu.Unlock()
		r.logf("PostgreSQL is back")
	case ActStockPause, ActStockResume, ActStockStop:
		to := map[string]wxsim.Status{ActStockPause: wxsim.StatusPaused, ActStockResume: wxsim.StatusRunning, ActStockStop: wxsim.StatusExpired}[e.Do]
		if e.Do == ActStockResume && r.stockStatus(e.Stock) != wxsim.StatusPaused {
			r.logf("stock %s not resumed: it is %s", e.Stock, r.stockStatus(e.Stock))
			return
		}
		if err := srv.SetStockStatus(e.Stock, to); err != nil {
			r.broke("stock %s: %v", e.Stock, err)
		}
		r.logf("stock %s is %s", e.Stock, to)
	case ActStockExhaust:
		for _, st := range srv.Stocks() {
			if st.ID == e.Stock {
				spec := st.StockSpec
				spec.Status = st.Status
				spec.Budget = min(spec.Budget, st.Issued+e.N)
				if err := srv.AddStock(spec); err != nil {
					r.broke("stock %s: %v", e.Stock, err)
				}
				r.logf("stock %s: budget cut to %d (%d issued)", e.Stock, spec.Budget, st.Issued)
			}
		}
	case ActFaults:
		if err := srv.SetFaults(*e.Faults); err != nil {
			r.broke("set faults: %v", err)
		}
		r.logf("faults now %s", jsonOf(*e.Faults))
	default:
		r.broke("unknown act %q", e.Do)
	}
}

func (r *run) id(batch int) string { return strconv.FormatInt(r.batches[batch-1], 10) }

func (r *run) stockStatus(id string) wxsim.Status {
	for _, st := range r.sim.Server.Stocks() {
		if st.ID == id {
			return st.Status
		}
	}
	return ""
}

// quiesce brings everything to rest: the faults stop and the limit is
// whole again, paused stocks run, every instance runs, halted and paused
// batches are resumed and get drainFor to finish; then every batch still
// open is cancelled and `review resolve` runs until it settles nothing
// more and nothing is left to send.
func (r *run) quiesce() {
	r.restore()
	grace := 2 * time.Duration(r.sc.Timeout)
	for round := 0; ; round++ {
		if round == settleRounds {
			r.finding("quiescence", "still not at rest after %d rounds of cancel and review resolve", settleRounds)
			return
		}
		r.drainAndCancel(round)
		if r.resolved(grace) {
			return
		}
	}
}

// restore turns the faults off, lets the stocks run, restarts the
// instances that are down and resumes the batches paused or halted.
func (r *run) restore() {
	srv := r.sim.Server
	if err := srv.SetFaults(wxsim.Faults{}); err != nil {
		r.fatal("clear faults: %v", err)
	}
	if err := srv.SetShape(wxsim.Shape{}); err != nil {
		r.fatal("clear shape: %v", err)
	}
	for _, st := range srv.Stocks() {
		if st.Status == wxsim.StatusPaused {
			_ = srv.SetStockStatus(st.ID, wxsim.StatusRunning)
			r.logf("quiesce: stock %s runs again", st.ID)
		}
	}
	for _, in := range r.insts {
		if alive, alone := in.running(); !alive {
			if alone {
				r.finding("instances", "i%d exited by itself: %v (see %s)", in.n, in.exitErr(), in.logf.Name())
			}
			if err := in.start(r.ctx, time.Now().Add(time.Minute)); err != nil {
				r.fatal("%v", err)
			}
		}
	}
	for i, id := range r.batches {
		if st := r.batchStatus(id); st == "paused" || st == "halted" {
			res := r.cli(true, "", "batch", "resume", strconv.FormatInt(id, 10))
			r.logf("quiesce: b%d (%s) resume: %s", i+1, st, res)
		}
	}
}

// drainAndCancel gives what is left to send its chance (a row settled
// "not issued" in a batch that had completed is sent again), then cancels
// every batch still open.
func (r *run) drainAndCancel(round int) {
	drain := drainFor
	if round > 0 {
		drain = 3 * time.Second
	}
	deadline := time.Now().Add(drain)
	for time.Now().Before(deadline) && r.toSend() > 0 {
		time.Sleep(200 * time.Millisecond)
	}
	if n := r.toSend(); n > 0 || round == 0 {
		r.logf("quiesce: drained, %d rows left to send", n)
	}
	var wg sync.WaitGroup
	for i, id := range r.batches {
		switch r.batchStatus(id) {
		case "pending", "running", "paused", "halted":
			wg.Go(func() {
				res := r.cli(true, "", "batch", "cancel", strconv.FormatInt(id, 10))
				r.logf("quiesce: b%d cancel: %s", i+1, res)
			})
		}
	}
	wg.Wait()
}

// resolved runs review resolve once and says whether everything is at
// rest, having waited before the next round when it is not.
func (r *run) resolved(grace time.Duration) bool {
	res := r.cli(true, "", "review", "resolve", "--json")
	var sum struct {
		Checked   int `json:"checked"`
		Issued    int `json:"issued"`
		NotIssued int `json:"not_issued"`
		Waiting   int `json:"waiting"`
	}
	if res.Code != 0 || json.Unmarshal([]byte(res.Stdout), &sum) != nil {
		r.logf("quiesce: review resolve: %s", res)
		time.Sleep(500 * time.Millisecond)
		return false
	}
	r.logf("quiesce: review resolve: %s", res)
	if sum.Waiting == 0 && sum.Issued == 0 && sum.NotIssued == 0 && r.atRest() {
		return true
	}
	if sum.Waiting > 0 {
		time.Sleep(grace / 2)
	} else {
		time.Sleep(300 * time.Millisecond)
	}
	return false
}

func (r *run) batchStatus(id int64) string {
	var st string
	if err := r.db.GetContext(r.ctx, &st, `SELECT status FROM batches WHERE id = $1`, id); err != nil {
		r.logf("batch %d status: %v", id, err)
	}
	return st
}

// toSend counts rows of open batches still to send.
func (r *run) toSend() int {
	var n int
	if err := r.db.GetContext(r.ctx, &n, `SELECT count(*) FROM recipients r JOIN batches b ON b.id = r.batch_id
		WHERE b.status IN ('pending', 'running') AND r.status IN ('pending', 'in_flight')`); err != nil {
		r.logf("count rows to send: %v", err)
		return 1
	}
	return n
}

// atRest: no batch open or paused or halted, nothing in flight, nothing
// pending but in batches awaiting approval.
func (r *run) atRest() bool {
	var n int
	if err := r.db.GetContext(r.ctx, &n, `SELECT
		(SELECT count(*) FROM batches WHERE status IN ('pending', 'running', 'paused', 'halted')) +
		(SELECT count(*) FROM recipients r JOIN batches b ON b.id = r.batch_id
		 WHERE r.status = 'in_flight' OR (r.status = 'pending' AND b.status <> 'awaiting_approval'))`); err != nil {
		return false
	}
	return n == 0
}

func jsonOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
