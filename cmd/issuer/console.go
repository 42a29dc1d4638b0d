package main

import (
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/issuer-dev/issuer/console"
	"github.com/issuer-dev/issuer/internal/config"
)

// newConsole builds the web console and HTTP API the daemon serves beside
// its machine endpoints.
func newConsole(e *env, cfg *config.Config, db *sqlx.DB) (*console.Server, error) {
	store, log, err := newAuthStore(cfg, db)
	if err != nil {
		return nil, err
	}
	proxies, err := cfg.Console.TrustedProxyPrefixes()
	if err != nil {
		return nil, fmt.Errorf("config: console.trusted_proxies: %w", err)
	}
	return console.New(console.Config{
		Auth: store, Audit: log, PublicURL: cfg.Console.PublicURL,
		ProxyUserHeader: cfg.Console.ProxyUserHeader, TrustedProxies: proxies,
		MaxUploadBytes: int64(cfg.Console.MaxUploadMB) << 20, Logger: e.logger,
	})
}
