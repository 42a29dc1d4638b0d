package ops

import (
	"context"
	"sync"
	"time"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/queue"
	"github.com/issuer-dev/issuer/wxpay"
)

// DashboardRateWindow is how far back the dashboard's sending rate looks.
const DashboardRateWindow = time.Minute

// dashboardStocks bounds the stocks whose budget the dashboard asks WeChat
// Pay for, and dashboardWXTimeout the time all those questions may take:
// the page must answer when WeChat Pay does not.
const (
	dashboardStocks    = 10
	dashboardWXTimeout = 3 * time.Second
	// StockAnswerTTL is how long the dashboard reuses WeChat Pay's answer
	// about a stock: the page is looked at often, a stock query is paced.
	StockAnswerTTL = 30 * time.Second
)

// stockAnswers keeps WeChat Pay's recent answers about stocks for the
// dashboard.
type stockAnswers struct {
	mu sync.Mutex
	m  map[string]stockAnswer
}

type stockAnswer struct {
	st *wxpay.Stock
	at time.Time
}

func (c *stockAnswers) get(id string, now time.Time) (*wxpay.Stock, time.Time, bool) {
	if c == nil {
		return nil, time.Time{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.m[id]
	if !ok || now.Sub(a.at) > StockAnswerTTL {
		return nil, time.Time{}, false
	}
	return a.st, a.at, true
}

func (c *stockAnswers) put(id string, st *wxpay.Stock, at time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) > 1000 {
		c.m = map[string]stockAnswer{}
	}
	c.m[id] = stockAnswer{st: st, at: at}
}

// Dashboard is the console's home page: what needs the actor, today's
// issues, the sending rate, and by stock the budget WeChat Pay has left
// against the money batches still hold.
type Dashboard struct {
	*queue.Overview
	// Day is today's date in the configured zone; Zone its name.
	Day  string
	Zone string
	// MayApprove: the actor's role may approve, so AwaitingNotUploader is
	// what waits for it; otherwise nothing awaiting approval is its to do.
	MayApprove bool
	// Rate is the answers per second over DashboardRateWindow.
	Rate float64
	// Stocks are Overview.Stocks with what WeChat Pay says of each.
	Stocks []StockBudget
	// BudgetNote says why no budget is shown at all ("" when asked):
	// BudgetNoKeys, BudgetNoRole.
	BudgetNote string
}

// Reasons a dashboard shows no budget.
const (
	BudgetNoKeys = "no_keys" // the merchant keys are not configured
	BudgetNoRole = "no_role" // the actor may not read stock information
)

// StockBudget is a stock's queued money beside its budget at WeChat Pay.
type StockBudget struct {
	queue.StockQueue
	// Stock is WeChat Pay's answer, given at AskedAt (at most
	// StockAnswerTTL ago); nil when it was not asked (past dashboardStocks,
	// BudgetNote) or did not answer (Err).
	Stock   *wxpay.Stock
	AskedAt time.Time
	Err     string
	// LeftCoupons and LeftFen are the budget left (LeftFen -1 when the
	// stock's face value is not known); Short is true when the money
	// queued exceeds LeftFen.
	LeftCoupons int64
	LeftFen     int64
	Short       bool
}

// Dashboard reads the home page's numbers from one snapshot of the batches
// and asks WeChat Pay for the budget of each stock with batches not yet
// ended, tolerating a WeChat Pay that does not answer (each stock then
// says why).
func (s *Service) Dashboard(ctx context.Context, a auth.Actor) (*Dashboard, error) {
	if err := s.read(ctx, a, auth.ActRead, target{}); err != nil {
		return nil, err
	}
	loc := time.UTC
	if s.Config != nil && s.Config.Location != nil {
		loc = s.Config.Location
	}
	now := time.Now().In(loc)
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	o, err := s.Queue.Overview(ctx, queue.OverviewQuery{Me: a.Name, DayStart: day, RateWindow: DashboardRateWindow})
	if err != nil {
		return nil, err
	}
	d := &Dashboard{Overview: o, Day: day.Format("2006-01-02"), Zone: loc.String(), MayApprove: a.Can(auth.ActApprove),
		Rate: float64(o.Answers) / DashboardRateWindow.Seconds()}
	for _, sq := range o.Stocks {
		d.Stocks = append(d.Stocks, StockBudget{StockQueue: sq, LeftFen: -1})
	}
	switch {
	case len(d.Stocks) == 0:
	case !a.Can(auth.ActReadStockInfo):
		d.BudgetNote = BudgetNoRole
	case s.WX == nil:
		d.BudgetNote = BudgetNoKeys
	default:
		s.stockBudgets(ctx, d.Stocks)
	}
	return d, nil
}

// stockBudgets asks WeChat Pay for each stock's budget within
// dashboardWXTimeout; a stock not asked or not answered says why in Err.
func (s *Service) stockBudgets(ctx context.Context, stocks []StockBudget) {
	ctx, cancel := context.WithTimeout(ctx, dashboardWXTimeout)
	defer cancel()
	ask := false
	for i := range stocks {
		sb := &stocks[i]
		if st, at, ok := s.stocks.get(sb.StockID, time.Now()); ok {
			sb.Stock, sb.AskedAt = st, at
			sb.budgetLeft()
		} else if i < dashboardStocks {
			ask = true
		}
	}
	if !ask {
		return
	}
	_, err := s.withWX(func(wx WXClient) (string, error) {
		for i := range stocks {
			sb := &stocks[i]
			if sb.Stock != nil {
				continue
			}
			if i >= dashboardStocks || ctx.Err() != nil {
				sb.Err = "not asked"
				continue
			}
			st, err := wx.QueryStock(ctx, sb.StockID, "")
			if err != nil {
				sb.Err = wxErr("stock show "+sb.StockID, err).Error()
				continue
			}
			sb.Stock, sb.AskedAt = st, time.Now()
			s.stocks.put(sb.StockID, st, sb.AskedAt)
			sb.budgetLeft()
		}
		return "", nil
	})
	if err != nil {
		for i := range stocks {
			if stocks[i].Stock == nil && stocks[i].Err == "" {
				stocks[i].Err = err.Error()
			}
		}
	}
}

func (sb *StockBudget) budgetLeft() {
	rule := sb.Stock.StockUseRule
	if rule == nil {
		return
	}
	sb.LeftCoupons = max(0, rule.MaxCoupons-sb.Stock.DistributedCoupons)
	if f := rule.FixedNormalCoupon; f != nil && f.CouponAmount > 0 {
		sb.LeftFen = max(0, rule.MaxAmount-sb.Stock.DistributedCoupons*f.CouponAmount)
		sb.Short = sb.QueuedFen+sb.AwaitingFen > sb.LeftFen
	}
}
