// Package issuer holds the database schema and its migrator; the program
// lives in cmd/issuer and the work in the queue, jobs, wxpay and ratelimit
// packages. See ARCHITECTURE.md for how data flows between them.
package issuer

import (
	"context"
	_ "embed"
	"fmt"
	"regexp"
	"strconv"

	"github.com/jmoiron/sqlx"
)

//go:embed schema.sql
var schemaSQL string

// Migration is one versioned section of schema.sql.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

var migrationHeader = regexp.MustCompile(`(?m)^-- migration: (\d+) (\S+)\s*$`)

// Migrations parses schema.sql into its versions, in order.
func Migrations() ([]Migration, error) {
	locs := migrationHeader.FindAllStringSubmatchIndex(schemaSQL, -1)
	var out []Migration
	for i, loc := range locs {
		end := len(schemaSQL)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		v, _ := strconv.Atoi(schemaSQL[loc[2]:loc[3]])
		if v != i+1 {
			return nil, fmt.Errorf("schema.sql: migration %d out of order (want %d)", v, i+1)
		}
		out = append(out, Migration{Version: v, Name: schemaSQL[loc[4]:loc[5]], SQL: schemaSQL[loc[1]:end]})
	}
	return out, nil
}

// migrateLock is the advisory lock key that serialises concurrent migrators.
const migrateLock = 0x15_50_e2

// Migrate applies the versions of schema.sql not yet applied, all in one
// transaction, and returns the versions it applied. Safe to run from
// several processes at once and to re-run.
func Migrate(ctx context.Context, db *sqlx.DB) ([]Migration, error) {
	migs, err := Migrations()
	if err != nil {
		return nil, err
	}
	return migrate(ctx, db, migs)
}

func migrate(ctx context.Context, db *sqlx.DB, migs []Migration) ([]Migration, error) {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLock); err != nil {
		return nil, fmt.Errorf("migrate: lock: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var current int
	if err := tx.GetContext(ctx, &current, `SELECT coalesce(max(version), 0) FROM schema_migrations`); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	if current > len(migs) {
		return nil, fmt.Errorf("migrate: database is at version %d, newer than this binary's %d", current, len(migs))
	}
	var applied []Migration
	for _, m := range migs[current:] {
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return nil, fmt.Errorf("migrate: version %d %s: %w", m.Version, m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		applied = append(applied, m)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("migrate: commit: %w", err)
	}
	return applied, nil
}

// SchemaVersion is the latest version in schema.sql.
func SchemaVersion() int {
	migs, _ := Migrations()
	return len(migs)
}
