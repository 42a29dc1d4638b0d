package main

import (
	"context"
	"fmt"
	"runtime/debug"
)

func cmdVersion() *command {
	c := &command{name: "version", short: "print the version"}
	c.run = func(ctx context.Context, e *env, args []string) error {
		if _, err := parseFlags(e, newFlags(e, c), args); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "issuer %s\n", buildVersion())
		return nil
	}
	return c
}

func buildVersion() string {
	version := "(devel)"
	if info, ok := debug.ReadBuildInfo(); ok {
		if info.Main.Version != "" {
			version = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				version += "+" + s.Value[:12]
			}
		}
	}
	return version
}
