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
	"syscall"

	"github.com/issuer-dev/issuer/internal/cmdline"
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
	// echoed (terminalPassword); errNoTerminal where nobody types.
	readPassword func(prompt string) (string, error)
}

// command is one subcommand, cmd/go style: it parses its own flags.
type command struct {
	name  string // may contain a space for two-word commands ("config check")
	usage string // the argument synopsis after the name
	short string
	run   func(ctx context.Context, e *env, args []string) error
}

func commands() []*command {
	cmds := []*command{
		cmdMigrate(),
		cmdConfigCheck(),
		cmdImport(),
		cmdIssue(),
		cmdRun(),
		cmdVersion(),
	}
	cmds = append(cmds, batchCommands()...)
	cmds = append(cmds,
		cmdSim(), cmdSimKeys(),
		cmdStockCreate(), cmdStockAction(ops.StockStart), cmdStockAction(ops.StockPause), cmdStockAction(ops.StockRestart), cmdStockShow(), cmdStockList(),
		cmdStockAction(ops.StockStop), cmdStockScope("merchants"), cmdStockScope("items"), cmdCoupons(), cmdCallbackShow(), cmdCallbackSet(),
		cmdPluginSign(),
		cmdReconcile(), cmdReportBatch(), cmdReportReconcile(), cmdReportDigest(),
	)
	cmds = append(cmds, reviewCommands()...)
	cmds = append(cmds, userCommands()...)
	return cmds
}

// usageError makes run exit with status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// errHelp means help was printed on request: exit 0.
var errHelp = cmdline.ErrHelp

// exitCode prints err and returns the exit status: the command line's own
// (help, an interruption, a usage error), else ops.ExitCode's.
func exitCode(err error, stderr io.Writer) int {
	var ue *usageError
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
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv, environ: environ, readPassword: terminalPassword}
	return e.run(ctx, args)
}

// run parses the global flags and runs the command args name.
func (e *env) run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("issuer", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&e.configPath, "config", "", "config file (default $ISSUER_CONFIG)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	fs.Usage = func() {} // printed below, once, where it belongs
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(e.stdout)
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

	rest := fs.Args()
	if len(rest) == 0 {
		printUsage(e.stderr)
		return usagef("no command given")
	}
	if rest[0] == "help" {
		if len(rest) == 1 {
			printUsage(e.stdout)
			return nil
		}
		rest = append(rest[1:], "--help")
	}
	cmd, cmdArgs := lookup(rest)
	if cmd == nil {
		return usageOf(cmdline.Unknown("issuer", entries(commands()), rest, e.stdout, e.stderr))
	}
	return cmd.run(ctx, e, cmdArgs)
}

// configSearchPath is where issuer looks for its config when neither
// --config nor ISSUER_CONFIG names one: the working directory, then the
// system-wide place the packaged service uses.
var configSearchPath = []string{"issuer.yaml", "/etc/issuer/issuer.yaml"}

// discoverConfig returns the first of paths that is a regular file, or ""
// (then the config comes from ISSUER_* variables alone).
func discoverConfig(paths []string) string {
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// entries are cmds as cmdline lists them.
func entries(cmds []*command) []cmdline.Entry {
	out := make([]cmdline.Entry, len(cmds))
	for i, c := range cmds {
		out[i] = cmdline.Entry{Name: c.name, Short: c.short}
	}
	return out
}

// lookup finds the longest command name that prefixes args.
func lookup(args []string) (*command, []string) {
	cmds := commands()
	i, rest := cmdline.Lookup(entries(cmds), args)
	if i < 0 {
		return nil, nil
	}
	return cmds[i], rest
}

func printUsage(w io.Writer) {
	fmt.Fprintf(w, "issuer issues WeChat Pay coupons in bulk, exactly once.\n\n")
	fmt.Fprintf(w, "Usage:\n\n\tissuer [--config FILE] [--log-level L] <command> [arguments]\n\nCommands:\n\n")
	cmdline.WriteList(w, entries(commands()))
	fmt.Fprintf(w, "\nUse \"issuer <command> --help\" for more about a command.\n")
}

// usageOf makes cmdline's usage errors this command line's (exit 2).
func usageOf(err error) error {
	var ue *cmdline.UsageError
	if errors.As(err, &ue) {
		return &usageError{msg: ue.Msg}
	}
	return err
}

// newFlags returns a FlagSet for cmd whose --help prints the command's usage.
func newFlags(e *env, c *command) *flag.FlagSet {
	return cmdline.NewFlagSet("issuer", c.name, c.usage, c.short, e.stderr)
}

// parseFlags parses args, allowing flags after positional arguments
// ("import FILE --stock X") because operators write them both ways.
func parseFlags(e *env, fs *flag.FlagSet, args []string) ([]string, error) {
	pos, err := cmdline.Parse(fs, args, e.stdout, e.stderr)
	return pos, usageOf(err)
}

// parseNoArgs is parseFlags for a command that takes no positional
// argument.
func parseNoArgs(e *env, fs *flag.FlagSet, args []string) error {
	pos, err := parseFlags(e, fs, args)
	if err == nil && len(pos) > 0 {
		err = usagef("%s: unexpected argument %q", fs.Name(), pos[0])
	}
	return err
}

// parseOne is parseFlags for a command that takes exactly one positional
// argument, what.
func parseOne(e *env, fs *flag.FlagSet, args []string, what string) (string, error) {
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 {
		return "", usagef("%s: want exactly one %s", fs.Name(), what)
	}
	return pos[0], nil
}
