package guard

import (
	"fmt"
	"time"
)

// StockState is a 代金券 stock as WeChat Pay describes it, for the stock
// guard: the issue pass asks WeChat Pay about the stocks of its open
// batches every half minute and halts the batches of a stock that cannot
// issue (jobs), rather than spend attempts on sends that would fail. It
// has no SQL: the stock's state is WeChat Pay's, never stored.
type StockState struct {
	StockID          string
	Status           string // running, paused, stoped, unactivated, audit…
	AvailableEndTime string // RFC 3339; "" for none
}

// Unavailable says why the stock cannot issue at now — not running, or
// past its available_end_time — as the halt reason (starting
// stock_unavailable), or "" when it can.
func (s StockState) Unavailable(now time.Time) string {
	if s.Status != "" && s.Status != "running" {
		what := map[string]string{
			"paused":      "is paused in WeChat Pay: restart it (issuer stock restart " + s.StockID + ")",
			"stoped":      "is stopped in WeChat Pay and cannot issue again: import the list for another stock",
			"unactivated": "is not activated yet: start it (issuer stock start " + s.StockID + ")",
			"audit":       "is still being reviewed by WeChat Pay: wait until it runs",
		}[s.Status]
		if what == "" {
			what = "is " + s.Status + " in WeChat Pay, not running"
		}
		return fmt.Sprintf("stock_unavailable: stock %s %s", s.StockID, what)
	}
	if end, err := time.Parse(time.RFC3339, s.AvailableEndTime); err == nil && now.After(end) {
		return fmt.Sprintf("stock_unavailable: stock %s ended at %s: import the list for another stock", s.StockID, s.AvailableEndTime)
	}
	return ""
}
