package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os/user"
	"strings"

	"github.com/issuer-dev/issuer/app"
	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/internal/cmdline"
	"github.com/issuer-dev/issuer/internal/config"
	"github.com/issuer-dev/issuer/ops"
)

// app is the wiring of the one-shot commands.
func (e *env) app() app.Env { return app.Env{Logger: e.logger, Version: buildVersion()} }

// loadConfig loads and validates the configuration, logging warnings.
func (e *env) loadConfig() (*config.Config, error) {
	return e.loadConfigWith(config.LoadOptions{})
}

// loadConfigWith is loadConfig with more checks; the environment's
// ISSUER_* names are always checked.
func (e *env) loadConfigWith(o config.LoadOptions) (*config.Config, error) {
	o.Environ = e.environ
	cfg, warnings, err := config.LoadWith(e.configPath, e.getenv, o)
	for _, w := range warnings {
		e.logger.Warn("config", "problem", w)
	}
	return cfg, err
}

func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// open loads the config, opens what on needs (app.Env) and runs fn once
// c has it and knows who acts: who proves it when given (the acts that
// change batches), else the command line without a credential.
func (c *call) open(on backend, who *identity, fn func() error) error {
	e := c.e
	if on == offline {
		c.actor = e.actor()
		return fn()
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	run := func(s *ops.Service) error {
		c.s, c.actor = s, e.actor()
		if who != nil {
			cred, err := e.credential(*who)
			if err != nil {
				return err
			}
			if c.actor, err = app.Identify(c.ctx, s, c.actor, cred); err != nil {
				return err
			}
		}
		return fn()
	}
	switch on {
	case onWX:
		return e.app().WithWXService(c.ctx, cfg, run)
	case onAccounts:
		return e.app().WithAccounts(c.ctx, cfg, func(s *ops.Service, acc *ops.Accounts) error {
			c.acc = acc
			return run(s)
		})
	}
	return e.app().WithService(c.ctx, cfg, run)
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

// credential is what id and the environment give to prove who acts
// (app.Identify): the token in --token-file, else in ISSUER_TOKEN.
func (e *env) credential(id identity) (app.Credential, error) {
	c := app.Credential{Token: strings.TrimSpace(e.getenv("ISSUER_TOKEN")), TokenFrom: "ISSUER_TOKEN", As: *id.as, Password: e.readPassword}
	if *id.tokenFile != "" {
		t, err := config.ReadSecretFile(*id.tokenFile)
		if err != nil {
			return c, fmt.Errorf("--token-file: %w; nothing was changed", err)
		}
		c.Token, c.TokenFrom = t, *id.tokenFile
	}
	return c, nil
}

// errNoTerminal: nobody can be asked for a password here.
var errNoTerminal = cmdline.ErrNoTerminal

// opsUsage makes an operation's refusal of its arguments a usage error
// (exit 2), as if the flags had been checked here.
func opsUsage(err error) error {
	if ops.ErrorCode(err) == ops.EINVALID {
		return &cmdline.UsageError{Msg: err.Error()}
	}
	return err
}
