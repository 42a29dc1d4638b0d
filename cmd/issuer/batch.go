package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/issuer-dev/issuer/internal/money"
	"github.com/issuer-dev/issuer/internal/outfile"
	"github.com/issuer-dev/issuer/internal/textable"
	"github.com/issuer-dev/issuer/ops"
)

// The commands on batches, and on their rows in review.

func cmdBatchList() *command {
	return op[none, []*ops.Batch]{
		name: "batch list", usage: "[--json]", short: "list batches with recipient counts", json: "print a JSON array of batch objects",
		call: func(c *call, _ *none) ([]*ops.Batch, error) {
			batches, err := c.s.Batches(c.ctx, c.actor, ops.BatchFilter{})
			if batches == nil {
				batches = []*ops.Batch{}
			}
			return batches, err
		},
		text: func(c *call, _ *none, batches []*ops.Batch) {
			loc := orUTC(c.loc())
			table(c.e.stdout, batches, func(b *ops.Batch) []string {
				status := b.Status
				if b.HaltReason != nil {
					status += " (" + *b.HaltReason + ")"
				}
				row := []string{strconv.FormatInt(b.ID, 10), b.Name, b.StockID, b.Kind, status, strconv.Itoa(b.Accepted)}
				for _, st := range ops.RecipientStatuses() {
					row = append(row, strconv.Itoa(b.Counts[st]))
				}
				return append(row, strconv.Itoa(b.InDoubt), b.CreatedAt.In(loc).Format("2006-01-02 15:04"))
			}, "ID>", "NAME", "STOCK", "KIND", "STATUS", "RECIPIENTS>", "PENDING>", "IN_FLIGHT>", "ISSUED>", "FAILED>", "REVIEW>", "CANCELLED>", "IN_DOUBT>", "CREATED ("+zoneName(loc)+")")
		},
	}.command()
}

func cmdBatchShow() *command {
	return op[none, *ops.Batch]{
		name: "batch show", usage: "ID [--json]", short: "show one batch and its counts by status", args: batchArg,
		json: `print {"id","name","stock_id","kind","status","counts"}`,
		call: func(c *call, _ *none) (*ops.Batch, error) { return c.s.Batch(c.ctx, c.actor, c.id) },
		text: func(c *call, _ *none, b *ops.Batch) { printBatch(c.e.stdout, b, c.loc()) },
	}.command()
}

// printBatch shows b to a person: every time in the configured zone,
// which it names. Text that came from outside (names, reasons, WeChat
// Pay's messages) goes through textable.Clean: a name stored before names
// were checked must not drive the terminal.
func printBatch(w io.Writer, b *ops.Batch, loc *time.Location) {
	clean := textable.Clean
	v := newView(w)
	v.add("batch", "%d  %s", b.ID, clean(b.Name))
	v.add("stock", "%s (%s), creator %s, appid %s", clean(b.StockID), b.Kind, clean(b.StockCreatorMchID), clean(b.AppID))
	status := b.Status
	if b.HaltReason != nil {
		status += ": " + clean(*b.HaltReason)
	}
	v.add("status", "%s", status)
	v.add("source", "%s (sha256 %s)", clean(b.SourceFile), shortHash(b.SourceSHA256))
	v.add("lines", "%d = accepted %d + duplicates %d + rejected %d + blank %d", b.Lines, b.Accepted, b.Duplicates, b.Rejected, b.Blank)
	var parts []string
	for _, st := range ops.RecipientStatuses() {
		parts = append(parts, fmt.Sprintf("%s %d", st, b.Counts[st]))
	}
	v.add("recipients", "%s", strings.Join(parts, ", "))
	if b.InDoubt > 0 {
		v.add("in doubt", "%d (a send's answer did not say whether WeChat Pay issued them, and nothing has settled it since: they are retried with the same out_request_no, or settled by `issuer review resolve`; never counted as not issued)", b.InDoubt)
	}
	if b.UploadedBy != "" {
		v.add("uploaded by", "%s", clean(b.UploadedBy))
	}
	v.add("amount", "%s yuan of face value", money.Yuan(b.AmountFen))
	if b.ApprovedBy != nil {
		v.add("approved", "by %s at %s (%s yuan)", clean(*b.ApprovedBy), humanTime(*b.ApprovedAt, loc), money.Yuan(*b.ApprovedAmountFen))
		if b.ApproveComment != nil {
			v.add("comment", "%s", clean(*b.ApproveComment))
		}
	}
	if b.RejectedBy != nil {
		v.add("rejected", "by %s at %s: %s", clean(*b.RejectedBy), humanTime(*b.RejectedAt, loc), clean(*b.RejectReason))
	}
	if b.MaxAmountFen != nil {
		v.add("spend cap", "%s yuan; %s yuan issued, in flight or in doubt", money.Yuan(*b.MaxAmountFen), money.Yuan(b.ReservedFen))
	}
	if b.StartAt != nil {
		v.add("starts", "%s", humanTime(*b.StartAt, loc))
	}
	if b.Window != "" {
		v.add("window", "%s (%s)", b.Window, *b.WindowTZ)
	}
	if b.Priority != 0 {
		v.add("priority", "%d", b.Priority)
	}
	if b.Repeats > 0 {
		v.add("repeats", "%d openids skipped: they already have a coupon of this stock issued or on its way", b.Repeats)
	}
	switch {
	case b.NextSendAt != nil:
		v.add("next send", "%s", humanTime(*b.NextSendAt, loc))
	case b.Status == ops.BatchAwaitingApproval:
		v.add("next send", "when approved: issuer batch approve %d --as NAME (not %s)", b.ID, clean(b.UploadedBy))
	case b.Status == ops.BatchPaused || b.Status == ops.BatchHalted:
		v.add("next send", "when resumed: issuer batch resume %d", b.ID)
	}
	if why := ops.NextStep(b); why != "" && b.Status == ops.BatchHalted {
		v.add("to do", "%s", clean(why))
	}
	v.add("created", "%s", humanTime(b.CreatedAt, loc))
	v.Flush()
}

