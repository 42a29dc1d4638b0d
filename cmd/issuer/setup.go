package main

import (
	"flag"

	issuer "github.com/issuer-dev/issuer"
	"github.com/issuer-dev/issuer/app"
	"github.com/issuer-dev/issuer/internal/config"
)

// The host's commands: the schema, the configuration and the daemon.

func cmdMigrate() *command {
	return op[none, none]{
		name: "migrate", short: "apply schema.sql to the database (idempotent)", on: offline,
		call: func(c *call, _ *none) (none, error) {
			cfg, err := c.e.loadConfig()
			if err != nil {
				return none{}, err
			}
			applied, err := app.Migrate(c.ctx, cfg)
			if err != nil {
				return none{}, err
			}
			for _, m := range applied {
				c.printf("applied migration %d %s\n", m.Version, m.Name)
			}
			c.printf("schema at version %d\n", issuer.SchemaVersion())
			return none{}, nil
		},
	}.command()
}

func cmdConfigCheck() *command {
	return op[bool, none]{
		name:  "config check",
		usage: "[--offline]",
		short: "check everything `issuer run` checks and print the configuration with secrets redacted",
		on:    offline,
		flags: func(fs *flag.FlagSet, offline *bool) {
			fs.BoolVar(offline, "offline", false, "do not contact the database (its reachability and schema version are not checked)")
		},
		call: func(c *call, offline *bool) (none, error) {
			cfg, err := c.e.loadConfigWith(config.LoadOptions{Run: true})
			if err != nil {
				return none{}, err
			}
			if !*offline {
				// As `issuer run` does at start-up: reachable and migrated.
				db, err := app.OpenDB(c.ctx, cfg)
				if err != nil {
					return none{}, &config.Error{Problems: []config.Problem{{Key: "database_url", Msg: err.Error()}}}
				}
				db.Close()
			}
			c.printf("%s", cfg.Effective())
			// The robot URLs live in files: read them now, so that a typo shows
			// here rather than as alerts that never arrive.
			_, err = app.AlertConfig(cfg)
			return none{}, err
		},
	}.command()
}

func cmdRun() *command {
	return op[none, none]{
		name:  "run",
		short: "the unattended daemon: scheduled jobs, HTTP endpoints, graceful shutdown on SIGTERM",
		on:    offline,
		call: func(c *call, _ *none) (none, error) {
			// The same checks as `config check`, so the two never disagree.
			cfg, err := c.e.loadConfigWith(config.LoadOptions{Run: true})
			if err != nil {
				return none{}, err
			}
			d, err := app.NewDaemon(c.ctx, cfg, app.Options{Logger: c.e.logger, Stdout: c.e.stdout, Version: buildVersion()})
			if err != nil {
				return none{}, err
			}
			return none{}, d.Run(c.ctx)
		},
	}.command()
}
