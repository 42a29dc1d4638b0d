package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/issuer-dev/issuer/queue"
	"github.com/issuer-dev/issuer/wxpay"
)

// CouponLister is the part of the WeChat Pay client settlement uses: the
// coupons a user holds (../shared/seeds/003_349c2f9f2becfc1b.txt §3.2.11). It never sends a coupon.
type CouponLister interface {
	AllUserCoupons(ctx context.Context, req wxpay.UserCouponsRequest) ([]wxpay.Coupon, error)
}

// Settle decides rows in doubt by asking WeChat Pay, never by sending
// again: a resend would issue what a cancel meant to stop. For each row in
// review it lists the user's coupons of the row's stock created by the
// stock's creator, keeps those created while the row was being sent, and
// lets the queue decide (queue.Store.Settle): one such coupon that no other
// row owns means issued, none means not issued, several mean a person must
// look.
type Settle struct {
	Store  *queue.Store
	Lister CouponLister
	// Grace: a row is asked about only once its last send is this old, so
	// that a request still in WeChat Pay's hands cannot be missed. Twice
	// the call timeout.
	Grace time.Duration
	// MaxAttempts is the issue policy's: a row whose lease expires while
	// a cancel waits for it is rescued under the same rule.
	MaxAttempts int
	Logger      *slog.Logger
	Now         func() time.Time // default time.Now
}

// SettleSummary counts one settlement run; the JSON is the contract of
// `issuer review resolve --json`.
type SettleSummary struct {
	Checked      int `json:"checked"`
	Issued       int `json:"issued"`
	NotIssued    int `json:"not_issued"`
	StillInDoubt int `json:"still_in_doubt"`
	// Waiting counts rows whose last send is younger than the grace
	// period: they are asked about on a later run.
	Waiting int `json:"waiting"`
}

// clockSkew bounds how far WeChat Pay's clock may be from ours: it refuses
// requests whose timestamp is 5 minutes or more off, so a coupon a row's
// send created was created, on our clock, no earlier than 5 minutes before
// the first send and no later than 5 minutes after the last one ended.
const clockSkew = 5 * time.Minute

// Run settles the review rows of batch (0: every batch) whose last send is
// older than the grace period.
func (s *Settle) Run(ctx context.Context, batch int64) (SettleSummary, error) {
	var sum SettleSummary
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	cutoff := now().Add(-s.Grace)
	var after int64
	for {
		rows, err := s.Store.Review(ctx, queue.ReviewFilter{Batch: batch, AfterID: after, Limit: 500})
		if err != nil {
			return sum, fmt.Errorf("settle: %w", err)
		}
		if len(rows) == 0 {
			return sum, nil
		}
		for _, row := range rows {
			after = row.ID
			if row.LastAttemptAt != nil && !row.LastAttemptAt.Before(cutoff) {
				sum.Waiting++
				continue
			}
			sum.Checked++
			v, err := s.one(ctx, log, row)
			if err != nil {
				if ctx.Err() != nil {
					return sum, ctx.Err()
				}
				// WeChat Pay could not be asked: the row stays in review
				// and is asked again on the next run.
				log.Warn("settle: could not ask WeChat Pay; the row stays in review", "batch", row.BatchID,
					"out_request_no", row.OutRequestNo, "err", err)
				sum.StillInDoubt++
				continue
			}
			switch v {
			case queue.VerdictIssued:
				sum.Issued++
			case queue.VerdictNotIssued:
				sum.NotIssued++
			default:
				sum.StillInDoubt++
			}
		}
	}
}

func (s *Settle) one(ctx context.Context, log *slog.Logger, row queue.ReviewRow) (queue.Verdict, error) {
	st := queue.Settlement{Row: row}
	if row.Kind == string(wxpay.KindProduct) {
		st.Undecidable = "商品券 cannot be checked by query: look up out_request_no " + row.OutRequestNo +
			" in the merchant platform, then mark the row issued or send it again"
	} else {
		coupons, err := s.Lister.AllUserCoupons(ctx, wxpay.UserCouponsRequest{OpenID: row.OpenID, AppID: row.AppID,
			StockID: row.StockID, CreatorMchID: row.StockCreatorMchID})
		if err != nil {
			return "", err
		}
		st.Candidates, st.Created = candidates(row, coupons, s.Grace, log)
	}
	v, note, ok, err := s.Store.Settle(ctx, st)
	if err != nil {
		return "", err
	}
	if !ok {
		return queue.VerdictInDoubt, errors.New("the row left review while it was being settled")
	}
	log.Info("settled a row in doubt", "batch", row.BatchID, "openid", row.OpenID, "out_request_no", row.OutRequestNo,
		"verdict", v, "evidence", note)
	return v, nil
}

