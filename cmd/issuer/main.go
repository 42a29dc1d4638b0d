// Command issuer issues WeChat Pay coupons in bulk: it imports recipient lists
// into a Postgres queue, issues them exactly once under an adaptive rate
// limit, and reconciles what was issued against WeChat Pay's flow files.
//
// The interface in this package (commands, flags, JSON fields, CSV columns,
// exit codes) is a contract that operators' scripts rely on.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/issuer-dev/issuer/internal/buildinfo"
	"github.com/issuer-dev/issuer/internal/cmdline"
	"github.com/issuer-dev/issuer/internal/config"
	"github.com/issuer-dev/issuer/ops"
)

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	// The first signal cancels the command, which finishes its in-flight
	// work; then the default action is restored, so that a second signal
	// ends the process at once (leases make that safe). The goroutine
	// ends with the first signal or with the command.
	go func() {
		select {
		case sig := <-sigs:
			cancel(&signalled{sig: sig})
			signal.Stop(sigs)
		case <-ctx.Done():
		}
	}()
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv, os.Environ()...)
	err = afterSignal(context.Cause(ctx), err)
	cancel(nil)
	signal.Stop(sigs)
	os.Exit(exitCode(err, os.Stderr))
}

// signalled is the cause of the command's cancellation by a signal.
type signalled struct{ sig os.Signal }

func (s *signalled) Error() string { return "received " + s.sig.String() }

// errInterrupted makes run exit with status 130, as a shell reports a
// command ended by Ctrl-C.
var errInterrupted = errors.New("interrupted")

// afterSignal is the command's result seen from the signal that cut it
// short: Ctrl-C (SIGINT) is always an interruption, even when the command
// stopped cleanly; SIGTERM is how the daemon is stopped, so a clean stop
// is a success. A different error stands.
func afterSignal(cause, err error) error {
	var s *signalled
	if !errors.As(cause, &s) {
		return err
	}
	if err == nil && s.sig != os.Interrupt {
		return nil
	}
	if err == nil || (errors.Is(err, context.Canceled) && !errors.Is(err, errInterrupted)) {
		return errInterrupted
	}
	return err
}

// env is what every command receives: its streams, the environment and the
// global flags. Commands load config and open the database through it so
// that tests can drive run() without touching the process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	environ        []string // KEY=VALUE, for spotting misspelled ISSUER_* names
	configPath     string
	logger         *slog.Logger
	// readPassword asks the person at the terminal for a password, not
	// echoed (cmdline.TerminalPassword); errNoTerminal where nobody types.
	readPassword func(prompt string) (string, error)
}

// command is one subcommand, cmd/go style: it parses its own flags.
type command struct {
	name  string // may contain a space for two-word commands ("config check")
	usage string // the argument synopsis after the name
	short string
	run   func(ctx context.Context, e *env, args []string) error
}

// commands are every command; the list and lookups sort them by name.
func commands() []*command {
	return []*command{
		cmdMigrate(), cmdConfigCheck(), cmdRun(), cmdVersion(), cmdSim(), cmdSimKeys(), cmdImport(), cmdIssue(),
		cmdBatchList(), cmdBatchShow(), cmdBatchExport(), cmdBatchApprove(), cmdBatchReject(), cmdBatchPriority(), cmdBatchGuards(),
		cmdBatchAction("pause"), cmdBatchAction("resume"), cmdBatchAction("cancel"), cmdReviewList(), cmdReviewResolve(),
		cmdStockCreate(), cmdStockAction(ops.StockStart), cmdStockAction(ops.StockPause), cmdStockAction(ops.StockRestart),
		cmdStockAction(ops.StockStop), cmdStockShow(), cmdStockList(), cmdStockScope("merchants"), cmdStockScope("items"),
		cmdCoupons(), cmdCallbackShow(), cmdCallbackSet(), cmdPluginSign(),
		cmdReconcile(), cmdReportBatch(), cmdReportReconcile(), cmdReportDigest(),
		cmdUserAdd(), cmdUserList(), cmdUserSetDisabled(true), cmdUserSetDisabled(false), cmdUserToken(), cmdUserPasswd(), cmdUserRole(),
	}
}

