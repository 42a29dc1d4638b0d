// Package cronspec parses the schedules of issuer's jobs: five cron fields
// (minute hour day-of-month month day-of-week) or a descriptor such as
// "@every 30s" or "@daily".
//
// It is a leaf: the daemon's scheduler runs the schedules it parses, and
// internal/config checks schedules.* with the same parser, so that
// `issuer config check` accepts exactly what `issuer run` can schedule.
package cronspec

import (
	"fmt"

	"github.com/robfig/cron/v3"
)

var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Parse checks a schedule and returns it.
func Parse(spec string) (cron.Schedule, error) {
	s, err := parser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", spec, err)
	}
	return s, nil
}
