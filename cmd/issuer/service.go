package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/user"
	"strings"

	"golang.org/x/term"

	"github.com/issuer-dev/issuer/app"
	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/internal/config"
	"github.com/issuer-dev/issuer/ops"
)

// app is the wiring of the one-shot commands.
func (e *env) app() app.Env { return app.Env{Logger: e.logger, Version: buildVersion()} }

// withService loads the config, opens the database and runs fn with the
// operations every front end shares (app.Env.WithService).
func (e *env) withService(ctx context.Context, fn func(*ops.Service) error) error {
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	return e.app().WithService(ctx, cfg, fn)
}

// withWXService is withService for the operations that talk to WeChat Pay
// only, which work without a database (app.Env.WithWXService).
func (e *env) withWXService(ctx context.Context, fn func(*ops.Service) error) error {
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	return e.app().WithWXService(ctx, cfg, fn)
}

// osUser is who runs the command on the host.
func (e *env) osUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return e.getenv("USER")
}

// actor is the command line without a credential, recorded as
// cli:<os user>: whoever holds a shell on the host with the merchant's
// keys and the database URL can already do everything there, so it keeps
// the admin role for the host's work (accounts, stocks, reconciliation),
// but as no account it never approves, rejects or loosens a guard (see
// auth.ShellActor). Commands that change batches take an identity.
func (e *env) actor() auth.Actor { return auth.ShellActor(e.osUser()) }

// identity is who a command acts as: --as NAME, proven by NAME's API token
// (--token-file, or ISSUER_TOKEN) or NAME's password typed at the terminal.
type identity struct{ as, tokenFile *string }

// identityFlags adds --as and --token-file to fs.
func identityFlags(fs *flag.FlagSet) identity {
	return identity{
		as: fs.String("as", "", "act as the account `NAME`, proven by its API token (ISSUER_TOKEN or --token-file) "+
			"or its password typed at the terminal; without it, a token in ISSUER_TOKEN names the account"),
		tokenFile: fs.String("token-file", "", "read the API token from the first line of `FILE` instead of ISSUER_TOKEN"),
	}
}

// errNoTerminal: nobody can be asked for a password here.
var errNoTerminal = errors.New("no terminal to type a password at")

// terminalPassword asks for a password at the controlling terminal (not
// stdin, which may carry a recipient list), without echo. With no
// terminal (cron, CI, a pipe) it fails at once instead of waiting.
func terminalPassword(prompt string) (string, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return "", errNoTerminal
	}
	defer tty.Close()
	fd := int(tty.Fd())
	if !term.IsTerminal(fd) {
		return "", errNoTerminal
	}
	fmt.Fprint(tty, prompt)
	pw, err := term.ReadPassword(fd)
	fmt.Fprintln(tty)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	return string(pw), nil
}

// withActor runs fn with the service and the actor who identifies (the
// acts that change batches).
func (e *env) withActor(ctx context.Context, who identity, fn func(*ops.Service, auth.Actor) error) error {
	return e.withService(ctx, func(s *ops.Service) error {
		actor, err := e.actorFor(ctx, s, who)
		if err != nil {
			return err
		}
		return fn(s, actor)
	})
}

// actorFor is who the command acts as, authenticated before anything
// changes:
//   - an API token (--token-file, else ISSUER_TOKEN) is its account's, which
//     --as, when given, must name;
//   - --as NAME without a token asks for NAME's password at the terminal;
//   - with neither, the command line without a credential (actor).
//
// A credential that does not prove the account fails the command (exit 1)
// with nothing changed. Logins and refusals are audited by auth.
func (e *env) actorFor(ctx context.Context, s *ops.Service, id identity) (auth.Actor, error) {
	shell := e.actor()
	as, where := *id.as, "ISSUER_TOKEN"
	token := strings.TrimSpace(e.getenv("ISSUER_TOKEN"))
	if *id.tokenFile != "" {
		t, err := config.ReadSecretFile(*id.tokenFile)
		if err != nil {
			return auth.Actor{}, fmt.Errorf("--token-file: %w; nothing was changed", err)
		}
		token, where = t, *id.tokenFile
	}
	if token == "" && as == "" {
		return shell, nil
	}
	users, _, err := app.NewAuthStore(s.Config, s.DB)
	if err != nil {
		return auth.Actor{}, err
	}
	if token != "" {
		a, err := users.TokenActor(ctx, token, shell.Source)
		if errors.Is(err, auth.ErrNoSession) {
			return auth.Actor{}, fmt.Errorf("the API token in %s is not valid (unknown, revoked, expired, or of a disabled account); "+
				"nothing was changed", where)
		}
		if err != nil {
			return auth.Actor{}, err
		}
		if as != "" && as != a.Name {
			return auth.Actor{}, fmt.Errorf("--as %s, but the API token in %s is %s's; nothing was changed", as, where, a.Name)
		}
		return a, nil
	}
	need := fmt.Errorf("--as %s needs %s's credential: an API token of %s's in ISSUER_TOKEN or --token-file "+
		"(issuer user token %s), or %s's password typed at a terminal; nothing was changed", as, as, as, as, as)
	if err := auth.CheckName(as); err != nil {
		return auth.Actor{}, fmt.Errorf("--as: %w", err)
	}
	pw, err := e.readPassword(fmt.Sprintf("password of %s: ", as))
	if errors.Is(err, errNoTerminal) {
		return auth.Actor{}, need
	}
	if err != nil {
		return auth.Actor{}, err
	}
	a, err := users.Authenticate(ctx, as, pw, shell.Source)
	if err != nil {
		return auth.Actor{}, fmt.Errorf("--as %s: %w; nothing was changed", as, err)
	}
	return a, nil
}

// credentialHint adds to a refusal of the command line without a
// credential how to give one.
func credentialHint(err error, a auth.Actor) error {
	if ops.ErrorCode(err) == ops.EFORBIDDEN && !a.Account() {
		return fmt.Errorf("%w: act as an account, --as NAME with NAME's API token in ISSUER_TOKEN or --token-file, "+
			"or NAME's password typed at a terminal", err)
	}
	return err
}

// opsUsage makes an operation's refusal of its arguments a usage error
// (exit 2), as if the flags had been checked here.
func opsUsage(err error) error {
	if ops.ErrorCode(err) == ops.EINVALID {
		return &usageError{msg: err.Error()}
	}
	return err
}
