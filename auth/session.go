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
// attempt is audited. It counts against the name at the address and
// against the address before the password is checked; past their limits
// both are locked out (LockedError) without the password being checked.
// Beyond the bound on hashes running at once it is refused with ErrBusy
// or ErrAddressBusy, uncounted and unhashed.
func (s *Store) Login(ctx context.Context, name, password, address string) (Session, error) {
	var sess Session
	_, err := s.authenticate(ctx, name, password, address, func(tx *sqlx.Tx, u User, at *attempt) error {
		token, hashed, err := newSecret()
		if err != nil {
			return err
		}
		sess = Session{Token: token, Actor: Actor{Name: u.Name, Role: u.Role, Source: address}, ExpiresAt: at.now.Add(s.o.SessionMax)}
		_, err = tx.ExecContext(ctx, `INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, expires_at, address)
			VALUES ($1, $2, $3, $3, $4, $5)`, hashed, u.ID, at.now, sess.ExpiresAt, address)
		return err
	})
	if err != nil {
		return Session{}, fmt.Errorf("login: %w", err)
	}
	return sess, nil
}

// Authenticate checks name and password from address as Login does,
// counted, bounded and audited the same way, and returns the account
// without starting a session: the command line's password prompt.
func (s *Store) Authenticate(ctx context.Context, name, password, address string) (Actor, error) {
	a, err := s.authenticate(ctx, name, password, address, nil)
	if err != nil {
		return Actor{}, fmt.Errorf("sign in: %w", err)
	}
	return a, nil
}

// authenticate is Login and Authenticate: the attempt is counted first,
// the password checked under the hash bound, and on success then runs in
// the transaction that takes the count back and records the login.
func (s *Store) authenticate(ctx context.Context, name, password, address string,
	then func(tx *sqlx.Tx, u User, at *attempt) error) (Actor, error) {
	leave, err := s.gate.enter(address)
	if err != nil {
		return Actor{}, err
	}
	defer leave()
	at, err := s.begin(ctx, name, address)
	if err != nil {
		return Actor{}, err
	}
	u, reason, stale, err := s.check(ctx, name, password)
	if err != nil {
		return Actor{}, err
	}
	if reason != "" {
		if err := s.failed(ctx, at, reason); err != nil {
			return Actor{}, err
		}
		return Actor{}, ErrBadCredentials
	}
	return s.loggedIn(ctx, u, password, address, stale, at, then)
}

// check looks name up and checks password against its hash, as long for
// a name no account has as for one: reason says why the login fails (""
// when it does not), stale that the hash is weaker than the configured one.
func (s *Store) check(ctx context.Context, name, password string) (_ User, reason string, stale bool, _ error) {
	var u struct {
		User
		Hash string `db:"password_hash"`
	}
	found := false
	// A name no account can have is not looked up, and a password longer
	// than any account's is not hashed: both fail at once.
	if CheckName(name) == nil {
		err := s.db.GetContext(ctx, &u, `SELECT `+userCols+`, password_hash FROM users WHERE name = $1`, name)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return User{}, "", false, err
		}
		found = err == nil
	}
	var ok bool
	var verr error
	switch {
	case len(password) > MaxPasswordLen:
		verr = errors.New("password longer than any account's")
	case found:
		ok, stale, verr = s.o.Verify(password, u.Hash, s.o.Hash)
	case CheckName(name) == nil:
		_, _, _ = s.o.Verify(password, s.dummyHash, s.o.Hash) // as long as for a real account
	}
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
	return u.User, reason, stale, nil
}

// loggedIn records a successful login of u in one transaction: then (a
// new session), the last login, a stronger hash when the old one is stale,
// the attempt, and the audit row.
func (s *Store) loggedIn(ctx context.Context, u User, password, address string, stale bool, at *attempt,
	then func(tx *sqlx.Tx, u User, at *attempt) error) (Actor, error) {
	var rehash string
	if stale {
		var err error
		if rehash, err = HashPassword(password, s.o.Hash); err != nil {
			return Actor{}, err
		}
	}
	who := Actor{Name: u.Name, Role: u.Role, Source: address}
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		if then != nil {
			if err := then(tx, u, at); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET last_login_at = $2,
			password_hash = CASE WHEN $3 = '' THEN password_hash ELSE $3 END WHERE id = $1`, u.ID, at.now, rehash); err != nil {
			return err
		}
		if err := s.succeeded(ctx, tx, at); err != nil {
			return err
		}
		msg := ""
		if then == nil {
			msg = "password checked, no session"
		}
		return s.record(ctx, tx, who, audit.ActLogin, audit.OK, msg, nil)
	})
	if err != nil {
		return Actor{}, err
	}
	return who, nil
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

// EndSessions signs the account name out everywhere: it ends every session
// of name but the one whose token is keep ("" keeps none) and returns how
// many ended. An account ends its own; an admin anyone's.
func (s *Store) EndSessions(ctx context.Context, by Actor, name, keep string) (int64, error) {
	detail := map[string]any{"user": name}
	if !s.self(by, name) && !by.Can(ActManageUsers) {
		return 0, s.deny(ctx, by, audit.ActSessionsEnd, detail)
	}
	var n int64
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		id, err := userID(ctx, tx, name)
		if err != nil {
			return err
		}
		if n, err = endSessions(ctx, tx, id, keep); err != nil {
			return err
		}
		detail["sessions_ended"] = n
		return s.record(ctx, tx, by, audit.ActSessionsEnd, audit.OK, "", detail)
	})
	if err != nil {
		return 0, fmt.Errorf("sign %s out everywhere: %w", name, err)
	}
	return n, nil
}

// endSessions deletes the user's sessions but keep's.
func endSessions(ctx context.Context, tx *sqlx.Tx, userID int64, keep string) (int64, error) {
	var keepHash []byte
	if keep != "" {
		keepHash = hashSecret(keep)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1 AND ($2::bytea IS NULL OR id_hash <> $2)`, userID, keepHash)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// self reports whether by is the account name itself.
func (s *Store) self(by Actor, name string) bool { return by.Account() && by.Name == name }

// userID locks the account's row in tx and returns its id.
func userID(ctx context.Context, tx *sqlx.Tx, name string) (int64, error) {
	var id int64
	err := tx.GetContext(ctx, &id, `SELECT id FROM users WHERE name = $1 FOR UPDATE`, name)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	return id, err
}
