package ops

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/intake"
	"github.com/issuer-dev/issuer/internal/money"
	"github.com/issuer-dev/issuer/queue"
)

// ApproveBatch lets a batch awaiting approval issue. The queue refuses an
// approver who uploaded the batch (maker-checker), whoever calls.
func (s *Service) ApproveBatch(ctx context.Context, a auth.Actor, id int64) (*Batch, error) {
	return s.ApproveBatchComment(ctx, a, id, "")
}

// ApproveBatchComment is ApproveBatch with the approver's comment, kept on
// the batch and in the audit log.
func (s *Service) ApproveBatchComment(ctx context.Context, a auth.Actor, id int64, comment string) (*Batch, error) {
	comment = strings.TrimSpace(comment)
	if n := len([]rune(comment)); n > queue.MaxCommentLen {
		return nil, invalidf("approve: the comment has %d characters, at most %d", n, queue.MaxCommentLen)
	}
	note := ""
	if comment != "" {
		note = ": " + comment
	}
	var b *Batch
	err := s.moneyAct(ctx, a, auth.ActApprove, &target{batch: id}, func(rec *recorder) (string, error) {
		rec.detailTx = func(ctx context.Context, tx *sqlx.Tx) (string, error) {
			var v struct {
				Accepted  int   `db:"accepted"`
				AmountFen int64 `db:"amount_fen"`
			}
			err := tx.GetContext(ctx, &v, `SELECT accepted, amount_fen FROM batches WHERE id = $1`, id)
			return approvedDetail(v.Accepted, v.AmountFen) + note, err
		}
		var err error
		b, err = rec.queue().ApproveWithComment(ctx, id, a.Name, comment)
		if err != nil {
			return "", selfApproval(err)
		}
		return approvedDetail(b.Accepted, b.AmountFen) + note, nil
	})
	return b, err
}

func approvedDetail(accepted int, fen int64) string {
	return fmt.Sprintf("approved %d recipients worth %s yuan", accepted, money.Yuan(fen))
}

// RejectBatch ends a batch awaiting approval; nothing of it is sent.
func (s *Service) RejectBatch(ctx context.Context, a auth.Actor, id int64, reason string) (*Batch, error) {
	if reason == "" {
		return nil, invalidf("reject: a reason is required")
	}
	var b *Batch
	err := s.moneyAct(ctx, a, auth.ActReject, &target{batch: id}, func(rec *recorder) (string, error) {
		rec.detail = "rejected: " + reason
		var err error
		b, err = rec.queue().Reject(ctx, id, a.Name, reason)
		if err != nil {
			return "", selfApproval(err)
		}
		return "rejected: " + reason, nil
	})
	return b, err
}

// RenameBatch gives a batch awaiting approval a new name (an operator's
// act, audited, as a guard change is): what the approver decides on is
// what it is. A new file is a new batch, never an edit.
func (s *Service) RenameBatch(ctx context.Context, a auth.Actor, id int64, name string) (*Batch, error) {
	name = strings.TrimSpace(name)
	if err := intake.CheckName(name); err != nil {
		return nil, fmt.Errorf("rename: %w", err)
	}
	var b *Batch
	err := s.moneyAct(ctx, a, auth.ActGuards, &target{batch: id}, func(rec *recorder) (string, error) {
		before, err := rec.queue().Batch(ctx, id)
		if err != nil {
			return "", err
		}
		rec.detail = fmt.Sprintf("name %q (was %q)", name, before.Name)
		b, err = rec.queue().Rename(ctx, id, name)
		return rec.detail, err
	})
	return b, err
}

// SetBatchPriority changes which batches are claimed first.
func (s *Service) SetBatchPriority(ctx context.Context, a auth.Actor, id int64, priority int) (*Batch, error) {
	var b *Batch
	err := s.moneyAct(ctx, a, auth.ActPriority, &target{batch: id}, func(rec *recorder) (string, error) {
		rec.detail = fmt.Sprintf("priority %d", priority)
		var err error
		b, err = rec.queue().SetPriority(ctx, id, priority)
		return rec.detail, err
	})
	return b, err
}

// selfApproval reports maker-checker refusals as forbidden: no role lets
// someone approve their own list.
func selfApproval(err error) error {
	if errors.Is(err, queue.ErrSelfApproval) {
		return &Error{Code: EFORBIDDEN, Message: "forbidden: " + err.Error(), Err: fmt.Errorf("%w: %w", auth.ErrForbidden, err)}
	}
	return err
}

// None is what clears a guard in a GuardsRequest (the CLI's --window
// none; the API's JSON null).
const None = "none"

// GuardsRequest changes a batch's money guards as people type them, the
// same way for every front end: a nil field leaves its guard as it is,
// None clears it. MaxAmountYuan is yuan, Window HH:MM-HH:MM and StartAt
// RFC 3339 or YYYY-MM-DD HH:MM, both in the configured time zone.
type GuardsRequest struct {
	MaxAmountYuan *string
	Window        *string
	StartAt       *string
	Priority      *int
	// Paused says whether a batch awaiting approval is paused once
	// approved; other batches pause and resume by their own acts.
	Paused *bool
}

