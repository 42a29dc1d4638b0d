package ops

import (
	"context"
	"fmt"
	"io"

	"github.com/jmoiron/sqlx"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/internal/excelcsv"
	"github.com/issuer-dev/issuer/jobs"
	"github.com/issuer-dev/issuer/queue"
)

// Batch is a batch with its counts and guards: the one JSON shape of
// batch show --json, batch list --json and the API's batch answers.
type Batch = queue.Batch

// A batch's statuses that front ends tell apart (queue's, which has them
// all).
const (
	BatchAwaitingApproval = queue.BatchAwaitingApproval
	BatchPaused           = queue.BatchPaused
)

// BatchFilter selects batches for Batches.
type BatchFilter = queue.BatchFilter

// Batches lists the batches f selects, newest first, with their counts.
func (s *Service) Batches(ctx context.Context, a auth.Actor, f BatchFilter) ([]*Batch, error) {
	if err := s.read(ctx, a, auth.ActRead, target{}); err != nil {
		return nil, err
	}
	return s.Queue.Batches(ctx, f)
}

// Batch returns one batch with its counts.
func (s *Service) Batch(ctx context.Context, a auth.Actor, id int64) (*Batch, error) {
	if err := s.read(ctx, a, auth.ActRead, target{batch: id}); err != nil {
		return nil, err
	}
	return s.Queue.Batch(ctx, id)
}

// PauseBatch stops claiming a batch's rows; sends in flight finish.
func (s *Service) PauseBatch(ctx context.Context, a auth.Actor, id int64) (*Batch, error) {
	return s.setStatus(ctx, a, auth.ActPause, id, "pause")
}

// ResumeBatch lets a paused or halted batch be claimed again.
func (s *Service) ResumeBatch(ctx context.Context, a auth.Actor, id int64) (*Batch, error) {
	return s.setStatus(ctx, a, auth.ActResume, id, "resume")
}

// setStatus pauses or resumes. A resume lets money flow again: a money act,
// recorded in its own transaction. A pause stops it: it is done even when
// the audit log cannot be written (an emergency stop must not wait on it).
func (s *Service) setStatus(ctx context.Context, a auth.Actor, act auth.Action, id int64, action string) (*Batch, error) {
	var b *Batch
	change := func(q *queue.Store) (string, error) {
		var err error
		b, err = q.SetBatchStatus(ctx, id, action)
		if err != nil {
			return "", s.reword(ctx, id, action, err)
		}
		return "batch is " + b.Status, nil
	}
	if act != auth.ActResume {
		err := s.act(ctx, a, act, &target{batch: id}, func() (string, error) { return change(s.Queue) })
		return b, err
	}
	err := s.moneyAct(ctx, a, act, &target{batch: id}, func(rec *recorder) (string, error) {
		rec.detailTx = func(ctx context.Context, tx *sqlx.Tx) (string, error) {
			var status string
			err := tx.GetContext(ctx, &status, `SELECT status FROM batches WHERE id = $1`, id)
			return "batch is " + status, err
		}
		return change(rec.queue())
	})
	return b, err
}

// CancelResult is what cancelling a batch did.
type CancelResult struct {
	Batch *Batch
	jobs.CancelResult
}

// CancelBatch ends a batch for good and settles it: claiming stops, sends
// in flight finish and record, rows never issued become cancelled and rows
// in doubt are settled by asking WeChat Pay (jobs.Settle.Cancel). Nothing
// is sent.
func (s *Service) CancelBatch(ctx context.Context, a auth.Actor, id int64) (*CancelResult, error) {
	var res CancelResult
	err := s.act(ctx, a, auth.ActCancel, &target{batch: id}, func() (string, error) {
		settle, done := s.settler()
		defer done()
		var err error
		res.CancelResult, err = settle.Cancel(ctx, id)
		if err != nil {
			return "", s.reword(ctx, id, "cancel", err)
		}
		res.Batch, err = s.Queue.Batch(ctx, id)
		return fmt.Sprintf("cancelled %d never issued; settled %d in doubt: %d issued, %d not issued, %d still in review",
			res.Sealed.Cancelled, res.Settled.Checked, res.Settled.Issued, res.Settled.NotIssued,
			res.Settled.StillInDoubt+res.Settled.Waiting), err
	})
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// ExportBatch writes the batch's recipients as the contract's CSV, with a
// UTF-8 byte-order mark first so that Excel reads wx_message right.
func (s *Service) ExportBatch(ctx context.Context, a auth.Actor, id int64, w io.Writer) error {
	return s.ExportBatchCSV(ctx, a, id, w, false)
}

// ExportBatchCSV is ExportBatch; plain leaves out the byte-order mark. The
// columns are a contract with scripts, so their values stay bare either
// way (see internal/excelcsv) but for the quote in front of a cell a
// spreadsheet would run as a formula (an out_request_no -A1*1000): an
// analyst who opens the file in Excel gets the same rows with ids kept as
// text from `report batch`.
func (s *Service) ExportBatchCSV(ctx context.Context, a auth.Actor, id int64, w io.Writer, plain bool) error {
	if err := s.read(ctx, a, auth.ActExport, target{batch: id}); err != nil {
		return err
	}
	// The mark goes out with the first row: an unknown id writes nothing.
	return s.Queue.Export(ctx, id, excelcsv.BOMFirst(w, plain))
}
