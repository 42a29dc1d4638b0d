package ops

import (
	"context"
	"time"

	"github.com/issuer-dev/issuer/auth"
)

// User, Token and Role are accounts, API tokens and roles as the
// operations on them take and answer them.
type (
	User  = auth.User
	Token = auth.Token
	Role  = auth.Role
)

// Accounts are the operations on accounts and API tokens, one way for the
// command line and the console. Each authorizes the actor against auth's
// table and records the act, allowed or refused, in the audit log in the
// same transaction as the change (auth.Store): an act whose audit row
// cannot be written does not happen. Errors carry this package's codes
// (ErrorCode): EFORBIDDEN, ENOTFOUND, ECONFLICT for the last admin or a
// name taken, EINVALID for a name, role, password or token life refused.
//
// Signing in, sessions and the actor of a request stay auth.Store's: they
// are how a front end learns who acts, not operations.
type Accounts struct {
	store *auth.Store
}

// NewAccounts returns the account operations on store.
func NewAccounts(store *auth.Store) *Accounts { return &Accounts{store: store} }

// AddUser creates an account with role and password (an admin's act).
func (u *Accounts) AddUser(ctx context.Context, a auth.Actor, name string, role Role, password string) (User, error) {
	return u.store.AddUser(ctx, a, name, role, password)
}

// Users lists every account by name (for whoever manages users).
func (u *Accounts) Users(ctx context.Context, a auth.Actor) ([]User, error) {
	if !a.Can(auth.ActManageUsers) {
		return nil, forbiddenf("%s may not list accounts (needs the %s role)", describe(a), auth.MinRole(auth.ActManageUsers))
	}
	return u.store.Users(ctx)
}

// User returns one account (for whoever manages users, or the account
// itself).
func (u *Accounts) User(ctx context.Context, a auth.Actor, name string) (User, error) {
	if !self(a, name) && !a.Can(auth.ActManageUsers) {
		return User{}, forbiddenf("%s may not see the account %s", describe(a), name)
	}
	return u.store.User(ctx, name)
}

// DisableUser stops an account at once: its sessions and tokens stop
// working. The last enabled admin cannot be disabled.
func (u *Accounts) DisableUser(ctx context.Context, a auth.Actor, name string) error {
	return u.store.SetDisabled(ctx, a, name, true)
}

// EnableUser lets a disabled account sign in again (its old tokens stay
// revoked).
func (u *Accounts) EnableUser(ctx context.Context, a auth.Actor, name string) error {
	return u.store.SetDisabled(ctx, a, name, false)
}

// SetRole changes an account's role, at its next request; the last enabled
// admin cannot be demoted.
func (u *Accounts) SetRole(ctx context.Context, a auth.Actor, name string, role Role) error {
	return u.store.SetRole(ctx, a, name, role)
}

// Passwd sets another account's password and ends its sessions: only the
// host's operator does (the command line without a credential).
func (u *Accounts) Passwd(ctx context.Context, a auth.Actor, name, password string) error {
	return u.store.SetPassword(ctx, a, name, password)
}

// ChangePassword changes the actor's own password after checking the
// current one, ending their other sessions (keep is the session that
// stays).
func (u *Accounts) ChangePassword(ctx context.Context, a auth.Actor, current, password, keep string) error {
	return u.store.ChangePassword(ctx, a, current, password, keep)
}

// EndSessions ends name's sessions but keep ("" ends them all); an account
// ends its own.
func (u *Accounts) EndSessions(ctx context.Context, a auth.Actor, name, keep string) (int64, error) {
	return u.store.EndSessions(ctx, a, name, keep)
}

// CreateToken mints an API token for name working for ttl (0: 90 days) and
// returns its secret, shown once. An account mints only its own; the
// host's operator anyone's.
func (u *Accounts) CreateToken(ctx context.Context, a auth.Actor, name string, ttl time.Duration) (Token, string, error) {
	return u.store.CreateToken(ctx, a, name, ttl)
}

// RevokeToken revokes name's token id: an account its own, an admin
// anyone's.
func (u *Accounts) RevokeToken(ctx context.Context, a auth.Actor, name string, id int64) error {
	return u.store.RevokeToken(ctx, a, name, id)
}

// Tokens lists name's tokens without their secrets, newest first; ""
// lists everyone's (for whoever manages users). An account lists its own.
func (u *Accounts) Tokens(ctx context.Context, a auth.Actor, name string) ([]Token, error) {
	if !self(a, name) && !a.Can(auth.ActManageUsers) {
		return nil, forbiddenf("%s may not list the tokens of %s", describe(a), orEveryone(name))
	}
	return u.store.Tokens(ctx, name)
}

// self reports whether a is the account name.
func self(a auth.Actor, name string) bool { return name != "" && a.Account() && a.Name == name }

func orEveryone(name string) string {
	if name == "" {
		return "everyone"
	}
	return name
}
