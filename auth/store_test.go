package auth_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
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
	_, _, err = b.store.CreateToken(ctx, op, "alice", 0)
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

	// AccountLimit (3) failures lock the account at that address for
	// Lockout (1m) ...
	for range 3 {
		_, err = b.store.Login(ctx, "alice", "wrong password!", "10.0.0.2")
		require.ErrorIs(t, err, auth.ErrBadCredentials)
	}
	_, err = b.store.Login(ctx, "alice", password, "10.0.0.2")
	var locked *auth.LockedError
	require.ErrorAs(t, err, &locked, "the right password does not open a locked account")
	require.Equal(t, b.clock.Now().Add(time.Minute), locked.Until)
	// ... and nowhere else: the real user at her own address signs in.
	_, err = b.store.Login(ctx, "alice", password, "10.0.0.3")
	require.NoError(t, err, "failures from another address do not lock her out")

	// After the lockout one more failure locks it again, twice as long.
	b.clock.Advance(time.Minute)
	_, err = b.store.Login(ctx, "alice", "wrong password!", "10.0.0.2")
	require.ErrorIs(t, err, auth.ErrBadCredentials)
	_, err = b.store.Login(ctx, "alice", password, "10.0.0.2")
	require.ErrorAs(t, err, &locked)
	require.Equal(t, b.clock.Now().Add(2*time.Minute), locked.Until)
	// ... and so on up to MaxLockout (4m).
	for _, want := range []time.Duration{4 * time.Minute, 4 * time.Minute} {
		b.clock.Advance(locked.Until.Sub(b.clock.Now()))
		_, err = b.store.Login(ctx, "alice", "wrong password!", "10.0.0.2")
		require.ErrorIs(t, err, auth.ErrBadCredentials)
		_, err = b.store.Login(ctx, "alice", password, "10.0.0.2")
		require.ErrorAs(t, err, &locked)
		require.Equal(t, b.clock.Now().Add(want), locked.Until)
	}

	// Once it passes, the right password works and forgets the failures.
	b.clock.Advance(4 * time.Minute)
	_, err = b.store.Login(ctx, "alice", password, "10.0.0.2")
	require.NoError(t, err)
	_, err = b.store.Login(ctx, "alice", "wrong password!", "10.0.0.2")
	require.ErrorIs(t, err, auth.ErrBadCredentials)
	_, err = b.store.Login(ctx, "alice", password, "10.0.0.2")
	require.NoError(t, err, "one failure after a success does not lock")

	entries, err := b.audit.List(ctx, audit.Filter{Action: audit.ActLockout})
	require.NoError(t, err)
	require.Len(t, entries, 4)
	require.Equal(t, "alice", entries[0].Actor)
	require.Contains(t, string(entries[0].Detail), `"lockout": "4m0s"`)
	require.Contains(t, string(entries[0].Detail), `"address": "10.0.0.2"`)
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

// TestLoginBurst sends AccountLimit+12 wrong passwords at once and the
// right one while they are being checked: each attempt is counted before
// its password is checked, so only AccountLimit (3) are checked, every
// other one, the right one too, finds the lockout.
func TestLoginBurst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.New(t)
	c := testutil.NewClock(time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC))
	entered, release := make(chan string), make(chan struct{})
	var checked atomic.Int32
	store, err := auth.NewStore(s.DB, audit.NewStore(s.DB, c.Now), auth.Options{Now: c.Now, Hash: cheap,
		AccountLimit: 3, AddressLimit: 100, MaxHashes: 100, MaxHashesPerAddress: 100,
		Verify: func(pw, hash string, want auth.HashParams) (bool, bool, error) {
			checked.Add(1)
			entered <- pw
			<-release
			return auth.VerifyPassword(pw, hash, want)
		}})
	require.NoError(t, err)
	_, err = store.AddUser(ctx, auth.ShellActor("root"), "alice", auth.RoleOperator, password)
	require.NoError(t, err)

	results := make(chan error)
	try := func(pw string) {
		go func() {
			_, err := store.Login(ctx, "alice", pw, "10.0.0.2")
			results <- err
		}()
	}
	for range 15 {
		try("wrong password!")
	}
	// Three wrong ones are being checked (held in Verify); the other
	// twelve come back locked out without being checked.
	inside, back := 0, 0
	for inside < 3 || back < 12 {
		select {
		case <-entered:
			inside++
			require.LessOrEqual(t, inside, 3, "more attempts checked than the limit")
		case err := <-results:
			back++
			var locked *auth.LockedError
			require.ErrorAs(t, err, &locked)
		}
	}
	try(password) // in the same burst: three are still being checked
	var locked *auth.LockedError
	require.ErrorAs(t, <-results, &locked, "the right password does not sign in once locked")
	close(release)
	for range 3 {
		require.ErrorIs(t, <-results, auth.ErrBadCredentials)
	}
	require.EqualValues(t, 3, checked.Load())
}

