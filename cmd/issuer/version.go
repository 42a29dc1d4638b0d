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
		version := "(devel)"
		if info, ok := debug.ReadBuildInfo(); ok {
			if info.Main.Version != "" {
				version = info.Main.Version
			}
			for _, s := range info.Settings {
				if s.Key == "vcs.revision" {
					version += " " + s.Value
				}
			}
		}
		fmt.Fprintf(e.stdout, "issuer %s\n", version)
		return nil
	}
	return c
}
