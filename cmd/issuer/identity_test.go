package main

import (
	"encoding/json"
	"maps"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// importJSON imports body as a new batch of stock S1 and returns its id
// and status.
func (b *testBundle) importJSON(t *testing.T, body string, args ...string) (string, string) {
	t.Helper()
	r := b.issuer(t, body, append([]string{"import", "--stock", "S1", "--kind", "product", "--json"}, append(args, "-")...)...)
	require.Equal(t, 0, r.code, r.stderr)
	var rep struct {
		BatchID int64  `json:"batch_id"`
		Status  string `json:"status"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout)
	return strconv.FormatInt(rep.BatchID, 10), rep.Status
}

func (b *testBundle) batchField(t *testing.T, id, field string) any {
	t.Helper()
	r := b.issuer(t, "", "batch", "show", id, "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var show map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &show))
	return show[field]
}

// TestCLIIdentity: the command line acts as an account only with that
// account's credential; without one it is cli:<os user>, who imports,
// pauses and cancels but never approves.
func TestCLIIdentity(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.env["ISSUER_APPROVAL_MIN_COUPONS"] = "2"
	olga, ann := b.as(t, "olga", "operator"), b.as(t, "ann", "operator")
	b.as(t, "otto", "operator")

	id, status := ann.importJSON(t, "openid\noA\noB\n")
	require.Equal(t, "awaiting_approval", status)
	require.Equal(t, "ann", b.batchField(t, id, "uploaded_by"))

	for _, tc := range []struct {
		name string
		b    *testBundle
		args []string
		msg  string
	}{
		{"AsWithoutCredential", b, []string{"--as", "olga"}, "--as olga needs olga's credential"},
		{"AsWithAnothersToken", ann, []string{"--as", "olga"}, "the API token in ISSUER_TOKEN is ann's"},
		{"UploadersOwnToken", ann, nil, "uploaded by ann, who may not approve it"},
		{"ShellWithoutCredential", b, nil, "without a credential"},
		{"MissingTokenFile", b, []string{"--token-file", "/nonexistent/token"}, "--token-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.b.issuer(t, "", append([]string{"batch", "approve", id}, tc.args...)...)
			require.Equal(t, 1, r.code, r.stderr)
			require.Contains(t, r.stderr, tc.msg)
		})
	}
	forged := *b
	forged.env = maps.Clone(b.env)
	forged.env["ISSUER_TOKEN"] = "isu_forged"
	r := forged.issuer(t, "", "batch", "approve", id)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "the API token in ISSUER_TOKEN is not valid")
	r = b.issuerTyping(t, []string{"not olga's password"}, "", "batch", "approve", id, "--as", "olga")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "--as olga: sign in: invalid username or password")
	require.Equal(t, "awaiting_approval", b.batchField(t, id, "status"), "nothing changed")

	// Her token from a file, and the right password typed at the terminal.
	tokenFile := b.write(t, "olga.token", olga.env["ISSUER_TOKEN"]+"\n")
	r = b.issuer(t, "", "batch", "approve", id, "--as", "olga", "--token-file", tokenFile, "--comment", "预算已确认")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "approved by olga")
	require.Equal(t, "预算已确认", b.batchField(t, id, "approve_comment"), "the approver's comment is kept")
	other, _ := ann.importJSON(t, "openid\noC\noD\n")
	r = b.issuerTyping(t, []string{testPassword}, "", "batch", "reject", other, "--as", "otto", "--reason", "split list")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "rejected", b.batchField(t, other, "status"))

	// Without a credential: imported as cli:<os user>, whom no account
	// is; the shell stops and cancels but does not resume or approve.
	shellBatch, status := b.importJSON(t, "openid\noE\noF\n")
	require.Equal(t, "awaiting_approval", status)
	uploader := b.batchField(t, shellBatch, "uploaded_by").(string)
	require.True(t, strings.HasPrefix(uploader, "cli:"), uploader)
	r = b.issuer(t, "", "batch", "approve", shellBatch)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "--as NAME with NAME's API token")
	r = olga.issuer(t, "", "batch", "approve", shellBatch)
	require.Equal(t, 0, r.code, r.stderr)
	for _, step := range []struct {
		who  *testBundle
		args []string
		code int
	}{
		{b, []string{"batch", "pause", shellBatch}, 0},
		// The shell tightens a guard without a credential, never loosens one.
		{b, []string{"batch", "guards", shellBatch, "--window", "09:00-10:00"}, 0},
		{b, []string{"batch", "guards", shellBatch, "--window", "none"}, 1},
		{olga, []string{"batch", "guards", shellBatch, "--window", "none"}, 0},
		{b, []string{"batch", "resume", shellBatch}, 1},
		{b, []string{"batch", "priority", shellBatch, "5"}, 1},
		{olga, []string{"batch", "priority", shellBatch, "5"}, 0},
		{b, []string{"batch", "cancel", shellBatch}, 0},
	} {
		r := step.who.issuer(t, "", step.args...)
		require.Equal(t, step.code, r.code, "%v: %s", step.args, r.stderr)
	}

	// The audit log names who acted and from where.
	var rows []struct {
		Actor, Action, Source, Outcome string
	}
	require.NoError(t, b.schema.DB.Select(&rows, `SELECT actor, action, source, outcome FROM audit_log
		WHERE action IN ('approve', 'reject', 'resume') ORDER BY id`))
	var got []string
	for _, row := range rows {
		actor := row.Actor
		if strings.HasPrefix(actor, "cli:") {
			actor = "cli"
		}
		require.True(t, strings.HasPrefix(row.Source, "cli:"), row.Source)
		got = append(got, actor+" "+row.Action+" "+row.Outcome)
	}
	require.Equal(t, []string{"ann approve denied", "cli approve denied", "olga approve ok", "otto reject ok",
		"cli approve denied", "olga approve ok", "cli resume denied"}, got)
}

func TestUserPasswdRoleAndTokens(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const newPassword = "a much better passphrase"
	for _, u := range [][2]string{{"alice", "admin"}, {"bob", "analyst"}} {
		r := b.issuer(t, testPassword+"\n", "user", "add", u[0], "--role", u[1])
		require.Equal(t, 0, r.code, r.stderr)
	}

	r := b.issuer(t, newPassword+"\n", "user", "passwd", "bob")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "password of bob changed")
	r = b.issuerTyping(t, []string{testPassword}, "openid\noA\n", "import", "--stock", "S1", "--as", "bob", "-")
	require.Equal(t, 1, r.code, "the old password no longer works")
	r = b.issuerTyping(t, []string{newPassword}, "openid\noA\n", "import", "--stock", "S1", "--as", "bob", "-")
	require.Equal(t, 0, r.code, r.stderr)
	r = b.issuer(t, "short\n", "user", "passwd", "bob")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "too short")
	r = b.issuer(t, newPassword+"\n", "user", "passwd", "nobody")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "no such user")

	r = b.issuer(t, "", "user", "role", "bob", "operator")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "bob is operator")
	for _, args := range [][]string{{"user", "role", "alice", "analyst"}, {"user", "disable", "alice"}} {
		r = b.issuer(t, "", args...)
		require.Equal(t, 1, r.code, args)
		require.Contains(t, r.stderr, "last enabled admin", args)
	}
	r = b.issuer(t, "", "user", "role", "bob", "root")
	require.Equal(t, 2, r.code)

	r = b.issuer(t, "", "user", "token", "bob", "--expires", "7d")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stderr, "works until")
	for _, bad := range []string{"0d", "soon", "-1h"} {
		r = b.issuer(t, "", "user", "token", "bob", "--expires", bad)
		require.Equal(t, 2, r.code, bad)
	}
	r = b.issuer(t, "", "user", "token", "bob", "--expires", "400d")
	require.Equal(t, 1, r.code)
	r = b.issuer(t, "", "user", "token", "bob", "--list")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "EXPIRES")
	require.Contains(t, r.stdout, "LAST_USED")
	r = b.issuer(t, "", "user", "token", "bob", "--list", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var tokens []map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &tokens))
	require.Len(t, tokens, 1)
	require.NotEmpty(t, tokens[0]["expires_at"])

	var actions []string
	require.NoError(t, b.schema.DB.Select(&actions, `SELECT action || ':' || outcome FROM audit_log
		WHERE action IN ('user_password', 'user_role') ORDER BY id`))
	require.Equal(t, []string{"user_password:ok", "user_role:ok"}, actions)
}
