package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/internal/dbtest"
	"github.com/issuer-dev/issuer/internal/excelcsv"
)

type testBundle struct {
	schema *dbtest.Schema
	env    map[string]string
	dir    string
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	s := dbtest.New(t)
	return &testBundle{
		schema: s,
		dir:    t.TempDir(),
		env: map[string]string{
			"ISSUER_DATABASE_URL": s.URL,
			"ISSUER_WXPAY_MCHID":  "1900000109",
			"ISSUER_WXPAY_APPID":  "wx233544546545989",
		},
	}
}

type result struct {
	code           int
	stdout, stderr string
}

// issuer runs the CLI in-process, as main does, and returns its exit code.
// Nobody is at a terminal to type a password.
func (b *testBundle) issuer(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return b.issuerTyping(t, nil, stdin, args...)
}

// issuerTyping is issuer with a person at the terminal who types typed,
// one password each time one is asked for (nil: no terminal).
func (b *testBundle) issuerTyping(t *testing.T, typed []string, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	environ := make([]string, 0, len(b.env))
	for k, v := range b.env {
		environ = append(environ, k+"="+v)
	}
	e := &env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, getenv: func(k string) string { return b.env[k] },
		environ: environ, readPassword: func(string) (string, error) {
			if len(typed) == 0 {
				return "", errNoTerminal
			}
			pw := typed[0]
			typed = typed[1:]
			return pw, nil
		}}
	err := e.run(context.Background(), args)
	code := exitCode(err, &errb)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// testPassword is every test account's password.
const testPassword = "correct horse battery"

// as is b acting as the account name: it is added with role (if it is
// not there yet) and b's copy has a new API token of it in ISSUER_TOKEN.
func (b *testBundle) as(t *testing.T, name, role string) *testBundle {
	t.Helper()
	if r := b.issuer(t, testPassword+"\n", "user", "add", name, "--role", role); r.code != 0 {
		require.Contains(t, r.stderr, "already exists")
	}
	r := b.issuer(t, "", "user", "token", name)
	require.Equal(t, 0, r.code, r.stderr)
	c := *b
	c.env = maps.Clone(b.env)
	c.env["ISSUER_TOKEN"] = strings.TrimSpace(r.stdout)
	return &c
}

func (b *testBundle) write(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(b.dir, name)
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

// binaryBuild builds cmd/issuer once per test run, and only for the tests
// that need a real process (signals, SIGKILL): `go test -run TestUsage`
// builds nothing.
type binaryBuild struct {
	once sync.Once
	path string
	err  error
}

func (b *binaryBuild) get() (string, error) {
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "issuer-bin-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, "issuer")
		out, err := exec.Command("go", "build", "-o", b.path, ".").CombinedOutput()
		if err != nil {
			b.err = &buildError{out: string(out), err: err}
		}
	})
	return b.path, b.err
}

// cleanup removes the binary if one was built.
func (b *binaryBuild) cleanup() {
	b.once.Do(func() {}) // nothing builds after this
	if b.path != "" {
		os.RemoveAll(filepath.Dir(b.path))
	}
}

// theBinary is the test binary's one build; TestMain removes it.
var theBinary binaryBuild

// issuerBinary returns the path of cmd/issuer built for this test run,
// building it on first use.
func issuerBinary(t *testing.T) string {
	t.Helper()
	p, err := theBinary.get()
	require.NoError(t, err)
	return p
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

func TestMain(m *testing.M) {
	code := m.Run()
	theBinary.cleanup()
	os.Exit(code)
}

func TestUsage(t *testing.T) {
	t.Parallel()
	b := &testBundle{env: map[string]string{}}

	r := b.issuer(t, "")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "Commands:")

	r = b.issuer(t, "", "--help")
	require.Equal(t, 0, r.code)
	require.Contains(t, r.stdout, "batch export")

	r = b.issuer(t, "", "frobnicate")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, `unknown command "frobnicate"`)

	r = b.issuer(t, "", "import", "--help")
	require.Equal(t, 0, r.code)
	require.Contains(t, r.stdout, "Usage: issuer import --stock ID")

	r = b.issuer(t, "", "import", "x.csv")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "--stock is required")

	r = b.issuer(t, "", "batch", "show", "abc")
	require.Equal(t, 2, r.code)

	r = b.issuer(t, "", "version")
	require.Equal(t, 0, r.code)
	require.Contains(t, r.stdout, "issuer ")
}

