package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/internal/cmdline"
	"github.com/issuer-dev/issuer/ops"
)

// userFlags are the flags of user add and user passwd, and what they
// read before anything is opened.
type userFlags struct {
	role, pwFile string
	r            ops.Role
	pw           string
}

func cmdUserAdd() *command {
	return op[userFlags, ops.User]{
		name: "user add", usage: "NAME --role analyst|operator|admin [--password-file F]", args: oneArg, what: "NAME", on: onAccounts,
		short: "add a console and API account; the password comes from F, the first line of stdin, or is typed at the terminal",
		flags: func(fs *flag.FlagSet, f *userFlags) {
			fs.StringVar(&f.role, "role", "", "analyst, operator or admin (required)")
			fs.StringVar(&f.pwFile, "password-file", "", "read the password from the first line of this file instead of stdin")
		},
		check: func(c *call, f *userFlags) error {
			if err := required("user add", "--role", f.role); err != nil {
				return err
			}
			var err error
			if f.r, err = auth.ParseRole(f.role); err != nil {
				return usagef("user add: --role: %v", err)
			}
			if err := auth.CheckName(c.arg); err != nil {
				return usagef("user add: %v", err)
			}
			return c.e.readNewPassword("user add", f, c.arg, true)
		},
		call: func(c *call, f *userFlags) (ops.User, error) { return c.acc.AddUser(c.ctx, c.actor, c.arg, f.r, f.pw) },
		text: func(c *call, _ *userFlags, u ops.User) { c.printf("added %s (%s)\n", u.Name, u.Role) },
	}.command()
}

func cmdUserList() *command {
	return op[none, []ops.User]{
		name: "user list", usage: "[--json]", short: "list accounts: name, role, disabled, created, last login", on: onAccounts,
		json: `print a JSON array of {"name","role","disabled","created_at","last_login_at"}`,
		check: func(c *call, _ *none) error {
			if len(c.pos) != 0 {
				return usagef("user list: takes no arguments")
			}
			return nil
		},
		call: func(c *call, _ *none) ([]ops.User, error) { return c.acc.Users(c.ctx, c.actor) },
		text: func(c *call, _ *none, users []ops.User) {
			table(c.e.stdout, users, func(u ops.User) []string {
				return []string{u.Name, string(u.Role), strconv.FormatBool(u.Disabled), localMinute(&u.CreatedAt), localMinute(u.LastLoginAt)}
			}, "NAME", "ROLE", "DISABLED", "CREATED", "LAST_LOGIN")
		},
	}.command()
}

func cmdUserSetDisabled(disabled bool) *command {
	o := op[none, none]{name: "user enable", usage: "NAME", short: "let a disabled account sign in again (its old tokens stay revoked)"}
	if disabled {
		o.name, o.short = "user disable", "disable an account: its sessions and API tokens stop working at once"
	}
	o.args, o.what, o.on = oneArg, "NAME", onAccounts
	o.call = func(c *call, _ *none) (none, error) {
		act := c.acc.EnableUser
		if disabled {
			act = c.acc.DisableUser
		}
		return none{}, act(c.ctx, c.actor, c.arg)
	}
	o.text = func(c *call, _ *none, _ none) { c.printf("%sd %s\n", strings.TrimPrefix(o.name, "user "), c.arg) }
	return o.command()
}

// tokenFlags are user token's flags.
type tokenFlags struct {
	expires      string
	ttl          time.Duration
	revoke       int64
	list, asJSON bool
}

func cmdUserToken() *command {
	return op[tokenFlags, none]{
		name: "user token", usage: "NAME [--expires 90d] | NAME --revoke ID | NAME --list [--json]", args: oneArg, what: "NAME", on: onAccounts,
		short: "print a new API token for NAME once (stored hashed, working 90 days unless --expires says); --revoke ID revokes one, --list lists them without secrets",
		flags: func(fs *flag.FlagSet, f *tokenFlags) {
			fs.StringVar(&f.expires, "expires", "90d", "how long the new token works: `SPAN` in days (30d) or hours (12h), at most 366d")
			fs.Int64Var(&f.revoke, "revoke", 0, "revoke the token with this ID")
			fs.BoolVar(&f.list, "list", false, "list NAME's tokens (ID, prefix, dates), never their secrets")
			fs.BoolVar(&f.asJSON, "json", false, "with --list: print JSON")
		},
		check: func(_ *call, f *tokenFlags) error {
			if f.revoke != 0 && f.list {
				return usagef("user token: --revoke and --list exclude each other")
			}
			var err error
			if f.ttl, err = parseSpan(f.expires); err != nil {
				return usagef("user token: --expires: %v", err)
			}
			return nil
		},
		call: func(c *call, f *tokenFlags) (none, error) {
			switch {
			case f.revoke != 0:
				return none{}, c.revokeToken(f.revoke)
			case f.list:
				return none{}, c.listTokens(f.asJSON)
			}
			return none{}, c.newToken(f.ttl)
		},
	}.command()
}

