package main

import (
	"context"
	"errors"
	"fmt"
	"os/user"
	"time"

	"github.com/jmoiron/sqlx"

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

// auditDBTimeout bounds the look for the audit log of a command that does
// not need the database.
const auditDBTimeout = 3 * time.Second

// withWXService is withService for the operations that talk to WeChat Pay
// only (stocks, coupons, the notification address): they work without a
// database, so stocks can be managed from any machine holding the merchant
// keys. Their acts go to the audit log when the database is reachable and
// to the log in any case.
func (e *env) withWXService(ctx context.Context, fn func(*ops.Service) error) error {
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	var db *sqlx.DB
	var auditor ops.Auditor
	dctx, cancel := context.WithTimeout(ctx, auditDBTimeout)
	db, err = e.openDB(dctx, cfg)
	cancel()
	if err != nil {
		e.logger.Debug("no database: acts are only logged", "err", err)
	} else {
		defer db.Close()
		auditor = audit.NewStore(db, nil)
	}
	// ops.New is not given db: these operations must not need it.
	return fn(ops.New(nil, cfg, e.wxFactory(cfg), auditor, e.logger))
}

// offlineService is the operations without a database or WeChat Pay, on
// cfg when one is loaded (nil otherwise): plugin signing.
func (e *env) offlineService(cfg *config.Config) *ops.Service {
	return ops.New(nil, cfg, nil, nil, e.logger)
}

// wxFactory makes WeChat Pay clients from the config on demand.
func (e *env) wxFactory(cfg *config.Config) func() (ops.WXClient, error) {
	return func() (ops.WXClient, error) { return e.wxClient(cfg, opsWXConns) }
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

// opsUsage makes an operation's refusal of its arguments a usage error
// (exit 2), as if the flags had been checked here.
func opsUsage(err error) error {
	var ie *ops.InvalidError
	if errors.As(err, &ie) {
		return &usageError{msg: err.Error()}
	}
	return err
}
