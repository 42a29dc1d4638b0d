package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/internal/money"
	"github.com/issuer-dev/issuer/internal/outfile"
	"github.com/issuer-dev/issuer/internal/textable"
	"github.com/issuer-dev/issuer/ops"
	"github.com/issuer-dev/issuer/queue"
)

func batchCommands() []*command {
	cmds := []*command{cmdBatchList(), cmdBatchShow(), cmdBatchExport(), cmdBatchApprove(), cmdBatchReject(), cmdBatchPriority(), cmdBatchGuards()}
	for _, action := range []string{"pause", "resume", "cancel"} {
		cmds = append(cmds, cmdBatchAction(action))
	}
	return cmds
}

// parseBatchID is parseFlags for a command on one batch ID.
func parseBatchID(e *env, fs *flag.FlagSet, args []string) (int64, error) {
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return 0, err
	}
	return batchID(fs.Name(), pos)
}

func batchID(name string, pos []string) (int64, error) {
	if len(pos) != 1 {
		return 0, usagef("%s: want exactly one batch ID", name)
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id <= 0 {
		return 0, usagef("%s: %q is not a batch ID", name, pos[0])
	}
	return id, nil
}

func cmdBatchList() *command {
	c := &command{name: "batch list", usage: "[--json]", short: "list batches with recipient counts"}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := newFlags(e, c)
		asJSON := fs.Bool("json", false, "print a JSON array of batch objects")
		if _, err := parseFlags(e, fs, args); err != nil {
			return err
		}
		return e.withService(ctx, func(s *ops.Service) error {
			batches, err := s.Batches(ctx, e.actor(), ops.BatchFilter{})
			if err != nil {
				return err
			}
			if *asJSON {
				if batches == nil {
					batches = []*ops.Batch{}
				}
				return e.printJSON(batches)
			}
			loc := s.Config.Location
			t := textable.New("ID>", "NAME", "STOCK", "KIND", "STATUS", "RECIPIENTS>", "PENDING>", "IN_FLIGHT>", "ISSUED>", "FAILED>", "REVIEW>", "CANCELLED>", "IN_DOUBT>", "CREATED ("+zoneName(orUTC(loc))+")")
			for _, b := range batches {
				status := b.Status
				if b.HaltReason != nil {
					status += " (" + *b.HaltReason + ")"
				}
				t.Add(strconv.FormatInt(b.ID, 10), b.Name, b.StockID, b.Kind, status, strconv.Itoa(b.Accepted),
					strconv.Itoa(b.Counts[queue.StatusPending]), strconv.Itoa(b.Counts[queue.StatusInFlight]),
					strconv.Itoa(b.Counts[queue.StatusIssued]), strconv.Itoa(b.Counts[queue.StatusFailed]),
					strconv.Itoa(b.Counts[queue.StatusReview]), strconv.Itoa(b.Counts[queue.StatusCancelled]),
					strconv.Itoa(b.InDoubt), b.CreatedAt.In(orUTC(loc)).Format("2006-01-02 15:04"))
			}
			t.Write(e.stdout)
			return nil
		})
	}
	return c
}

func cmdBatchShow() *command {
	c := &command{name: "batch show", usage: "ID [--json]", short: "show one batch and its counts by status"}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := newFlags(e, c)
		asJSON := fs.Bool("json", false, `print {"id","name","stock_id","kind","status","counts"}`)
		id, err := parseBatchID(e, fs, args)
		if err != nil {
			return err
		}
		return e.withService(ctx, func(s *ops.Service) error {
			b, err := s.Batch(ctx, e.actor(), id)
			if err != nil {
				return err
			}
			if *asJSON {
				return e.printJSON(b)
			}
			printBatch(e.stdout, b, s.Config.Location)
			return nil
		})
	}
	return c
}

