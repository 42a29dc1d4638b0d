package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/internal/cmdline"
	"github.com/issuer-dev/issuer/internal/config"
	"github.com/issuer-dev/issuer/ops"
)

// Credential is what a one-shot command is given to prove who acts: an
// API token, the account named (--as), and a way to ask for that
// account's password.
type Credential struct {
	Token     string // "" when none was given
	TokenFrom string // where the token came from: ISSUER_TOKEN or a file, for messages
	As        string // the account named, or ""
	// Password asks for As's password at a terminal:
	// cmdline.ErrNoTerminal where nobody can type one.
	Password func(prompt string) (string, error)
}

// Identify is who a one-shot command acts as, authenticated before
// anything changes:
//   - an API token is its account's, which As, when given, must name;
//   - As without a token asks for As's password at the terminal;
//   - with neither, shell: the command line without a credential.
//
// A credential that does not prove the account fails the command (exit 1)
// with nothing changed. Logins and refusals are audited by auth.
func Identify(ctx context.Context, s *ops.Service, shell auth.Actor, c Credential) (auth.Actor, error) {
	if c.Token == "" && c.As == "" {
		return shell, nil
	}
	users, _, err := NewAuthStore(s.Config, s.DB)
	if err != nil {
		return auth.Actor{}, err
	}
	if c.Token != "" {
		a, err := users.TokenActor(ctx, c.Token, shell.Source)
		if errors.Is(err, auth.ErrNoSession) {
			return auth.Actor{}, fmt.Errorf("the API token in %s is not valid (unknown, revoked, expired, or of a disabled account); "+
				"nothing was changed", c.TokenFrom)
		}
		if err != nil {
			return auth.Actor{}, err
		}
		if c.As != "" && c.As != a.Name {
			return auth.Actor{}, fmt.Errorf("--as %s, but the API token in %s is %s's; nothing was changed", c.As, c.TokenFrom, a.Name)
		}
		return a, nil
	}
	as := c.As
	if err := auth.CheckName(as); err != nil {
		return auth.Actor{}, fmt.Errorf("--as: %w", err)
	}
	pw, err := c.Password(fmt.Sprintf("password of %s: ", as))
	if errors.Is(err, cmdline.ErrNoTerminal) {
		return auth.Actor{}, fmt.Errorf("--as %s needs %s's credential: an API token of %s's in ISSUER_TOKEN or --token-file "+
			"(issuer user token %s), or %s's password typed at a terminal; nothing was changed", as, as, as, as, as)
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

// WithAccounts is WithService with the operations on accounts and API
// tokens as well.
func (e Env) WithAccounts(ctx context.Context, cfg *config.Config, fn func(*ops.Service, *ops.Accounts) error) error {
	return e.WithService(ctx, cfg, func(s *ops.Service) error {
		store, _, err := NewAuthStore(s.Config, s.DB)
		if err != nil {
			return err
		}
		return fn(s, ops.NewAccounts(store))
	})
}
