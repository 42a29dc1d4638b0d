package ops

import (
	"context"
	"slices"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/queue"
)

// MaxBulk bounds the batches one bulk act names (a page of the list).
const MaxBulk = 50

// BulkActions are the acts BulkAct performs.
func BulkActions() []string { return []string{"pause", "resume", "cancel"} }

// BulkItem is a batch as a bulk act's confirmation shows it: what it is,
// the money its rows still to send hold, and whether the act applies to
// its status (one that does not is left as it is).
type BulkItem struct {
	Batch     *queue.Batch
	QueuedFen int64
	Applies   bool
}

// BulkPreview lists what a bulk act would touch, in the order of ids,
// with the total money at stake in the batches it applies to.
func (s *Service) BulkPreview(ctx context.Context, a auth.Actor, action string, ids []int64) ([]BulkItem, int64, error) {
	if err := s.read(ctx, a, auth.ActRead, target{}); err != nil {
		return nil, 0, err
	}
	if err := checkBulk(action, ids); err != nil {
		return nil, 0, err
	}
	fen, err := s.Queue.QueuedFen(ctx, ids)
	if err != nil {
		return nil, 0, err
	}
	items := make([]BulkItem, 0, len(ids))
	var total int64
	for _, id := range ids {
		b, err := s.Queue.Batch(ctx, id)
		if err != nil {
			return nil, 0, err
		}
		it := BulkItem{Batch: b, QueuedFen: fen[id], Applies: queue.ActionApplies(action, b.Status)}
		if it.Applies {
			total += it.QueuedFen
		}
		items = append(items, it)
	}
	return items, total, nil
}

// BulkResult is what a bulk act did to one batch: its state after, or
// the error of that batch's act.
type BulkResult struct {
	ID    int64
	Batch *queue.Batch
	Err   error
}

// BulkAct performs action on each batch in turn, each one act as if asked
// alone: authorized, audited, refused by a status it does not apply to.
// One batch's error does not stop the others.
func (s *Service) BulkAct(ctx context.Context, a auth.Actor, action string, ids []int64) ([]BulkResult, error) {
	if err := checkBulk(action, ids); err != nil {
		return nil, err
	}
	out := make([]BulkResult, 0, len(ids))
	for _, id := range ids {
		r := BulkResult{ID: id}
		switch action {
		case "pause":
			r.Batch, r.Err = s.PauseBatch(ctx, a, id)
		case "resume":
			r.Batch, r.Err = s.ResumeBatch(ctx, a, id)
		case "cancel":
			var res *CancelResult
			if res, r.Err = s.CancelBatch(ctx, a, id); r.Err == nil {
				r.Batch = res.Batch
			}
		}
		out = append(out, r)
	}
	return out, nil
}

func checkBulk(action string, ids []int64) error {
	if !slices.Contains(BulkActions(), action) {
		return invalidf("bulk: the action must be pause, resume or cancel, not %q", action)
	}
	if len(ids) == 0 {
		return invalidf("bulk: select at least one batch")
	}
	if len(ids) > MaxBulk {
		return invalidf("bulk: at most %d batches at once, not %d", MaxBulk, len(ids))
	}
	seen := map[int64]bool{}
	for _, id := range ids {
		if id <= 0 || seen[id] {
			return invalidf("bulk: batch ids must be distinct and positive")
		}
		seen[id] = true
	}
	return nil
}