// printBatch shows b to a person: every time in the configured zone,
// which it names. Text that came from outside (names, reasons, WeChat
// Pay's messages) goes through textable.Clean: a name stored before names
// were checked must not drive the terminal.
func printBatch(w io.Writer, b *ops.Batch, loc *time.Location) {
	clean := textable.Clean
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "batch\t%d  %s\n", b.ID, clean(b.Name))
	fmt.Fprintf(tw, "stock\t%s (%s), creator %s, appid %s\n", clean(b.StockID), b.Kind, clean(b.StockCreatorMchID), clean(b.AppID))
	status := b.Status
	if b.HaltReason != nil {
		status += ": " + clean(*b.HaltReason)
	}
	fmt.Fprintf(tw, "status\t%s\n", status)
	fmt.Fprintf(tw, "source\t%s (sha256 %s)\n", clean(b.SourceFile), shortHash(b.SourceSHA256))
	fmt.Fprintf(tw, "lines\t%d = accepted %d + duplicates %d + rejected %d + blank %d\n", b.Lines, b.Accepted, b.Duplicates, b.Rejected, b.Blank)
	var parts []string
	for _, st := range queue.RecipientStatuses {
		parts = append(parts, fmt.Sprintf("%s %d", st, b.Counts[st]))
	}
	fmt.Fprintf(tw, "recipients\t%s\n", strings.Join(parts, ", "))
	if b.InDoubt > 0 {
		fmt.Fprintf(tw, "in doubt\t%d (a send's answer did not say whether WeChat Pay issued them, and nothing has settled it since: they are retried with the same out_request_no, or settled by `issuer review resolve`; never counted as not issued)\n", b.InDoubt)
	}
	if b.UploadedBy != "" {
		fmt.Fprintf(tw, "uploaded by\t%s\n", clean(b.UploadedBy))
	}
	fmt.Fprintf(tw, "amount\t%s yuan of face value\n", money.Yuan(b.AmountFen))
	if b.ApprovedBy != nil {
		fmt.Fprintf(tw, "approved\tby %s at %s (%s yuan)\n", clean(*b.ApprovedBy), humanTime(*b.ApprovedAt, loc), money.Yuan(*b.ApprovedAmountFen))
		if b.ApproveComment != nil {
			fmt.Fprintf(tw, "comment\t%s\n", clean(*b.ApproveComment))
		}
	}
	if b.RejectedBy != nil {
		fmt.Fprintf(tw, "rejected\tby %s at %s: %s\n", clean(*b.RejectedBy), humanTime(*b.RejectedAt, loc), clean(*b.RejectReason))
	}
	if b.MaxAmountFen != nil {
		fmt.Fprintf(tw, "spend cap\t%s yuan; %s yuan issued, in flight or in doubt\n", money.Yuan(*b.MaxAmountFen), money.Yuan(b.ReservedFen))
	}
	if b.StartAt != nil {
		fmt.Fprintf(tw, "starts\t%s\n", humanTime(*b.StartAt, loc))
	}
	if b.Window != "" {
		fmt.Fprintf(tw, "window\t%s (%s)\n", b.Window, *b.WindowTZ)
	}
	if b.Priority != 0 {
		fmt.Fprintf(tw, "priority\t%d\n", b.Priority)
	}
	if b.Repeats > 0 {
		fmt.Fprintf(tw, "repeats\t%d openids skipped: they already have a coupon of this stock issued or on its way\n", b.Repeats)
	}
	switch {
	case b.NextSendAt != nil:
		fmt.Fprintf(tw, "next send\t%s\n", humanTime(*b.NextSendAt, loc))
	case b.Status == queue.BatchAwaitingApproval:
		fmt.Fprintf(tw, "next send\twhen approved: issuer batch approve %d --as NAME (not %s)\n", b.ID, clean(b.UploadedBy))
	case b.Status == queue.BatchPaused || b.Status == queue.BatchHalted:
		fmt.Fprintf(tw, "next send\twhen resumed: issuer batch resume %d\n", b.ID)
	}
	if why := ops.NextStep(b); why != "" && b.Status == queue.BatchHalted {
		fmt.Fprintf(tw, "to do\t%s\n", clean(why))
	}
	fmt.Fprintf(tw, "created\t%s\n", humanTime(b.CreatedAt, loc))
	tw.Flush()
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
	c := &command{name: "batch " + action, usage: "ID [--as NAME] [--token-file F]", short: shorts[action]}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := newFlags(e, c)
		who := identityFlags(fs)
		id, err := parseBatchID(e, fs, args)
		if err != nil {
			return err
		}
		return e.withActor(ctx, who, func(s *ops.Service, actor auth.Actor) error {
			var b *ops.Batch
			var err error
			switch action {
			case "pause":
				b, err = s.PauseBatch(ctx, actor, id)
			case "resume":
				b, err = s.ResumeBatch(ctx, actor, id)
			case "cancel":
				var res *ops.CancelResult
				if res, err = s.CancelBatch(ctx, actor, id); err == nil {
					b = res.Batch
					fmt.Fprintf(e.stdout, "%d rows never issued are cancelled; %d rows in doubt were settled with WeChat Pay: "+
						"%d issued, %d not issued, %d still in review (issuer review list --batch %d)\n",
						res.Sealed.Cancelled, res.Settled.Checked, res.Settled.Issued, res.Settled.NotIssued,
						res.Settled.StillInDoubt+res.Settled.Waiting, id)
				}
			}
			if err != nil {
				return credentialHint(err, actor)
			}
			fmt.Fprintf(e.stdout, "batch %d is %s\n", b.ID, b.Status)
			return nil
		})
	}
	return c
}

func cmdBatchExport() *command {
	c := &command{name: "batch export", usage: "ID [-o FILE] [--plain]", short: "export a batch's recipients and results as CSV"}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := newFlags(e, c)
		out := fs.String("o", "", "write to `FILE` instead of standard output (mode 0640)")
		plain := fs.Bool("plain", false, "no UTF-8 byte-order mark (by default there is one, so that Excel reads Chinese right)")
		id, err := parseBatchID(e, fs, args)
		if err != nil {
			return err
		}
		return e.withService(ctx, func(s *ops.Service) error {
			if *out == "" {
				return s.ExportBatchCSV(ctx, e.actor(), id, e.stdout, *plain)
			}
			return outfile.Write(*out, func(w io.Writer) error { return s.ExportBatchCSV(ctx, e.actor(), id, w, *plain) })
		})
	}
	return c
}

