package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/issuer-dev/issuer/audit"
)

// Errors callers tell apart. Messages shown to a person logging in never say
// which of name, password or account state was wrong; the audit log does.
var (
	ErrBadCredentials = errors.New("invalid username or password")
	ErrNoSession      = errors.New("not signed in or session expired")
	ErrForbidden      = errors.New("your role may not do this")
	ErrNotFound       = errors.New("no such user")
	ErrExists         = errors.New("user already exists")
	ErrNoToken        = errors.New("no such token")
	ErrLastAdmin      = errors.New("the last enabled admin cannot be demoted or disabled: make another admin first")
	// ErrInvalid matches an act refused for its arguments: a name, a role,
	// a password, a token's life, a disabled account given a token.
	ErrInvalid = errors.New("invalid")
)

// invalidError is an argument refused; it matches ErrInvalid.
type invalidError struct{ msg string }

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

func invalidf(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

// LockedError refuses a login while its account or address is locked out.
type LockedError struct{ Until time.Time }

func (e *LockedError) Error() string {
	return "too many failed logins: try again after " + e.Until.UTC().Format(time.RFC3339)
}

// Defaults of Options.
const (
	DefaultSessionIdle   = 30 * time.Minute
	DefaultSessionMax    = 12 * time.Hour
	DefaultAccountLimit  = 5
	DefaultAddressLimit  = 20
	DefaultLockout       = time.Minute
	DefaultMaxLockout    = time.Hour
	DefaultFailureMemory = 24 * time.Hour
)

// Options tune a Store. Zero fields take the defaults above.
type Options struct {
	Now         func() time.Time // the clock sessions, tokens and lockouts are judged by
	SessionIdle time.Duration    // a session ends after this long without a request
	SessionMax  time.Duration    // and this long after login, whatever its use
	Hash        HashParams       // argon2id cost of new hashes; zero: DefaultHashParams

	// AccountLimit failed logins for one name from one address, or
	// AddressLimit from one address under any names, lock that out for
	// Lockout; each further failure doubles the lockout up to MaxLockout.
	// An attempt counts as failed from before its password is checked
	// until it succeeds, so a burst cannot outrun the limit. Failures are
	// never counted per name alone: a real user is never locked out by
	// failures from another address. They are forgotten after a
	// successful login (for the name and address) or FailureMemory
	// without another failure.
	AccountLimit  int
	AddressLimit  int
	Lockout       time.Duration
	MaxLockout    time.Duration
	FailureMemory time.Duration

	// MaxHashes password checks (argon2id, Hash.Memory each) run at once
	// in the process, and MaxHashesPerAddress for one client address;
	// beyond them a login is refused with ErrBusy or ErrAddressBusy
	// without hashing. Zero: DefaultMaxHashes, DefaultMaxHashesPerAddress.
	MaxHashes           int
	MaxHashesPerAddress int
	// Verify checks a password against its hash; nil is VerifyPassword.
	// Tests replace it to watch or hold the hashes that run.
	Verify func(pw, hash string, want HashParams) (ok, stale bool, err error)
}

func (o *Options) defaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SessionIdle <= 0 {
		o.SessionIdle = DefaultSessionIdle
	}
	if o.SessionMax <= 0 {
		o.SessionMax = DefaultSessionMax
	}
	if o.Hash == (HashParams{}) {
		o.Hash = DefaultHashParams
	}
	if o.AccountLimit <= 0 {
		o.AccountLimit = DefaultAccountLimit
	}
	if o.AddressLimit <= 0 {
		o.AddressLimit = DefaultAddressLimit
	}
	if o.Lockout <= 0 {
		o.Lockout = DefaultLockout
	}
	if o.MaxLockout < o.Lockout {
		o.MaxLockout = max(DefaultMaxLockout, o.Lockout)
	}
	if o.FailureMemory <= 0 {
		o.FailureMemory = DefaultFailureMemory
	}
	if o.MaxHashes <= 0 {
		o.MaxHashes = DefaultMaxHashes
	}
	if o.MaxHashesPerAddress <= 0 {
		o.MaxHashesPerAddress = DefaultMaxHashesPerAddress
	}
	o.MaxHashesPerAddress = min(o.MaxHashesPerAddress, o.MaxHashes)
	if o.Verify == nil {
		o.Verify = VerifyPassword
	}
}

// Store keeps accounts, sessions, API tokens and login failures in
// PostgreSQL and records every change and every login attempt in the audit
// log.
type Store struct {
	db    *sqlx.DB
	audit *audit.Store
	o     Options
	// dummyHash is verified against when a name is unknown, so a login's
	// duration does not tell whether the account exists.
	dummyHash string
	gate      *hashGate
}

// NewStore returns a Store on db recording to log.
func NewStore(db *sqlx.DB, log *audit.Store, o Options) (*Store, error) {
	o.defaults()
	dummy, err := HashPassword("not a password of anyone", o.Hash)
	if err != nil {
		return nil, err
	}
	return &Store{db: db, audit: log, o: o, dummyHash: dummy, gate: newHashGate(o.MaxHashes, o.MaxHashesPerAddress, o.Hash)}, nil
}

