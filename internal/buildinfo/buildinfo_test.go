package buildinfo

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOf(t *testing.T) {
	t.Parallel()
	stamped := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "866efec0a1b2c3d4e5f6"}, {Key: "vcs.time", Value: "2026-03-01T10:00:00Z"},
		{Key: "vcs.modified", Value: "true"}}}
	for _, tc := range []struct {
		linked string
		info   *debug.BuildInfo
		ok     bool
		want   string
	}{
		{"v1.4.0", stamped, true, "v1.4.0"},
		{"", stamped, true, "devel-866efec0a1b2-dirty 2026-03-01T10:00:00Z"},
		{"", &debug.BuildInfo{Main: debug.Module{Version: "v1.3.2"}}, true, "v1.3.2"},
		{"", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, true, "devel"},
		{"", nil, false, "devel"},
	} {
		require.Equal(t, tc.want, Of(tc.linked, tc.info, tc.ok))
	}
	require.Equal(t, "v9", Version("v9"))
}
