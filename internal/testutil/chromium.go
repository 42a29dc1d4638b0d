package testutil

import (
	"os"
	"os/exec"
	"testing"
)

// Chromium returns the path of a Chromium for browser tests: ISSUER_CHROMIUM,
// or chromium, chromium-browser or google-chrome on the PATH. Without one
// the test is skipped, unless ISSUER_REQUIRE_CHROMIUM is set (make test sets
// it, after installing Debian's chromium), when it fails.
func Chromium(t *testing.T) string {
	t.Helper()
	if path := os.Getenv("ISSUER_CHROMIUM"); path != "" {
		return path
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("ISSUER_REQUIRE_CHROMIUM") != "" {
		t.Fatal("ISSUER_REQUIRE_CHROMIUM is set but no chromium, chromium-browser or google-chrome is on PATH (or ISSUER_CHROMIUM)")
	}
	t.Skip("no chromium, chromium-browser or google-chrome on PATH (or ISSUER_CHROMIUM): browser tests skipped")
	return ""
}
