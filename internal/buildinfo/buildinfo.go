// Package buildinfo names the version of the running binary: the one the
// linker set, else the module's, else the commit it was built from.
package buildinfo

import "runtime/debug"

// Version is linked (set with -ldflags -X at build time) when given, else
// the module version, else the commit the binary was built from (go build
// in a git checkout stamps it), and "devel" only when none of these is
// known.
func Version(linked string) string {
	info, ok := debug.ReadBuildInfo()
	return Of(linked, info, ok)
}

// Of is Version from the build information info (ok: there is some).
func Of(linked string, info *debug.BuildInfo, ok bool) string {
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
