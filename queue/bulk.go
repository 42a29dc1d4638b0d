package queue

import (
	"context"
	"fmt"
	"slices"
)

// ActionApplies reports whether an operator action (pause, resume,
// cancel) applies to a batch in status.
func ActionApplies(action, status string) bool {
	t, ok := transitions[action]
	return ok && slices.Contains(t.from, status)
}

// QueuedFen is, for each of ids, the face value in fen of its rows still
// to send and not in doubt (pending or in flight), from the counters; rows
// of unknown face value count 0.
func (s *Store) QueuedFen(ctx context.Context, ids []int64) (map[int64]int64, error) {
	out := make(map[int64]int64, len(ids))
	rows, err := s.db.QueryContext(ctx, `SELECT b.id, coalesce(sum(c.fen + c.unvalued * coalesce(b.face_value_fen, 0))
			FILTER (WHERE c.status IN ('pending', 'in_flight') AND NOT c.doubt), 0)::bigint
		FROM batches b LEFT JOIN batch_outcome_counts c ON c.batch_id = b.id AND c.n <> 0
		WHERE b.id = ANY($1) GROUP BY b.id`, int64Array(ids))
	if err != nil {
		return nil, fmt.Errorf("queued money: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, fen int64
		if err := rows.Scan(&id, &fen); err != nil {
			return nil, fmt.Errorf("queued money: %w", err)
		}
		out[id] = fen
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queued money: %w", err)
	}
	return out, nil
}
