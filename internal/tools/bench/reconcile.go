package main

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/issuer-dev/issuer/jobs"
	"github.com/issuer-dev/issuer/wxpay"
)

// benchReconcile is P4: parse and load a use-flow file, against psql \copy
// of the same rows into a table shaped like flow_uses, and issuer's memory
// at two file sizes. It also times the next night's load of the same file
// with one more row: files are cumulative, so that is the common case.
func benchReconcile(ctx context.Context, args []string) error {
	fs := flagSet("reconcile")
	rows := fs.Int("rows", 1_000_000, "rows in the big use-flow file")
	small := fs.Int("small", 100_000, "rows in the small file (RSS flatness)")
	_ = fs.Parse(args)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "issuer-bench-reconcile-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	fmt.Printf("\n## P4 reconcile: parse + load a %d-row use-flow file (vs psql \\copy of the same rows into a flow_uses-shaped table)\n\n", *rows)
	type run struct {
		n              int
		load, psqlCopy measurement
		next           measurement
	}
	var runs []run
	for _, n := range []int{*small, *rows} {
		day1 := filepath.Join(dir, fmt.Sprintf("use-%d.csv", n))
		day2 := filepath.Join(dir, fmt.Sprintf("use-%d-next.csv", n))
		copyPath := filepath.Join(dir, fmt.Sprintf("use-%d.copy", n))
		// In a child: a measured child inherits the peak RSS of the process
		// that started it (Linux keeps the high-water mark across exec).
		if _, err := measure(ctx, nil, self, "reconcile-gen", "--rows", fmt.Sprint(n), "--day1", day1, "--day2", day2, "--copy", copyPath); err != nil {
			return err
		}
		dbURL, db, cleanup, err := benchSchema(ctx, "reconcile")
		if err != nil {
			return err
		}
		env := []string{"ISSUER_DATABASE_URL=" + dbURL}
		load, err := measure(ctx, env, self, "reconcile-load", "--file", day1, "--date", "2025-03-01")
		if err != nil {
			cleanup()
			return err
		}
		next, err := measure(ctx, env, self, "reconcile-load", "--file", day2, "--date", "2025-03-02")
		if err != nil {
			cleanup()
			return err
		}
		// The same rows, already shaped, into a table with flow_uses'
		// columns, checks and primary key.
		if _, err := db.ExecContext(ctx, `CREATE TABLE copy_target (LIKE flow_uses INCLUDING ALL)`); err != nil {
			cleanup()
			return err
		}
		psqlURL, psqlEnv := psqlTarget(dbURL)
		cp, err := measure(ctx, psqlEnv, "psql", psqlURL, "-v", "ON_ERROR_STOP=1", "-c",
			`\copy copy_target (`+strings.Join(useColumns, ", ")+`) FROM '`+copyPath+`' WITH (FORMAT csv)`)
		cleanup()
		if err != nil {
			return err
		}
		runs = append(runs, run{n: n, load: load, psqlCopy: cp, next: next})
	}
	fmt.Printf("| rows | issuer parse + load | rows/s | psql \\copy | ratio | peak RSS | CPU | next night (+1 row) |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range runs {
		fmt.Printf("| %d | %.2f s | %.0f | %.2f s | %.2f× | %s | %.2f s | %.2f s |\n", r.n, r.load.wall.Seconds(),
			float64(r.n)/r.load.wall.Seconds(), r.psqlCopy.wall.Seconds(), r.load.wall.Seconds()/r.psqlCopy.wall.Seconds(),
			mib(r.load.maxRSS), r.load.cpu().Seconds(), r.next.wall.Seconds())
	}
	fmt.Printf("\nRSS %s at %d rows vs %s at %d rows: flat in file size. The next night's file repeats every row and\n"+
		"adds one: it is staged and merged (INSERT … ON CONFLICT DO NOTHING), %d new row.\n",
		mib(runs[0].load.maxRSS), runs[0].n, mib(runs[1].load.maxRSS), runs[1].n, 1)
	return nil
}