func orUTC(loc *time.Location) *time.Location {
	if loc == nil {
		return time.UTC
	}
	return loc
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func cmdBatchAction(action string) *command {
	shorts := map[string]string{
		"pause":  "stop claiming a batch's recipients; in-flight calls finish",
		"resume": "resume a paused or halted batch",
		"cancel": "cancel a batch for good and settle its rows in doubt with WeChat Pay; issued coupons stay issued",
	}
	return op[none, *ops.Batch]{
		name: "batch " + action, usage: "ID [--as NAME] [--token-file F]", short: shorts[action], args: batchArg, acts: true, errs: withHint,
		call: func(c *call, _ *none) (*ops.Batch, error) {
			switch action {
			case "pause":
				return c.s.PauseBatch(c.ctx, c.actor, c.id)
			case "resume":
				return c.s.ResumeBatch(c.ctx, c.actor, c.id)
			}
			res, err := c.s.CancelBatch(c.ctx, c.actor, c.id)
			if err != nil {
				return nil, err
			}
			c.printf("%d rows never issued are cancelled; %d rows in doubt were settled with WeChat Pay: "+
				"%d issued, %d not issued, %d still in review (issuer review list --batch %d)\n",
				res.Sealed.Cancelled, res.Settled.Checked, res.Settled.Issued, res.Settled.NotIssued,
				res.Settled.StillInDoubt+res.Settled.Waiting, c.id)
			return res.Batch, nil
		},
		text: func(c *call, _ *none, b *ops.Batch) { c.printf("batch %d is %s\n", b.ID, b.Status) },
	}.command()
}

func cmdBatchExport() *command {
	type flags struct {
		out   string
		plain bool
	}
	return op[flags, none]{
		name: "batch export", usage: "ID [-o FILE] [--plain]", short: "export a batch's recipients and results as CSV", args: batchArg,
		flags: func(fs *flag.FlagSet, f *flags) {
			fs.StringVar(&f.out, "o", "", "write to `FILE` instead of standard output (mode 0640)")
			fs.BoolVar(&f.plain, "plain", false, "no UTF-8 byte-order mark (by default there is one, so that Excel reads Chinese right)")
		},
		call: func(c *call, f *flags) (none, error) {
			export := func(w io.Writer) error { return c.s.ExportBatchCSV(c.ctx, c.actor, c.id, w, f.plain) }
			if f.out == "" {
				return none{}, export(c.e.stdout)
			}
			return none{}, outfile.Write(f.out, export)
		},
	}.command()
}

func cmdBatchApprove() *command {
	return op[string, *ops.Batch]{
		name: "batch approve", usage: "ID --as NAME [--token-file F] [--comment C]", args: batchArg, acts: true, errs: withHint,
		short: "approve a batch awaiting approval, as an operator or admin other than its uploader (proven by token or password)",
		flags: func(fs *flag.FlagSet, comment *string) {
			fs.StringVar(comment, "comment", "", "the approver's note, kept on the batch and in the audit log")
		},
		call: func(c *call, comment *string) (*ops.Batch, error) {
			return c.s.ApproveBatchComment(c.ctx, c.actor, c.id, *comment)
		},
		text: func(c *call, _ *string, b *ops.Batch) {
			c.printf("batch %d approved by %s (%d recipients, %s yuan): it is %s\n", b.ID, c.actor.Name, b.Accepted, money.Yuan(b.AmountFen), b.Status)
		},
	}.command()
}

func cmdBatchReject() *command {
	return op[string, *ops.Batch]{
		name: "batch reject", usage: "ID --as NAME [--token-file F] --reason R", args: batchArg, acts: true, errs: withHint,
		short: "reject a batch awaiting approval, as an operator or admin other than its uploader; nothing of it is sent",
		flags: func(fs *flag.FlagSet, reason *string) {
			fs.StringVar(reason, "reason", "", "why, for the uploader and the audit log; required")
		},
		check: func(_ *call, reason *string) error { return required("batch reject", "--reason R", *reason) },
		call: func(c *call, reason *string) (*ops.Batch, error) {
			return c.s.RejectBatch(c.ctx, c.actor, c.id, *reason)
		},
		text: func(c *call, reason *string, b *ops.Batch) {
			c.printf("batch %d is %s by %s: %s\n", b.ID, b.Status, c.actor.Name, *reason)
		},
	}.command()
}

func cmdBatchPriority() *command {
	return op[int, *ops.Batch]{
		name: "batch priority", usage: "ID N [--as NAME] [--token-file F]", short: "change a batch's priority: higher is issued first",
		acts: true, errs: withHint,
		check: func(c *call, n *int) error {
			if len(c.pos) != 2 {
				return usagef("batch priority: want ID and N")
			}
			var err error
			if c.id, err = batchID("batch priority", c.pos[:1]); err != nil {
				return err
			}
			if *n, err = strconv.Atoi(c.pos[1]); err != nil {
				return usagef("batch priority: %q is not a whole number", c.pos[1])
			}
			return nil
		},
		call: func(c *call, n *int) (*ops.Batch, error) { return c.s.SetBatchPriority(c.ctx, c.actor, c.id, *n) },
		text: func(c *call, _ *int, b *ops.Batch) { c.printf("batch %d has priority %d\n", b.ID, b.Priority) },
	}.command()
}

// guardsFlags are batch guards' flags: only those given change.
type guardsFlags struct {
	req      ops.GuardsRequest
	priority int
}

func cmdBatchGuards() *command {
	return op[guardsFlags, *ops.Batch]{
		name: "batch guards", args: batchArg, acts: true, json: "print the batch object",
		usage: "ID [--max-amount-yuan Y|none] [--window HH:MM-HH:MM|none] [--start-at T|none] [--priority N] [--json] [--as NAME] [--token-file F]",
		short: "change a batch's money guards (an operator's act, audited); a cap below what is issued or in doubt is refused",
		flags: func(fs *flag.FlagSet, g *guardsFlags) {
			fs.Func("max-amount-yuan", "spend cap: never issue more than `Y` yuan of face value (none removes the cap)", setPtr(&g.req.MaxAmountYuan))
			fs.Func("window", "issue only inside `HH:MM-HH:MM` each day in the configured timezone (none removes the window)", setPtr(&g.req.Window))
			fs.Func("start-at", "do not issue before `T`: RFC 3339, or YYYY-MM-DD HH:MM in the configured timezone (none removes it)", setPtr(&g.req.StartAt))
			fs.IntVar(&g.priority, "priority", 0, "higher is issued first; equal priorities share the rate")
		},
		check: func(c *call, g *guardsFlags) error {
			if c.given("priority") {
				g.req.Priority = &g.priority
			}
			if g.req == (ops.GuardsRequest{}) {
				return usagef("batch guards: give at least one of --max-amount-yuan, --window, --start-at, --priority")
			}
			return nil
		},
		call: func(c *call, g *guardsFlags) (*ops.Batch, error) {
			return c.s.SetBatchGuards(c.ctx, c.actor, c.id, g.req)
		},
		text: func(c *call, _ *guardsFlags, b *ops.Batch) {
			c.printf("batch %d: %s\n", b.ID, guardSummary(b, c.loc()))
			if why := ops.NextStep(b); why != "" {
				c.printf("%s\n", textable.Clean(why))
			}
		},
	}.command()
}

// setPtr is a flag that points *p at its value.
func setPtr(p **string) func(string) error { return func(v string) error { *p = &v; return nil } }

// guardSummary lists a batch's guards in one line.
func guardSummary(b *ops.Batch, loc *time.Location) string {
	parts := []string{"no spend cap"}
	if b.MaxAmountFen != nil {
		parts[0] = fmt.Sprintf("spend cap %s yuan (%s yuan issued, in flight or in doubt)", money.Yuan(*b.MaxAmountFen), money.Yuan(b.ReservedFen))
	}
	if b.Window != "" {
		parts = append(parts, fmt.Sprintf("window %s (%s)", b.Window, *b.WindowTZ))
	} else {
		parts = append(parts, "no window")
	}
	if b.StartAt != nil {
		parts = append(parts, "starts "+humanTime(*b.StartAt, loc))
	} else {
		parts = append(parts, "no start time")
	}
	parts = append(parts, fmt.Sprintf("priority %d", b.Priority))
	return strings.Join(parts, ", ")
}

func cmdReviewList() *command {
	return op[int64, []ops.ReviewItem]{
		name: "review list", usage: "[--batch ID] [--json]", short: "list recipients in review: they may or may not have been issued",
		json:  `print an array of {"batch_id","openid","out_request_no","outcome","wx_code","wx_message","attempts","last_attempt_at"}`,
		flags: func(fs *flag.FlagSet, batch *int64) { fs.Int64Var(batch, "batch", 0, "only this batch") },
		call:  func(c *call, batch *int64) ([]ops.ReviewItem, error) { return c.s.ReviewItems(c.ctx, c.actor, *batch) },
		text: func(c *call, _ *int64, items []ops.ReviewItem) {
			if len(items) == 0 {
				c.printf("no recipients in review\n")
				return
			}
			table(c.e.stdout, items, func(it ops.ReviewItem) []string {
				last := ""
				if it.LastAttemptAt != nil {
					last = *it.LastAttemptAt
				}
				wx := it.WxCode
				if it.WxMessage != "" {
					wx += " " + it.WxMessage
				}
				return []string{strconv.FormatInt(it.BatchID, 10), it.OpenID, it.OutRequestNo, it.Outcome, strconv.Itoa(it.Attempts), last, wx, it.Note}
			}, "BATCH>", "OPENID", "OUT_REQUEST_NO", "OUTCOME", "ATTEMPTS>", "LAST_ATTEMPT", "WX", "NOTE")
			c.printf("%d recipients in review; `issuer review resolve` asks WeChat Pay which of them were issued\n", len(items))
		},
	}.command()
}

func cmdReviewResolve() *command {
	return op[int64, ops.SettleSummary]{
		name: "review resolve", usage: "[--batch ID] [--json]",
		short: "settle recipients in review by asking WeChat Pay (a user's coupons); never sends",
		json:  `print {"checked","issued","not_issued","still_in_doubt"}`,
		flags: func(fs *flag.FlagSet, batch *int64) { fs.Int64Var(batch, "batch", 0, "only this batch") },
		call: func(c *call, batch *int64) (ops.SettleSummary, error) {
			return c.s.ResolveReview(c.ctx, c.actor, *batch)
		},
		errs: func(_ *call, err error) error { return fmt.Errorf("review resolve: %w", err) },
		text: func(c *call, _ *int64, sum ops.SettleSummary) {
			c.printf("checked %d: %d issued, %d not issued, %d still in doubt", sum.Checked, sum.Issued, sum.NotIssued, sum.StillInDoubt)
			if sum.Waiting > 0 {
				c.printf("; %d sent too recently to ask yet", sum.Waiting)
			}
			c.printf("\n")
		},
	}.command()
}
