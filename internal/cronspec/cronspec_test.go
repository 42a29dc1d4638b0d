package cronspec

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		spec, err string
	}{
		{spec: "30 10 * * *"},
		{spec: "@every 1m"},
		{spec: "@daily"},
		{spec: "0 0 4 * * *", err: `schedule "0 0 4 * * *": expected exactly 5 fields`},
		{spec: "", err: `schedule "": empty spec string`},
		{spec: "@fortnightly", err: `schedule "@fortnightly"`},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			t.Parallel()
			s, err := Parse(tc.spec)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			require.True(t, s.Next(now).After(now))
		})
	}
}
