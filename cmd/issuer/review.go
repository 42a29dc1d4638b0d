package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/issuer-dev/issuer/internal/config"
	"github.com/issuer-dev/issuer/internal/textable"
	"github.com/issuer-dev/issuer/jobs"
	"github.com/issuer-dev/issuer/queue"
	"github.com/issuer-dev/issuer/wxpay"
)

func reviewCommands() []*command { return []*command{cmdReviewList(), cmdReviewResolve()} }

// withSettle runs fn with a settlement job: the queue and a WeChat Pay
// client that only asks (a user's coupons), never sends. The client is
// made when the first row needs asking, so cancelling a batch with nothing
// in doubt needs no merchant keys.
func (e *env) withSettle(ctx context.Context, fn func(*config.Config, *jobs.Settle) error) error {
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	db, err := e.openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	lister := &lazyLister{newClient: func() (*wxpay.Client, error) { return e.wxClient(cfg, 2) }}
	defer lister.close()
	return fn(cfg, newSettle(e, cfg, queue.NewStore(db), lister))
}

// lazyLister makes its WeChat Pay client on first use.
type lazyLister struct {
	newClient func() (*wxpay.Client, error)
	client    *wxpay.Client
}

func (l *lazyLister) AllUserCoupons(ctx context.Context, req wxpay.UserCouponsRequest) ([]wxpay.Coupon, error) {
	if l.client == nil {
		c, err := l.newClient()
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

func newSettle(e *env, cfg *config.Config, store *queue.Store, lister jobs.CouponLister) *jobs.Settle {
	return &jobs.Settle{Store: store, Lister: lister, Grace: 2 * cfg.WXPay.Timeout,
		MaxAttempts: cfg.Issue.MaxAttempts, Logger: e.logger}
}

func (e *env) cancelBatch(ctx context.Context, id int64) error {
	return e.withSettle(ctx, func(_ *config.Config, s *jobs.Settle) error {
		res, err := s.Cancel(ctx, id)
		if err != nil {
			return fmt.Errorf("batch cancel %d: %w", id, err)
		}
		fmt.Fprintf(e.stdout, "batch %d is cancelled: %d rows never issued are cancelled; %d rows in doubt were settled with WeChat Pay: "+
			"%d issued, %d not issued, %d still in review (issuer review list --batch %d)\n",
			id, res.Sealed.Cancelled, res.Settled.Checked, res.Settled.Issued, res.Settled.NotIssued,
			res.Settled.StillInDoubt+res.Settled.Waiting, id)
		return nil
	})
}

// reviewItem is the contract's JSON of `review list`.
type reviewItem struct {
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

func cmdReviewList() *command {
	c := &command{name: "review list", usage: "[--batch ID] [--json]", short: "list recipients in review: they may or may not have been issued"}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := newFlags(e, c)
		batch := fs.Int64("batch", 0, "only this batch")
		asJSON := fs.Bool("json", false, `print an array of {"batch_id","openid","out_request_no","outcome","wx_code","wx_message","attempts","last_attempt_at"}`)
		if _, err := parseFlags(e, fs, args); err != nil {
			return err
		}
		return e.withStore(ctx, func(s *queue.Store) error {
			items := []reviewItem{}
			var after int64
			for {
				rows, err := s.Review(ctx, queue.ReviewFilter{Batch: *batch, AfterID: after})
				if err != nil {
					return err
				}
				if len(rows) == 0 {
					break
				}
				for _, r := range rows {
					after = r.ID
					it := reviewItem{BatchID: r.BatchID, OpenID: r.OpenID, OutRequestNo: r.OutRequestNo, Outcome: r.Outcome,
						WxCode: r.WxCode, WxMessage: r.WxMessage, Attempts: r.Attempts, StockID: r.StockID, Note: r.Note}
					if r.LastAttemptAt != nil {
						v := r.LastAttemptAt.UTC().Format(time.RFC3339)
						it.LastAttemptAt = &v
					}
					items = append(items, it)
				}
			}
			if *asJSON {
				return e.printJSON(items)
			}
			if len(items) == 0 {
				fmt.Fprintln(e.stdout, "no recipients in review")
				return nil
			}
			t := textable.New("BATCH>", "OPENID", "OUT_REQUEST_NO", "OUTCOME", "ATTEMPTS>", "LAST_ATTEMPT", "WX", "NOTE")
			for _, it := range items {
				last := ""
				if it.LastAttemptAt != nil {
					last = *it.LastAttemptAt
				}
				wx := it.WxCode
				if it.WxMessage != "" {
					wx += " " + it.WxMessage
				}
				t.Add(strconv.FormatInt(it.BatchID, 10), it.OpenID, it.OutRequestNo, it.Outcome, strconv.Itoa(it.Attempts), last, wx, it.Note)
			}
			t.Write(e.stdout)
			fmt.Fprintf(e.stdout, "%d recipients in review; `issuer review resolve` asks WeChat Pay which of them were issued\n", len(items))
			return nil
		})
	}
	return c
}

func cmdReviewResolve() *command {
	c := &command{name: "review resolve", usage: "[--batch ID] [--json]",
		short: "settle recipients in review by asking WeChat Pay (a user's coupons); never sends"}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := newFlags(e, c)
		batch := fs.Int64("batch", 0, "only this batch")
		asJSON := fs.Bool("json", false, `print {"checked","issued","not_issued","still_in_doubt"}`)
		if _, err := parseFlags(e, fs, args); err != nil {
			return err
		}
		return e.withSettle(ctx, func(_ *config.Config, s *jobs.Settle) error {
			sum, err := s.Run(ctx, *batch)
			if err != nil {
				return fmt.Errorf("review resolve: %w", err)
			}
			if *asJSON {
				return e.printJSON(sum)
			}
			fmt.Fprintf(e.stdout, "checked %d: %d issued, %d not issued, %d still in doubt", sum.Checked, sum.Issued, sum.NotIssued, sum.StillInDoubt)
			if sum.Waiting > 0 {
				fmt.Fprintf(e.stdout, "; %d sent too recently to ask yet", sum.Waiting)
			}
			fmt.Fprintln(e.stdout)
			return nil
		})
	}
	return c
}
