package campaign

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/issuer-dev/issuer/queue"
	"github.com/issuer-dev/issuer/report"
)

// view is a batch's counts as one of its views shows them.
type view struct {
	counts  map[string]int // by recipient status, zeros left out
	inDoubt int
}

func (v view) String() string {
	return fmt.Sprintf("%v in doubt %d", v.counts, v.inDoubt)
}

func (v view) equal(o view) bool { return maps.Equal(v.counts, o.counts) && v.inDoubt == o.inDoubt }

func nonZero(m map[string]int) map[string]int {
	out := map[string]int{}
	for k, n := range m {
		if n != 0 {
			out[k] = n
		}
	}
	return out
}

// checkViews checks views-agree: for each batch, `batch show --json`, the
// HTTP API's GET /api/v1/batches/{id} (as the operator, with her token),
// and `report batch` as text, CSV and xlsx give the same count of rows by
// status as the rows themselves, and the same count in doubt (the xlsx
// summary counts the rows in doubt apart from the other pending and review
// rows, and its classes add up to the batch's recipients).
func (r *run) checkViews(c *checker) {
	var addr string
	for _, in := range r.insts {
		if alive, _ := in.running(); alive {
			addr = in.httpAddr()
			break
		}
	}
	for _, id := range r.batches {
		truth := view{counts: map[string]int{}}
		var rows []struct {
			Status  string `db:"status"`
			N       int    `db:"n"`
			InDoubt int    `db:"in_doubt"`
		}
		if err := r.db.SelectContext(r.ctx, &rows, `SELECT status, count(*) AS n, count(*) FILTER (WHERE in_doubt) AS in_doubt
			FROM recipients WHERE batch_id = $1 GROUP BY status`, id); err != nil {
			r.fatal("count rows: %v", err)
		}
		// The xlsx summary classes the rows instead: those in doubt
		// (pending or in review) apart from the rest of pending and review.
		classes := view{counts: map[string]int{}}
		for _, x := range rows {
			truth.counts[x.Status] = x.N
			truth.inDoubt += x.InDoubt
			classes.counts[x.Status] = x.N - x.InDoubt
			classes.inDoubt += x.InDoubt
		}
		classes.counts = nonZero(classes.counts)
		readers := map[string]func(int64) (view, error){
			"batch show":  r.showView,
			"report text": r.textView,
			"report csv":  r.csvView,
			"report xlsx": r.xlsxView,
		}
		if addr != "" {
			readers["API GET /api/v1/batches/{id}"] = func(id int64) (view, error) { return r.apiView(addr, id) }
		}
		type seen struct {
			name string
			v    view
			err  error
		}
		out := make(chan seen, len(readers))
		var wg sync.WaitGroup
		for name, read := range readers {
			wg.Go(func() {
				v, err := read(id)
				out <- seen{name, v, err}
			})
		}
		wg.Wait()
		close(out)
		for s := range out {
			if s.err != nil {
				c.check("views-agree", false, "batch %d: %s: %v", id, s.name, s.err)
				continue
			}
			want := truth
			if s.name == "report xlsx" {
				want = classes
			}
			c.check("views-agree", s.v.equal(want), "batch %d: %s shows %s; the rows are %s", id, s.name, s.v, want)
		}
	}
}

// batchJSON is the part of the batch object the views compare.
type batchJSON struct {
	Counts  map[string]int `json:"counts"`
	InDoubt int            `json:"in_doubt"`
}

func (r *run) showView(id int64) (view, error) {
	res := r.cli(true, "", "batch", "show", strconv.FormatInt(id, 10), "--json")
	if res.Code != 0 {
		return view{}, fmt.Errorf("%s", res)
	}
	var b batchJSON
	if err := json.Unmarshal([]byte(res.Stdout), &b); err != nil {
		return view{}, err
	}
	return view{counts: nonZero(b.Counts), inDoubt: b.InDoubt}, nil
}

