package main

import (
	"crypto/sha256"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestUserCommands(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const pw = "correct horse battery"

	r := b.issuer(t, pw+"\nignored second line\n", "user", "add", "alice", "--role", "admin")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "added alice (admin)")
	r = b.issuer(t, "", "user", "add", "bob", "--role", "analyst", "--password-file", b.write(t, "pw", pw+"\r\n"))
	require.Equal(t, 0, r.code, r.stderr)

	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		code  int
		msg   string
	}{
		{"EmptyPassword", "\n", []string{"user", "add", "carol", "--role", "analyst"}, 1, "password is empty"},
		{"NoStdin", "", []string{"user", "add", "carol", "--role", "analyst"}, 1, "password is empty"},
		{"ShortPassword", "short\n", []string{"user", "add", "carol", "--role", "analyst"}, 1, "too short"},
		{"NoRole", pw, []string{"user", "add", "carol"}, 2, "--role is required"},
		{"BadRole", pw, []string{"user", "add", "carol", "--role", "root"}, 2, "unknown role"},
		{"BadName", pw, []string{"user", "add", "<b>", "--role", "analyst"}, 2, "user name"},
		{"Duplicate", pw, []string{"user", "add", "alice", "--role", "analyst"}, 1, "already exists"},
		{"MissingFile", "", []string{"user", "add", "carol", "--role", "analyst", "--password-file", "/nonexistent"}, 1, "nonexistent"},
		{"DisableNobody", "", []string{"user", "disable", "nobody"}, 1, "no such user"},
		{"TokenNobody", "", []string{"user", "token", "nobody"}, 1, "no such user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := b.issuer(t, tc.stdin, tc.args...)
			require.Equal(t, tc.code, r.code, r.stderr)
			require.Contains(t, r.stderr, tc.msg)
			require.NotContains(t, r.stderr, pw)
		})
	}

	// The token is printed once, alone on stdout, and stored as its hash.
	r = b.issuer(t, "", "user", "token", "bob")
	require.Equal(t, 0, r.code, r.stderr)
	token := strings.TrimSpace(r.stdout)
	require.True(t, strings.HasPrefix(token, "isu_"), token)
	sum := sha256.Sum256([]byte(token))
	var n int
	require.NoError(t, b.schema.DB.Get(&n, `SELECT count(*) FROM api_tokens WHERE hash = $1`, sum[:]))
	require.Equal(t, 1, n)
	r = b.issuer(t, "", "user", "token", "bob", "--list", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	require.NotContains(t, r.stdout, token)
	var tokens []map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &tokens))
	require.Len(t, tokens, 1)
	require.Nil(t, tokens[0]["revoked_at"])
	id := tokens[0]["id"].(float64)

	r = b.issuer(t, "", "user", "token", "bob", "--revoke", strconv.FormatInt(int64(id), 10))
	require.Equal(t, 0, r.code, r.stderr)
	r = b.issuer(t, "", "user", "token", "bob", "--list")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "PREFIX")

	r = b.issuer(t, "", "user", "disable", "bob")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "disabled bob")

	r = b.issuer(t, "", "user", "list", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var users []map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &users))
	require.Len(t, users, 2)
	for _, u := range users {
		keys := make([]string, 0, len(u))
		for k := range u {
			keys = append(keys, k)
		}
		require.ElementsMatch(t, []string{"name", "role", "disabled", "created_at", "last_login_at"}, keys)
	}
	require.Equal(t, "bob", users[1]["name"])
	require.Equal(t, true, users[1]["disabled"])
	require.Nil(t, users[1]["last_login_at"])

	r = b.issuer(t, "", "user", "enable", "bob")
	require.Equal(t, 0, r.code, r.stderr)
	r = b.issuer(t, "", "user", "list")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "LAST_LOGIN")

	var actions []string
	require.NoError(t, b.schema.DB.Select(&actions, `SELECT action || ':' || outcome FROM audit_log WHERE actor LIKE 'cli:%' ORDER BY id`))
	require.Equal(t, []string{"user_add:ok", "user_add:ok", "token_create:ok", "token_revoke:ok", "user_disable:ok", "user_enable:ok"}, actions)

	r = b.issuer(t, "", "user", "--help")
	require.Equal(t, 0, r.code)
	for _, c := range []string{"user add", "user list", "user disable", "user enable", "user token"} {
		require.Contains(t, r.stdout, c)
	}
}
