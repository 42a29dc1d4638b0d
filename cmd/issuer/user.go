package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/issuer-dev/issuer/app"
	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/internal/textable"
	"github.com/issuer-dev/issuer/ops"
)

// userCommands manage the accounts of the console and the HTTP API.
func userCommands() []*command {
	return []*command{cmdUserAdd(), cmdUserList(), cmdUserSetDisabled(true), cmdUserSetDisabled(false), cmdUserToken(),
		cmdUserPasswd(), cmdUserRole()}
}

// withAccounts loads config, opens the database and runs fn with the
// operations on accounts.
func withAccounts(ctx context.Context, e *env, fn func(*ops.Accounts) error) error {
	return e.withService(ctx, func(s *ops.Service) error {
		store, _, err := app.NewAuthStore(s.Config, s.DB)
		if err != nil {
			return err
		}
		return fn(ops.NewAccounts(store))
	})
}

func cmdUserAdd() *command {
	c := &command{
		name:  "user add",
		usage: "NAME --role analyst|operator|admin [--password-file F]",
		short: "add a console and API account; the password comes from F, the first line of stdin, or is typed at the terminal",
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := newFlags(e, c)
		role := fs.String("role", "", "analyst, operator or admin (required)")
		pwFile := fs.String("password-file", "", "read the password from the first line of this file instead of stdin")
		name, err := parseOne(e, fs, args, "NAME")
		if err != nil {
			return err
		}
		if *role == "" {
			return usagef("user add: --role is required")
		}
		r, err := auth.ParseRole(*role)
		if err != nil {
			return usagef("user add: --role: %v", err)
		}
		if err := auth.CheckName(name); err != nil {
			return usagef("user add: %v", err)
		}
		pw, where, err := e.newPassword(*pwFile, name)
		if err != nil {
			return fmt.Errorf("user add: password from %s: %w", where, err)
		}
		if err := auth.CheckPassword(pw); err != nil {
			return fmt.Errorf("user add: password from %s: %w", where, err)
		}
		return withAccounts(ctx, e, func(s *ops.Accounts) error {
			u, err := s.AddUser(ctx, e.actor(), name, r, pw)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "added %s (%s)\n", u.Name, u.Role)
			return nil
		})
	}
	return c
}

// firstLine reads up to the first newline, without it or a trailing \r.
func firstLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, auth.MaxPasswordLen+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func cmdUserList() *command {
	c := &command{name: "user list", usage: "[--json]", short: "list accounts: name, role, disabled, created, last login"}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := newFlags(e, c)
		asJSON := fs.Bool("json", false, `print a JSON array of {"name","role","disabled","created_at","last_login_at"}`)
		pos, err := parseFlags(e, fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 0 {
			return usagef("user list: takes no arguments")
		}
		return withAccounts(ctx, e, func(s *ops.Accounts) error {
			users, err := s.Users(ctx, e.actor())
			if err != nil {
				return err
			}
			if *asJSON {
				return e.printJSON(users)
			}
			t := textable.New("NAME", "ROLE", "DISABLED", "CREATED", "LAST_LOGIN")
			for _, u := range users {
				last := "-"
				if u.LastLoginAt != nil {
					last = u.LastLoginAt.Local().Format("2006-01-02 15:04")
				}
				t.Add(u.Name, string(u.Role), strconv.FormatBool(u.Disabled), u.CreatedAt.Local().Format("2006-01-02 15:04"), last)
			}
			t.Write(e.stdout)
			return nil
		})
	}
	return c
}

func cmdUserSetDisabled(disabled bool) *command {
	c := &command{name: "user enable", usage: "NAME", short: "let a disabled account sign in again (its old tokens stay revoked)"}
	if disabled {
		c = &command{name: "user disable", usage: "NAME", short: "disable an account: its sessions and API tokens stop working at once"}
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		name, err := parseOne(e, newFlags(e, c), args, "NAME")
		if err != nil {
			return err
		}
		return withAccounts(ctx, e, func(s *ops.Accounts) error {
			act := s.EnableUser
			if disabled {
				act = s.DisableUser
			}
			if err := act(ctx, e.actor(), name); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%sd %s\n", strings.TrimPrefix(c.name, "user "), name)
			return nil
		})
	}
	return c
}

