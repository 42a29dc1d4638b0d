package app

import (
	"fmt"
	"log/slog"

	"github.com/jmoiron/sqlx"

	"github.com/issuer-dev/issuer/console"
	"github.com/issuer-dev/issuer/console/pages"
	"github.com/issuer-dev/issuer/internal/config"
	"github.com/issuer-dev/issuer/ops"
	"github.com/issuer-dev/issuer/wxpay"
)

// newConsole builds the web console and HTTP API the daemon serves beside
// its machine endpoints, with the batch, upload, reconciliation and
// operations pages; close the Pages when the server has stopped. wx makes
// the WeChat Pay clients of the stock, coupon and reconcile operations.
func newConsole(cfg *config.Config, db *sqlx.DB, wx func() (ops.WXClient, error), logger *slog.Logger) (*console.Server, *pages.Pages, error) {
	store, log, err := NewAuthStore(cfg, db)
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
		MaxUploadBytes: int64(cfg.Console.MaxUploadMB) << 20, Location: cfg.Location, Logger: logger,
	})
	if err != nil {
		return nil, nil, err
	}
	svc := ops.New(db, cfg, wx, log, logger)
	pg, err := pages.Register(con, svc, pages.Options{Location: cfg.Location, Logger: logger,
		PendingBytes: int64(cfg.Console.PendingUploadsMB) << 20}) // 0: four times the upload limit
	if err != nil {
		return nil, nil, err
	}
	return con, pg, nil
}

// lentClient lends the daemon's WeChat Pay client to the console's
// operations: one connection pool and one platform certificate store for
// the process. The daemon closes it when it stops, so Close does nothing.
type lentClient struct{ *wxpay.Client }

func (lentClient) Close() {}

func lend(c *wxpay.Client) func() (ops.WXClient, error) {
	return func() (ops.WXClient, error) { return lentClient{c}, nil }
}
