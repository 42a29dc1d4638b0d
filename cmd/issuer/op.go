package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/internal/cmdline"
	"github.com/issuer-dev/issuer/internal/textable"
	"github.com/issuer-dev/issuer/ops"
)

// An op is a command of the common shape: it parses its flags (into A)
// and positional arguments, checks them, opens what the operation needs,
// calls the operation as someone, and prints its answer (T): as JSON with
// --json, else for a person. Most commands are one op, a few declarative
// lines each.
type op[A, T any] struct {
	name, usage, short string
	args               argKind
	what               string                       // oneArg: what the one argument is (NAME, URL)
	on                 backend                      // what the operation needs
	acts               bool                         // --as/--token-file: it acts as who they prove (app.Identify)
	json               string                       // --json's help; "" when the command has no --json
	flags              func(fs *flag.FlagSet, a *A) // registers A's flags
	check              func(c *call, a *A) error    // checks the arguments before anything is opened
	call               func(c *call, a *A) (T, error)
	errs               func(c *call, err error) error // words the operation's error
	asJSON             func(v T) any                  // the --json value, when it is not v
	text               func(c *call, a *A, v T)       // prints v for a person
}

// none is the flags of a command without any, or the answer of an
// operation that prints as it goes.
type none struct{}

// argKind is what positional arguments a command takes.
type argKind int

const (
	anyArgs  argKind = iota // any; the command's check reads them
	noArgs                  // none
	batchArg                // exactly one batch ID
	stockArg                // exactly one stock ID
	oneArg                  // exactly one op.what
)

// backend is what an operation needs opened.
type backend int

const (
	onDB       backend = iota // the database and WeChat Pay (app.Env.WithService)
	onWX                      // WeChat Pay only, no database (app.Env.WithWXService)
	onAccounts                // the accounts too (app.Env.WithAccounts)
	offline                   // nothing: the call loads what it needs
)

// call is one run of an op: its arguments and what was opened for it.
type call struct {
	ctx   context.Context
	e     *env
	fs    *flag.FlagSet
	s     *ops.Service
	acc   *ops.Accounts
	actor auth.Actor
	id    int64    // batchArg
	arg   string   // stockArg, oneArg
	pos   []string // the positional arguments
}

func (c *call) printf(format string, args ...any) { fmt.Fprintf(c.e.stdout, format, args...) }

// given is whether the flag name was set.
func (c *call) given(name string) (set bool) {
	c.fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// loc is the configured timezone.
func (c *call) loc() *time.Location { return c.s.Config.Location }

// command is o as the command line runs it.
func (o op[A, T]) command() *command {
	c := &command{name: o.name, usage: o.usage, short: o.short}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := newFlags(e, c)
		var a A
		if o.flags != nil {
			o.flags(fs, &a)
		}
		asJSON := false
		if o.json != "" {
			fs.BoolVar(&asJSON, "json", false, o.json)
		}
		var who *identity
		if o.acts {
			id := identityFlags(fs)
			who = &id
		}
		cl := &call{ctx: ctx, e: e}
		if err := cl.parse(fs, args, o.args, o.what); err != nil {
			return err
		}
		if o.check != nil {
			if err := o.check(cl, &a); err != nil {
				return err
			}
		}
		return cl.open(o.on, who, func() error {
			v, err := o.call(cl, &a)
			switch {
			case err != nil && o.errs != nil:
				return o.errs(cl, err)
			case err != nil:
				return err
			case asJSON && o.asJSON != nil:
				return e.printJSON(o.asJSON(v))
			case asJSON:
				return e.printJSON(v)
			case o.text != nil:
				o.text(cl, &a, v)
			}
			return nil
		})
	}
	return c
}

// parse parses args with fs, allowing flags after positional arguments
// ("import FILE --stock X") because operators write them both ways, and
// checks the positional arguments are of kind.
func (c *call) parse(fs *flag.FlagSet, args []string, kind argKind, what string) error {
	pos, err := cmdline.Parse(fs, args, c.e.stdout, c.e.stderr)
	if err != nil {
		return err
	}
	c.fs, c.pos = fs, pos
	switch kind {
	case noArgs:
		if len(pos) > 0 {
			return usagef("%s: unexpected argument %q", fs.Name(), pos[0])
		}
	case batchArg:
		c.id, err = batchID(fs.Name(), pos)
	case stockArg:
		if len(pos) != 1 || pos[0] == "" {
			return usagef("%s: want exactly one stock ID", fs.Name())
		}
		c.arg, err = pos[0], opsUsage(ops.ValidStockID(fs.Name(), pos[0]))
	case oneArg:
		if len(pos) != 1 {
			return usagef("%s: want exactly one %s", fs.Name(), what)
		}
		c.arg = pos[0]
	}
	return err
}

// batchID is the one batch ID in pos of the command name.
func batchID(name string, pos []string) (int64, error) {
	if len(pos) != 1 {
		return 0, usagef("%s: want exactly one batch ID", name)
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id <= 0 {
		return 0, usagef("%s: %q is not a batch ID", name, pos[0])
	}
	return id, nil
}

// required is a usage error when the flag's value is empty.
func required(cmd, flag, v string) error {
	if v == "" {
		return usagef("%s: %s is required", cmd, flag)
	}
	return nil
}

// asUsage makes an operation's refusal of its arguments a usage error
// (exit 2), as if the flags had been checked here.
func asUsage(_ *call, err error) error { return opsUsage(err) }

// withHint adds to a refusal of the command line without a credential
// how to give one.
func withHint(c *call, err error) error {
	if ops.ErrorCode(err) == ops.EFORBIDDEN && !c.actor.Account() {
		return fmt.Errorf("%w: act as an account, --as NAME with NAME's API token in ISSUER_TOKEN or --token-file, "+
			"or NAME's password typed at a terminal", err)
	}
	return err
}

// table prints rows for a person under header, a line a row of cells
// (textable: aligned by display width, text from outside escaped).
func table[R any](w io.Writer, rows []R, cells func(R) []string, header ...string) {
	t := textable.New(header...)
	for _, r := range rows {
		t.Add(cells(r)...)
	}
	t.Write(w)
}

// view is a key/value view for a person: a line a key, the values
// aligned after the longest key. Flush it when done.
type view struct{ *tabwriter.Writer }

func newView(w io.Writer) view { return view{tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)} }

// add prints key's line, its value formatted as fmt.Printf does.
func (v view) add(key, format string, args ...any) { fmt.Fprintf(v, key+"\t"+format+"\n", args...) }
