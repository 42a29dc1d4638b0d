package main

import (
	"github.com/issuer-dev/issuer/app"
	"github.com/issuer-dev/issuer/internal/config"
)

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