var useColumns = []string{"stock_id", "coupon_id", "transaction_id", "used_at", "coupon_type", "amount", "order_amount",
	"trade_type", "consume_mchid", "device_no", "bank_serial_no", "goods_info", "file_id", "line", "first_date"}

const benchStock = "9856000"

// writeUseFlow writes n redemptions as WeChat Pay's use-flow file (day1),
// the next day's file with one more (day2), and the same n rows as psql
// \copy input for a flow_uses-shaped table.
func writeUseFlow(day1, day2, copyPath string, n int) error {
	r := rand.New(rand.NewPCG(7, 11))
	start := time.Date(2025, 2, 1, 9, 0, 0, 0, time.FixedZone("CST", 8*3600))
	rows := make([]wxpay.FlowRow, n+1)
	for i := range rows {
		mchid := "1900000109"
		if i%97 == 0 {
			mchid = "" // 消耗商户号 can be empty
		}
		goods := ""
		if i%50 == 0 {
			goods = fmt.Sprintf("商品%d,数量%d", r.IntN(1000), 1+r.IntN(5))
		}
		rows[i] = wxpay.FlowRow{
			StockID: benchStock, CouponID: fmt.Sprint(10_000_000_000 + i), CouponType: "全场代金券",
			Amount: 500, OrderAmount: 5000 + r.Int64N(20_000), TradeType: "支付",
			TransactionID: fmt.Sprintf("42000%05d20250201%013d", r.IntN(100_000), i),
			Time:          start.Add(time.Duration(i) * 2 * time.Second), MchID: mchid, GoodsInfo: goods,
		}
	}
	write := func(path string, rows []wxpay.FlowRow) error {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := wxpay.WriteFlowFile(f, wxpay.FlowUse, rows); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	if err := write(day1, rows[:n]); err != nil {
		return err
	}
	if err := write(day2, rows); err != nil {
		return err
	}
	f, err := os.Create(copyPath)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	q := func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` } // "" is '' in COPY CSV, not NULL
	for i, row := range rows[:n] {
		fmt.Fprintf(w, "%s,%s,%s,%s,%s,%d,%d,%s,%s,%s,%s,%s,1,%d,2025-03-01\n", row.StockID, row.CouponID, row.TransactionID,
			row.Time.Format(time.RFC3339), q(row.CouponType), row.Amount, row.OrderAmount, q(row.TradeType), q(row.MchID),
			q(row.DeviceNo), q(row.BankSerialNo), q(row.GoodsInfo), i+2)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// reconcileChild runs reconcile-gen, which writes the files, or
// reconcile-load, the measured child: what `issuer reconcile` does with a
// verified download — hash, record, parse and load it.
func reconcileChild(ctx context.Context, name string, args []string) error {
	fs := flagSet(name)
	path := fs.String("file", "", "use-flow file to load")
	date := fs.String("date", "", "day to load it for")
	rows := fs.Int("rows", 0, "rows to generate")
	day1 := fs.String("day1", "", "generated use-flow file")
	day2 := fs.String("day2", "", "generated next day's file")
	copyPath := fs.String("copy", "", "generated psql \\copy input")
	_ = fs.Parse(args)
	if name == "reconcile-gen" {
		return writeUseFlow(*day1, *day2, *copyPath, *rows)
	}
	db, err := sqlx.Open("postgres", os.Getenv("ISSUER_DATABASE_URL"))
	if err != nil {
		return err
	}
	defer db.Close()
	f, err := os.Open(*path)
	if err != nil {
		return err
	}
	h := sha1.New()
	n, err := io.Copy(h, f)
	f.Close()
	if err != nil {
		return err
	}
	ff := &jobs.FlowFile{StockID: benchStock, Kind: wxpay.FlowUse, Date: *date, SHA1: hex.EncodeToString(h.Sum(nil)),
		Path: *path, Bytes: n, DownloadedAt: time.Now()}
	changed, err := jobs.LoadFlowFile(ctx, db, ff)
	if err != nil {
		return err
	}
	if !changed {
		return errors.New("nothing loaded")
	}
	fmt.Printf("%d rows, %d new\n", ff.Rows, ff.NewRows)
	return nil
}
