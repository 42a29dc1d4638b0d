package auth_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/audit"
	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/internal/dbtest"
	"github.com/issuer-dev/issuer/internal/testutil"
)

// cheap keeps argon2id fast under the race detector; production cost is
// DefaultHashParams.
var cheap = auth.HashParams{Memory: 256, Time: 1, Threads: 1}

const password = "correct horse battery"

type testBundle struct {
	schema *dbtest.Schema
	store  *auth.Store
	audit  *audit.Store
	clock  *testutil.Clock
	admin  auth.Actor
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	s := dbtest.New(t)
	c := testutil.NewClock(time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC))
	log := audit.NewStore(s.DB, c.Now)
	store, err := auth.NewStore(s.DB, log, auth.Options{Now: c.Now, Hash: cheap, SessionIdle: 30 * time.Minute,
		SessionMax: 12 * time.Hour, AccountLimit: 3, AddressLimit: 10, Lockout: time.Minute, MaxLockout: 4 * time.Minute})
	require.NoError(t, err)
	return &testBundle{schema: s, store: store, audit: log, clock: c,
		admin: auth.Actor{Name: "cli:root", Role: auth.RoleAdmin, Source: "cli:root"}}
}

func (b *testBundle) addUser(t *testing.T, name string, role auth.Role) {
	t.Helper()
	_, err := b.store.AddUser(context.Background(), b.admin, name, role, password)
	require.NoError(t, err)
}

func (b *testBundle) actions(t *testing.T) []string {
	t.Helper()
	entries, err := b.audit.List(context.Background(), audit.Filter{Limit: 1000})
	require.NoError(t, err)
	var out []string
	for i := len(entries) - 1; i >= 0; i-- { // oldest first reads like the story
		out = append(out, entries[i].Action+":"+string(entries[i].Outcome))
	}
	return out
}

func TestPasswordHash(t *testing.T) {
	t.Parallel()
	h, err := auth.HashPassword(password, cheap)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(h, "$argon2id$v=19$m=256,t=1,p=1$"), h)
	ok, stale, err := auth.VerifyPassword(password, h, cheap)
	require.NoError(t, err)
	require.True(t, ok)
	require.False(t, stale)
	ok, _, err = auth.VerifyPassword(password+"x", h, cheap)
	require.NoError(t, err)
	require.False(t, ok)
	_, stale, err = auth.VerifyPassword(password, h, auth.HashParams{Memory: 512, Time: 1, Threads: 1})
	require.NoError(t, err)
	require.True(t, stale, "a hash with less memory than wanted is stale")
	_, _, err = auth.VerifyPassword(password, "$2a$10$bcrypt", cheap)
	require.Error(t, err)

	for _, pw := range []string{"", "   ", "short", strings.Repeat("x", auth.MaxPasswordLen+1)} {
		require.Error(t, auth.CheckPassword(pw), "%q", pw)
	}
	require.NoError(t, auth.CheckPassword("十二个字符的中文密码好长啊"))
}

