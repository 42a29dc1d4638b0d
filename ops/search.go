package ops

import (
	"context"
	"strings"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/queue"
)

// MaxOpenIDRows bounds the rows SearchOpenID returns.
const MaxOpenIDRows = 200

// SearchOpenID finds openid's row in every batch, newest batch first.
func (s *Service) SearchOpenID(ctx context.Context, a auth.Actor, openid string) ([]queue.OpenIDRow, error) {
	if err := s.read(ctx, a, auth.ActRead, target{}); err != nil {
		return nil, err
	}
	openid = strings.TrimSpace(openid)
	if openid == "" {
		return nil, invalidf("search: the openid is required")
	}
	return s.Queue.FindOpenID(ctx, openid, MaxOpenIDRows)
}
