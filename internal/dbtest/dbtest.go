// Package dbtest gives each test its own PostgreSQL schema in the database
// named by ISSUER_DATABASE_URL, migrated to the current schema.sql and
// dropped when the test ends, so packages and tests run in parallel against
// one real server. `make test` starts an ephemeral server and sets the URL.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // the postgres driver
	"github.com/stretchr/testify/require"

	issuer "github.com/issuer-dev/issuer"
)

// BaseURL returns ISSUER_DATABASE_URL or fails the test with what to do.
func BaseURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("ISSUER_DATABASE_URL")
	if u == "" {
		tb.Fatal("ISSUER_DATABASE_URL is not set: run tests with `make test` " +
			"(it starts an ephemeral PostgreSQL) or point it at a scratch database")
	}
	return u
}

// Schema is one test's private schema.
type Schema struct {
	Name string
	// URL connects with search_path set to the schema, for subprocesses.
	URL string
	DB  *sqlx.DB
}

// New creates a fresh, migrated schema and a pool bound to it.
func New(tb testing.TB) *Schema {
	tb.Helper()
	s := NewEmpty(tb)
	_, err := issuer.Migrate(context.Background(), s.DB)
	require.NoError(tb, err)
	return s
}

// NewEmpty creates a fresh schema without migrating it.
func NewEmpty(tb testing.TB) *Schema {
	tb.Helper()
	base := BaseURL(tb)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])

	admin, err := sqlx.Open("postgres", base)
	require.NoError(tb, err)
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = admin.ExecContext(ctx, `CREATE SCHEMA `+name)
	require.NoError(tb, err)

	u, err := url.Parse(base)
	require.NoError(tb, err)
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()

	db, err := sqlx.Open("postgres", u.String())
	require.NoError(tb, err)
	db.SetMaxOpenConns(20)
	tb.Cleanup(func() {
		db.Close()
		admin, err := sqlx.Open("postgres", base)
		if err != nil {
			return
		}
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = admin.ExecContext(ctx, `DROP SCHEMA IF EXISTS `+name+` CASCADE`)
	})
	return &Schema{Name: name, URL: u.String(), DB: db}
}

// ForExample is New for an Example function, which has no *testing.T (the
// way River's examples get their schema): it panics where a test would
// fail, and done drops the schema.
func ForExample() (s *Schema, done func()) {
	tb := &exampleTB{}
	s = New(tb)
	return s, func() {
		for i := len(tb.cleanups) - 1; i >= 0; i-- {
			tb.cleanups[i]()
		}
	}
}

// exampleTB is the part of testing.TB that New uses, for an example.
type exampleTB struct {
	testing.TB // nil: any other method panics
	cleanups   []func()
}

func (*exampleTB) Helper()                        {}
func (t *exampleTB) Cleanup(f func())             { t.cleanups = append(t.cleanups, f) }
func (*exampleTB) Errorf(format string, a ...any) { panic(fmt.Sprintf(format, a...)) }
func (*exampleTB) Fatal(a ...any)                 { panic(fmt.Sprint(a...)) }
func (*exampleTB) Fatalf(format string, a ...any) { panic(fmt.Sprintf(format, a...)) }
func (*exampleTB) FailNow()                       { panic("dbtest: failed") }
