package ops

import (
	"context"
	"errors"
	"fmt"

	"github.com/issuer-dev/issuer/queue"
	"github.com/issuer-dev/issuer/wxpay"
)

// NextStep tells a person why batch b is not being sent and what to do
// about it, in one sentence with the command to run; "" when b is pending
// or running. The CLI and the console say the same thing.
func NextStep(b *queue.Batch) string {
	switch b.Status {
	case queue.BatchPaused:
		return fmt.Sprintf("batch %d is paused; resume it with `issuer batch resume %d`", b.ID, b.ID)
	case queue.BatchHalted:
		reason := ""
		if b.HaltReason != nil {
			reason = *b.HaltReason
		}
		return fmt.Sprintf("batch %d is halted (%s); %s", b.ID, reason, haltRemedy(b.ID, reason))
	case queue.BatchAwaitingApproval:
		return fmt.Sprintf("batch %d is awaiting approval; an operator other than %s approves it with `issuer batch approve %d --as NAME`",
			b.ID, orSomeone(b.UploadedBy), b.ID)
	case queue.BatchCompleted:
		return fmt.Sprintf("batch %d is completed: every recipient is settled, nothing is left to send", b.ID)
	case queue.BatchCancelled:
		return fmt.Sprintf("batch %d is cancelled: it is never sent again (import the list again as a new batch if it must go out)", b.ID)
	case queue.BatchRejected:
		return fmt.Sprintf("batch %d was rejected at approval: it is never sent (import a corrected list as a new batch)", b.ID)
	}
	return ""
}

// haltRemedy is what to do about a halt, by the outcome that halted it
// (or spend_cap), read from the reason as Halt reads it.
func haltRemedy(id int64, reason string) string {
	resume := fmt.Sprintf("`issuer batch resume %d`", id)
	kind := Halt(reason).Outcome
	switch wxpay.Outcome(kind) {
	case wxpay.OutcomeBudgetExhausted:
		return "top up the stock's budget on the WeChat Pay merchant platform, then " + resume
	case wxpay.OutcomeStockUnavailable:
		return "check that the stock is started and not expired (`issuer stock show`), then " + resume
	case wxpay.OutcomeConfigError:
		return "fix the merchant configuration WeChat Pay refused (mchid, appid, keys, stock creator), then " + resume
	}
	if kind == "spend_cap" {
		return fmt.Sprintf("it reached its --max-amount-yuan cap; cancel it with `issuer batch cancel %d`, or import the rest as a new batch", id)
	}
	return "see `issuer batch show " + fmt.Sprint(id) + "`, fix the cause, then " + resume
}

func orSomeone(name string) string {
	if name == "" {
		return "its uploader"
	}
	return name
}

// refusal is queue.ErrState reworded for a person: what the batch is and
// what to do instead. It still matches queue.ErrState (409).
type refusal struct{ msg string }

func (r *refusal) Error() string { return r.msg }
func (r *refusal) Unwrap() error { return queue.ErrState }

// refuse explains why action does not apply to b.
// reword makes a batch operation's queue.ErrState a refusal that says
// what the batch is now and what to do instead; other errors pass as
// they are.
func (s *Service) reword(ctx context.Context, id int64, action string, err error) error {
	if errors.Is(err, queue.ErrState) {
		if cur, gerr := s.Queue.Batch(ctx, id); gerr == nil {
			return refuse(cur, action)
		}
	}
	return err
}

func refuse(b *queue.Batch, action string) error {
	msg := NextStep(b)
	switch {
	case action == "pause" && b.Status == queue.BatchPaused:
		msg = fmt.Sprintf("batch %d is already paused; resume it with `issuer batch resume %d`", b.ID, b.ID)
	case action == "resume" && (b.Status == queue.BatchPending || b.Status == queue.BatchRunning):
		msg = fmt.Sprintf("batch %d is already %s: it is not paused", b.ID, b.Status)
	case msg == "":
		msg = fmt.Sprintf("batch %d is %s: %s does not apply", b.ID, b.Status, action)
	default:
		msg = fmt.Sprintf("cannot %s: %s", action, msg)
	}
	return &refusal{msg: msg}
}
