package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/issuer-dev/issuer/internal/textable"
	"github.com/issuer-dev/issuer/ops"
)

func reviewCommands() []*command { return []*command{cmdReviewList(), cmdReviewResolve()} }

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
		return e.withService(ctx, func(s *ops.Service) error {
			rows, err := s.Review(ctx, e.actor(), *batch)
			if err != nil {
				return err
			}
			items := []reviewItem{}
			for _, r := range rows {
				it := reviewItem{BatchID: r.BatchID, OpenID: r.OpenID, OutRequestNo: r.OutRequestNo, Outcome: r.Outcome,
					WxCode: r.WxCode, WxMessage: r.WxMessage, Attempts: r.Attempts, StockID: r.StockID, Note: r.Note}
				if r.LastAttemptAt != nil {
					v := r.LastAttemptAt.UTC().Format(time.RFC3339)
					it.LastAttemptAt = &v
				}
				items = append(items, it)
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
		return e.withService(ctx, func(s *ops.Service) error {
			sum, err := s.ResolveReview(ctx, e.actor(), *batch)
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