func (c *call) revokeToken(id int64) error {
	if err := c.acc.RevokeToken(c.ctx, c.actor, c.arg, id); err != nil {
		return err
	}
	c.printf("revoked token %d of %s\n", id, c.arg)
	return nil
}

func (c *call) listTokens(asJSON bool) error {
	if _, err := c.acc.User(c.ctx, c.actor, c.arg); err != nil {
		return fmt.Errorf("user token %s: %w", c.arg, err)
	}
	tokens, err := c.acc.Tokens(c.ctx, c.actor, c.arg)
	if err != nil {
		return err
	}
	if asJSON {
		return c.e.printJSON(tokens)
	}
	table(c.e.stdout, tokens, func(tk ops.Token) []string {
		return []string{strconv.FormatInt(tk.ID, 10), tk.Prefix + "…", localMinute(&tk.CreatedAt), localMinute(&tk.ExpiresAt),
			localMinute(tk.LastUsedAt), localMinute(tk.RevokedAt)}
	}, "ID>", "PREFIX", "CREATED", "EXPIRES", "LAST_USED", "REVOKED")
	return nil
}

func (c *call) newToken(ttl time.Duration) error {
	tok, secret, err := c.acc.CreateToken(c.ctx, c.actor, c.arg, ttl)
	if err != nil {
		return err
	}
	// The secret alone on stdout, so `TOKEN=$(issuer user token x)`
	// works; the rest on stderr.
	c.printf("%s\n", secret)
	fmt.Fprintf(c.e.stderr, "token %d for %s: shown once, stored hashed, works until %s; revoke with `issuer user token %s --revoke %d`\n",
		tok.ID, c.arg, localMinute(&tok.ExpiresAt), c.arg, tok.ID)
	return nil
}

// parseSpan reads a token's life: whole days ("90d") or a Go duration
// ("12h").
func parseSpan(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 {
			return 0, fmt.Errorf("%q: want whole days such as 90d, or hours such as 12h", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q: want whole days such as 90d, or hours such as 12h", s)
	}
	return d, nil
}

func cmdUserPasswd() *command {
	return op[userFlags, none]{
		name: "user passwd", usage: "NAME [--password-file F]", args: oneArg, what: "NAME", on: onAccounts,
		short: "set an account's new password (typed at the terminal twice, or the first line of stdin or F); ends its sessions",
		flags: func(fs *flag.FlagSet, f *userFlags) {
			fs.StringVar(&f.pwFile, "password-file", "", "read the password from the first line of this file instead")
		},
		check: func(c *call, f *userFlags) error { return c.e.readNewPassword("user passwd", f, c.arg, false) },
		call:  func(c *call, f *userFlags) (none, error) { return none{}, c.acc.Passwd(c.ctx, c.actor, c.arg, f.pw) },
		text:  func(c *call, _ *userFlags, _ none) { c.printf("password of %s changed; its sessions ended\n", c.arg) },
	}.command()
}

// readNewPassword reads and checks f.pw, the new password of name, for
// cmd; sayWhere: a failure to read it says where from, as a refusal does.
func (e *env) readNewPassword(cmd string, f *userFlags, name string, sayWhere bool) error {
	pw, where, err := cmdline.NewPassword(f.pwFile, e.stdin, e.readPassword, fmt.Sprintf("new password of %s: ", name), auth.MaxPasswordLen)
	if err != nil && !sayWhere {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	if err == nil {
		err = auth.CheckPassword(pw)
	}
	if err != nil {
		return fmt.Errorf("%s: password from %s: %w", cmd, where, err)
	}
	f.pw = pw
	return nil
}

func cmdUserRole() *command {
	return op[auth.Role, none]{
		name: "user role", usage: "NAME analyst|operator|admin", on: onAccounts,
		short: "change an account's role, at its next request; the last enabled admin cannot be demoted",
		check: func(c *call, r *auth.Role) error {
			if len(c.pos) != 2 {
				return usagef("user role: want NAME and ROLE")
			}
			var err error
			if *r, err = auth.ParseRole(c.pos[1]); err != nil {
				return usagef("user role: %v", err)
			}
			return nil
		},
		call: func(c *call, r *auth.Role) (none, error) { return none{}, c.acc.SetRole(c.ctx, c.actor, c.pos[0], *r) },
		text: func(c *call, r *auth.Role, _ none) { c.printf("%s is %s\n", c.pos[0], *r) },
	}.command()
}

// localMinute is t to the minute in the host's zone; "-" for none.
func localMinute(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}
