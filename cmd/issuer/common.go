package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	issuer "github.com/issuer-dev/issuer"
	"github.com/issuer-dev/issuer/internal/config"
	"github.com/issuer-dev/issuer/wxpay"
)

// loadConfig loads and validates the configuration, logging warnings.
func (e *env) loadConfig() (*config.Config, error) {
	return e.loadConfigWith(config.LoadOptions{})
}

// loadConfigWith is loadConfig with more checks; the environment's
// ISSUER_* names are always checked.
func (e *env) loadConfigWith(o config.LoadOptions) (*config.Config, error) {
	o.Environ = e.environ
	cfg, warnings, err := config.LoadWith(e.configPath, e.getenv, o)
	for _, w := range warnings {
		e.logger.Warn("config", "problem", w)
	}
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// openDB connects and checks that the schema is current, so that a
// forgotten `issuer migrate` is reported as such rather than as a missing
// table halfway through a command.
func (e *env) openDB(ctx context.Context, cfg *config.Config) (*sqlx.DB, error) {
	db, err := e.connect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	var version int
	err = db.GetContext(ctx, &version, `SELECT coalesce(max(version), 0) FROM schema_migrations`)
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && pqErr.Code == "42P01" { // undefined_table
		version, err = 0, nil
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("database %s: %w", config.RedactURL(cfg.DatabaseURL), err)
	}
	if want := issuer.SchemaVersion(); version != want {
		db.Close()
		if version < want {
			return nil, fmt.Errorf("database schema is at version %d, this issuer needs %d: run `issuer migrate`", version, want)
		}
		return nil, fmt.Errorf("database schema is at version %d, newer than this issuer's %d: upgrade issuer", version, want)
	}
	return db, nil
}

// connect opens a pool and pings it, naming the (redacted) URL on failure.
func (e *env) connect(ctx context.Context, cfg *config.Config) (*sqlx.DB, error) {
	db, err := sqlx.Open("postgres", cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", config.RedactURL(cfg.DatabaseURL), err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("database %s unreachable: %w", config.RedactURL(cfg.DatabaseURL), err)
	}
	return db, nil
}

func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// wxOptions loads the merchant's key files into client options; maxConns
// sizes the connection pool (the issue job's concurrency).
func (e *env) wxOptions(cfg *config.Config, maxConns int) (wxpay.Options, error) {
	required := []string{"wxpay.mchid", "wxpay.appid", "wxpay.cert_serial_no", "wxpay.private_key_file"}
	mode := cfg.WXPay.VerifyMode()
	if mode != wxpay.VerifyCertificate {
		required = append(required, "wxpay.public_key_id", "wxpay.public_key_file")
	}
	if mode != wxpay.VerifyPublicKey {
		required = append(required, "wxpay.apiv3_key_file")
	}
	if err := cfg.Require(required...); err != nil {
		return wxpay.Options{}, err
	}
	w := cfg.WXPay
	files := wxpay.KeyFiles{
		MchID: w.MchID, AppID: w.AppID, CertSerialNo: w.CertSerialNo, PrivateKeyFile: w.PrivateKeyFile,
		PublicKeyID: w.PublicKeyID, PublicKeyFile: w.PublicKeyFile,
		Verify: mode, PlatformCAFile: w.PlatformCAFile, InsecureSkipPlatformCA: w.InsecureSkipPlatformCA,
		PlatformCertDir: w.PlatformCertDir, PlatformCertRefresh: w.PlatformCertRefresh, Logger: e.logger,
	}
	if mode != wxpay.VerifyPublicKey {
		// Platform certificates arrive encrypted with the APIv3 key.
		key, err := config.ReadSecretFile(w.APIv3KeyFile)
		if err != nil {
			return wxpay.Options{}, fmt.Errorf("config: wxpay.apiv3_key_file: %w", err)
		}
		files.APIv3Key = key
	}
	opts, err := wxpay.LoadOptions(files)
	if err != nil {
		return wxpay.Options{}, fmt.Errorf("wxpay keys: %w", err)
	}
	opts.BaseURL = w.BaseURL
	opts.BackupBaseURL = w.BackupBaseURL
	opts.Timeout = w.Timeout
	opts.MaxConns = maxConns
	opts.UserAgent = "issuer/" + buildVersion()
	opts.Logger = e.logger
	return opts, nil
}

// wxClient builds the WeChat Pay client from the merchant's key files.
func (e *env) wxClient(cfg *config.Config, maxConns int) (*wxpay.Client, error) {
	opts, err := e.wxOptions(cfg, maxConns)
	if err != nil {
		return nil, err
	}
	return newWXClient(opts)
}

func newWXClient(opts wxpay.Options) (*wxpay.Client, error) {
	c, err := wxpay.New(opts)
	if err != nil {
		return nil, fmt.Errorf("wxpay client: %w", err)
	}
	return c, nil
}

// Pool sizes, named once.
const (
	daemonDBConns = 16 // `issuer run`: claims, records, heartbeats, the HTTP API and console
	issueDBConns  = 8  // `issuer issue`: claims and records
	opsWXConns    = 2  // an operation's WeChat Pay calls (settling, stocks, reconcile)
)