func TestConfigCheck(t *testing.T) {
	t.Parallel()
	b := &testBundle{env: map[string]string{"ISSUER_DATABASE_URL": "postgres://u:hunter2@db.example/issuer"}, dir: t.TempDir()}
	b.env["ISSUER_CONFIG"] = b.write(t, "keys.yaml", newKeyFixture(t).yaml("", nil))
	r := b.issuer(t, "", "config", "check", "--offline")
	require.Equal(t, 0, r.code, r.stderr)
	require.NotContains(t, r.stdout, "hunter2")
	require.Contains(t, r.stdout, "database_url: \"postgres://u:REDACTED@db.example/issuer\"")

	cfg := b.write(t, "bad.yaml", "database_url: postgres://x/y\nissue:\n  concurency: 3\n")
	r = b.issuer(t, "", "--config", cfg, "config", "check")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, cfg+`:3: unknown key "issue.concurency" (did you mean "issue.concurrency"?)`)

	b.env["ISSUER_CONFIG"] = filepath.Join(b.dir, "missing.yaml")
	r = b.issuer(t, "", "config", "check")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "missing.yaml: no such file")
}

func TestUnreachableDatabase(t *testing.T) {
	t.Parallel()
	b := &testBundle{env: map[string]string{
		"ISSUER_DATABASE_URL": "postgres://u:pw@127.0.0.1:1/none?sslmode=disable&connect_timeout=2",
		"ISSUER_WXPAY_MCHID":  "1900000109", "ISSUER_WXPAY_APPID": "wx1",
	}, dir: t.TempDir()}
	r := b.issuer(t, "", "batch", "list")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "database postgres://u:REDACTED@127.0.0.1:1/none")
	require.Contains(t, r.stderr, "unreachable")
}

func TestMigrateAndUnmigrated(t *testing.T) {
	t.Parallel()
	s := dbtest.NewEmpty(t)
	b := &testBundle{env: map[string]string{"ISSUER_DATABASE_URL": s.URL}}
	r := b.issuer(t, "", "batch", "list")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "run `issuer migrate`")

	r = b.issuer(t, "", "migrate")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "applied migration 1 queue")
	r = b.issuer(t, "", "migrate")
	require.Equal(t, 0, r.code, r.stderr)
	require.NotContains(t, r.stdout, "applied")
}

// requireMode checks a file's permission bits.
func requireMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, want, st.Mode().Perm(), path)
}

