package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSimFlagsChecked(t *testing.T) {
	t.Parallel()
	b := &testBundle{env: map[string]string{}}
	r := b.issuer(t, "", "sim", "--keys", t.TempDir(), "--base-url", "ftp://proxy")
	require.Equal(t, 2, r.code, r.stderr)
	require.Contains(t, r.stderr, "--base-url")
	r = b.issuer(t, "", "sim", "--help")
	require.Equal(t, 0, r.code)
	require.Contains(t, r.stdout+r.stderr, "-clock-offset")
}
