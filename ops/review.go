package ops

import (
	"context"
	"fmt"
	"time"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/jobs"
	"github.com/issuer-dev/issuer/queue"
	"github.com/issuer-dev/issuer/wxpay"
)

// Review lists the rows in review (of one batch, or all for 0).
func (s *Service) Review(ctx context.Context, a auth.Actor, batch int64) ([]queue.ReviewRow, error) {
	if err := s.read(ctx, a, auth.ActRead, target{batch: batch}); err != nil {
		return nil, err
	}
	var out []queue.ReviewRow
	var after int64
	for {
		rows, err := s.Queue.Review(ctx, queue.ReviewFilter{Batch: batch, AfterID: after})
		if err != nil {
			return nil, err
		}
		if len(rows) == 0 {
			return out, nil
		}
		out = append(out, rows...)
		after = rows[len(rows)-1].ID
	}
}

// ReviewItem is a row in review as `issuer review list --json` answers it
// (the command line's contract): its last attempt in UTC to the second.
type ReviewItem struct {
	BatchID       int64   `json:"batch_id"`
	OpenID        string  `json:"openid"`
	OutRequestNo  string  `json:"out_request_no"`
	Outcome       string  `json:"outcome"`
	WxCode        string  `json:"wx_code"`
	WxMessage     string  `json:"wx_message"`
	Attempts      int     `json:"attempts"`
	LastAttemptAt *string `json:"last_attempt_at"`
	StockID       string  `json:"stock_id"`
	Note          string  `json:"note"`
}

// ReviewItems is Review as ReviewItems: never nil.
func (s *Service) ReviewItems(ctx context.Context, a auth.Actor, batch int64) ([]ReviewItem, error) {
	rows, err := s.Review(ctx, a, batch)
	items := []ReviewItem{}
	for _, r := range rows {
		it := ReviewItem{BatchID: r.BatchID, OpenID: r.OpenID, OutRequestNo: r.OutRequestNo, Outcome: r.Outcome,
			WxCode: r.WxCode, WxMessage: r.WxMessage, Attempts: r.Attempts, StockID: r.StockID, Note: r.Note}
		if r.LastAttemptAt != nil {
			v := r.LastAttemptAt.UTC().Format(time.RFC3339)
			it.LastAttemptAt = &v
		}
		items = append(items, it)
	}
	return items, err
}

// ReviewHead returns at most n of a batch's rows in review, oldest first:
// a page lists a few and tells how many more from the counters, instead
// of reading thousands of rows to show a hundred.
func (s *Service) ReviewHead(ctx context.Context, a auth.Actor, batch int64, n int) ([]queue.ReviewRow, error) {
	if err := s.read(ctx, a, auth.ActRead, target{batch: batch}); err != nil {
		return nil, err
	}
	return s.Queue.Review(ctx, queue.ReviewFilter{Batch: batch, Limit: n})
}

// ResolveReview settles rows in review by asking WeChat Pay which coupons
// their users hold; it never sends.
func (s *Service) ResolveReview(ctx context.Context, a auth.Actor, batch int64) (jobs.SettleSummary, error) {
	var sum jobs.SettleSummary
	err := s.act(ctx, a, auth.ActSettle, &target{batch: batch}, func() (string, error) {
		settle, done := s.settler()
		defer done()
		var err error
		sum, err = settle.Run(ctx, batch)
		return fmt.Sprintf("checked %d: %d issued, %d not issued, %d still in doubt, %d sent too recently",
			sum.Checked, sum.Issued, sum.NotIssued, sum.StillInDoubt, sum.Waiting), err
	})
	return sum, err
}

// settler is the settlement job with a WeChat Pay client made on first
// use, so that an operation with nothing to ask needs no merchant keys.
func (s *Service) settler() (*jobs.Settle, func()) {
	l := &lazyLister{make: s.WX}
	return NewSettle(s, l), l.close
}

// NewSettle is the settlement job as every caller configures it: asked
// only once a row's last send is twice the call timeout old.
func NewSettle(s *Service, lister jobs.CouponLister) *jobs.Settle {
	return &jobs.Settle{Store: s.Queue, Lister: lister, Grace: 2 * s.Config.WXPay.Timeout,
		MaxAttempts: s.Config.Issue.MaxAttempts, Logger: s.Logger}
}

type lazyLister struct {
	make   func() (WXClient, error)
	client WXClient
}

func (l *lazyLister) AllUserCoupons(ctx context.Context, req wxpay.UserCouponsRequest) ([]wxpay.Coupon, error) {
	if l.client == nil {
		if l.make == nil {
			return nil, fmt.Errorf("settling rows in doubt asks WeChat Pay: configure the merchant keys (wxpay.*)")
		}
		c, err := l.make()
		if err != nil {
			return nil, err
		}
		l.client = c
	}
	return l.client.AllUserCoupons(ctx, req)
}

func (l *lazyLister) close() {
	if l.client != nil {
		l.client.Close()
	}
}