func TestImportAndBatchCommands(t *testing.T) {
	t.Parallel()
	b := setup(t)
	olga := b.as(t, "olga", "operator")
	csvPath := b.write(t, "list.csv", "openid,coupon_value\no1,100\no2,\no1,100\n\nbad id,1\n")

	// One rejected line with the default --max-rejects 0: nothing stored.
	r := b.issuer(t, "", "import", "--stock", "9856000", "--json", csvPath)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, csvPath+`:6: openid "bad id" contains " "`)
	var rep map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
	require.Equal(t, map[string]any{"batch_id": nil, "lines": 5.0, "accepted": 2.0, "duplicates": 1.0, "repeats": 0.0, "rejected": 1.0, "blank": 1.0,
		"encoding": "utf-8", "sha256": fileSHA256(t, csvPath)}, rep, "the contract's keys, and the API's (ops.ImportAnswer)")
	r = b.issuer(t, "", "batch", "list", "--json")
	require.Equal(t, "[]\n", r.stdout)

	rejects := filepath.Join(b.dir, "rejects.csv")
	r = b.issuer(t, "", "import", csvPath, "--stock", "9856000", "--max-rejects", "1", "--rejects", rejects, "--json")
	require.Equal(t, 0, r.code, r.stderr)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
	require.NotNil(t, rep["batch_id"])
	id := strconv.Itoa(int(rep["batch_id"].(float64)))
	rej, err := os.ReadFile(rejects)
	require.NoError(t, err)
	requireMode(t, rejects, 0o640)
	require.Equal(t, excelcsv.BOM+"line,raw,reason\n6,\"bad id,1\",\"openid \"\"bad id\"\" contains \"\" \"\", not allowed\"\n", string(rej))

	// Standard input works too.
	r = b.issuer(t, "openid\no9\n", "import", "--stock", "S2", "--kind", "product", "--name", "stdin list", "-")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "(stdin list, stock S2")

	r = b.issuer(t, "", "batch", "show", id, "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var show map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &show))
	for _, k := range []string{"id", "name", "stock_id", "kind", "status", "counts"} {
		require.Contains(t, show, k)
	}
	require.Equal(t, "pending", show["status"])
	require.Equal(t, 2.0, show["counts"].(map[string]any)["pending"])

	r = b.issuer(t, "", "batch", "list")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "stdin list")

	r = b.issuer(t, "", "batch", "export", id)
	require.Equal(t, 0, r.code, r.stderr)
	require.True(t, strings.HasPrefix(r.stdout, excelcsv.BOM), "Excel reads a file without the mark as GBK")
	lines := strings.Split(strings.TrimSpace(strings.TrimPrefix(r.stdout, excelcsv.BOM)), "\n")
	require.Equal(t, "openid,out_request_no,status,outcome,coupon_id,wx_code,wx_message,attempts,last_attempt_at", lines[0])
	require.Len(t, lines, 3)
	require.Regexp(t, `^o1,1900000109\d{18},pending,,,,,0,$`, lines[1])

	out := filepath.Join(b.dir, "export.csv")
	r = b.issuer(t, "", "batch", "export", id, "-o", out)
	require.Equal(t, 0, r.code, r.stderr)
	data, err := os.ReadFile(out)
	require.NoError(t, err)
	require.Equal(t, excelcsv.BOM+strings.Join(lines, "\n")+"\n", string(data))
	requireMode(t, out, 0o640)
	r = b.issuer(t, "", "batch", "export", id, "--plain")
	require.Equal(t, strings.Join(lines, "\n")+"\n", r.stdout)
	r = b.issuer(t, "", "batch", "export", "999")
	require.NotZero(t, r.code)
	require.Empty(t, r.stdout, "an unknown batch writes nothing, not even the mark")

	missing := filepath.Join(b.dir, "no-such-dir", "export.csv")
	r = b.issuer(t, "", "batch", "export", id, "-o", missing)
	require.Equal(t, 1, r.code)
	require.Equal(t, "issuer: cannot write "+missing+": directory "+filepath.Dir(missing)+" does not exist\n", r.stderr)

	for _, step := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"batch", "pause", id}, 0, "batch " + id + " is paused"},
		{[]string{"batch", "pause", id}, 1, "batch " + id + " is already paused; resume it with `issuer batch resume " + id + "`"},
		{[]string{"batch", "resume", id}, 1, "cli:"},
		{[]string{"batch", "resume", id, "--as", "olga"}, 0, "batch " + id + " is pending"},
		{[]string{"batch", "cancel", id}, 0, "batch " + id + " is cancelled"},
		{[]string{"batch", "resume", id, "--as", "olga"}, 1, "batch " + id + " is cancelled"},
		{[]string{"batch", "show", "99"}, 1, "batch 99: not found"},
	} {
		r := b.issuer(t, "", step.args...)
		if slices.Contains(step.args, "--as") {
			r = olga.issuer(t, "", step.args...)
		}
		require.Equal(t, step.code, r.code, "%v: %s", step.args, r.stderr)
		require.Contains(t, r.stdout+r.stderr, step.want, step.args)
	}
}

func TestNewCommandsHelp(t *testing.T) {
	t.Parallel()
	b := &testBundle{env: map[string]string{}}
	for _, args := range [][]string{
		{"stock", "stop"}, {"stock", "merchants"}, {"stock", "items"}, {"coupons"}, {"callback", "show"}, {"callback", "set"},
	} {
		r := b.issuer(t, "", append(args, "--help")...)
		require.Equal(t, 0, r.code, "%v: %s", args, r.stderr)
		require.Contains(t, r.stdout+r.stderr, "issuer "+strings.Join(args, " "), args)
	}
	r := b.issuer(t, "", "callback", "--help")
	require.Equal(t, 0, r.code)
	require.Contains(t, r.stdout, "callback set")
}

// fileSHA256 is the hex SHA-256 of the file at path.
func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
