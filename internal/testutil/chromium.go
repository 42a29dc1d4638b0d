package testutil

import (
	"os"
	"testing"

	"github.com/issuer-dev/issuer/internal/chromium"
)

// Chromium returns the path of a Chromium for browser tests (see
// chromium.Find). Without one the test is skipped, unless
// ISSUER_REQUIRE_CHROMIUM is set (make test sets it, after installing
// Debian's chromium), when it fails.
func Chromium(t *testing.T) string {
	t.Helper()
	path, err := chromium.Find()
	if err == nil {
		return path
	}
	if os.Getenv("ISSUER_REQUIRE_CHROMIUM") != "" {
		t.Fatal("ISSUER_REQUIRE_CHROMIUM is set but no chromium, chromium-browser or google-chrome is on PATH (or ISSUER_CHROMIUM)")
	}
	t.Skip(err.Error() + ": browser tests skipped")
	return ""
}
