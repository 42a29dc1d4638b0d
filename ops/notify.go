package ops

import (
	"context"
	"fmt"
	"time"

	"github.com/issuer-dev/issuer/audit"
	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/queue"
)

// VerdictWindow is how far back notifications look for settlement
// verdicts, and maxNotified how many of each kind they list.
const (
	VerdictWindow = 7 * 24 * time.Hour
	maxNotified   = 50
)

// Notifications are what the console's bell tells a person: the batches
// awaiting its approval and the halted batches (until someone acts on
// them), and what settlements decided (cancels and review settlements,
// from the audit log) over VerdictWindow, those since SeenAt new.
type Notifications struct {
	Approvals []*queue.Batch `json:"approvals"`
	Halted    []*queue.Batch `json:"halted"`
	Verdicts  []Verdict      `json:"verdicts"`
	// SeenAt is when the actor last marked its notifications seen (zero:
	// never); NewVerdicts counts the verdicts since.
	SeenAt      time.Time `json:"seen_at"`
	NewVerdicts int       `json:"new_verdicts"`
}

// Verdict is what one settlement found: a cancel (Cancelled rows never
// sent, then the rows in doubt checked) or a settlement of rows in review.
// Known is false for an audit row whose detail is not in the form the
// acts write; Detail is that text.
type Verdict struct {
	audit.Entry
	Known        bool `json:"known"`
	Cancelled    int  `json:"cancelled"`
	Checked      int  `json:"checked"`
	Issued       int  `json:"issued"`
	NotIssued    int  `json:"not_issued"`
	StillInDoubt int  `json:"still_in_doubt"`
}

// parseVerdict reads the detail CancelBatch and ResolveReview write.
func parseVerdict(action, detail string) (v Verdict) {
	var waiting int
	switch action {
	case string(auth.ActCancel):
		n, _ := fmt.Sscanf(detail, "cancelled %d never issued; settled %d in doubt: %d issued, %d not issued, %d still in review",
			&v.Cancelled, &v.Checked, &v.Issued, &v.NotIssued, &v.StillInDoubt)
		v.Known = n == 5
	case string(auth.ActSettle):
		n, _ := fmt.Sscanf(detail, "checked %d: %d issued, %d not issued, %d still in doubt, %d sent too recently",
			&v.Checked, &v.Issued, &v.NotIssued, &v.StillInDoubt, &waiting)
		v.StillInDoubt += waiting
		v.Known = n == 5
	}
	return v
}

// Count is the bell's number: what waits for the actor and the verdicts
// it has not seen.
func (n *Notifications) Count() int { return len(n.Approvals) + len(n.Halted) + n.NewVerdicts }

// Notifications returns the actor's notifications.
func (s *Service) Notifications(ctx context.Context, a auth.Actor) (*Notifications, error) {
	if err := s.read(ctx, a, auth.ActRead, target{}); err != nil {
		return nil, err
	}
	n := &Notifications{Approvals: []*queue.Batch{}, Verdicts: []Verdict{}}
	var err error
	if a.Can(auth.ActApprove) {
		if n.Approvals, err = s.Queue.Batches(ctx, queue.BatchFilter{Status: queue.BatchAwaitingApproval, Limit: maxNotified}); err != nil {
			return nil, err
		}
		mine := n.Approvals[:0]
		for _, b := range n.Approvals {
			if b.UploadedBy != a.Name {
				mine = append(mine, b)
			}
		}
		n.Approvals = mine
	}
	if n.Halted, err = s.Queue.Batches(ctx, queue.BatchFilter{Status: queue.BatchHalted, Limit: maxNotified}); err != nil {
		return nil, err
	}
	var seen *time.Time
	if err := s.DB.GetContext(ctx, &seen, `SELECT max(seen_at) FROM notification_seen WHERE account = $1`, a.Name); err != nil {
		return nil, fmt.Errorf("notifications seen: %w", err)
	}
	if seen != nil {
		n.SeenAt = *seen
	}
	type row struct {
		ID      int64     `db:"id"`
		At      time.Time `db:"at"`
		Actor   string    `db:"actor"`
		Action  string    `db:"action"`
		BatchID *int64    `db:"batch_id"`
		Detail  string    `db:"detail"`
	}
	var rows []row
	err = s.DB.SelectContext(ctx, &rows, `SELECT id, at, actor, action, batch_id, coalesce(detail #>> '{}', '') AS detail
		FROM audit_log WHERE at > now() - $1 * interval '1 millisecond' AND action IN ('settle', 'cancel') AND outcome = 'ok'
		ORDER BY at DESC, id DESC LIMIT $2`, VerdictWindow.Milliseconds(), maxNotified)
	if err != nil {
		return nil, fmt.Errorf("settlement verdicts: %w", err)
	}
	for _, r := range rows {
		v := parseVerdict(r.Action, r.Detail)
		v.Entry = audit.Entry{ID: r.ID, Time: r.At, Actor: r.Actor, Action: r.Action, BatchID: r.BatchID,
			Detail: audit.Text(r.Detail), Outcome: audit.OK}
		n.Verdicts = append(n.Verdicts, v)
		if r.At.After(n.SeenAt) {
			n.NewVerdicts++
		}
	}
	return n, nil
}

// MarkNotificationsSeen records that the actor has seen its notifications
// now: the verdicts so far no longer count as new.
func (s *Service) MarkNotificationsSeen(ctx context.Context, a auth.Actor) error {
	if err := s.read(ctx, a, auth.ActRead, target{}); err != nil {
		return err
	}
	_, err := s.DB.ExecContext(ctx, `INSERT INTO notification_seen (account, seen_at) VALUES ($1, now())
		ON CONFLICT (account) DO UPDATE SET seen_at = excluded.seen_at`, a.Name)
	if err != nil {
		return fmt.Errorf("mark notifications seen: %w", err)
	}
	return nil
}
