package app

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/internal/config"
	"github.com/issuer-dev/issuer/jobs"
)

// The configuration sits below the jobs and keeps their defaults as plain
// values; the issue job applies its own to a zero Policy. The two agree.
func TestConfigDefaultsAreTheJobs(t *testing.T) {
	t.Parallel()
	d := config.Defaults()
	require.Equal(t, jobs.DefaultMaxAttempts, d.Issue.MaxAttempts)
	require.Equal(t, jobs.DefaultShutdownTimeout, d.Issue.ShutdownTimeout)
}
