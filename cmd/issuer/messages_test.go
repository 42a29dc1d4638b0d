package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/internal/simtest"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

// What a new user types wrong gets an answer that says what to do.
func TestMessagesWithoutDatabase(t *testing.T) {
	t.Parallel()
	b := &testBundle{env: map[string]string{}, dir: t.TempDir()}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string // the whole of it
	}{
		{"Typo", []string{"imprt", "list.csv", "--stock", "1"}, 2,
			"issuer: unknown command \"imprt\" (did you mean import?); issuer --help lists the commands\n"},
		{"TypoInGroup", []string{"batch", "lst"}, 2, "issuer: unknown command \"batch lst\" (did you mean batch list?)\n"},
		{"NoSuchCommand", []string{"frobnicate", "now"}, 2,
			"issuer: unknown command \"frobnicate\"; issuer --help lists the commands\n"},
		{"FlagBeforeCommand", []string{"--stock", "1", "import"}, 2,
			"issuer: unknown flag --stock; a command's flags go after the command (issuer COMMAND --help lists them)\n"},
		{"PDF", []string{"report", "batch", "1", "-o", "report.pdf"}, 2,
			"issuer: report batch: -o report.pdf: issuer writes no .pdf files; use a .txt, .csv or .xlsx name, or give --format\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := b.issuer(t, "", tc.args...)
			require.Equal(t, tc.code, r.code)
			require.Equal(t, tc.stderr, r.stderr)
			require.Empty(t, r.stdout)
		})
	}

	// Flags are shown as they are typed.
	r := b.issuer(t, "", "import", "--help")
	require.Equal(t, 0, r.code)
	require.Contains(t, r.stdout, "\n  --stock string\n")
	require.Contains(t, r.stdout, "\n  --max-rejects int\n")
	require.Contains(t, r.stdout, `(default "favor")`)
	require.NotContains(t, r.stdout, "\n  -stock")
	r = b.issuer(t, "", "import", "--stok", "1", "x.csv")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "issuer: import: unknown flag --stok\n")
	require.Contains(t, b.issuer(t, "", "report", "batch", "--help").stdout, "\n  -o FILE\n")
}

func TestVersion(t *testing.T) {
	t.Parallel()
	stamped := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "866efec0a1b2c3d4e5f6"}, {Key: "vcs.time", Value: "2026-03-01T10:00:00Z"},
		{Key: "vcs.modified", Value: "true"}}}
	for _, tc := range []struct {
		linked string
		info   *debug.BuildInfo
		want   string
	}{
		{"v1.4.0", stamped, "v1.4.0"},
		{"", stamped, "devel-866efec0a1b2-dirty 2026-03-01T10:00:00Z"},
		{"", &debug.BuildInfo{Main: debug.Module{Version: "v1.3.2"}}, "v1.3.2"},
		{"", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "devel"},
	} {
		require.Equal(t, tc.want, versionOf(tc.linked, tc.info, true))
	}
	r := (&testBundle{env: map[string]string{}}).issuer(t, "", "version")
	require.Equal(t, 0, r.code)
	require.Regexp(t, `^issuer \S.* \(go1\.\d+.* \w+/\w+\)\n$`, r.stdout)
}

// Ctrl-C is exit 130 whatever the command made of it; SIGTERM stops the
// daemon cleanly.
func TestInterrupted(t *testing.T) {
	t.Parallel()
	intr, term := &signalled{sig: os.Interrupt}, &signalled{sig: syscall.SIGTERM}
	other := errors.New("database gone")
	for _, tc := range []struct {
		cause, err error
		code       int
	}{
		{nil, nil, 0},
		{intr, nil, 130},
		{intr, context.Canceled, 130},
		{intr, fmt.Errorf("%w; in-flight calls finished and were recorded", errInterrupted), 130},
		{intr, other, 1},
		{term, nil, 0},
		{term, fmt.Errorf("claim: %w", context.Canceled), 130},
	} {
		var stderr strings.Builder
		require.Equal(t, tc.code, exitCode(afterSignal(tc.cause, tc.err), &stderr), "%v %v", tc.cause, tc.err)
		if tc.code == 130 {
			require.True(t, strings.HasPrefix(stderr.String(), "issuer: interrupted"), stderr.String())
		}
	}
}

// A pass that halts a batch exits 1 and says what to do; issuing a paused
// batch says it is paused.
func TestIssueSaysWhatToDo(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sim := simtest.Start(t, wxsim.Options{
		Stocks: []wxsim.StockSpec{{ID: "9856001", Kind: wxsim.KindFavor, Budget: 2, CouponValue: 500, CouponMinimum: 5000}},
		Seed:   3,
	})
	maps.Copy(b.env, sim.Env())
	r := b.issuer(t, "openid\noA\noB\noC\noD\n", "import", "--stock", "9856001", "-")
	require.Equal(t, 0, r.code, r.stderr)

	r = b.issuer(t, "", "issue")
	require.Equal(t, 1, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, "HALTED batch 1: budget_exhausted")
	require.Contains(t, r.stderr, "issuer: issue: the pass halted 1 batch:\n  batch 1 is halted (budget_exhausted")
	require.Contains(t, r.stderr, "top up the stock's budget on the WeChat Pay merchant platform, then `issuer batch resume 1`\n")

	r = b.issuer(t, "", "issue", "--batch", "1")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "issuer: issue: batch 1 is halted (budget_exhausted")

	r = b.as(t, "olga", "operator").issuer(t, "", "batch", "resume", "1")
	require.Equal(t, 0, r.code, r.stderr)
	r = b.issuer(t, "", "batch", "pause", "1")
	require.Equal(t, 0, r.code, r.stderr)
	r = b.issuer(t, "", "issue", "--batch", "1")
	require.Equal(t, 1, r.code)
	require.Equal(t, "issuer: issue: batch 1 is paused; resume it with `issuer batch resume 1`\n", r.stderr)
	require.Empty(t, r.stdout)

	// Go values never show: no [1 2], no map[…], no <nil>.
	r = b.issuer(t, "", "batch", "list")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "CREATED (Asia/Shanghai)")
	for _, bad := range []string{"[", "map[", "<nil>", "0001-01-01"} {
		require.NotContains(t, r.stdout+r.stderr, bad)
	}
	r = b.issuer(t, "", "batch", "show", "1")
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `created\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d Asia/Shanghai\n`, r.stdout)
}

// Without --config and ISSUER_CONFIG, ./issuer.yaml, then the system one.
func TestDiscoverConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	local, system := filepath.Join(dir, "issuer.yaml"), filepath.Join(dir, "etc", "issuer.yaml")
	search := []string{local, system}
	require.Empty(t, discoverConfig(search))
	require.NoError(t, os.MkdirAll(filepath.Dir(system), 0o755))
	require.NoError(t, os.WriteFile(system, []byte("database_url: postgres://x/y\n"), 0o600))
	require.Equal(t, system, discoverConfig(search))
	require.NoError(t, os.WriteFile(local, []byte("database_url: postgres://x/z\n"), 0o600))
	require.Equal(t, local, discoverConfig(search))
	require.NoError(t, os.Remove(local))
	require.NoError(t, os.Mkdir(local, 0o755))
	require.Equal(t, system, discoverConfig(search), "a directory is not a config")
	require.Equal(t, []string{"issuer.yaml", "/etc/issuer/issuer.yaml"}, configSearchPath)
}
