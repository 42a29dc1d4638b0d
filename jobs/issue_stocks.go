package jobs

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/issuer-dev/issuer/guard"
	"github.com/issuer-dev/issuer/wxpay"
)

// StockChecker is the part of the WeChat Pay client the stock guard uses.
type StockChecker interface {
	QueryStock(ctx context.Context, stockID, creatorMchID string) (*wxpay.Stock, error)
}

// How often a pass looks at its stocks: one call per stock every half
// minute is no load, and a paused stock stops its batches within a minute.
// (The daemon makes a new job each pass, so a cache kept between checks
// would only ever hold answers as old as the interval itself.)
const stockCheckEvery = 30 * time.Second

// checkStocks halts the open batches of 代金券 stocks that cannot issue:
// not running (paused, stopped, not yet activated) or past their
// available_end_time. A send to such a stock would fail anyway; halting
// first saves attempts and says why. WeChat Pay being unreachable here
// changes nothing: the sends find out.
func (pr *producer) checkStocks(ctx context.Context) {
	stocks, err := pr.j.Store.OpenFavorStocks(ctx)
	if err != nil {
		if ctx.Err() == nil {
			pr.loopError("open stocks", err)
		}
		return
	}
	now := time.Now()
	for key, batches := range stocks {
		stockID, creator, _ := strings.Cut(key, "\x00")
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		st, err := pr.j.Stocks.QueryStock(qctx, stockID, creator)
		cancel()
		if err != nil {
			pr.log.Warn("stock check: could not ask WeChat Pay; sending goes on", "stock", stockID, "err", err)
			continue
		}
		reason := stockUnavailable(st, now)
		if reason == "" {
			continue
		}
		for _, b := range batches {
			if pr.opts.Batch != 0 && b != pr.opts.Batch {
				continue
			}
			hctx, cancel := context.WithTimeout(pr.sendCtx, 10*time.Second)
			ok, err := pr.j.Store.Halt(hctx, b, reason+fmt.Sprintf("; then issuer batch resume %d", b))
			cancel()
			if err != nil {
				pr.log.Error("halt batch", "batch", b, "err", err)
				continue
			}
			if ok {
				pr.halts.mark(b, false)
				pr.halted(b, stockID, "", reason+fmt.Sprintf("; then issuer batch resume %d", b))
			}
		}
	}
}

// stockUnavailable says why a stock cannot issue now, or "" (the stock
// guard, guard.StockState).
func stockUnavailable(st *wxpay.Stock, now time.Time) string {
	return guard.StockState{StockID: st.StockID, Status: st.Status, AvailableEndTime: st.AvailableEndTime}.Unavailable(now)
}
