package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/issuer-dev/issuer/app"
	"github.com/issuer-dev/issuer/internal/textable"
	"github.com/issuer-dev/issuer/ops"
)

func cmdIssue() *command {
	type flags struct {
		ops.IssueOptions
		cpuProfile string
	}
	return op[flags, none]{
		name:  "issue",
		usage: "[--batch ID] [--max-duration D] [--cpuprofile FILE]",
		short: "issue pending coupons: one pass until nothing is claimable now",
		on:    offline,
		flags: func(fs *flag.FlagSet, f *flags) {
			fs.Int64Var(&f.Batch, "batch", 0, "only this batch (default: every runnable batch)")
			fs.DurationVar(&f.MaxDuration, "max-duration", 0, "stop claiming after this long; in-flight calls still finish (0: no limit)")
			fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the pass to `FILE` (go tool pprof)")
		},
		call: func(c *call, f *flags) (none, error) {
			if f.cpuProfile != "" {
				stop, err := startCPUProfile(f.cpuProfile)
				if err != nil {
					return none{}, err
				}
				defer stop()
			}
			cfg, err := c.e.loadConfig()
			if err != nil {
				return none{}, err
			}
			progress, finish := c.e.progressReporter()
			res, err := c.e.app().IssuePass(c.ctx, cfg, app.PassOptions{IssueOptions: f.IssueOptions, Progress: progress})
			finish()
			var nc *app.NotClaimableError
			if errors.As(err, &nc) && nc.Completed {
				c.printf("%s\n", nc.Why)
				return none{}, nil
			} else if nc != nil {
				return none{}, fmt.Errorf("issue: %s", nc.Why)
			}
			if res != nil && res.Summary != nil {
				printSummary(c.e.stdout, res.Summary, res.Limiter)
			}
			if errors.Is(err, context.Canceled) {
				return none{}, fmt.Errorf("%w; in-flight calls finished and were recorded", errInterrupted)
			}
			if err == nil && len(res.Steps) > 0 {
				n := len(res.Steps)
				return none{}, fmt.Errorf("issue: the pass halted %d %s:\n  %s", n, plural(n, "batch", "batches"), strings.Join(res.Steps, "\n  "))
			}
			return none{}, err
		},
	}.command()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// startCPUProfile profiles the process into path until the returned
// function is called.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// progressReporter shows a progress bar on a terminal and periodic log
// lines otherwise.
func (e *env) progressReporter() (func(ops.IssueProgress), func()) {
	f, ok := e.stderr.(*os.File)
	if ok && term.IsTerminal(int(f.Fd())) {
		var bar *progressbar.ProgressBar
		return func(p ops.IssueProgress) {
				total := p.Issued + p.Remaining
				if bar == nil {
					bar = progressbar.NewOptions64(max(total, 1), progressbar.OptionSetWriter(f),
						progressbar.OptionSetDescription("issuing"), progressbar.OptionShowCount(),
						progressbar.OptionSetWidth(30), progressbar.OptionThrottle(200*time.Millisecond),
						progressbar.OptionShowElapsedTimeOnFinish())
				}
				rate := float64(p.Issued) / max(p.Elapsed.Seconds(), 0.001)
				eta := "-"
				if rate > 0 {
					eta = (time.Duration(float64(p.Remaining)/rate) * time.Second).Round(time.Second).String()
				}
				bar.ChangeMax64(max(total, 1))
				bar.Describe(fmt.Sprintf("issuing %.0f/s throttled %d remaining %d ETA %s", rate, p.Throttled, p.Remaining, eta))
				_ = bar.Set64(p.Issued)
			}, func() {
				if bar != nil {
					_ = bar.Finish()
					fmt.Fprintln(f)
				}
			}
	}
	var last time.Time
	return func(p ops.IssueProgress) {
		if time.Since(last) < 10*time.Second {
			return
		}
		last = time.Now()
		e.logger.Info("issuing", "issued", p.Issued, "sent", p.Sent, "throttled", p.Throttled,
			"remaining", p.Remaining, "in_flight", p.InFlight, "rate", fmt.Sprintf("%.0f/s", float64(p.Issued)/max(p.Elapsed.Seconds(), 0.001)))
	}, func() {}
}

func printSummary(w io.Writer, s *ops.IssueSummary, ls ops.LimiterStats) {
	fmt.Fprintf(w, "pass finished in %s: %d claimed, %d answers\n", s.Duration.Round(time.Millisecond), s.Claimed, s.Sent)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "OUTCOME\tANSWERS\t")
	for _, o := range ops.Outcomes() {
		if n := s.Outcomes[o]; n > 0 {
			fmt.Fprintf(tw, "%s\t%d\t\n", o, n)
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "limiter: rate %.0f/s (ceiling %.0f, estimated limit %.0f), %d sent, %d throttled, %d cuts\n",
		ls.Rate, ls.Ceiling, ls.Estimate, ls.Sent, ls.Throttled, ls.Cuts)
	for _, h := range s.Halted {
		fmt.Fprintf(w, "HALTED %s\n", h.Text)
	}
	if len(s.Completed) > 0 {
		fmt.Fprintf(w, "completed %s: %s\n", plural(len(s.Completed), "batch", "batches"), textable.IDs(s.Completed))
	}
	if s.Stale > 0 {
		fmt.Fprintf(w, "%d answers arrived after their lease was taken over; the new owner resends the same out_request_no\n", s.Stale)
	}
}