func TestUsers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)

	b.addUser(t, "alice", auth.RoleAdmin)
	b.addUser(t, "bob", auth.RoleAnalyst)
	_, err := b.store.AddUser(ctx, b.admin, "alice", auth.RoleAnalyst, password)
	require.ErrorIs(t, err, auth.ErrExists)
	_, err = b.store.AddUser(ctx, b.admin, "<script>", auth.RoleAnalyst, password)
	require.ErrorContains(t, err, "user name")
	_, err = b.store.AddUser(ctx, b.admin, "carol", auth.RoleAnalyst, "short")
	require.ErrorContains(t, err, "too short")

	users, err := b.store.Users(ctx)
	require.NoError(t, err)
	require.Len(t, users, 2)
	require.Equal(t, "alice", users[0].Name)
	require.Equal(t, auth.RoleAnalyst, users[1].Role)
	require.Nil(t, users[1].LastLoginAt)

	var stored string
	require.NoError(t, b.schema.DB.Get(&stored, `SELECT password_hash FROM users WHERE name = 'bob'`))
	require.NotContains(t, stored, password)
	require.True(t, strings.HasPrefix(stored, "$argon2id$"))

	// An operator may not manage users; the refusal is audited.
	op := auth.Actor{Name: "olga", Role: auth.RoleOperator, Source: "10.0.0.9"}
	_, err = b.store.AddUser(ctx, op, "mallory", auth.RoleAdmin, password)
	require.ErrorIs(t, err, auth.ErrForbidden)
	require.ErrorIs(t, b.store.SetDisabled(ctx, op, "alice", true), auth.ErrForbidden)
	_, _, err = b.store.CreateToken(ctx, op, "alice")
	require.ErrorIs(t, err, auth.ErrForbidden)
	require.ErrorIs(t, b.store.SetDisabled(ctx, b.admin, "nobody", true), auth.ErrNotFound)

	require.Equal(t, []string{"user_add:ok", "user_add:ok", "user_add:denied", "user_disable:denied", "token_create:denied"}, b.actions(t))
}

func TestLoginLockout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	b.addUser(t, "alice", auth.RoleOperator)

	sess, err := b.store.Login(ctx, "alice", password, "10.0.0.1")
	require.NoError(t, err)
	require.Len(t, sess.Token, 43, "256 bits, base64url")
	require.Equal(t, auth.RoleOperator, sess.Actor.Role)
	u, err := b.store.User(ctx, "alice")
	require.NoError(t, err)
	require.NotNil(t, u.LastLoginAt)

	_, err = b.store.Login(ctx, "nobody", password, "10.0.0.1")
	require.ErrorIs(t, err, auth.ErrBadCredentials)

	// AccountLimit (3) failures lock the account for Lockout (1m).
	for range 3 {
		_, err = b.store.Login(ctx, "alice", "wrong password!", "10.0.0.2")
		require.ErrorIs(t, err, auth.ErrBadCredentials)
	}
	_, err = b.store.Login(ctx, "alice", password, "10.0.0.3")
	var locked *auth.LockedError
	require.ErrorAs(t, err, &locked, "the right password does not open a locked account")
	require.Equal(t, b.clock.Now().Add(time.Minute), locked.Until)

	// After the lockout one more failure locks it again, twice as long.
	b.clock.Advance(time.Minute)
	_, err = b.store.Login(ctx, "alice", "wrong password!", "10.0.0.2")
	require.ErrorIs(t, err, auth.ErrBadCredentials)
	_, err = b.store.Login(ctx, "alice", password, "10.0.0.3")
	require.ErrorAs(t, err, &locked)
	require.Equal(t, b.clock.Now().Add(2*time.Minute), locked.Until)
	// ... and so on up to MaxLockout (4m).
	for _, want := range []time.Duration{4 * time.Minute, 4 * time.Minute} {
		b.clock.Advance(locked.Until.Sub(b.clock.Now()))
		_, err = b.store.Login(ctx, "alice", "wrong password!", "10.0.0.2")
		require.ErrorIs(t, err, auth.ErrBadCredentials)
		_, err = b.store.Login(ctx, "alice", password, "10.0.0.3")
		require.ErrorAs(t, err, &locked)
		require.Equal(t, b.clock.Now().Add(want), locked.Until)
	}

	// Once it passes, the right password works and forgets the failures.
	b.clock.Advance(4 * time.Minute)
	_, err = b.store.Login(ctx, "alice", password, "10.0.0.3")
	require.NoError(t, err)
	_, err = b.store.Login(ctx, "alice", "wrong password!", "10.0.0.4")
	require.ErrorIs(t, err, auth.ErrBadCredentials)
	_, err = b.store.Login(ctx, "alice", password, "10.0.0.4")
	require.NoError(t, err, "one failure after a success does not lock")

	entries, err := b.audit.List(ctx, audit.Filter{Action: audit.ActLockout})
	require.NoError(t, err)
	require.Len(t, entries, 4)
	require.Equal(t, "alice", entries[0].Actor)
	require.Contains(t, string(entries[0].Detail), `"lockout": "4m0s"`)
	failed, err := b.audit.List(ctx, audit.Filter{Action: audit.ActLoginFailed})
	require.NoError(t, err)
	var reasons []string
	for _, e := range failed {
		reasons = append(reasons, e.Message)
	}
	require.Contains(t, reasons, "unknown user")
	require.Contains(t, reasons, "wrong password")
	require.Contains(t, reasons, "locked out")
}

