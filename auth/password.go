package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Password length bounds. The upper one keeps a login from being a way to
// make the server hash megabytes.
const (
	MinPasswordLen = 12
	MaxPasswordLen = 1024
)

// HashParams are argon2id's cost parameters. Every hash records its own, so
// raising them later only affects new hashes; a login with an older hash
// rehashes it with the current ones.
type HashParams struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
}

// DefaultHashParams costs about a tenth of a second and 64 MiB per login on
// a current server core (RFC 9106's second recommendation, with fewer
// passes).
var DefaultHashParams = HashParams{Memory: 64 * 1024, Time: 2, Threads: 2}

const (
	saltLen = 16
	keyLen  = 32
)

// CheckPassword enforces the password policy.
func CheckPassword(pw string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case strings.TrimSpace(pw) == "":
		return invalidf("password is empty")
	case n < MinPasswordLen:
		return invalidf("password is too short: at least %d characters", MinPasswordLen)
	case len(pw) > MaxPasswordLen:
		return invalidf("password is too long: at most %d bytes", MaxPasswordLen)
	}
	return nil
}

// HashPassword returns pw's argon2id hash in the PHC string format:
// $argon2id$v=19$m=65536,t=2,p=2$<salt>$<hash>, base64 without padding.
func HashPassword(pw string, p HashParams) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword reports whether pw matches hash, in time independent of
// where they differ, and whether hash was made with weaker parameters than
// want (so the caller can rehash).
func VerifyPassword(pw, hash string, want HashParams) (ok, stale bool, err error) {
	p, salt, key, err := parsePHC(hash)
	if err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	ok = subtle.ConstantTimeCompare(got, key) == 1
	stale = p.Memory < want.Memory || p.Time < want.Time || p.Threads < want.Threads
	return ok, stale, nil
}

func parsePHC(s string) (HashParams, []byte, []byte, error) {
	bad := func(why string) (HashParams, []byte, []byte, error) {
		return HashParams{}, nil, nil, fmt.Errorf("password hash: %s", why)
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return bad("not an argon2id PHC string")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return bad("unsupported argon2 version")
	}
	var p HashParams
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil ||
		p.Memory == 0 || p.Time == 0 || p.Threads == 0 {
		return bad("bad parameters")
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return bad("bad salt")
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 {
		return bad("bad key")
	}
	return p, salt, key, nil
}
