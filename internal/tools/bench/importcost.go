package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// costVariant is one shape of the COPY target: the bare table (recipients'
// columns and defaults, no index, no CHECK) plus some of recipients'
// indexes and checks.
type costVariant struct {
	name string
	ddl  []string // run after creating the bare table
}

// recipientsExtras are recipients' indexes and CHECKs, one statement each,
// as schema.sql declares them.
var recipientsExtras = []struct{ name, ddl string }{
	{"primary key (id)", `ALTER TABLE t ADD PRIMARY KEY (id)`},
	{"unique (batch_id, openid)", `ALTER TABLE t ADD UNIQUE (batch_id, openid)`},
	{"unique (mchid, out_request_no)", `ALTER TABLE t ADD UNIQUE (mchid, out_request_no)`},
	{"claim index (batch_id, next_attempt_at, id) WHERE pending", `CREATE INDEX ON t (batch_id, next_attempt_at, id) WHERE status = 'pending'`},
	{"lease index WHERE in_flight", `CREATE INDEX ON t (lease_expires_at) WHERE status = 'in_flight'`},
	{"coupon index WHERE coupon_id IS NOT NULL", `CREATE INDEX ON t (coupon_id) WHERE coupon_id IS NOT NULL`},
	{"index (batch_id, status)", `CREATE INDEX ON t (batch_id, status)`},
	{"CHECK openid pattern and length", `ALTER TABLE t ADD CHECK (openid ~ '^[A-Za-z0-9_-]+$' AND length(openid) <= 128)`},
	{"CHECK out_request_no pattern and length", `ALTER TABLE t ADD CHECK (out_request_no ~ '^[0-9A-Za-z_|*-]+$' AND length(out_request_no) <= 128)`},
	{"other CHECKs (status, values, lease, issued)", `ALTER TABLE t ADD CHECK (coupon_value > 0), ADD CHECK (coupon_minimum > 0),
		ADD CHECK (coupon_type IN ('NORMAL', 'MEMBER')),
		ADD CHECK (status IN ('pending', 'in_flight', 'issued', 'failed', 'review')),
		ADD CHECK ((status = 'in_flight') = (lease_expires_at IS NOT NULL)),
		ADD CHECK (status <> 'issued' OR coupon_id IS NOT NULL OR coupon_code IS NOT NULL OR outcome = 'already_issued')`},
}

// benchImportCosts times psql \copy of the same rows into the bare table
// and into the bare table plus each of recipients' indexes and CHECKs, so
// that what each costs an import is measured rather than guessed.
func benchImportCosts(ctx context.Context, args []string) error {
	fs := flagSet("import-costs")
	rows := fs.Int("rows", 1_000_000, "rows copied")
	rounds := fs.Int("rounds", 3, "copies of each variant; the table shows the median")
	_ = fs.Parse(args)

	dir, err := os.MkdirTemp("", "issuer-bench-importcost-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	csvPath := filepath.Join(dir, "r.csv")
	copyPath := filepath.Join(dir, "r.copy")
	if _, err := measure(ctx, nil, "go", "run", "./internal/tools/sample", "-n", fmt.Sprint(*rows), "-o", csvPath, "-copy", copyPath, "-seed", "7"); err != nil {
		return err
	}
	dbURL, db, cleanup, err := benchSchema(ctx, "importcost")
	if err != nil {
		return err
	}
	defer cleanup()
	psqlURL, psqlEnv := psqlTarget(dbURL)

	variants := []costVariant{{name: "bare (columns and defaults only)"}}
	var all []string
	for _, x := range recipientsExtras {
		variants = append(variants, costVariant{name: "bare + " + x.name, ddl: []string{x.ddl}})
		all = append(all, x.ddl)
	}
	variants = append(variants, costVariant{name: "everything recipients has", ddl: all})

	copyOnce := func(v costVariant) (time.Duration, error) {
		for _, q := range []string{`DROP TABLE IF EXISTS t`, `CREATE TABLE t (LIKE recipients INCLUDING DEFAULTS)`} {
			if _, err := db.ExecContext(ctx, q); err != nil {
				return 0, err
			}
		}
		for _, q := range v.ddl {
			if _, err := db.ExecContext(ctx, q); err != nil {
				return 0, fmt.Errorf("%s: %w", v.name, err)
			}
		}
		if _, err := db.ExecContext(ctx, `CHECKPOINT`); err != nil {
			return 0, err
		}
		m, err := measure(ctx, psqlEnv, "psql", psqlURL, "-v", "ON_ERROR_STOP=1", "-c",
			`\copy t (batch_id, mchid, openid, out_request_no, source_line) FROM '`+copyPath+`' WITH (FORMAT csv)`)
		return m.wall, err
	}
	medians := make([]time.Duration, len(variants))
	// Rounds go over all variants in turn, so that the machine's load
	// drifting during the run touches every variant alike.
	times := make([][]time.Duration, len(variants))
	for range *rounds {
		for i, v := range variants {
			d, err := copyOnce(v)
			if err != nil {
				return err
			}
			times[i] = append(times[i], d)
		}
	}
	for i := range variants {
		slices.Sort(times[i])
		medians[i] = times[i][len(times[i])/2]
	}
	fmt.Printf("\n## What each of recipients' indexes and CHECKs costs a %d-row psql \\copy (median of %d)\n\n", *rows, *rounds)
	fmt.Printf("| target | copy | added to bare | share of the keyed copy |\n|---|---:|---:|---:|\n")
	bare, keyed := medians[0], medians[len(medians)-1]
	for i, v := range variants {
		added := medians[i] - bare
		fmt.Printf("| %s | %.2f s | %+d ms | %.0f%% |\n", v.name, medians[i].Seconds(), added.Milliseconds(), 100*added.Seconds()/keyed.Seconds())
	}
	return nil
}
