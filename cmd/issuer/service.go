package main

import (
	"context"
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
	name := "cli"
	if u, err := user.Current(); err == nil {
		name = "cli:" + u.Username
	}
	return auth.Actor{Name: name, Role: auth.RoleAdmin, Source: name}
}