// TestHashBound: password checks beyond MaxHashes at once, or beyond
// MaxHashesPerAddress from one address, are refused at once without
// hashing and without counting as failures; a flood never runs more.
func TestHashBound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.New(t)
	c := testutil.NewClock(time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC))
	entered, release := make(chan struct{}), make(chan struct{})
	var running, peak, hashed atomic.Int32
	store, err := auth.NewStore(s.DB, audit.NewStore(s.DB, c.Now), auth.Options{Now: c.Now, Hash: cheap,
		AccountLimit: 100, AddressLimit: 100, MaxHashes: 3, MaxHashesPerAddress: 2,
		Verify: func(pw, hash string, want auth.HashParams) (bool, bool, error) {
			n := running.Add(1)
			defer running.Add(-1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			hashed.Add(1)
			entered <- struct{}{}
			<-release
			return auth.VerifyPassword(pw, hash, want)
		}})
	require.NoError(t, err)
	_, err = store.AddUser(ctx, auth.ShellActor("root"), "alice", auth.RoleOperator, password)
	require.NoError(t, err)

	results := make(chan error)
	try := func(name, address string) {
		go func() {
			_, err := store.Login(ctx, name, "wrong password!", address)
			results <- err
		}()
	}

	// Two from one address are checked; a third from it is refused, one
	// from elsewhere is checked, and then the process is full.
	try("alice", "192.0.2.1")
	<-entered
	try("bob", "192.0.2.1")
	<-entered
	try("carol", "192.0.2.1")
	require.ErrorIs(t, <-results, auth.ErrAddressBusy)
	try("dave", "192.0.2.2")
	<-entered
	try("erin", "192.0.2.3")
	require.ErrorIs(t, <-results, auth.ErrBusy)

	// A flood of 40 more while those three run: all refused, none hashed.
	for i := range 40 {
		try(fmt.Sprintf("user%d", i), fmt.Sprintf("198.51.100.%d", i%10))
	}
	for range 40 {
		err := <-results
		require.True(t, errors.Is(err, auth.ErrBusy) || errors.Is(err, auth.ErrAddressBusy), "%v", err)
	}
	close(release)
	for range 3 {
		require.ErrorIs(t, <-results, auth.ErrBadCredentials)
	}
	require.EqualValues(t, 3, hashed.Load())
	require.EqualValues(t, 3, peak.Load())
	var counted int
	require.NoError(t, s.DB.Get(&counted, `SELECT coalesce(sum(failures), 0) FROM login_throttle WHERE kind = 'address'`))
	require.Equal(t, 3, counted, "refused attempts count nothing")

	// The slots are free again, and so is a flood's second wave: 40 at
	// once never run more than the bound.
	go func() {
		for range entered {
		}
	}()
	peak.Store(0)
	for i := range 40 {
		try(fmt.Sprintf("user%d", i), fmt.Sprintf("203.0.113.%d", i%10))
	}
	for range 40 {
		err := <-results
		require.True(t, errors.Is(err, auth.ErrBadCredentials) || errors.Is(err, auth.ErrBusy) || errors.Is(err, auth.ErrAddressBusy), "%v", err)
	}
	close(entered)
	require.LessOrEqual(t, peak.Load(), int32(3))
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

	tok, secret, err := b.store.CreateToken(ctx, b.admin, "alice", 0)
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

	tok2, secret2, err := b.store.CreateToken(ctx, b.admin, "alice", 0)
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

// TestTokenOwnership: an account mints tokens for itself only, whatever
// its role; only the host's operator (the shell) mints one for anyone;
// an admin revokes anyone's.
func TestTokenOwnership(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	b.addUser(t, "ada", auth.RoleAdmin)
	b.addUser(t, "olga", auth.RoleOperator)
	b.addUser(t, "ann", auth.RoleAnalyst)
	ada := auth.Actor{Name: "ada", Role: auth.RoleAdmin, Source: "10.0.0.1"}
	olga := auth.Actor{Name: "olga", Role: auth.RoleOperator, Source: "10.0.0.2"}
	ann := auth.Actor{Name: "ann", Role: auth.RoleAnalyst, Source: "10.0.0.3"}

	_, _, err := b.store.CreateToken(ctx, ada, "olga", 0)
	require.ErrorIs(t, err, auth.ErrForbidden, "an admin may not mint someone else's token")
	_, _, err = b.store.CreateToken(ctx, ann, "olga", 0)
	require.ErrorIs(t, err, auth.ErrForbidden)
	olgaTok, _, err := b.store.CreateToken(ctx, olga, "olga", 0)
	require.NoError(t, err)
	annTok, annSecret, err := b.store.CreateToken(ctx, ann, "ann", 0)
	require.NoError(t, err, "an analyst mints her own")
	_, _, err = b.store.CreateToken(ctx, b.admin, "olga", 0)
	require.NoError(t, err, "the host's operator mints anyone's")

	require.ErrorIs(t, b.store.RevokeToken(ctx, ann, "olga", olgaTok.ID), auth.ErrForbidden)
	require.NoError(t, b.store.RevokeToken(ctx, ada, "olga", olgaTok.ID), "an admin revokes anyone's")
	require.NoError(t, b.store.RevokeToken(ctx, ann, "ann", annTok.ID), "an account revokes its own")
	_, err = b.store.TokenActor(ctx, annSecret, "10.0.0.3")
	require.ErrorIs(t, err, auth.ErrNoSession)

	denied, err := b.audit.List(ctx, audit.Filter{Action: audit.ActTokenCreate, Outcome: audit.Denied})
	require.NoError(t, err)
	require.Len(t, denied, 2)
}

func TestTokenExpiry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	b.addUser(t, "alice", auth.RoleOperator)

	tok, secret, err := b.store.CreateToken(ctx, b.admin, "alice", 0)
	require.NoError(t, err)
	require.Equal(t, b.clock.Now().Add(90*24*time.Hour), tok.ExpiresAt, "90 days by default")
	short, shortSecret, err := b.store.CreateToken(ctx, b.admin, "alice", time.Hour)
	require.NoError(t, err)
	for _, ttl := range []time.Duration{time.Second, 367 * 24 * time.Hour, -time.Hour} {
		_, _, err = b.store.CreateToken(ctx, b.admin, "alice", ttl)
		require.Error(t, err, ttl)
	}

	_, err = b.store.TokenActor(ctx, shortSecret, "10.1.1.1")
	require.NoError(t, err)
	b.clock.Advance(time.Hour)
	_, err = b.store.TokenActor(ctx, shortSecret, "10.1.1.1")
	require.ErrorIs(t, err, auth.ErrNoSession, "expired")
	b.clock.Advance(90*24*time.Hour - time.Hour - time.Second)
	_, err = b.store.TokenActor(ctx, secret, "10.1.1.1")
	require.NoError(t, err)
	b.clock.Advance(time.Second)
	_, err = b.store.TokenActor(ctx, secret, "10.1.1.1")
	require.ErrorIs(t, err, auth.ErrNoSession, "90 days on")

	list, err := b.store.Tokens(ctx, "alice")
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, short.ID, list[0].ID)
	require.Equal(t, short.ExpiresAt, list[0].ExpiresAt)
	require.False(t, list[0].Live(b.clock.Now()))
	require.NotNil(t, list[1].LastUsedAt, "last use is listed")
	require.Equal(t, tok.CreatedAt.Add(90*24*time.Hour-time.Second), *list[1].LastUsedAt)
}