func cmdBatchApprove() *command {
	c := &command{name: "batch approve", usage: "ID --as NAME [--token-file F] [--comment C]",
		short: "approve a batch awaiting approval, as an operator or admin other than its uploader (proven by token or password)"}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := newFlags(e, c)
		who := identityFlags(fs)
		comment := fs.String("comment", "", "the approver's note, kept on the batch and in the audit log")
		id, err := parseBatchID(e, fs, args)
		if err != nil {
			return err
		}
		return e.withActor(ctx, who, func(s *ops.Service, actor auth.Actor) error {
			b, err := s.ApproveBatchComment(ctx, actor, id, *comment)
			if err != nil {
				return credentialHint(err, actor)
			}
			fmt.Fprintf(e.stdout, "batch %d approved by %s (%d recipients, %s yuan): it is %s\n", b.ID, actor.Name, b.Accepted, money.Yuan(b.AmountFen), b.Status)
			return nil
		})
	}
	return c
}

func cmdBatchReject() *command {
	c := &command{name: "batch reject", usage: "ID --as NAME [--token-file F] --reason R",
		short: "reject a batch awaiting approval, as an operator or admin other than its uploader; nothing of it is sent"}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := newFlags(e, c)
		who := identityFlags(fs)
		reason := fs.String("reason", "", "why, for the uploader and the audit log; required")
		id, err := parseBatchID(e, fs, args)
		if err != nil {
			return err
		}
		if *reason == "" {
			return usagef("batch reject: --reason R is required")
		}
		return e.withActor(ctx, who, func(s *ops.Service, actor auth.Actor) error {
			b, err := s.RejectBatch(ctx, actor, id, *reason)
			if err != nil {
				return credentialHint(err, actor)
			}
			fmt.Fprintf(e.stdout, "batch %d is %s by %s: %s\n", b.ID, b.Status, actor.Name, *reason)
			return nil
		})
	}
	return c
}

func cmdBatchPriority() *command {
	c := &command{name: "batch priority", usage: "ID N [--as NAME] [--token-file F]", short: "change a batch's priority: higher is issued first"}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := newFlags(e, c)
		who := identityFlags(fs)
		pos, err := parseFlags(e, fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 2 {
			return usagef("batch priority: want ID and N")
		}
		id, err := batchID(c.name, pos[:1])
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(pos[1])
		if err != nil {
			return usagef("batch priority: %q is not a whole number", pos[1])
		}
		return e.withActor(ctx, who, func(s *ops.Service, actor auth.Actor) error {
			b, err := s.SetBatchPriority(ctx, actor, id, n)
			if err != nil {
				return credentialHint(err, actor)
			}
			fmt.Fprintf(e.stdout, "batch %d has priority %d\n", b.ID, b.Priority)
			return nil
		})
	}
	return c
}

func cmdBatchGuards() *command {
	c := &command{name: "batch guards", usage: "ID [--max-amount-yuan Y|none] [--window HH:MM-HH:MM|none] [--start-at T|none] [--priority N] [--json] [--as NAME] [--token-file F]",
		short: "change a batch's money guards (an operator's act, audited); a cap below what is issued or in doubt is refused"}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := newFlags(e, c)
		maxAmount := fs.String("max-amount-yuan", "", "spend cap: never issue more than `Y` yuan of face value (none removes the cap)")
		window := fs.String("window", "", "issue only inside `HH:MM-HH:MM` each day in the configured timezone (none removes the window)")
		startAt := fs.String("start-at", "", "do not issue before `T`: RFC 3339, or YYYY-MM-DD HH:MM in the configured timezone (none removes it)")
		priority := fs.Int("priority", 0, "higher is issued first; equal priorities share the rate")
		asJSON := fs.Bool("json", false, "print the batch object")
		who := identityFlags(fs)
		id, err := parseBatchID(e, fs, args)
		if err != nil {
			return err
		}
		var req ops.GuardsRequest
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "max-amount-yuan":
				req.MaxAmountYuan = maxAmount
			case "window":
				req.Window = window
			case "start-at":
				req.StartAt = startAt
			case "priority":
				req.Priority = priority
			}
		})
		if req == (ops.GuardsRequest{}) {
			return usagef("batch guards: give at least one of --max-amount-yuan, --window, --start-at, --priority")
		}
		return e.withActor(ctx, who, func(s *ops.Service, actor auth.Actor) error {
			b, err := s.SetBatchGuards(ctx, actor, id, req)
			if err != nil {
				return err
			}
			if *asJSON {
				return e.printJSON(b)
			}
			fmt.Fprintf(e.stdout, "batch %d: %s\n", b.ID, guardSummary(b, s.Config.Location))
			if why := ops.NextStep(b); why != "" {
				fmt.Fprintln(e.stdout, textable.Clean(why))
			}
			return nil
		})
	}
	return c
}

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
