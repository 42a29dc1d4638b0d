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

// Session is a console login. Token goes into the cookie and nowhere else;
// the database keeps only its SHA-256.
type Session struct {
	Token     string
	Actor     Actor
	ExpiresAt time.Time // the absolute end; idleness may end it sooner
}

// Login checks name and password from address and starts a session. Every
// attempt is audited. Failures count against the name and the address; past
// their limits both are locked out (LockedError) without the password even
// being checked.
func (s *Store) Login(ctx context.Context, name, password, address string) (Session, error) {
	now := s.o.Now()
	who := Actor{Name: name, Source: address}
	if until, err := s.lockedUntil(ctx, name, address, now); err != nil {
		return Session{}, fmt.Errorf("login: %w", err)
	} else if !until.IsZero() {
		if err := s.record(ctx, nil, who, audit.ActLoginFailed, audit.Denied, "locked out",
			map[string]any{"locked_until": until}); err != nil {
			return Session{}, fmt.Errorf("login: %w", err)
		}
		return Session{}, &LockedError{Until: until}
	}

	var u struct {
		User
		Hash string `db:"password_hash"`
	}
	err := s.db.GetContext(ctx, &u, `SELECT `+userCols+`, password_hash FROM users WHERE name = $1`, name)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Session{}, fmt.Errorf("login: %w", err)
	}
	found := err == nil
	hash := u.Hash
	if !found {
		hash = s.dummyHash
	}
	ok, stale, verr := VerifyPassword(password, hash, s.o.Hash)
	reason := ""
	switch {
	case !found:
		reason = "unknown user"
	case verr != nil:
		reason = verr.Error()
	case !ok:
		reason = "wrong password"
	case u.Disabled:
		reason = "account disabled"
	}
	if reason != "" {
		if err := s.failed(ctx, who, reason, now); err != nil {
			return Session{}, fmt.Errorf("login: %w", err)
		}
		return Session{}, ErrBadCredentials
	}

	token, hashed, err := newSecret()
	if err != nil {
		return Session{}, fmt.Errorf("login: %w", err)
	}
	who.Role = u.Role
	sess := Session{Token: token, Actor: who, ExpiresAt: now.Add(s.o.SessionMax)}
	var rehash string
	if stale {
		if rehash, err = HashPassword(password, s.o.Hash); err != nil {
			return Session{}, fmt.Errorf("login: %w", err)
		}
	}
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, expires_at, address)
			VALUES ($1, $2, $3, $3, $4, $5)`, hashed, u.ID, now, sess.ExpiresAt, address); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET last_login_at = $2,
			password_hash = CASE WHEN $3 = '' THEN password_hash ELSE $3 END WHERE id = $1`, u.ID, now, rehash); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM login_throttle WHERE kind = 'account' AND key = $1`, name); err != nil {
			return err
		}
		return s.record(ctx, tx, who, audit.ActLogin, audit.OK, "", nil)
	})
	if err != nil {
		return Session{}, fmt.Errorf("login: %w", err)
	}
	return sess, nil
}

// lockedUntil returns the later lockout of name and address still in force
// at now (zero when neither is locked).
func (s *Store) lockedUntil(ctx context.Context, name, address string, now time.Time) (time.Time, error) {
	var until sql.NullTime
	err := s.db.GetContext(ctx, &until, `SELECT max(locked_until) FROM login_throttle
		WHERE ((kind = 'account' AND key = $1) OR (kind = 'address' AND key = $2)) AND locked_until > $3`, name, address, now)
	if err != nil {
		return time.Time{}, err
	}
	return until.Time, nil
}

// failed counts a failed login against the name and the address, locking
// out those past their limit, and audits the failure and any lockout.
func (s *Store) failed(ctx context.Context, who Actor, reason string, now time.Time) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.record(ctx, tx, who, audit.ActLoginFailed, audit.Denied, reason, nil); err != nil {
			return err
		}
		for _, k := range []struct {
			kind, key string
			limit     int
		}{{"account", who.Name, s.o.AccountLimit}, {"address", who.Source, s.o.AddressLimit}} {
			var failures int
			// Failures older than FailureMemory are forgotten.
			err := tx.GetContext(ctx, &failures, `INSERT INTO login_throttle AS t (kind, key, failures, last_failure_at)
				VALUES ($1, $2, 1, $3)
				ON CONFLICT (kind, key) DO UPDATE SET last_failure_at = $3,
					failures = CASE WHEN t.last_failure_at < $4 THEN 1 ELSE t.failures + 1 END
				RETURNING failures`, k.kind, k.key, now, now.Add(-s.o.FailureMemory))
			if err != nil {
				return err
			}
			if failures < k.limit {
				continue
			}
			lock := s.lockout(failures - k.limit)
			until := now.Add(lock)
			if _, err := tx.ExecContext(ctx, `UPDATE login_throttle SET locked_until = $3 WHERE kind = $1 AND key = $2`,
				k.kind, k.key, until); err != nil {
				return err
			}
			if err := s.record(ctx, tx, who, audit.ActLockout, audit.Denied, k.kind+" locked out",
				map[string]any{k.kind: k.key, "failures": failures, "locked_until": until, "lockout": lock.String()}); err != nil {
				return err
			}
		}
		return nil
	})
}

// lockout is the n-th lockout's length (from 0): Lockout doubled n times,
// at most MaxLockout.
func (s *Store) lockout(n int) time.Duration {
	d := s.o.Lockout
	for range n {
		if d >= s.o.MaxLockout {
			break
		}
		d *= 2
	}
	return min(d, s.o.MaxLockout)
}

// SessionActor returns who holds the session token, from address, and
// marks the session used. An idle, expired or unknown session, or one of a
// disabled user, is ErrNoSession; expired ones are deleted.
func (s *Store) SessionActor(ctx context.Context, token, address string) (Actor, error) {
	if token == "" {
		return Actor{}, ErrNoSession
	}
	now := s.o.Now()
	hashed := hashSecret(token)
	var row struct {
		Name     string    `db:"name"`
		Role     Role      `db:"role"`
		LastSeen time.Time `db:"last_seen_at"`
		Expires  time.Time `db:"expires_at"`
	}
	err := s.db.GetContext(ctx, &row, `SELECT u.name, u.role, s.last_seen_at, s.expires_at
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1 AND NOT u.disabled`, hashed)
	if errors.Is(err, sql.ErrNoRows) {
		return Actor{}, ErrNoSession
	}
	if err != nil {
		return Actor{}, fmt.Errorf("session: %w", err)
	}
	if !now.Before(row.Expires) || !now.Before(row.LastSeen.Add(s.o.SessionIdle)) {
		if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = $1`, hashed); err != nil {
			return Actor{}, fmt.Errorf("session: %w", err)
		}
		return Actor{}, ErrNoSession
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1 AND last_seen_at < $2`, hashed, now); err != nil {
		return Actor{}, fmt.Errorf("session: %w", err)
	}
	return Actor{Name: row.Name, Role: row.Role, Source: address}, nil
}

// Logout ends the session (a no-op for an unknown one) and audits it.
func (s *Store) Logout(ctx context.Context, token, address string) error {
	actor, err := s.SessionActor(ctx, token, address)
	if errors.Is(err, ErrNoSession) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = $1`, hashSecret(token)); err != nil {
			return fmt.Errorf("logout: %w", err)
		}
		return s.record(ctx, tx, actor, audit.ActLogout, audit.OK, "", nil)
	})
}

// ActiveActor returns the enabled account name as an Actor from address,
// for a front end that authenticated the person itself (a trusted reverse
// proxy's user header). Unknown and disabled accounts are ErrNoSession.
func (s *Store) ActiveActor(ctx context.Context, name, address string) (Actor, error) {
	u, err := s.User(ctx, name)
	if errors.Is(err, ErrNotFound) || (err == nil && u.Disabled) {
		return Actor{}, ErrNoSession
	}
	if err != nil {
		return Actor{}, err
	}
	return Actor{Name: u.Name, Role: u.Role, Source: address}, nil
}
