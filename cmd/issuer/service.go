package main

import (
	"context"
	"errors"
	"fmt"
	"os/user"

	"github.com/issuer-dev/issuer/audit"
	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/internal/config"
	"github.com/issuer-dev/issuer/ops"
)

// withService loads the config, opens the database and runs fn with the
// operations every front end shares. The WeChat Pay client is made only
// if an operation needs one.
func (e *env) withService(ctx context.Context, fn func(*ops.Service) error) error {
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	db, err := e.openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	return fn(ops.New(db, cfg, e.wxFactory(cfg), audit.NewStore(db, nil), e.logger))
}

// wxFactory makes WeChat Pay clients from the config on demand.
func (e *env) wxFactory(cfg *config.Config) func() (ops.WXClient, error) {
	return func() (ops.WXClient, error) { return e.wxClient(cfg, 2) }
}

// actor is who runs a CLI command: whoever holds a shell on the host with
// the merchant's keys and the database URL can already do everything, so
// the CLI acts with the admin role, recorded as cli:<os user>.
func (e *env) actor() auth.Actor {
	name := e.getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if name == "" {
		name = "unknown"
	}
	return auth.Actor{Name: "cli:" + name, Role: auth.RoleAdmin, Source: "cli:" + name}
}

// actorAs is the account NAME acting through the CLI (--as NAME): its own
// role, not the CLI's, so that maker-checker rules hold from the shell too.
// Without a name it is the CLI's actor.
func (e *env) actorAs(ctx context.Context, s *ops.Service, name string) (auth.Actor, error) {
	cli := e.actor()
	if name == "" {
		return cli, nil
	}
	users, err := auth.NewStore(s.DB, nil, auth.Options{})
	if err != nil {
		return auth.Actor{}, err
	}
	u, err := users.User(ctx, name)
	if errors.Is(err, auth.ErrNotFound) {
		return auth.Actor{}, fmt.Errorf("--as %s: no such account (issuer user list)", name)
	}
	if err != nil {
		return auth.Actor{}, fmt.Errorf("--as %s: %w", name, err)
	}
	if u.Disabled {
		return auth.Actor{}, fmt.Errorf("--as %s: the account is disabled", name)
	}
	return auth.Actor{Name: u.Name, Role: u.Role, Source: cli.Source}, nil
}
