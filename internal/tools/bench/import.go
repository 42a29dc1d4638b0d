package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"

	issuer "github.com/issuer-dev/issuer"
)

// benchSchema creates a scratch schema, migrated, and returns a URL bound to
// it and a cleanup.
func benchSchema(ctx context.Context, name string) (string, *sqlx.DB, func(), error) {
	base := os.Getenv("ISSUER_DATABASE_URL")
	if base == "" {
		return "", nil, nil, fmt.Errorf("ISSUER_DATABASE_URL is not set")
	}
	admin, err := sqlx.Open("postgres", base)
	if err != nil {
		return "", nil, nil, err
	}
	schema := fmt.Sprintf("bench_%s_%d", name, time.Now().UnixNano())
	if _, err := admin.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		admin.Close()
		return "", nil, nil, err
	}
	u, _ := url.Parse(base)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	db, err := sqlx.Open("postgres", u.String())
	if err != nil {
		return "", nil, nil, err
	}
	if _, err := issuer.Migrate(ctx, db); err != nil {
		return "", nil, nil, err
	}
	cleanup := func() {
		db.Close()
		_, _ = admin.ExecContext(context.Background(), `DROP SCHEMA `+schema+` CASCADE`)
		admin.Close()
	}
	return u.String(), db, cleanup, nil
}

func benchImport(ctx context.Context, args []string) error {
	fs := flagSet("import")
	rows := fs.Int("rows", 1_000_000, "recipients in the big file")
	small := fs.Int("small", 100_000, "recipients in the small file (RSS flatness)")
	bin := fs.String("bin", "bin/issuer", "issuer binary")
	_ = fs.Parse(args)

	dir, err := os.MkdirTemp("", "issuer-bench-import-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	fmt.Printf("\n## Import: %d-row CSV → queue (vs psql \\copy of the same rows into a recipients-shaped table)\n\n", *rows)
	type run struct {
		n                  int
		imp, psqlCpy, bare measurement
	}
	var runs []run
	for _, n := range []int{*small, *rows} {
		csvPath := filepath.Join(dir, fmt.Sprintf("r%d.csv", n))
		copyPath := filepath.Join(dir, fmt.Sprintf("r%d.copy", n))
		if _, err := measure(ctx, nil, "go", "run", "./internal/tools/sample", "-n", fmt.Sprint(n), "-o", csvPath, "-copy", copyPath, "-seed", "7"); err != nil {
			return err
		}
		dbURL, db, cleanup, err := benchSchema(ctx, "import")
		if err != nil {
			return err
		}
		env := []string{"ISSUER_DATABASE_URL=" + dbURL, "ISSUER_WXPAY_MCHID=1900000109", "ISSUER_WXPAY_APPID=wx233544546545989", "ISSUER_CONFIG="}
		imp, err := measure(ctx, env, *bin, "import", "--stock", "9856000", "--json", csvPath)
		if err != nil {
			cleanup()
			return err
		}
		// The same rows, already shaped, into a table with recipients'
		// columns, defaults, checks and indexes (keyed), and into one with
		// its columns, defaults and generated columns only (bare).
		if _, err := db.ExecContext(ctx, `CREATE TABLE copy_target (LIKE recipients INCLUDING ALL);
			CREATE TABLE copy_bare (LIKE recipients INCLUDING DEFAULTS INCLUDING GENERATED)`); err != nil {
			cleanup()
			return err
		}
		psqlURL, psqlEnv := psqlTarget(dbURL)
		var cps []measurement
		for _, table := range []string{"copy_target", "copy_bare"} {
			cp, err := measure(ctx, psqlEnv, "psql", psqlURL, "-v", "ON_ERROR_STOP=1", "-c",
				`\copy `+table+` (batch_id, mchid, openid, out_request_no, source_line) FROM '`+copyPath+`' WITH (FORMAT csv)`)
			if err != nil {
				cleanup()
				return err
			}
			cps = append(cps, cp)
		}
		cleanup()
		runs = append(runs, run{n: n, imp: imp, psqlCpy: cps[0], bare: cps[1]})
	}
	fmt.Printf("| rows | issuer import | rows/s | psql \\copy keyed | ratio | psql \\copy bare | ratio | import peak RSS | import CPU |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range runs {
		fmt.Printf("| %d | %.2f s | %.0f | %.2f s | %.2f× | %.2f s | %.2f× | %s | %.2f s |\n", r.n, r.imp.wall.Seconds(),
			float64(r.n)/r.imp.wall.Seconds(), r.psqlCpy.wall.Seconds(), r.imp.wall.Seconds()/r.psqlCpy.wall.Seconds(),
			r.bare.wall.Seconds(), r.imp.wall.Seconds()/r.bare.wall.Seconds(), mib(r.imp.maxRSS), r.imp.cpu().Seconds())
	}
	fmt.Printf("\nKeyed: recipients' columns, defaults, keys, indexes and CHECKs; bare: columns, defaults and generated columns only.\n")
	fmt.Printf("RSS %s at %d rows vs %s at %d rows (the openid fingerprint set grows by 4 to 11 bytes a distinct openid).\n",
		mib(runs[0].imp.maxRSS), runs[0].n, mib(runs[1].imp.maxRSS), runs[1].n)
	return nil
}

// psqlTarget moves search_path, which libpq does not accept in a URL, into
// PGOPTIONS.
func psqlTarget(s string) (string, []string) {
	u, _ := url.Parse(s)
	q := u.Query()
	sp := q.Get("search_path")
	q.Del("search_path")
	u.RawQuery = q.Encode()
	return u.String(), []string{"PGOPTIONS=-c search_path=" + sp}
}