// usagef is a mistake on the command line: exit status 2.
func usagef(format string, args ...any) error { return cmdline.Usagef(format, args...) }

// errHelp means help was printed on request: exit 0.
var errHelp = cmdline.ErrHelp

// exitCode prints err and returns the exit status: the command line's own
// (help, an interruption, a usage error), else ops.ExitCode's.
func exitCode(err error, stderr io.Writer) int {
	var ue *cmdline.UsageError
	if err == nil || errors.Is(err, errHelp) {
		return ops.ExitOK
	}
	fmt.Fprintf(stderr, "issuer: %v\n", err)
	switch {
	case errors.Is(err, errInterrupted):
		return 130
	case errors.As(err, &ue):
		return ops.ExitUsage
	}
	return ops.ExitCode(err)
}

// run is main without the process: getenv reads the environment, and
// environ, when given, lists it so that a misspelled ISSUER_* variable is
// an error rather than silently ignored (getenv cannot list names).
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string, environ ...string) error {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv, environ: environ, readPassword: cmdline.TerminalPassword}
	return e.run(ctx, args)
}

// run parses the global flags and runs the command args name.
func (e *env) run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("issuer", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&e.configPath, "config", "", "config file (default $ISSUER_CONFIG)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	fs.Usage = func() {} // printed below, once, where it belongs
	cmds := commands()
	prog := program(cmds)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			prog.Usage(e.stdout)
			return errHelp
		}
		return usagef("%s; a command's flags go after the command (issuer COMMAND --help lists them)", cmdline.FlagError(err))
	}
	if e.configPath == "" {
		e.configPath = e.getenv("ISSUER_CONFIG")
	}
	if e.configPath == "" {
		e.configPath = discoverConfig(configSearchPath)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usagef("--log-level: %v", err)
	}
	e.logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))

	i, rest, err := prog.Find(fs.Args(), e.stdout, e.stderr)
	if err != nil {
		return err
	}
	return cmds[i].run(ctx, e, rest)
}

// configSearchPath is where issuer looks for its config when neither
// --config nor ISSUER_CONFIG names one: the working directory, then the
// system-wide place the packaged service uses.
var configSearchPath = []string{"issuer.yaml", "/etc/issuer/issuer.yaml"}

// discoverConfig is config.Discover.
func discoverConfig(paths []string) string { return config.Discover(paths) }

// program is the command line of cmds.
func program(cmds []*command) cmdline.Program {
	p := cmdline.Program{Name: "issuer", Intro: "issuer issues WeChat Pay coupons in bulk, exactly once.",
		Synopsis: "[--config FILE] [--log-level L] <command> [arguments]"}
	for _, c := range cmds {
		p.Entries = append(p.Entries, cmdline.Entry{Name: c.name, Short: c.short})
	}
	return p
}

// newFlags returns a FlagSet for cmd whose --help prints the command's usage.
func newFlags(e *env, c *command) *flag.FlagSet {
	return cmdline.NewFlagSet("issuer", c.name, c.usage, c.short, e.stderr)
}

// version is set at link time: go build -ldflags "-X main.version=v1.4.0"
// (make build does, from git describe). It is the only package-level
// variable, and only because the linker can set nothing else; nothing
// writes it at run time.
var version string

func cmdVersion() *command {
	return op[none, none]{
		name: "version", short: "print the version", on: offline,
		call: func(c *call, _ *none) (none, error) { return none{}, nil },
		text: func(c *call, _ *none, _ none) {
			c.printf("issuer %s (%s %s/%s)\n", buildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		},
	}.command()
}

// buildVersion is the version of this binary (buildinfo.Version).
func buildVersion() string { return buildinfo.Version(version) }

func versionOf(linked string, info *debug.BuildInfo, ok bool) string {
	return buildinfo.Of(linked, info, ok)
}
