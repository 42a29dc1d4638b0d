package intake

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/issuer-dev/issuer/internal/textable"
)

// MaxNameLen is the most characters (not bytes) a batch name may have.
const MaxNameLen = 100

// ErrBadName: a batch name that is too long or holds a control character.
// Nothing is stored.
var ErrBadName = errors.New("bad batch name")

// CheckName is the one rule for batch names, applied by every import
// whatever its front end: at most MaxNameLen characters of valid UTF-8,
// none of them a control character (an ESC would reach operators'
// terminals, a line break the chat robots' markdown) or a bidirectional
// formatting character (which reorders what a page or a terminal shows).
// Names stored before the rule are escaped where they are shown.
func CheckName(name string) error {
	if !utf8.ValidString(name) {
		return fmt.Errorf("batch name is not valid UTF-8: %w", ErrBadName)
	}
	if n := utf8.RuneCountInString(name); n > MaxNameLen {
		return fmt.Errorf("batch name has %d characters, at most %d are allowed; give a shorter name: %w", n, MaxNameLen, ErrBadName)
	}
	for i, r := range name {
		if textable.Unprintable(r) {
			return fmt.Errorf("batch name has the control character %U at byte %d; names are plain text on one line: %w", r, i, ErrBadName)
		}
	}
	return nil
}
