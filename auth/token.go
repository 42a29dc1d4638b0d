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

// Token is an API token as listed: never the secret.
type Token struct {
	ID         int64      `db:"id" json:"id"`
	User       string     `db:"name" json:"user"`
	Prefix     string     `db:"prefix" json:"prefix"`
	CreatedAt  time.Time  `db:"created_at" json:"created_at"`
	LastUsedAt *time.Time `db:"last_used_at" json:"last_used_at"`
	RevokedAt  *time.Time `db:"revoked_at" json:"revoked_at"`
}

// CreateToken makes a new API token for the account name and returns its
// secret, which exists nowhere else afterwards: only its SHA-256 is stored.
func (s *Store) CreateToken(ctx context.Context, by Actor, name string) (Token, string, error) {
	if !by.Can(ActManageUsers) {
		return Token{}, "", s.deny(ctx, by, audit.ActTokenCreate, map[string]string{"user": name})
	}
	random, _, err := newSecret()
	if err != nil {
		return Token{}, "", fmt.Errorf("create token: %w", err)
	}
	secret := TokenPrefix + random
	t := Token{User: name, Prefix: secret[:len(TokenPrefix)+6], CreatedAt: s.o.Now()}
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
			return fmt.Errorf("%s is disabled", name)
		}
		if err := tx.GetContext(ctx, &t.ID, `INSERT INTO api_tokens (user_id, hash, prefix, created_at) VALUES ($1, $2, $3, $4) RETURNING id`,
			u.ID, hashSecret(secret), t.Prefix, t.CreatedAt); err != nil {
			return err
		}
		return s.record(ctx, tx, by, audit.ActTokenCreate, audit.OK, "", map[string]any{"user": name, "token_id": t.ID, "prefix": t.Prefix})
	})
	if err != nil {
		return Token{}, "", fmt.Errorf("create token for %s: %w", name, err)
	}
	return t, secret, nil
}

// Tokens lists the account's tokens, newest first ("" lists everyone's).
func (s *Store) Tokens(ctx context.Context, name string) ([]Token, error) {
	tokens := []Token{}
	err := s.db.SelectContext(ctx, &tokens, `SELECT t.id, u.name, t.prefix, t.created_at, t.last_used_at, t.revoked_at
		FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE $1 = '' OR u.name = $1 ORDER BY t.id DESC`, name)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return tokens, nil
}

// RevokeToken revokes the account's token id; revoking a revoked token is
// not an error.
func (s *Store) RevokeToken(ctx context.Context, by Actor, name string, id int64) error {
	detail := map[string]any{"user": name, "token_id": id}
	if !by.Can(ActManageUsers) {
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

// TokenActor returns who holds the API token, from address. A revoked or
// unknown token, or one of a disabled account, is ErrNoSession.
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
		WHERE t.hash = $1 AND t.revoked_at IS NULL AND NOT u.disabled`, hashSecret(secret))
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