func TestLoginLockoutByAddress(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	b.addUser(t, "alice", auth.RoleAnalyst)
	// Guessing many names from one address locks the address (limit 10),
	// not the accounts (each under its limit of 3).
	for i := range 10 {
		_, err := b.store.Login(ctx, "guess"+string(rune('a'+i)), "whatever at all", "192.0.2.7")
		require.ErrorIs(t, err, auth.ErrBadCredentials)
	}
	_, err := b.store.Login(ctx, "alice", password, "192.0.2.7")
	var locked *auth.LockedError
	require.ErrorAs(t, err, &locked)
	_, err = b.store.Login(ctx, "alice", password, "192.0.2.8")
	require.NoError(t, err, "another address is not locked")
}

func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	b.addUser(t, "alice", auth.RoleAnalyst)

	t.Run("Idle", func(t *testing.T) {
		sess, err := b.store.Login(ctx, "alice", password, "10.0.0.1")
		require.NoError(t, err)
		b.clock.Advance(29 * time.Minute)
		a, err := b.store.SessionActor(ctx, sess.Token, "10.0.0.1")
		require.NoError(t, err)
		require.Equal(t, "alice", a.Name)
		b.clock.Advance(29 * time.Minute) // 58 minutes after login, 29 after the last use
		_, err = b.store.SessionActor(ctx, sess.Token, "10.0.0.1")
		require.NoError(t, err)
		b.clock.Advance(30 * time.Minute)
		_, err = b.store.SessionActor(ctx, sess.Token, "10.0.0.1")
		require.ErrorIs(t, err, auth.ErrNoSession)
	})
	t.Run("Absolute", func(t *testing.T) {
		sess, err := b.store.Login(ctx, "alice", password, "10.0.0.1")
		require.NoError(t, err)
		for range 12*2 - 1 { // used every 30 minutes less a second: never idle
			b.clock.Advance(30*time.Minute - time.Second)
			_, err = b.store.SessionActor(ctx, sess.Token, "10.0.0.1")
			require.NoError(t, err)
		}
		b.clock.Advance(30 * time.Minute)
		_, err = b.store.SessionActor(ctx, sess.Token, "10.0.0.1")
		require.ErrorIs(t, err, auth.ErrNoSession, "12h after login")
		var n int
		require.NoError(t, b.schema.DB.Get(&n, `SELECT count(*) FROM sessions`))
		require.Zero(t, n, "expired sessions are deleted")
	})
	t.Run("Logout", func(t *testing.T) {
		sess, err := b.store.Login(ctx, "alice", password, "10.0.0.1")
		require.NoError(t, err)
		require.NoError(t, b.store.Logout(ctx, sess.Token, "10.0.0.1"))
		_, err = b.store.SessionActor(ctx, sess.Token, "10.0.0.1")
		require.ErrorIs(t, err, auth.ErrNoSession)
		require.NoError(t, b.store.Logout(ctx, sess.Token, "10.0.0.1"), "twice is fine")
		entries, err := b.audit.List(ctx, audit.Filter{Action: audit.ActLogout})
		require.NoError(t, err)
		require.Len(t, entries, 1)
	})
}

