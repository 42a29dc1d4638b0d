package ops

import (
	"context"
	"time"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/report"
)

// Digest returns the morning digest of day (YYYY-MM-DD in the configured
// zone; "" for yesterday there). Reading it is a read; sending it to the
// alert channels is the front end's or the schedule's.
func (s *Service) Digest(ctx context.Context, a auth.Actor, day string) (*report.Digest, error) {
	if err := s.read(ctx, a, auth.ActRead, target{}); err != nil {
		return nil, err
	}
	loc := s.Config.Location
	if loc == nil {
		loc = time.UTC
	}
	if day == "" {
		day = Yesterday(time.Now(), loc)
	} else if _, err := time.ParseInLocation(time.DateOnly, day, loc); err != nil {
		return nil, invalidf("digest: --date %q is not YYYY-MM-DD", day)
	}
	return report.BuildDigest(ctx, s.DB, report.DigestOptions{Day: day, Location: loc})
}

// Yesterday is the day before now's, in loc, as YYYY-MM-DD.
func Yesterday(now time.Time, loc *time.Location) string {
	y, m, d := now.In(loc).Date()
	return time.Date(y, m, d-1, 12, 0, 0, 0, loc).Format(time.DateOnly)
}
