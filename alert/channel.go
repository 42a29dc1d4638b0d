package alert

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// fateBelow is offer's answer for an item under the channel's minimum
// severity.
const fateBelow = "below min severity"

// item is one alert or message waiting for a channel.
type item struct {
	alert    Alert
	msg      *Message // a message, not an alert, when set
	severity string
	done     chan<- error // Send's, buffered; nil for alerts
}

func (it item) finish(err error) {
	if it.done != nil {
		it.done <- err
	}
}

// channel delivers to one destination: its own queue, its own goroutine,
// its own rate limit. Only run's goroutine touches sent.
type channel struct {
	Channel
	n       *Notifier
	enc     encoder
	target  string // scheme://host, for logs
	minRank int
	queue   chan item
	sent    []time.Time // request times within the rate window, oldest first

	delivered, failed, dropped atomic.Uint64
	requestsOK, requestsFailed atomic.Uint64
}

func newChannel(n *Notifier, ch Channel) *channel {
	if ch.RateWindow <= 0 {
		ch.RateWindow = DefaultRateWindow
	}
	if ch.RateLimit == 0 && ch.Type != TypeWebhook {
		ch.RateLimit = DefaultRateLimit
	}
	rank, _ := severityRank(ch.MinSeverity)
	u, _ := url.Parse(ch.URL) // Validate parsed it
	return &channel{
		Channel: ch,
		n:       n,
		enc:     encoderFor(ch, n.loc),
		target:  u.Scheme + "://" + u.Host,
		minRank: rank,
		queue:   make(chan item, n.cfg.QueueSize),
	}
}

// offer queues it without blocking and says what became of it.
func (c *channel) offer(it item) string {
	if r, _ := severityRank(it.severity); r < c.minRank {
		return fateBelow
	}
	select {
	case c.queue <- it:
		return "queued"
	default:
		c.dropped.Add(1)
		return fmt.Sprintf("dropped: %d alerts already queued", cap(c.queue))
	}
}

// run delivers until ctx is done, then drains for at most DrainTimeout.
func (c *channel) run(ctx context.Context) {
	// Deliveries outlive ctx by the drain timeout, so an alert raised while
	// shutting down still goes out.
	hard, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		t := time.NewTimer(c.n.cfg.DrainTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-hard.Done():
		}
	})
	defer stop()

	var pending []item // taken from the queue, not yet sent
	for {
		if len(pending) == 0 {
			if ctx.Err() != nil {
				// Once ctx is done, the drain decides what is still worth
				// sending.
				select {
				case it := <-c.queue:
					pending = append(pending, it)
				default:
					return
				}
			} else {
				select {
				case it := <-c.queue:
					pending = append(pending, it)
				case <-ctx.Done():
					continue
				}
			}
		}
		if hard.Err() != nil || !c.waitForSlot(hard) {
			c.abandon(pending)
			for {
				select {
				case it := <-c.queue:
					c.abandon([]item{it})
				default:
					return
				}
			}
		}
		// What arrived while waiting is folded into this message rather
		// than spending another of the robot's few messages a minute.
		for len(pending) < cap(c.queue) {
			select {
			case it := <-c.queue:
				pending = append(pending, it)
				continue
			default:
			}
			break
		}
		n := c.enc.take(pending)
		c.deliver(hard, pending[:n])
		pending = append(pending[:0:0], pending[n:]...)
	}
}

// abandon counts items that will never be sent.
func (c *channel) abandon(items []item) {
	for _, it := range items {
		c.dropped.Add(1)
		it.finish(errors.New("not sent: shutting down"))
		if it.msg != nil {
			c.n.log.Error("message not sent: shutting down", "channel", c.Name, "title", it.msg.Title)
			continue
		}
		c.n.log.Error("alert not sent to the webhook: shutting down", "channel", c.Name, "kind", it.alert.Kind,
			"batch", it.alert.BatchID, "message", it.alert.Message)
	}
}