func cmdUserToken() *command {
	c := &command{
		name:  "user token",
		usage: "NAME [--expires 90d] | NAME --revoke ID | NAME --list [--json]",
		short: "print a new API token for NAME once (stored hashed, working 90 days unless --expires says); --revoke ID revokes one, --list lists them without secrets",
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := newFlags(e, c)
		expires := fs.String("expires", "90d", "how long the new token works: `SPAN` in days (30d) or hours (12h), at most 366d")
		revoke := fs.Int64("revoke", 0, "revoke the token with this ID")
		list := fs.Bool("list", false, "list NAME's tokens (ID, prefix, dates), never their secrets")
		asJSON := fs.Bool("json", false, "with --list: print JSON")
		name, err := parseOne(e, fs, args, "NAME")
		if err != nil {
			return err
		}
		if *revoke != 0 && *list {
			return usagef("user token: --revoke and --list exclude each other")
		}
		ttl, err := parseSpan(*expires)
		if err != nil {
			return usagef("user token: --expires: %v", err)
		}
		return withAccounts(ctx, e, func(s *ops.Accounts) error {
			switch {
			case *revoke != 0:
				if err := s.RevokeToken(ctx, e.actor(), name, *revoke); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "revoked token %d of %s\n", *revoke, name)
				return nil
			case *list:
				if _, err := s.User(ctx, e.actor(), name); err != nil {
					return fmt.Errorf("user token %s: %w", name, err)
				}
				tokens, err := s.Tokens(ctx, e.actor(), name)
				if err != nil {
					return err
				}
				if *asJSON {
					return e.printJSON(tokens)
				}
				t := textable.New("ID>", "PREFIX", "CREATED", "EXPIRES", "LAST_USED", "REVOKED")
				for _, tk := range tokens {
					t.Add(strconv.FormatInt(tk.ID, 10), tk.Prefix+"…", tk.CreatedAt.Local().Format("2006-01-02 15:04"),
						tk.ExpiresAt.Local().Format("2006-01-02 15:04"), fmtOptTime(tk.LastUsedAt), fmtOptTime(tk.RevokedAt))
				}
				t.Write(e.stdout)
				return nil
			}
			tok, secret, err := s.CreateToken(ctx, e.actor(), name, ttl)
			if err != nil {
				return err
			}
			// The secret alone on stdout, so `TOKEN=$(issuer user token x)`
			// works; the rest on stderr.
			fmt.Fprintln(e.stdout, secret)
			fmt.Fprintf(e.stderr, "token %d for %s: shown once, stored hashed, works until %s; revoke with `issuer user token %s --revoke %d`\n",
				tok.ID, name, tok.ExpiresAt.Local().Format("2006-01-02 15:04"), name, tok.ID)
			return nil
		})
	}
	return c
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
	c := &command{
		name:  "user passwd",
		usage: "NAME [--password-file F]",
		short: "set an account's new password (typed at the terminal twice, or the first line of stdin or F); ends its sessions",
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := newFlags(e, c)
		pwFile := fs.String("password-file", "", "read the password from the first line of this file instead")
		name, err := parseOne(e, fs, args, "NAME")
		if err != nil {
			return err
		}
		pw, where, err := e.newPassword(*pwFile, name)
		if err != nil {
			return fmt.Errorf("user passwd: %w", err)
		}
		if err := auth.CheckPassword(pw); err != nil {
			return fmt.Errorf("user passwd: password from %s: %w", where, err)
		}
		return withAccounts(ctx, e, func(s *ops.Accounts) error {
			if err := s.Passwd(ctx, e.actor(), name, pw); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "password of %s changed; its sessions ended\n", name)
			return nil
		})
	}
	return c
}

// newPassword reads a new password for name: from file when given, else
// typed twice at the terminal when stdin is one, else the first line of
// stdin. where says which, for messages.
func (e *env) newPassword(file, name string) (pw, where string, err error) {
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return "", file, err
		}
		defer f.Close()
		pw, err = firstLine(f)
		return pw, file, err
	}
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		pw, err := e.readPassword(fmt.Sprintf("new password of %s: ", name))
		if err != nil {
			return "", "the terminal", err
		}
		again, err := e.readPassword("again: ")
		if err != nil {
			return "", "the terminal", err
		}
		if pw != again {
			return "", "the terminal", errors.New("the two passwords differ; nothing was changed")
		}
		return pw, "the terminal", nil
	}
	pw, err = firstLine(e.stdin)
	return pw, "stdin", err
}

func cmdUserRole() *command {
	c := &command{name: "user role", usage: "NAME analyst|operator|admin",
		short: "change an account's role, at its next request; the last enabled admin cannot be demoted"}
	c.run = func(ctx context.Context, e *env, args []string) error {
		pos, err := parseFlags(e, newFlags(e, c), args)
		if err != nil {
			return err
		}
		if len(pos) != 2 {
			return usagef("user role: want NAME and ROLE")
		}
		r, err := auth.ParseRole(pos[1])
		if err != nil {
			return usagef("user role: %v", err)
		}
		return withAccounts(ctx, e, func(s *ops.Accounts) error {
			if err := s.SetRole(ctx, e.actor(), pos[0], r); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s is %s\n", pos[0], r)
			return nil
		})
	}
	return c
}

func fmtOptTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}
