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
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, restore the default action: a second one
	// ends the process at once (leases make that safe).
	go func() { <-ctx.Done(); stop() }()
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv, os.Environ()...)
	stop()
	os.Exit(exitCode(err, os.Stderr))
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
	cmds = append(cmds, extraCommands()...)
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

func exitCode(err error, stderr io.Writer) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, errHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "issuer: %v\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "issuer: %v\n", err)
		return 1
	}
}

// run is main without the process: getenv reads the environment, and
// environ, when given, lists it so that a misspelled ISSUER_* variable is
// an error rather than silently ignored (getenv cannot list names).
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string, environ ...string) error {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv, environ: environ}
	fs := flag.NewFlagSet("issuer", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&e.configPath, "config", "", "config file (default $ISSUER_CONFIG)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	fs.Usage = func() { printUsage(stderr) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout)
			return errHelp
		}
		printUsage(stderr)
		return usagef("%v", err)
	}
	if e.configPath == "" {
		e.configPath = getenv("ISSUER_CONFIG")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usagef("--log-level: %v", err)
	}
	e.logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	rest := fs.Args()
	if len(rest) == 0 {
		printUsage(stderr)
		return usagef("no command given")
	}
	if rest[0] == "help" {
		if len(rest) == 1 {
			printUsage(stdout)
			return nil
		}
		rest = append(rest[1:], "--help")
	}
	cmd, cmdArgs := lookup(rest)
	if cmd == nil {
		if group := groupCommands(rest[0]); len(group) > 0 {
			// "issuer report" or "issuer report --help": list the group.
			help := len(rest) > 1 && (rest[1] == "--help" || rest[1] == "-h" || rest[1] == "-help")
			w := stderr
			if help {
				w = stdout
			}
			fmt.Fprintf(w, "Usage: issuer %s <command> [arguments]\n\nCommands:\n\n", rest[0])
			for _, c := range group {
				fmt.Fprintf(w, "\t%-22s %s\n", c.name, c.short)
			}
			if help {
				return errHelp
			}
			if len(rest) == 1 {
				return usagef("%s: which command?", rest[0])
			}
		} else {
			printUsage(stderr)
		}
		return usagef("unknown command %q", strings.Join(rest[:min(2, len(rest))], " "))
	}
	return cmd.run(ctx, e, cmdArgs)
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
			fs.PrintDefaults()
		}
	}
	return fs
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
			return nil, usagef("%s: %v", fs.Name(), err)
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
