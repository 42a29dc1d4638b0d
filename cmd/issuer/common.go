package main

import (
	"encoding/json"

	"github.com/issuer-dev/issuer/app"
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

func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// wxClient builds the WeChat Pay client from the merchant's key files.
func (e *env) wxClient(cfg *config.Config, maxConns int) (*wxpay.Client, error) {
	opts, err := app.WXOptions(cfg, maxConns, e.logger, buildVersion())
	if err != nil {
		return nil, err
	}
	return app.NewWXClient(opts)
}
