package main

import (
	"context"
	"fmt"

	issuer "github.com/issuer-dev/issuer"
	"github.com/issuer-dev/issuer/app"
	"github.com/issuer-dev/issuer/internal/config"
)

func cmdMigrate() *command {
	c := &command{name: "migrate", short: "apply schema.sql to the database (idempotent)"}
	c.run = func(ctx context.Context, e *env, args []string) error {
		if _, err := parseFlags(e, newFlags(e, c), args); err != nil {
			return err
		}
		cfg, err := e.loadConfig()
		if err != nil {
			return err
		}
		db, err := app.Connect(ctx, cfg)
		if err != nil {
			return err
		}
		defer db.Close()
		applied, err := issuer.Migrate(ctx, db)
		if err != nil {
			return err
		}
		for _, m := range applied {
			fmt.Fprintf(e.stdout, "applied migration %d %s\n", m.Version, m.Name)
		}
		fmt.Fprintf(e.stdout, "schema at version %d\n", issuer.SchemaVersion())
		return nil
	}
	return c
}

func cmdConfigCheck() *command {
	c := &command{
		name:  "config check",
		usage: "[--offline]",
		short: "check everything `issuer run` checks and print the configuration with secrets redacted",
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := newFlags(e, c)
		offline := fs.Bool("offline", false, "do not contact the database (its reachability and schema version are not checked)")
		if _, err := parseFlags(e, fs, args); err != nil {
			return err
		}
		cfg, err := e.loadConfigWith(config.LoadOptions{Run: true})
		if err != nil {
			return err
		}
		if !*offline {
			// As `issuer run` does at start-up: reachable and migrated.
			db, err := app.OpenDB(ctx, cfg)
			if err != nil {
				return &config.Error{Problems: []config.Problem{{Key: "database_url", Msg: err.Error()}}}
			}
			db.Close()
		}
		fmt.Fprint(e.stdout, cfg.Effective())
		// The robot URLs live in files: read them now, so that a typo shows
		// here rather than as alerts that never arrive.
		if _, err := app.AlertConfig(cfg); err != nil {
			return err
		}
		return nil
	}
	return c
}