// waitForSlot waits until the rate limit allows another request, and
// reports false when ctx ends first.
func (c *channel) waitForSlot(ctx context.Context) bool {
	if c.RateLimit <= 0 {
		return true
	}
	logged := false
	for {
		now := c.n.now()
		for len(c.sent) > 0 && now.Sub(c.sent[0]) >= c.RateWindow {
			c.sent = c.sent[1:]
		}
		if len(c.sent) < c.RateLimit {
			return true
		}
		wait := c.sent[0].Add(c.RateWindow).Sub(now)
		if !logged {
			c.n.log.Info("alert channel at its rate limit; folding alerts meanwhile", "channel", c.Name,
				"limit", c.RateLimit, "window", c.RateWindow, "wait", wait)
			logged = true
		}
		if !sleep(ctx, wait) {
			return false
		}
	}
}

// deliver sends items as one request, retrying transient failures.
func (c *channel) deliver(ctx context.Context, items []item) {
	first := items[0]
	kind := first.alert.Kind
	if first.msg != nil {
		kind = "message"
	}
	delay := c.n.cfg.Backoff
	for attempt := 1; ; attempt++ {
		if c.RateLimit > 0 {
			c.sent = append(c.sent, c.n.now())
		}
		req, err := c.enc.encode(items, c.n.now())
		if err == nil {
			err = c.post(ctx, req)
		}
		if err == nil {
			c.requestsOK.Add(1)
			c.delivered.Add(uint64(len(items)))
			for _, it := range items {
				it.finish(nil)
			}
			c.n.log.Debug("alert sent to the webhook", "channel", c.Name, "kind", kind, "batch", first.alert.BatchID,
				"items", len(items), "attempts", attempt)
			return
		}
		c.requestsFailed.Add(1)
		var final *finalError
		if errors.As(err, &final) || attempt > c.n.cfg.Retries || ctx.Err() != nil {
			c.giveUp(items, "alert not sent to the webhook; giving up", attempt, err)
			return
		}
		c.n.log.Warn("alert webhook failed; retrying", "channel", c.Name, "kind", kind, "webhook", c.target, "attempt", attempt, "err", err)
		// Equal jitter: between half and all of the delay, so instances
		// retrying together spread out.
		wait := delay/2 + rand.N(delay/2+1)
		if !sleep(ctx, wait) {
			c.giveUp(items, "alert not sent to the webhook; shutting down", attempt, err)
			return
		}
		delay = min(2*delay, maxBackoff)
		if c.RateLimit > 0 && !c.waitForSlot(ctx) {
			c.giveUp(items, "alert not sent to the webhook; shutting down", attempt, err)
			return
		}
	}
}

func (c *channel) giveUp(items []item, msg string, attempts int, err error) {
	c.failed.Add(uint64(len(items)))
	for _, it := range items {
		it.finish(fmt.Errorf("not sent after %d attempts: %w", attempts, err))
		if it.msg != nil {
			c.n.log.Error(msg, "channel", c.Name, "kind", "message", "title", it.msg.Title, "webhook", c.target,
				"attempts", attempts, "err", err)
			continue
		}
		a := it.alert
		c.n.log.Error(msg, "channel", c.Name, "kind", a.Kind, "batch", a.BatchID, "message", a.Message,
			"webhook", c.target, "attempts", attempts, "err", err)
	}
}

// finalError is a failure that retrying will not change.
type finalError struct{ msg string }

func (e *finalError) Error() string { return e.msg }

// request is one encoded POST.
type request struct {
	url  string // may carry the robot's key and signature: never logged
	body []byte
}

// post makes one attempt. Errors name the channel by scheme and host only.
func (c *channel) post(ctx context.Context, r request) error {
	ctx, cancel := context.WithTimeout(ctx, c.n.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(r.body))
	if err != nil {
		return &finalError{"build request: invalid webhook URL"} // Validate accepted it; cannot happen
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "issuer-alert")
	resp, err := c.n.hc.Do(req)
	if err != nil {
		if ue, ok := errors.AsType[*url.Error](err); ok {
			return fmt.Errorf("%s %s: %w", ue.Op, c.target, ue.Err)
		}
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	snippet := strings.TrimSpace(string(answer[:min(len(answer), 256)]))
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return c.enc.check(answer)
	case s == http.StatusRequestTimeout || s == http.StatusTooEarly || s == http.StatusTooManyRequests || s >= 500:
		return fmt.Errorf("webhook answered %d: %s", s, snippet)
	default:
		return &finalError{fmt.Sprintf("webhook answered %d: %s", s, snippet)}
	}
}

// sleep waits d or until ctx is done, and reports whether it waited d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
