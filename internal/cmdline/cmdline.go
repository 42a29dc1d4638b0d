// Package cmdline is the machinery of a command line made of subcommands,
// cmd/go style, with nothing of issuer in it: finding the command named by
// the first words of the arguments (two-word commands such as "report
// batch" included), listing a group, suggesting the command meant, and
// parsing a command's flags before or after its positional arguments,
// with errors and help worded as people type flags (--stock, not -stock).
//
// Errors about the command line are *UsageError (exit status 2); help
// printed on request is ErrHelp (exit status 0).
package cmdline

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/issuer-dev/issuer/internal/textdist"
)

// UsageError is a mistake on the command line.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef is a UsageError.
func Usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// ErrHelp means help was printed on request.
var ErrHelp = errors.New("help requested")

// Entry is a command as listed: its name (one or two words) and what it
// does in a line.
type Entry struct{ Name, Short string }

// Lookup finds the entry with the longest name that prefixes args: its
// index, and the arguments after its name. The index is -1 when none
// matches.
func Lookup(entries []Entry, args []string) (int, []string) {
	best, bestWords := -1, 0
	for i, c := range entries {
		words := strings.Fields(c.Name)
		if len(words) > len(args) || len(words) <= bestWords {
			continue
		}
		match := true
		for j, w := range words {
			if args[j] != w {
				match = false
				break
			}
		}
		if match {
			best, bestWords = i, len(words)
		}
	}
	if best < 0 {
		return -1, nil
	}
	return best, args[bestWords:]
}

// WriteList lists entries sorted by name, one a line.
func WriteList(w io.Writer, entries []Entry) {
	sorted := append([]Entry(nil), entries...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	for _, c := range sorted {
		fmt.Fprintf(w, "\t%-22s %s\n", c.Name, c.Short)
	}
}

// group lists the two-word entries whose first word is word.
func group(entries []Entry, word string) []Entry {
	var out []Entry
	for _, c := range entries {
		if first, _, two := strings.Cut(c.Name, " "); two && first == word {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Unknown is the answer to args that name no entry (program is the
// program's name, for messages): a flag before the command, a group's
// first word alone or with --help (the group is listed), a group's
// unknown second word, or an unknown command, with the commands meant
// when they are close.
func Unknown(program string, entries []Entry, args []string, stdout, stderr io.Writer) error {
	if strings.HasPrefix(args[0], "-") {
		return Usagef("flag %s goes after the command (%s COMMAND %s …); %s --help lists the commands", args[0], program, args[0], program)
	}
	if g := group(entries, args[0]); len(g) > 0 {
		return unknownInGroup(program, g, args, stdout, stderr)
	}
	var words []string
	for _, c := range entries {
		first, _, _ := strings.Cut(c.Name, " ")
		words = append(words, first)
	}
	return Usagef("unknown command %q%s; %s --help lists the commands", args[0], DidYouMean(args[0], words, ""), program)
}

// unknownInGroup is Unknown for args whose first word starts the group g:
// "issuer report" or "issuer report --help" lists the group.
func unknownInGroup(program string, g []Entry, args []string, stdout, stderr io.Writer) error {
	help := len(args) > 1 && (args[1] == "--help" || args[1] == "-h" || args[1] == "-help")
	var words []string
	for _, c := range g {
		_, second, _ := strings.Cut(c.Name, " ")
		words = append(words, second)
	}
	var hint string
	if len(args) > 1 && !help {
		hint = DidYouMean(args[1], words, args[0]+" ")
	}
	if hint == "" {
		w := stderr
		if help {
			w = stdout
		}
		fmt.Fprintf(w, "Usage: %s %s <command> [arguments]\n\nCommands:\n\n", program, args[0])
		WriteList(w, g)
	}
	if help {
		return ErrHelp
	}
	if len(args) == 1 {
		return Usagef("%s: which command?", args[0])
	}
	return Usagef("unknown command \"%s %s\"%s", args[0], args[1], hint)
}

// DidYouMean suggests the words close to the unknown word w (a typo of
// up to two letters, or a prefix), each after prefix, for "unknown
// command" errors; "" when none is close.
func DidYouMean(w string, words []string, prefix string) string {
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

// FlagError words the flag package's errors with flags as people type
// them ("unknown flag --stok", not "flag provided but not defined: -stok").
func FlagError(err error) string {
	msg := err.Error()
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

// dashed is a flag's name as people type it: --stock; one-letter flags
// keep one dash.
func dashed(name string) string {
	name = strings.TrimLeft(name, "-")
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// NewFlagSet returns the flag set of the command name, whose --help
// prints "Usage: program name usage", short, and the flags.
func NewFlagSet(program, name, usage, short string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "Usage: %s %s %s\n\n%s\n", program, name, usage, short)
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintf(out, "\nFlags:\n")
			PrintFlags(out, fs)
		}
	}
	return fs
}

// PrintFlags is flag.PrintDefaults as people type the flags: --stock, not
// -stock (the flag package accepts both); one-letter flags keep one dash.
func PrintFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		line := "  " + dashed(f.Name)
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

// Parse parses args with fs, allowing flags after positional arguments
// ("import FILE --stock X") because people write them both ways, and
// returns the positional arguments. "--" ends the flags. Usage is printed
// once: to stdout for --help (ErrHelp), to stderr for a mistake
// (*UsageError).
func Parse(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) ([]string, error) {
	// The flag package would print usage itself on every error.
	usage := fs.Usage
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	defer func() { fs.Usage = usage }()
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(stdout)
				usage()
				return nil, ErrHelp
			}
			fs.SetOutput(stderr)
			usage()
			return nil, Usagef("%s: %s", fs.Name(), FlagError(err))
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

// Program is a command line made of subcommands: its name, a sentence
// on what it does, the synopsis after its name, and its commands.
type Program struct {
	Name, Intro, Synopsis string
	Entries               []Entry
}

// Usage writes the program's usage: the intro, the synopsis, the
// commands and how to learn more.
func (p Program) Usage(w io.Writer) {
	fmt.Fprintf(w, "%s\n\nUsage:\n\n\t%s %s\n\nCommands:\n\n", p.Intro, p.Name, p.Synopsis)
	WriteList(w, p.Entries)
	fmt.Fprintf(w, "\nUse \"%s <command> --help\" for more about a command.\n", p.Name)
}

// Find is the entry that args (the arguments after the program's own
// flags) name, and the arguments after its name. "help" alone prints the
// usage (ErrHelp); "help COMMAND …" is COMMAND … --help; no command, or
// one that names no entry, is a *UsageError (Unknown).
func (p Program) Find(args []string, stdout, stderr io.Writer) (int, []string, error) {
	if len(args) == 0 {
		p.Usage(stderr)
		return -1, nil, Usagef("no command given")
	}
	if args[0] == "help" {
		if len(args) == 1 {
			p.Usage(stdout)
			return -1, nil, ErrHelp
		}
		args = append(args[1:], "--help")
	}
	if i, rest := Lookup(p.Entries, args); i >= 0 {
		return i, rest, nil
	}
	return -1, nil, Unknown(p.Name, p.Entries, args, stdout, stderr)
}
