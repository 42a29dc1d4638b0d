package main

import (
	"context"

	"github.com/issuer-dev/issuer/app"
	"github.com/issuer-dev/issuer/internal/config"
)

func cmdRun() *command {
	c := &command{
		name:  "run",
		short: "the unattended daemon: scheduled jobs, HTTP endpoints, graceful shutdown on SIGTERM",
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		if _, err := parseFlags(e, newFlags(e, c), args); err != nil {
			return err
		}
		// The same checks as `config check`, so the two never disagree.
		cfg, err := e.loadConfigWith(config.LoadOptions{Run: true})
		if err != nil {
			return err
		}
		d, err := app.NewDaemon(ctx, cfg, app.Options{Logger: e.logger, Stdout: e.stdout, Version: buildVersion()})
		if err != nil {
			return err
		}
		return d.Run(ctx)
	}
	return c
}
