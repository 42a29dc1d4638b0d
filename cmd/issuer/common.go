package main

import (
	"encoding/json"

	"github.com/issuer-dev/issuer/internal/config"
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