// hash hashes pw for the account store under the bound on hashes running
// at once (address is whose request it is).
func (s *Store) hash(pw, address string) (string, error) {
	leave, err := s.gate.enter(address)
	if err != nil {
		return "", err
	}
	defer leave()
	return HashPassword(pw, s.o.Hash)
}

// Options returns the effective options.
func (s *Store) Options() Options { return s.o }

// User is an account as listed.
type User struct {
	ID          int64      `db:"id" json:"-"`
	Name        string     `db:"name" json:"name"`
	Role        Role       `db:"role" json:"role"`
	Disabled    bool       `db:"disabled" json:"disabled"`
	CreatedAt   time.Time  `db:"created_at" json:"created_at"`
	LastLoginAt *time.Time `db:"last_login_at" json:"last_login_at"`
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// CheckName enforces the account name rules (the same as the users table's).
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return invalidf("user name %q: use 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit", name)
	}
	return nil
}

// record writes an audit row; an act whose row cannot be written fails,
// because an unrecorded change is worse than a refused one.
func (s *Store) record(ctx context.Context, ext sqlx.ExecerContext, by Actor, action string, outcome audit.Outcome, msg string, detail any) error {
	e := audit.Entry{Time: s.o.Now(), Actor: by.Name, Role: string(by.Role), Action: action, Source: by.Source,
		Outcome: outcome, Message: msg}
	if detail != nil {
		e.Detail = audit.Fields(detail)
	}
	if ext == nil {
		ext = s.db
	}
	return s.audit.RecordTx(ctx, ext, e)
}

// deny records a refused act and returns ErrForbidden.
func (s *Store) deny(ctx context.Context, by Actor, action string, detail any) error {
	if err := s.record(ctx, nil, by, action, audit.Denied, ErrForbidden.Error(), detail); err != nil {
		return err
	}
	return ErrForbidden
}

// inTx runs fn in a transaction.
func (s *Store) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// AddUser creates an account; by must be allowed to manage users.
func (s *Store) AddUser(ctx context.Context, by Actor, name string, role Role, password string) (User, error) {
	detail := map[string]string{"user": name, "role": string(role)}
	if !by.Can(ActManageUsers) {
		return User{}, s.deny(ctx, by, audit.ActUserAdd, detail)
	}
	if err := CheckName(name); err != nil {
		return User{}, err
	}
	if _, err := ParseRole(string(role)); err != nil {
		return User{}, err
	}
	if err := CheckPassword(password); err != nil {
		return User{}, err
	}
	hash, err := s.hash(password, by.Source)
	if err != nil {
		return User{}, err
	}
	var u User
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		err := tx.GetContext(ctx, &u, `INSERT INTO users (name, role, password_hash, created_at) VALUES ($1, $2, $3, $4)
			RETURNING id, name, role, disabled, created_at, last_login_at`, name, string(role), hash, s.o.Now())
		var pqErr *pq.Error
		if errors.As(err, &pqErr) && pqErr.Code == "23505" {
			return ErrExists
		}
		if err != nil {
			return err
		}
		return s.record(ctx, tx, by, audit.ActUserAdd, audit.OK, "", detail)
	})
	if err != nil {
		return User{}, fmt.Errorf("add user %s: %w", name, err)
	}
	return u, nil
}

const userCols = `id, name, role, disabled, created_at, last_login_at`

// Users lists every account by name.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	users := []User{}
	if err := s.db.SelectContext(ctx, &users, `SELECT `+userCols+` FROM users ORDER BY name`); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return users, nil
}

// User returns one account.
func (s *Store) User(ctx context.Context, name string) (User, error) {
	var u User
	err := s.db.GetContext(ctx, &u, `SELECT `+userCols+` FROM users WHERE name = $1`, name)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("user %s: %w", name, err)
	}
	return u, nil
}