func TestTokensAndDisable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	b.addUser(t, "alice", auth.RoleOperator)

	tok, secret, err := b.store.CreateToken(ctx, b.admin, "alice")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(secret, auth.TokenPrefix))
	require.True(t, strings.HasPrefix(secret, tok.Prefix))
	var hash []byte
	require.NoError(t, b.schema.DB.Get(&hash, `SELECT hash FROM api_tokens WHERE id = $1`, tok.ID))
	sum := sha256.Sum256([]byte(secret))
	require.Equal(t, sum[:], hash, "only the SHA-256 is stored")
	var leaked int
	require.NoError(t, b.schema.DB.Get(&leaked, `SELECT count(*) FROM api_tokens WHERE prefix = $1 OR encode(hash, 'escape') LIKE '%' || $1 || '%'`, secret))
	require.Zero(t, leaked)

	a, err := b.store.TokenActor(ctx, secret, "10.1.1.1")
	require.NoError(t, err)
	require.Equal(t, auth.Actor{Name: "alice", Role: auth.RoleOperator, Source: "10.1.1.1"}, a)
	_, err = b.store.TokenActor(ctx, secret+"x", "10.1.1.1")
	require.ErrorIs(t, err, auth.ErrNoSession)

	tok2, secret2, err := b.store.CreateToken(ctx, b.admin, "alice")
	require.NoError(t, err)
	require.NoError(t, b.store.RevokeToken(ctx, b.admin, "alice", tok2.ID))
	_, err = b.store.TokenActor(ctx, secret2, "10.1.1.1")
	require.ErrorIs(t, err, auth.ErrNoSession)
	require.ErrorIs(t, b.store.RevokeToken(ctx, b.admin, "bob", tok.ID), auth.ErrNoToken)
	list, err := b.store.Tokens(ctx, "alice")
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.NotNil(t, list[0].RevokedAt)
	require.NotNil(t, list[1].LastUsedAt)

	// Disabling ends the session and the token at once.
	sess, err := b.store.Login(ctx, "alice", password, "10.0.0.1")
	require.NoError(t, err)
	require.NoError(t, b.store.SetDisabled(ctx, b.admin, "alice", true))
	_, err = b.store.SessionActor(ctx, sess.Token, "10.0.0.1")
	require.ErrorIs(t, err, auth.ErrNoSession)
	_, err = b.store.TokenActor(ctx, secret, "10.1.1.1")
	require.ErrorIs(t, err, auth.ErrNoSession)
	_, err = b.store.Login(ctx, "alice", password, "10.0.0.1")
	require.ErrorIs(t, err, auth.ErrBadCredentials)
	_, err = b.store.ActiveActor(ctx, "alice", "10.0.0.1")
	require.ErrorIs(t, err, auth.ErrNoSession)

	// Enabling lets her log in again; the old token stays revoked.
	require.NoError(t, b.store.SetDisabled(ctx, b.admin, "alice", false))
	_, err = b.store.Login(ctx, "alice", password, "10.0.0.1")
	require.NoError(t, err)
	_, err = b.store.TokenActor(ctx, secret, "10.1.1.1")
	require.True(t, errors.Is(err, auth.ErrNoSession))

	require.Equal(t, []string{"user_add:ok", "token_create:ok", "token_create:ok", "token_revoke:ok", "login:ok",
		"user_disable:ok", "login_failed:denied", "user_enable:ok", "login:ok"}, b.actions(t))
}

func TestRehashOnLogin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	b.addUser(t, "alice", auth.RoleAnalyst)
	stronger := auth.HashParams{Memory: 512, Time: 1, Threads: 1}
	store, err := auth.NewStore(b.schema.DB, b.audit, auth.Options{Now: b.clock.Now, Hash: stronger})
	require.NoError(t, err)
	_, err = store.Login(ctx, "alice", password, "10.0.0.1")
	require.NoError(t, err)
	var h string
	require.NoError(t, b.schema.DB.Get(&h, `SELECT password_hash FROM users WHERE name = 'alice'`))
	require.Contains(t, h, "m=512,")
}
