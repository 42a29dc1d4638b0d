// Package chromium finds the Chromium that the console's browser tests and
// the screenshot tool drive. It owns the lookup order only: it does not
// start the browser, install one, or decide what a caller does without one
// (a test skips or fails, the tool exits).
package chromium

import (
	"errors"
	"os"
	"os/exec"
)

// ErrNotFound is Find's error when there is no Chromium to run.
var ErrNotFound = errors.New("no chromium, chromium-browser or google-chrome on PATH (or ISSUER_CHROMIUM)")

// Find returns the path of a Chromium: ISSUER_CHROMIUM if set, else the
// first of chromium, chromium-browser and google-chrome on the PATH.
func Find() (string, error) {
	if p := os.Getenv("ISSUER_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrNotFound
}
