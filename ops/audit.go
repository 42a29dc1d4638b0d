package ops

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/issuer-dev/issuer/audit"
	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/queue"
)

// entry is the audit row of an act and its outcome.
func (s *Service) entry(a auth.Actor, act auth.Action, t target, err error, detail string) audit.Entry {
	e := audit.Entry{Time: time.Now(), Actor: a.Name, Role: string(a.Role), Action: string(act), StockID: t.stock,
		Source: a.Source, Outcome: audit.OK, Detail: audit.Text(detail)}
	if t.batch != 0 {
		e.BatchID = &t.batch
	}
	switch {
	case ErrorCode(err) == EFORBIDDEN:
		e.Outcome, e.Message = audit.Denied, err.Error()
	case err != nil:
		e.Outcome, e.Message = audit.Error, err.Error()
	}
	s.Logger.Info("audit", "actor", a.Name, "role", a.Role, "source", a.Source, "action", act,
		"batch", t.batch, "stock", t.stock, "outcome", e.Outcome, "detail", detail, "err", e.Message)
	return e
}

// audit records an act and its outcome after the fact: a refusal, a
// failure, or an act that is not a money act (see the package doc). Such
// an act has happened, or changed nothing, whatever the audit log says,
// so a failure to record is logged.
func (s *Service) audit(ctx context.Context, a auth.Actor, act auth.Action, t target, err error, detail string) {
	e := s.entry(a, act, t, err, detail)
	if s.Audit == nil {
		return
	}
	if rerr := s.Audit.Record(context.WithoutCancel(ctx), e); rerr != nil {
		s.Logger.Error("audit log: could not record an act", "action", act, "actor", a.Name, "err", rerr)
	}
}

// act runs fn as act by a: authorized first, audited after. fn may fill
// in the target (an import learns its batch id).
func (s *Service) act(ctx context.Context, a auth.Actor, act auth.Action, t *target, fn func() (detail string, err error)) error {
	if err := s.authorize(ctx, a, act, *t); err != nil {
		return err
	}
	detail, err := fn()
	s.audit(ctx, a, act, *t, err, detail)
	return err
}

// moneyAct runs fn as the money act act by a: authorized first, and the
// row of its success written in the act's own transaction through rec
// (rec.queue for a change of a batch, rec.record for an import), so that
// an act whose row cannot be written does not happen and fails
// (EINTERNAL). A refusal or a failure is recorded afterwards, as any
// act's; so is a success when the Auditor cannot write in a transaction.
func (s *Service) moneyAct(ctx context.Context, a auth.Actor, act auth.Action, t *target, fn func(rec *recorder) (detail string, err error)) error {
	if err := s.authorize(ctx, a, act, *t); err != nil {
		return err
	}
	rec := &recorder{s: s, a: a, act: act, t: t}
	detail, err := fn(rec)
	if err != nil || !rec.done {
		if rec.done { // recorded, then the commit failed: record the failure
			detail = rec.detail
		}
		s.audit(ctx, a, act, *t, err, detail)
	}
	return err
}

// recorder writes a money act's audit row in the act's transaction.
type recorder struct {
	s   *Service
	a   auth.Actor
	act auth.Action
	t   *target
	// detail is the row's detail; detailTx, when set, reads it in the
	// act's transaction instead (what the act changed).
	detail   string
	detailTx func(ctx context.Context, tx *sqlx.Tx) (string, error)
	done     bool
}

// record writes the act's row in tx; nothing when the Auditor cannot.
func (r *recorder) record(ctx context.Context, tx *sqlx.Tx) error {
	ta, ok := r.s.Audit.(TxAuditor)
	if !ok {
		return nil
	}
	if r.detailTx != nil {
		d, err := r.detailTx(ctx, tx)
		if err != nil {
			return err
		}
		r.detail = d
	}
	if err := ta.RecordTx(ctx, tx, r.s.entry(r.a, r.act, *r.t, nil, r.detail)); err != nil {
		return &Error{Code: EINTERNAL, Message: "audit log: the act's row could not be written, so the act was not done", Err: err}
	}
	r.done = true
	return nil
}

// queue is the queue store that records the act in the transaction of
// its change.
func (r *recorder) queue() *queue.Store { return r.s.Queue.Recording(r.record) }
