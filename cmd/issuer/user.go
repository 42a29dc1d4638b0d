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

	"github.com/jmoiron/sqlx"

	"github.com/issuer-dev/issuer/audit"
	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/internal/config"
	"github.com/issuer-dev/issuer/internal/textable"
	"github.com/issuer-dev/issuer/ops"
)

// userCommands manage the accounts of the console and the HTTP API.
func userCommands() []*command {
	return []*command{cmdUserAdd(), cmdUserList(), cmdUserSetDisabled(true), cmdUserSetDisabled(false), cmdUserToken()}
}

// newAuthStore builds the accounts store with the console's settings.
func newAuthStore(cfg *config.Config, db *sqlx.DB) (*auth.Store, *audit.Store, error) {
	log := audit.NewStore(db, nil)
	store, err := auth.NewStore(db, log, auth.Options{
		SessionIdle: cfg.Console.SessionIdle, SessionMax: cfg.Console.SessionMax,
		AccountLimit: cfg.Console.LockoutAfter, Lockout: cfg.Console.Lockout,
	})
	if err != nil {
		return nil, nil, err
	}
	return store, log, nil
}

// withAuth loads config, opens the database and runs fn with the store.
func withAuth(ctx context.Context, e *env, fn func(*auth.Store) error) error {
	return e.withService(ctx, func(s *ops.Service) error {
		store, _, err := newAuthStore(s.Config, s.DB)
		if err != nil {
			return err
		}
		return fn(store)
	})
}

func cmdUserAdd() *command {
	c := &command{
		name:  "user add",
		usage: "NAME --role analyst|operator|admin [--password-file F]",
		short: "add a console and API account; the password comes from F or the first line of stdin",
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := newFlags(e, c)
		role := fs.String("role", "", "analyst, operator or admin (required)")
		pwFile := fs.String("password-file", "", "read the password from the first line of this file instead of stdin")
		pos, err := parseFlags(e, fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usagef("user add: want exactly one NAME")
		}
		if *role == "" {
			return usagef("user add: --role is required")
		}
		r, err := auth.ParseRole(*role)
		if err != nil {
			return usagef("user add: --role: %v", err)
		}
		if err := auth.CheckName(pos[0]); err != nil {
			return usagef("user add: %v", err)
		}
		var src io.Reader = e.stdin
		where := "stdin"
		if *pwFile != "" {
			f, err := os.Open(*pwFile)
			if err != nil {
				return fmt.Errorf("user add: %w", err)
			}
			defer f.Close()
			src, where = f, *pwFile
		}
		pw, err := firstLine(src)
		if err != nil {
			return fmt.Errorf("user add: password from %s: %w", where, err)
		}
		if err := auth.CheckPassword(pw); err != nil {
			return fmt.Errorf("user add: password from %s: %w", where, err)
		}
		return withAuth(ctx, e, func(s *auth.Store) error {
			u, err := s.AddUser(ctx, e.actor(), pos[0], r, pw)
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
		return withAuth(ctx, e, func(s *auth.Store) error {
			users, err := s.Users(ctx)
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
		pos, err := parseFlags(e, newFlags(e, c), args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usagef("%s: want exactly one NAME", c.name)
		}
		return withAuth(ctx, e, func(s *auth.Store) error {
			if err := s.SetDisabled(ctx, e.actor(), pos[0], disabled); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%sd %s\n", strings.TrimPrefix(c.name, "user "), pos[0])
			return nil
		})
	}
	return c
}

func cmdUserToken() *command {
	c := &command{
		name:  "user token",
		usage: "NAME [--revoke ID | --list [--json]]",
		short: "print a new API token for NAME once (stored hashed); --revoke ID revokes one, --list lists them without secrets",
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := newFlags(e, c)
		revoke := fs.Int64("revoke", 0, "revoke the token with this ID")
		list := fs.Bool("list", false, "list NAME's tokens (ID, prefix, dates), never their secrets")
		asJSON := fs.Bool("json", false, "with --list: print JSON")
		pos, err := parseFlags(e, fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usagef("user token: want exactly one NAME")
		}
		if *revoke != 0 && *list {
			return usagef("user token: --revoke and --list exclude each other")
		}
		name := pos[0]
		return withAuth(ctx, e, func(s *auth.Store) error {
			switch {
			case *revoke != 0:
				if err := s.RevokeToken(ctx, e.actor(), name, *revoke); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "revoked token %d of %s\n", *revoke, name)
				return nil
			case *list:
				if _, err := s.User(ctx, name); err != nil {
					return fmt.Errorf("user token %s: %w", name, err)
				}
				tokens, err := s.Tokens(ctx, name)
				if err != nil {
					return err
				}
				if *asJSON {
					return e.printJSON(tokens)
				}
				t := textable.New("ID>", "PREFIX", "CREATED", "LAST_USED", "REVOKED")
				for _, tk := range tokens {
					t.Add(strconv.FormatInt(tk.ID, 10), tk.Prefix+"…", tk.CreatedAt.Local().Format("2006-01-02 15:04"),
						fmtOptTime(tk.LastUsedAt), fmtOptTime(tk.RevokedAt))
				}
				t.Write(e.stdout)
				return nil
			}
			tok, secret, err := s.CreateToken(ctx, e.actor(), name, 0)
			if err != nil {
				return err
			}
			// The secret alone on stdout, so `TOKEN=$(issuer user token x)`
			// works; the rest on stderr.
			fmt.Fprintln(e.stdout, secret)
			fmt.Fprintf(e.stderr, "token %d for %s: shown once, stored hashed; revoke with `issuer user token %s --revoke %d`\n",
				tok.ID, name, name, tok.ID)
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