func TestPasswords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	b.addUser(t, "alice", auth.RoleOperator)
	b.addUser(t, "ada", auth.RoleAdmin)
	alice := auth.Actor{Name: "alice", Role: auth.RoleOperator, Source: "10.0.0.1"}
	const newPassword = "a much better passphrase"

	// The host's operator sets it; every session of hers ends.
	s1, err := b.store.Login(ctx, "alice", password, "10.0.0.1")
	require.NoError(t, err)
	require.ErrorIs(t, b.store.SetPassword(ctx, auth.Actor{Name: "ada", Role: auth.RoleAdmin, Source: "10.0.0.9"}, "alice", newPassword),
		auth.ErrForbidden, "an admin in the console cannot take over an account")
	require.ErrorContains(t, b.store.SetPassword(ctx, b.admin, "alice", "short"), "too short")
	require.ErrorIs(t, b.store.SetPassword(ctx, b.admin, "nobody", newPassword), auth.ErrNotFound)
	require.NoError(t, b.store.SetPassword(ctx, b.admin, "alice", newPassword))
	_, err = b.store.SessionActor(ctx, s1.Token, "10.0.0.1")
	require.ErrorIs(t, err, auth.ErrNoSession)
	_, err = b.store.Login(ctx, "alice", password, "10.0.0.1")
	require.ErrorIs(t, err, auth.ErrBadCredentials)

	// She changes her own, proving the current one; her other sessions
	// end, the one she changed it from stays.
	here, err := b.store.Login(ctx, "alice", newPassword, "10.0.0.1")
	require.NoError(t, err)
	there, err := b.store.Login(ctx, "alice", newPassword, "10.0.0.5")
	require.NoError(t, err)
	require.ErrorIs(t, b.store.ChangePassword(ctx, alice, "a wrong guess!", password, here.Token), auth.ErrBadCredentials)
	require.ErrorIs(t, b.store.ChangePassword(ctx, b.admin, newPassword, password, ""), auth.ErrForbidden)
	require.NoError(t, b.store.ChangePassword(ctx, alice, newPassword, password, here.Token))
	_, err = b.store.SessionActor(ctx, here.Token, "10.0.0.1")
	require.NoError(t, err)
	_, err = b.store.SessionActor(ctx, there.Token, "10.0.0.5")
	require.ErrorIs(t, err, auth.ErrNoSession)
	_, err = b.store.Authenticate(ctx, "alice", password, "10.0.0.1")
	require.NoError(t, err)

	// Wrong current passwords count as failed logins at her address.
	for range 3 {
		require.ErrorIs(t, b.store.ChangePassword(ctx, alice, "a wrong guess!", newPassword, ""), auth.ErrBadCredentials)
	}
	var locked *auth.LockedError
	require.ErrorAs(t, b.store.ChangePassword(ctx, alice, password, newPassword, ""), &locked)

	got := b.actions(t)
	require.Contains(t, got, "user_password:ok")
	require.Contains(t, got, "user_password:denied")
}

