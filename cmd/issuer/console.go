package main

import (
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/issuer-dev/issuer/console"
	"github.com/issuer-dev/issuer/console/pages"
	"github.com/issuer-dev/issuer/internal/config"
	"github.com/issuer-dev/issuer/ops"
)

// newConsole builds the web console and HTTP API the daemon serves beside
// its machine endpoints, with the batch, upload, reconciliation and
// operations pages; close the Pages when the server has stopped.
func newConsole(e *env, cfg *config.Config, db *sqlx.DB) (*console.Server, *pages.Pages, error) {
	store, log, err := newAuthStore(cfg, db)
	if err != nil {
		return nil, nil, err
	}
	proxies, err := cfg.Console.TrustedProxyPrefixes()
	if err != nil {
		return nil, nil, fmt.Errorf("config: console.trusted_proxies: %w", err)
	}
	con, err := console.New(console.Config{
		Auth: store, Audit: log, PublicURL: cfg.Console.PublicURL,
		ProxyUserHeader: cfg.Console.ProxyUserHeader, TrustedProxies: proxies,
		MaxUploadBytes: int64(cfg.Console.MaxUploadMB) << 20, Logger: e.logger,
	})
	if err != nil {
		return nil, nil, err
	}
	svc := ops.New(db, cfg, e.wxFactory(cfg), log, e.logger)
	pg, err := pages.Register(con, svc, pages.Options{Location: cfg.Location, Logger: e.logger})
	if err != nil {
		return nil, nil, err
	}
	return con, pg, nil
}