// SetBatchGuards changes a batch's guards (an operator's act, audited). A
// cap below what the batch already has issued, in flight or in doubt is
// refused (queue.ErrCapBelowReserved, which is a queue.ErrState), as is
// any change to a batch that can no longer send. A raised cap does not
// resume a batch the cap halted: resuming is its own act.
func (s *Service) SetBatchGuards(ctx context.Context, a auth.Actor, id int64, req GuardsRequest) (*Batch, error) {
	c, err := s.guardChange(req)
	if err != nil {
		return nil, err
	}
	var b *Batch
	err = s.moneyAct(ctx, a, auth.ActGuards, &target{batch: id}, func(rec *recorder) (string, error) {
		before, err := s.Queue.Batch(ctx, id)
		if err != nil {
			return "", err
		}
		if !a.Account() && c.Loosens(before) {
			// The shell without a credential may tighten a guard (an
			// emergency needs no token) but never loosen one.
			return "", forbiddenf("%s acts without a credential, which may tighten a batch's guards but not loosen them: "+
				"act as an operator, with their API token or password", a.Name)
		}
		sending := before.Status == queue.BatchPending || before.Status == queue.BatchRunning // refused a first cap anyway
		if c.MaxAmountFen != nil && before.MaxAmountFen == nil && before.FaceValueFen == nil && !sending {
			// A first cap counts what the batch has sent at face value.
			c.FaceValueFen = s.batchFaceValue(ctx, before)
		}
		rec.detail = describeGuards(before, c, s.location())
		b, err = rec.queue().SetGuards(ctx, id, c)
		return rec.detail, err
	})
	return b, err
}

// batchFaceValue asks WeChat Pay for the face value of a 代金券 batch's
// stock; 0 when it cannot be known (a 商品券 batch, no merchant keys, no
// answer), which leaves a first cap to rows with a coupon_value.
func (s *Service) batchFaceValue(ctx context.Context, b *queue.Batch) int64 {
	if b.Kind != intake.KindFavor || s.WX == nil {
		return 0
	}
	creator := b.StockCreatorMchID
	if s.Config != nil && creator == s.Config.WXPay.MchID {
		creator = ""
	}
	face, err := s.faceValue(ctx, ImportRequest{StockID: b.StockID, CreatorMchID: creator})
	if err != nil {
		s.Logger.Warn("guards: the stock's face value is unknown", "stock", b.StockID, "err", err)
		return 0
	}
	return face
}

func (s *Service) guardChange(req GuardsRequest) (queue.GuardChange, error) {
	var c queue.GuardChange
	loc := s.location()
	if v := req.MaxAmountYuan; v != nil {
		if isNone(*v) {
			c.ClearMaxAmount = true
		} else {
			fen, err := money.ParseYuan(strings.TrimSpace(*v))
			if err != nil {
				return c, invalidf("max amount: %v", err)
			}
			if fen <= 0 {
				return c, invalidf("max amount: %s yuan; a spend cap is more than 0 (none removes it)", *v)
			}
			c.MaxAmountFen = &fen
		}
	}
	if v := req.Window; v != nil {
		if isNone(*v) {
			c.ClearWindow = true
		} else {
			w, err := queue.ParseWindow(strings.TrimSpace(*v), loc)
			if err != nil {
				return c, invalidf("%v (none removes it)", err)
			}
			c.Window = &w
		}
	}
	if v := req.StartAt; v != nil {
		if isNone(*v) {
			c.ClearStartAt = true
		} else {
			t, err := ParseTime(strings.TrimSpace(*v), loc)
			if err != nil {
				return c, invalidf("start at: %v (none removes it)", err)
			}
			c.StartAt = &t
		}
	}
	c.Priority, c.StartPaused = req.Priority, req.Paused
	if c.Empty() {
		return c, invalidf("guards: nothing to change; give a max amount, a window, a start time or a priority")
	}
	return c, nil
}

// location is the configured time zone (UTC without one).
func (s *Service) location() *time.Location {
	if s.Config == nil || s.Config.Location == nil {
		return time.UTC
	}
	return s.Config.Location
}

func isNone(v string) bool { return strings.EqualFold(strings.TrimSpace(v), None) }

// describeGuards says what c changes of b's guards, for the audit log.
func describeGuards(b *queue.Batch, c queue.GuardChange, loc *time.Location) string {
	was := func(set bool, v string) string {
		if !set {
			return " (was none)"
		}
		return " (was " + v + ")"
	}
	var parts []string
	capWas := was(b.MaxAmountFen != nil, func() string {
		if b.MaxAmountFen == nil {
			return ""
		}
		return money.Yuan(*b.MaxAmountFen) + " yuan"
	}())
	switch {
	case c.ClearMaxAmount:
		parts = append(parts, "spend cap none"+capWas)
	case c.MaxAmountFen != nil:
		parts = append(parts, "spend cap "+money.Yuan(*c.MaxAmountFen)+" yuan"+capWas)
	}
	switch {
	case c.ClearWindow:
		parts = append(parts, "window none"+was(b.Window != "", b.Window))
	case c.Window != nil:
		parts = append(parts, "window "+c.Window.String()+was(b.Window != "", b.Window))
	}
	startWas := ""
	if b.StartAt != nil {
		startWas = b.StartAt.In(loc).Format(time.RFC3339)
	}
	switch {
	case c.ClearStartAt:
		parts = append(parts, "start none"+was(b.StartAt != nil, startWas))
	case c.StartAt != nil:
		parts = append(parts, "start "+c.StartAt.In(loc).Format(time.RFC3339)+was(b.StartAt != nil, startWas))
	}
	if c.Priority != nil {
		parts = append(parts, fmt.Sprintf("priority %d (was %d)", *c.Priority, b.Priority))
	}
	if c.StartPaused != nil {
		parts = append(parts, fmt.Sprintf("paused once approved %t (was %t)", *c.StartPaused, b.StartPaused))
	}
	d := strings.Join(parts, "; ")
	if c.Loosens(b) {
		d += "; loosens the guards"
	}
	return d
}