// candidates keeps the user's coupons of the row's stock that were created
// while the row was being sent.
func candidates(row queue.ReviewRow, coupons []wxpay.Coupon, grace time.Duration, log *slog.Logger) ([]string, map[string]string) {
	var from, to time.Time
	if row.FirstAttemptAt != nil {
		from = row.FirstAttemptAt.Add(-clockSkew)
	}
	if row.LastAttemptAt != nil {
		to = row.LastAttemptAt.Add(grace + clockSkew)
	}
	var out []string
	created := map[string]string{}
	for _, c := range coupons {
		if c.StockID != row.StockID {
			continue
		}
		created[c.CouponID] = c.CreateTime
		created, err := time.Parse(time.RFC3339, c.CreateTime)
		if err != nil {
			// A coupon whose creation time cannot be read might be this
			// row's: count it, so that the row goes to a person rather
			// than being decided on a guess.
			log.Warn("settle: unreadable coupon create_time", "coupon_id", c.CouponID, "create_time", c.CreateTime)
			out = append(out, c.CouponID)
			continue
		}
		if (!from.IsZero() && created.Before(from)) || (!to.IsZero() && created.After(to)) {
			continue
		}
		out = append(out, c.CouponID)
	}
	return out, created
}

// CancelResult is what cancelling a batch did.
type CancelResult struct {
	Sealed  queue.Sealed  // pending rows: never issued (cancelled) and in doubt (to review)
	Settled SettleSummary // the rows in doubt, asked about
}

// Cancel cancels a batch and settles it: claiming stops at once (the
// cancelling transaction also takes its pending rows out of pending),
// sends already in flight — in any process — finish and record, what they
// left pending is sealed the same way, and then every row in doubt is
// settled by asking WeChat Pay once its last send is older than the grace
// period. Rows still in doubt after that (an ambiguous answer, 商品券, WeChat
// Pay unreachable) stay in review with a note; `issuer review resolve` and
// housekeeping ask again. Nothing is sent.
func (s *Settle) Cancel(ctx context.Context, batch int64) (CancelResult, error) {
	var res CancelResult
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sealed, err := s.Store.Cancel(ctx, batch)
	if err != nil {
		return res, err
	}
	res.Sealed = sealed
	for {
		n, err := s.Store.InFlight(ctx, batch)
		if err != nil {
			return res, err
		}
		if n == 0 {
			break
		}
		log.Info("cancel: waiting for sends in flight to finish", "batch", batch, "in_flight", n)
		// A lease whose worker died is rescued here rather than waited for.
		if _, _, err := s.Store.RescueExpired(ctx, max(1, s.MaxAttempts)); err != nil {
			return res, err
		}
		if err := sleepCtx(ctx, 250*time.Millisecond); err != nil {
			return res, err
		}
	}
	more, err := s.Store.SealCancelled(ctx, batch)
	if err != nil {
		return res, err
	}
	res.Sealed.Cancelled += more.Cancelled
	res.Sealed.InDoubt += more.InDoubt
	// Ask only once every row's last send is older than the grace period.
	latest, err := s.lastSend(ctx, batch)
	if err != nil {
		return res, err
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	if wait := latest.Add(s.Grace).Sub(now()); !latest.IsZero() && wait > 0 {
		log.Info("cancel: waiting for the grace period before asking WeChat Pay about rows in doubt",
			"batch", batch, "rows", res.Sealed.InDoubt, "wait", wait.Round(time.Second))
		if err := sleepCtx(ctx, wait+10*time.Millisecond); err != nil {
			return res, err
		}
	}
	res.Settled, err = s.Run(ctx, batch)
	return res, err
}

// lastSend is the latest last send among the batch's review rows.
func (s *Settle) lastSend(ctx context.Context, batch int64) (time.Time, error) {
	var latest time.Time
	var after int64
	for {
		rows, err := s.Store.Review(ctx, queue.ReviewFilter{Batch: batch, AfterID: after, Limit: 1000})
		if err != nil {
			return time.Time{}, fmt.Errorf("settle: %w", err)
		}
		if len(rows) == 0 {
			return latest, nil
		}
		for _, r := range rows {
			after = r.ID
			if r.LastAttemptAt != nil && r.LastAttemptAt.After(latest) {
				latest = *r.LastAttemptAt
			}
		}
	}
}
