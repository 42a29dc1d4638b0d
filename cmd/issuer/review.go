package main

import (
	"flag"
	"fmt"
	"strconv"
	"time"

	"github.com/issuer-dev/issuer/internal/textable"
	"github.com/issuer-dev/issuer/jobs"
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
	return op[int64, []reviewItem]{
		name: "review list", usage: "[--batch ID] [--json]", short: "list recipients in review: they may or may not have been issued",
		json:  `print an array of {"batch_id","openid","out_request_no","outcome","wx_code","wx_message","attempts","last_attempt_at"}`,
		flags: func(fs *flag.FlagSet, batch *int64) { fs.Int64Var(batch, "batch", 0, "only this batch") },
		call: func(c *call, batch *int64) ([]reviewItem, error) {
			rows, err := c.s.Review(c.ctx, c.actor, *batch)
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
			return items, err
		},
		text: func(c *call, _ *int64, items []reviewItem) {
			if len(items) == 0 {
				c.printf("no recipients in review\n")
				return
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
			t.Write(c.e.stdout)
			c.printf("%d recipients in review; `issuer review resolve` asks WeChat Pay which of them were issued\n", len(items))
		},
	}.command()
}

func cmdReviewResolve() *command {
	return op[int64, jobs.SettleSummary]{
		name: "review resolve", usage: "[--batch ID] [--json]",
		short: "settle recipients in review by asking WeChat Pay (a user's coupons); never sends",
		json:  `print {"checked","issued","not_issued","still_in_doubt"}`,
		flags: func(fs *flag.FlagSet, batch *int64) { fs.Int64Var(batch, "batch", 0, "only this batch") },
		call: func(c *call, batch *int64) (jobs.SettleSummary, error) {
			return c.s.ResolveReview(c.ctx, c.actor, *batch)
		},
		errs: func(_ *call, err error) error { return fmt.Errorf("review resolve: %w", err) },
		text: func(c *call, _ *int64, sum jobs.SettleSummary) {
			c.printf("checked %d: %d issued, %d not issued, %d still in doubt", sum.Checked, sum.Issued, sum.NotIssued, sum.StillInDoubt)
			if sum.Waiting > 0 {
				c.printf("; %d sent too recently to ask yet", sum.Waiting)
			}
			c.printf("\n")
		},
	}.command()
}
