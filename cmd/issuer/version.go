package main

import (
	"runtime"
	"runtime/debug"
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

// buildVersion is the linked version, else the module version, else the
// commit the binary was built from (go build in a git checkout stamps it),
// and "devel" only when none of these is known.
func buildVersion() string {
	info, ok := debug.ReadBuildInfo()
	return versionOf(version, info, ok)
}

func versionOf(linked string, info *debug.BuildInfo, ok bool) string {
	if linked != "" {
		return linked
	}
	if !ok {
		return "devel"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, at string
	dirty := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "devel"
	}
	v := "devel-" + rev[:min(12, len(rev))]
	if dirty {
		v += "-dirty"
	}
	if at != "" {
		v += " " + at
	}
	return v
}
