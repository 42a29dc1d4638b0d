package main

import (
	"runtime"
	"runtime/debug"

	"github.com/issuer-dev/issuer/internal/buildinfo"
)

// version is set at link time: go build -ldflags "-X main.version=v1.4.0"
// (make build does, from git describe). It is the only package-level
// variable, and only because the linker can set nothing else; nothing
// writes it at run time.
var version string

func cmdVersion() *command {
	return op[none, none]{
		name: "version", short: "print the version", on: offline,
		call: func(c *call, _ *none) (none, error) { return none{}, nil },
		text: func(c *call, _ *none, _ none) {
			c.printf("issuer %s (%s %s/%s)\n", buildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		},
	}.command()
}

// buildVersion is the version of this binary (buildinfo.Version).
func buildVersion() string { return buildinfo.Version(version) }

func versionOf(linked string, info *debug.BuildInfo, ok bool) string {
	return buildinfo.Of(linked, info, ok)
}
