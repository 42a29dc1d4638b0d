package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/issuer-dev/issuer/audit"
)

// TokenPrefix starts every API token, so a leaked one is recognisable in a
// log or a repository scan.
const TokenPrefix = "isu_"

// How long an API token works: DefaultTokenTTL unless its maker asks
// for another span, at most MaxTokenTTL.
const (
	DefaultTokenTTL = 90 * 24 * time.Hour
	MaxTokenTTL     = 366 * 24 * time.Hour
)

// Token is an API token as listed: never the secret.
type Token struct {
	ID         int64      `db:"id" json:"id"`
	User       string     `db:"name" json:"user"`
	Prefix     string     `db:"prefix" json:"prefix"`
	CreatedAt  time.Time  `db:"created_at" json:"created_at"`
	ExpiresAt  time.Time  `db:"expires_at" json:"expires_at"`
	LastUsedAt *time.Time `db:"last_used_at" json:"last_used_at"`
	RevokedAt  *time.Time `db:"revoked_at" json:"revoked_at"`
}

// Live reports whether the token still works at now.
func (t Token) Live(now time.Time) bool { return t.RevokedAt == nil && now.Before(t.ExpiresAt) }

// CreateToken makes a new API token for the account name, working for ttl
// (0: DefaultTokenTTL), and returns its secret, which exists nowhere else
// afterwards: only its SHA-256 is stored. An account mints tokens only for
// itself, whatever its role: a token of someone else's would let its
// maker act, and approve, as them. Only the host's operator (the command
// line without a credential, which holds the database anyway) mints one
// for any account.
func (s *Store) CreateToken(ctx context.Context, by Actor, name string, ttl time.Duration) (Token, string, error) {
	if !s.self(by, name) && (by.Account() || !by.Can(ActManageUsers)) {
		return Token{}, "", s.deny(ctx, by, audit.ActTokenCreate, map[string]string{"user": name})
	}
	if ttl == 0 {
		ttl = DefaultTokenTTL
	}
	if ttl < time.Minute || ttl > MaxTokenTTL {
		return Token{}, "", invalidf("create token: a token works from a minute to %d days, not %s", MaxTokenTTL/(24*time.Hour), ttl)
	}
	random, _, err := newSecret()
	if err != nil {
		return Token{}, "", fmt.Errorf("create token: %w", err)
	}
	secret := TokenPrefix + random
	now := s.o.Now()
	t := Token{User: name, Prefix: secret[:len(TokenPrefix)+6], CreatedAt: now, ExpiresAt: now.Add(ttl)}
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		var u User
		err := tx.GetContext(ctx, &u, `SELECT `+userCols+` FROM users WHERE name = $1 FOR UPDATE`, name)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if u.Disabled {
			return invalidf("%s is disabled", name)
		}
		if err := tx.GetContext(ctx, &t.ID, `INSERT INTO api_tokens (user_id, hash, prefix, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5) RETURNING id`, u.ID, hashSecret(secret), t.Prefix, t.CreatedAt, t.ExpiresAt); err != nil {
			return err
		}
		return s.record(ctx, tx, by, audit.ActTokenCreate, audit.OK, "",
			map[string]any{"user": name, "token_id": t.ID, "prefix": t.Prefix, "expires_at": t.ExpiresAt})
	})
	if err != nil {
		return Token{}, "", fmt.Errorf("create token for %s: %w", name, err)
	}
	return t, secret, nil
}

// Tokens lists the account's tokens, newest first ("" lists everyone's).
func (s *Store) Tokens(ctx context.Context, name string) ([]Token, error) {
	tokens := []Token{}
	err := s.db.SelectContext(ctx, &tokens, `SELECT t.id, u.name, t.prefix, t.created_at, t.expires_at, t.last_used_at, t.revoked_at
		FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE $1 = '' OR u.name = $1 ORDER BY t.id DESC`, name)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return tokens, nil
}

// RevokeToken revokes the account's token id; revoking a revoked token is
// not an error. An account revokes its own tokens; an admin anyone's.
func (s *Store) RevokeToken(ctx context.Context, by Actor, name string, id int64) error {
	detail := map[string]any{"user": name, "token_id": id}
	if !s.self(by, name) && !by.Can(ActManageUsers) {
		return s.deny(ctx, by, audit.ActTokenRevoke, detail)
	}
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_tokens t SET revoked_at = coalesce(t.revoked_at, $3)
			FROM users u WHERE u.id = t.user_id AND u.name = $1 AND t.id = $2`, name, id, s.o.Now())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNoToken
		}
		return s.record(ctx, tx, by, audit.ActTokenRevoke, audit.OK, "", detail)
	})
	if err != nil {
		return fmt.Errorf("revoke token %d of %s: %w", id, name, err)
	}
	return nil
}

// TokenActor returns who holds the API token, from address, and marks the
// token used. A revoked, expired or unknown token, or one of a disabled
// account, is ErrNoSession.
func (s *Store) TokenActor(ctx context.Context, secret, address string) (Actor, error) {
	if len(secret) <= len(TokenPrefix) || secret[:len(TokenPrefix)] != TokenPrefix {
		return Actor{}, ErrNoSession
	}
	now := s.o.Now()
	var row struct {
		ID   int64  `db:"id"`
		Name string `db:"name"`
		Role Role   `db:"role"`
	}
	err := s.db.GetContext(ctx, &row, `SELECT t.id, u.name, u.role FROM api_tokens t JOIN users u ON u.id = t.user_id
		WHERE t.hash = $1 AND t.revoked_at IS NULL AND t.expires_at > $2 AND NOT u.disabled`, hashSecret(secret), now)
	if errors.Is(err, sql.ErrNoRows) {
		return Actor{}, ErrNoSession
	}
	if err != nil {
		return Actor{}, fmt.Errorf("token: %w", err)
	}
	// Minute resolution is enough for "last used" and spares a write per call.
	if _, err := s.db.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = $2
		WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $3)`, row.ID, now, now.Add(-time.Minute)); err != nil {
		return Actor{}, fmt.Errorf("token: %w", err)
	}
	return Actor{Name: row.Name, Role: row.Role, Source: address}, nil
}
