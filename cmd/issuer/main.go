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
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/issuer-dev/issuer/internal/textdist"
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
var errHelp = errors.New("help requested")

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
		return usagef("%s; a command's flags go after the command (issuer COMMAND --help lists them)", flagError(err))
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
		if strings.HasPrefix(rest[0], "-") {
			return usagef("flag %s goes after the command (issuer COMMAND %s …); issuer --help lists the commands", rest[0], rest[0])
		}
		if group := groupCommands(rest[0]); len(group) > 0 {
			// "issuer report" or "issuer report --help": list the group.
			help := len(rest) > 1 && (rest[1] == "--help" || rest[1] == "-h" || rest[1] == "-help")
			var words []string
			for _, c := range group {
				_, second, _ := strings.Cut(c.name, " ")
				words = append(words, second)
			}
			var hint string
			if len(rest) > 1 && !help {
				hint = didYouMean(rest[1], words, rest[0]+" ")
			}
			if hint == "" {
				w := e.stderr
				if help {
					w = e.stdout
				}
				fmt.Fprintf(w, "Usage: issuer %s <command> [arguments]\n\nCommands:\n\n", rest[0])
				for _, c := range group {
					fmt.Fprintf(w, "\t%-22s %s\n", c.name, c.short)
				}
			}
			if help {
				return errHelp
			}
			if len(rest) == 1 {
				return usagef("%s: which command?", rest[0])
			}
			return usagef("unknown command \"%s %s\"%s", rest[0], rest[1], hint)
		}
		var words []string
		for _, c := range commands() {
			first, _, _ := strings.Cut(c.name, " ")
			words = append(words, first)
		}
		return usagef("unknown command %q%s; issuer --help lists the commands", rest[0], didYouMean(rest[0], words, ""))
	}
	return cmd.run(ctx, e, cmdArgs)
}

// didYouMean suggests the words close to the unknown word w (a typo of
// up to two letters, or a prefix), for "unknown command" errors.
func didYouMean(w string, words []string, prefix string) string {
	seen := map[string]bool{}
	var close []string
	for _, c := range words {
		if seen[c] {
			continue
		}
		seen[c] = true
		if d := textdist.Distance(w, c); d <= max(1, min(2, len(w)/3)) || (len(w) >= 3 && strings.HasPrefix(c, w)) {
			close = append(close, c)
		}
	}
	if len(close) == 0 {
		return ""
	}
	sort.Strings(close)
	for i, c := range close {
		close[i] = prefix + c
	}
	return " (did you mean " + strings.Join(close, " or ") + "?)"
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

// groupCommands lists the two-word commands whose first word is word.
func groupCommands(word string) []*command {
	var out []*command
	for _, c := range commands() {
		if first, _, two := strings.Cut(c.name, " "); two && first == word {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// lookup finds the longest command name that prefixes args.
func lookup(args []string) (*command, []string) {
	var best *command
	bestWords := 0
	for _, c := range commands() {
		words := strings.Fields(c.name)
		if len(words) > len(args) || len(words) <= bestWords {
			continue
		}
		match := true
		for i, w := range words {
			if args[i] != w {
				match = false
				break
			}
		}
		if match {
			best, bestWords = c, len(words)
		}
	}
	if best == nil {
		return nil, nil
	}
	return best, args[bestWords:]
}

func printUsage(w io.Writer) {
	fmt.Fprintf(w, "issuer issues WeChat Pay coupons in bulk, exactly once.\n\n")
	fmt.Fprintf(w, "Usage:\n\n\tissuer [--config FILE] [--log-level L] <command> [arguments]\n\nCommands:\n\n")
	cmds := commands()
	sort.SliceStable(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
	for _, c := range cmds {
		fmt.Fprintf(w, "\t%-22s %s\n", c.name, c.short)
	}
	fmt.Fprintf(w, "\nUse \"issuer <command> --help\" for more about a command.\n")
}

// flagError words the flag package's errors with flags as people type
// them ("unknown flag --stok", not "flag provided but not defined: -stok").
func flagError(err error) string {
	msg := err.Error()
	dashed := func(name string) string {
		name = strings.TrimLeft(name, "-")
		if len(name) == 1 {
			return "-" + name
		}
		return "--" + name
	}
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		return "unknown flag " + dashed(name)
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		return "flag " + dashed(name) + " needs a value"
	}
	if rest, ok := strings.CutPrefix(msg, "invalid value "); ok {
		// invalid value "x" for flag -n: parse error
		if i := strings.Index(rest, " for flag -"); i >= 0 {
			name, why, _ := strings.Cut(rest[i+len(" for flag "):], ": ")
			msg = "flag " + dashed(name) + ": " + rest[:i] + " is not a valid value"
			if why != "parse error" && why != "" {
				msg += ": " + why
			}
			return msg
		}
	}
	return msg
}

// newFlags returns a FlagSet for cmd whose --help prints the command's usage.
func newFlags(e *env, c *command) *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "Usage: issuer %s %s\n\n%s\n", c.name, c.usage, c.short)
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintf(out, "\nFlags:\n")
			printFlags(out, fs)
		}
	}
	return fs
}

// printFlags is flag.PrintDefaults as people type the flags: --stock, not
// -stock (the flag package accepts both); one-letter flags keep one dash.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		dash := "--"
		if len(f.Name) == 1 {
			dash = "-"
		}
		arg, usage := flag.UnquoteUsage(f)
		line := "  " + dash + f.Name
		if arg != "" {
			line += " " + arg
		}
		line += "\n    \t" + strings.ReplaceAll(usage, "\n", "\n    \t")
		if d := f.DefValue; d != "" && d != "false" && d != "0" && d != "0s" && d != "[]" {
			if arg == "string" {
				d = strconv.Quote(d)
			}
			line += " (default " + d + ")"
		}
		fmt.Fprintln(w, line)
	})
}

// parseFlags parses args, allowing flags after positional arguments
// ("import FILE --stock X") because operators write them both ways.
func parseFlags(e *env, fs *flag.FlagSet, args []string) ([]string, error) {
	// The flag package would print usage itself on every error; print it
	// once, to stdout for --help and to stderr for a mistake.
	usage := fs.Usage
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	defer func() { fs.Usage = usage }()
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(e.stdout)
				usage()
				return nil, errHelp
			}
			fs.SetOutput(e.stderr)
			usage()
			return nil, usagef("%s: %s", fs.Name(), flagError(err))
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}