func (r *run) apiView(addr string, id int64) (view, error) {
	ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/api/v1/batches/%d", addr, id), nil)
	if err != nil {
		return view{}, err
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return view{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return view{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return view{}, fmt.Errorf("%s: %s", resp.Status, body)
	}
	var b batchJSON
	if err := json.Unmarshal(body, &b); err != nil {
		return view{}, err
	}
	return view{counts: nonZero(b.Counts), inDoubt: b.InDoubt}, nil
}

// recipientsLine is the text report's head: "Recipients N from F: pending
// 0, in_flight 0, …; in doubt D (…)".
var recipientsLine = regexp.MustCompile(`(?m)^Recipients \d+ from .*?: (.*); in doubt (\d+)`)

func (r *run) textView(id int64) (view, error) {
	res := r.cli(true, "", "report", "batch", strconv.FormatInt(id, 10), "--format", "text")
	if res.Code != 0 {
		return view{}, fmt.Errorf("%s", res)
	}
	m := recipientsLine.FindStringSubmatch(res.Stdout)
	if m == nil {
		return view{}, fmt.Errorf("no Recipients line in %q", res.Stdout)
	}
	v := view{counts: map[string]int{}}
	for _, part := range strings.Split(m[1], ", ") {
		st, n, ok := strings.Cut(part, " ")
		k, err := strconv.Atoi(n)
		if !ok || err != nil {
			return view{}, fmt.Errorf("recipients %q", m[1])
		}
		v.counts[st] = k
	}
	v.inDoubt, _ = strconv.Atoi(m[2])
	v.counts = nonZero(v.counts)
	return v, nil
}

func (r *run) csvView(id int64) (view, error) {
	path := filepath.Join(r.dir, fmt.Sprintf("batch-%d.csv", id))
	res := r.cli(true, "", "report", "batch", strconv.FormatInt(id, 10), "--format", "csv", "--plain", "-o", path)
	if res.Code != 0 {
		return view{}, fmt.Errorf("%s", res)
	}
	f, err := os.Open(path)
	if err != nil {
		return view{}, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return view{}, err
	}
	if len(recs) == 0 {
		return view{}, fmt.Errorf("empty csv")
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	v := view{counts: map[string]int{}}
	for _, rec := range recs[1:] {
		v.counts[rec[col["status"]]]++
		if rec[col["in_doubt"]] == "true" {
			v.inDoubt++
		}
	}
	return v, nil
}

// xlsxView reads the Summary sheet's line of the batch: its recipients
// by class — in doubt, and by status the rest (pending, issued, failed,
// review, cancelled; none are in flight at rest).
func (r *run) xlsxView(id int64) (view, error) {
	path := filepath.Join(r.dir, fmt.Sprintf("batch-%d.xlsx", id))
	res := r.cli(true, "", "report", "batch", strconv.FormatInt(id, 10), "--format", "xlsx", "-o", path)
	if res.Code != 0 {
		return view{}, fmt.Errorf("%s", res)
	}
	f, err := excelize.OpenFile(path)
	if err != nil {
		return view{}, err
	}
	defer f.Close()
	rows, err := f.GetRows(report.SheetSummary, excelize.Options{RawCellValue: true})
	if err != nil {
		return view{}, err
	}
	fields := report.Fields(report.SummaryColumns)
	for i, row := range rows {
		if len(row) == 0 || row[0] != report.TitlePerBatch || i+1 >= len(rows) {
			continue
		}
		header := rows[i+1]
		for _, line := range rows[i+2:] {
			if len(line) == 0 {
				break
			}
			m := map[string]string{}
			for j, h := range header {
				if j < len(line) {
					m[fields[h]] = line[j]
				}
			}
			if m["batch_id"] != strconv.FormatInt(id, 10) {
				continue
			}
			v := view{counts: map[string]int{}}
			for _, st := range []string{queue.StatusPending, queue.StatusIssued, queue.StatusFailed, queue.StatusReview, queue.StatusCancelled} {
				v.counts[st], _ = strconv.Atoi(m[st])
			}
			v.inDoubt, _ = strconv.Atoi(m["in_doubt"])
			total, _ := strconv.Atoi(m["recipients"])
			sum := v.inDoubt
			for _, n := range v.counts {
				sum += n
			}
			if sum != total {
				return view{}, fmt.Errorf("summary line %v: its statuses add up to %d, its recipients are %d", m, sum, total)
			}
			v.counts = nonZero(v.counts)
			return v, nil
		}
	}
	return view{}, fmt.Errorf("no line for batch %d in the Summary sheet", id)
}