func TestRolesAndLastAdmin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	b.addUser(t, "ada", auth.RoleAdmin)
	b.addUser(t, "alice", auth.RoleAnalyst)
	ada := auth.Actor{Name: "ada", Role: auth.RoleAdmin, Source: "10.0.0.1"}

	require.ErrorIs(t, b.store.SetRole(ctx, ada, "ada", auth.RoleOperator), auth.ErrLastAdmin)
	require.ErrorIs(t, b.store.SetDisabled(ctx, ada, "ada", true), auth.ErrLastAdmin)
	require.ErrorIs(t, b.store.SetRole(ctx, auth.Actor{Name: "alice", Role: auth.RoleAnalyst}, "alice", auth.RoleAdmin), auth.ErrForbidden)
	require.ErrorContains(t, b.store.SetRole(ctx, ada, "alice", "root"), "unknown role")
	require.ErrorIs(t, b.store.SetRole(ctx, ada, "nobody", auth.RoleOperator), auth.ErrNotFound)

	// A session sees its new role at its next request.
	sess, err := b.store.Login(ctx, "alice", password, "10.0.0.2")
	require.NoError(t, err)
	require.NoError(t, b.store.SetRole(ctx, ada, "alice", auth.RoleAdmin))
	a, err := b.store.SessionActor(ctx, sess.Token, "10.0.0.2")
	require.NoError(t, err)
	require.Equal(t, auth.RoleAdmin, a.Role)

	// Two admins demoting each other at once: one of them stays admin.
	errs := make(chan error, 2)
	go func() { errs <- b.store.SetRole(ctx, ada, "alice", auth.RoleAnalyst) }()
	go func() { errs <- b.store.SetRole(ctx, a, "ada", auth.RoleAnalyst) }()
	e1, e2 := <-errs, <-errs
	require.True(t, (e1 == nil) != (e2 == nil), "%v, %v", e1, e2)
	var admins int
	require.NoError(t, b.schema.DB.Get(&admins, `SELECT count(*) FROM users WHERE role = 'admin' AND NOT disabled`))
	require.Equal(t, 1, admins)

	entries, err := b.audit.List(ctx, audit.Filter{Action: audit.ActUserRole, Outcome: audit.OK})
	require.NoError(t, err)
	require.Len(t, entries, 2)
	require.Contains(t, string(entries[0].Detail), `"from": "admin"`)
}

func TestEndSessions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	b.addUser(t, "alice", auth.RoleAnalyst)
	b.addUser(t, "bob", auth.RoleOperator)
	alice := auth.Actor{Name: "alice", Role: auth.RoleAnalyst, Source: "10.0.0.1"}
	var tokens []string
	for _, addr := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"} {
		s, err := b.store.Login(ctx, "alice", password, addr)
		require.NoError(t, err)
		tokens = append(tokens, s.Token)
	}
	bobs, err := b.store.Login(ctx, "bob", password, "10.0.0.4")
	require.NoError(t, err)

	_, err = b.store.EndSessions(ctx, alice, "bob", "")
	require.ErrorIs(t, err, auth.ErrForbidden)
	n, err := b.store.EndSessions(ctx, alice, "alice", "")
	require.NoError(t, err)
	require.EqualValues(t, 3, n)
	for _, tok := range tokens {
		_, err = b.store.SessionActor(ctx, tok, "10.0.0.1")
		require.ErrorIs(t, err, auth.ErrNoSession)
	}
	_, err = b.store.SessionActor(ctx, bobs.Token, "10.0.0.4")
	require.NoError(t, err, "nobody else's")
	require.Contains(t, b.actions(t), "sessions_end:ok")
	require.Contains(t, b.actions(t), "sessions_end:denied")
}
