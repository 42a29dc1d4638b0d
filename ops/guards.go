package ops

import (
	"context"
	"errors"
	"fmt"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/internal/money"
	"github.com/issuer-dev/issuer/queue"
)

// ApproveBatch lets a batch awaiting approval issue. The queue refuses an
// approver who uploaded the batch (maker-checker), whoever calls.
func (s *Service) ApproveBatch(ctx context.Context, a auth.Actor, id int64) (*queue.Batch, error) {
	var b *queue.Batch
	err := s.act(ctx, a, auth.ActApprove, &target{batch: id}, func() (string, error) {
		var err error
		b, err = s.Queue.Approve(ctx, id, a.Name)
		if err != nil {
			return "", selfApproval(err)
		}
		return fmt.Sprintf("approved %d recipients worth %s yuan", b.Accepted, money.Yuan(b.AmountFen)), nil
	})
	return b, err
}

// RejectBatch ends a batch awaiting approval; nothing of it is sent.
func (s *Service) RejectBatch(ctx context.Context, a auth.Actor, id int64, reason string) (*queue.Batch, error) {
	if reason == "" {
		return nil, invalidf("reject: a reason is required")
	}
	var b *queue.Batch
	err := s.act(ctx, a, auth.ActReject, &target{batch: id}, func() (string, error) {
		var err error
		b, err = s.Queue.Reject(ctx, id, a.Name, reason)
		if err != nil {
			return "", selfApproval(err)
		}
		return "rejected: " + reason, nil
	})
	return b, err
}

// SetBatchPriority changes which batches are claimed first.
func (s *Service) SetBatchPriority(ctx context.Context, a auth.Actor, id int64, priority int) (*queue.Batch, error) {
	var b *queue.Batch
	err := s.act(ctx, a, auth.ActPriority, &target{batch: id}, func() (string, error) {
		var err error
		b, err = s.Queue.SetPriority(ctx, id, priority)
		return fmt.Sprintf("priority %d", priority), err
	})
	return b, err
}

// selfApproval reports maker-checker refusals as forbidden: no role lets
// someone approve their own list.
func selfApproval(err error) error {
	if errors.Is(err, queue.ErrSelfApproval) {
		return fmt.Errorf("%w: %w", ErrForbidden, err)
	}
	return err
}