// SetDisabled disables or enables an account. Disabling ends its sessions
// and revokes its API tokens in the same transaction, so neither works from
// the moment it returns; enabling restores neither. The last enabled
// admin cannot be disabled.
func (s *Store) SetDisabled(ctx context.Context, by Actor, name string, disabled bool) error {
	action := audit.ActUserEnable
	if disabled {
		action = audit.ActUserDisable
	}
	if !by.Can(ActManageUsers) {
		return s.deny(ctx, by, action, map[string]string{"user": name})
	}
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		if disabled {
			if err := keepsAnAdmin(ctx, tx, name); err != nil {
				return err
			}
		}
		var id int64
		err := tx.GetContext(ctx, &id, `UPDATE users SET disabled = $2 WHERE name = $1 RETURNING id`, name, disabled)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		detail := map[string]any{"user": name}
		if disabled {
			sessions, err := endSessions(ctx, tx, id, "")
			if err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL`, id, s.o.Now())
			if err != nil {
				return err
			}
			tokens, _ := res.RowsAffected()
			detail["sessions_ended"], detail["tokens_revoked"] = sessions, tokens
		}
		return s.record(ctx, tx, by, action, audit.OK, "", detail)
	})
	if err != nil {
		return fmt.Errorf("%s %s: %w", strings.TrimPrefix(action, "user_"), name, err)
	}
	return nil
}

// keepsAnAdmin refuses a change that takes name out of the enabled
// admins when name is the last of them. It locks their rows in tx, so two
// admins demoting each other at once cannot both succeed.
func keepsAnAdmin(ctx context.Context, tx *sqlx.Tx, name string) error {
	var admins []string
	if err := tx.SelectContext(ctx, &admins, `SELECT name FROM users WHERE role = 'admin' AND NOT disabled ORDER BY id FOR UPDATE`); err != nil {
		return err
	}
	if len(admins) == 1 && admins[0] == name {
		return ErrLastAdmin
	}
	return nil
}

// SetRole changes an account's role; by must be allowed to manage users.
// The change applies to the account's sessions and tokens at their next
// request. The last enabled admin cannot be demoted.
func (s *Store) SetRole(ctx context.Context, by Actor, name string, role Role) error {
	detail := map[string]any{"user": name, "role": string(role)}
	if !by.Can(ActManageUsers) {
		return s.deny(ctx, by, audit.ActUserRole, detail)
	}
	if _, err := ParseRole(string(role)); err != nil {
		return err
	}
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		if role != RoleAdmin {
			if err := keepsAnAdmin(ctx, tx, name); err != nil {
				return err
			}
		}
		var old struct {
			ID   int64 `db:"id"`
			Role Role  `db:"role"`
		}
		err := tx.GetContext(ctx, &old, `SELECT id, role FROM users WHERE name = $1 FOR UPDATE`, name)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET role = $2 WHERE id = $1`, old.ID, string(role)); err != nil {
			return err
		}
		detail["from"] = string(old.Role)
		return s.record(ctx, tx, by, audit.ActUserRole, audit.OK, "", detail)
	})
	if err != nil {
		return fmt.Errorf("role of %s: %w", name, err)
	}
	return nil
}

// SetPassword sets name's password and ends its sessions. Only the host's
// operator sets another's password (the command line, which holds the
// database anyway): an admin in the console could otherwise take over an
// account and approve their own upload as it. An account changes its own
// with ChangePassword.
func (s *Store) SetPassword(ctx context.Context, by Actor, name, password string) error {
	detail := map[string]any{"user": name}
	if by.Account() || !by.Can(ActManageUsers) {
		return s.deny(ctx, by, audit.ActPassword, detail)
	}
	if err := CheckPassword(password); err != nil {
		return err
	}
	hash, err := s.hash(password, by.Source)
	if err != nil {
		return err
	}
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		id, err := userID(ctx, tx, name)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, id, hash); err != nil {
			return err
		}
		if detail["sessions_ended"], err = endSessions(ctx, tx, id, ""); err != nil {
			return err
		}
		return s.record(ctx, tx, by, audit.ActPassword, audit.OK, "", detail)
	})
	if err != nil {
		return fmt.Errorf("password of %s: %w", name, err)
	}
	return nil
}

// ChangePassword changes by's own password after checking the current one
// (counted and bounded as a login is: a stolen session cannot guess it)
// and ends by's other sessions, keeping the one whose token is keep.
func (s *Store) ChangePassword(ctx context.Context, by Actor, current, password, keep string) error {
	if !by.Account() {
		return s.deny(ctx, by, audit.ActPassword, map[string]any{"user": by.Name})
	}
	if err := CheckPassword(password); err != nil {
		return err
	}
	leave, err := s.gate.enter(by.Source)
	if err != nil {
		return err
	}
	defer leave()
	at, err := s.begin(ctx, by.Name, by.Source)
	if err != nil {
		return err
	}
	var u struct {
		ID   int64  `db:"id"`
		Hash string `db:"password_hash"`
	}
	if err := s.db.GetContext(ctx, &u, `SELECT id, password_hash FROM users WHERE name = $1 AND NOT disabled`, by.Name); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			err = ErrNotFound
		}
		return fmt.Errorf("change password: %w", err)
	}
	ok := false
	if len(current) <= MaxPasswordLen {
		ok, _, _ = s.o.Verify(current, u.Hash, s.o.Hash)
	}
	if !ok {
		if err := s.failed(ctx, at, "wrong current password"); err != nil {
			return err
		}
		return ErrBadCredentials
	}
	hash, err := HashPassword(password, s.o.Hash)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, u.ID, hash); err != nil {
			return err
		}
		n, err := endSessions(ctx, tx, u.ID, keep)
		if err != nil {
			return err
		}
		if err := s.succeeded(ctx, tx, at); err != nil {
			return err
		}
		return s.record(ctx, tx, by, audit.ActPassword, audit.OK, "changed by its owner",
			map[string]any{"user": by.Name, "sessions_ended": n})
	})
}

// newSecret returns 256 random bits, base64url, and their SHA-256.
func newSecret() (string, []byte, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, err
	}
	secret := base64.RawURLEncoding.EncodeToString(b[:])
	h := sha256.Sum256([]byte(secret))
	return secret, h[:], nil
}

func hashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}
