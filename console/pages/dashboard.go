package pages

import (
	"fmt"
	"net/http"

	"github.com/issuer-dev/issuer/internal/money"
	"github.com/issuer-dev/issuer/ops"
)

// homeRoutes makes the dashboard the console's home page.
func (p *Pages) homeRoutes() {
	p.con.SetHome(p.dashboardPage)
}

// attention is one "needs me" tile: a count linking to the list it counts.
type attention struct {
	Key   string // catalogue key of the label (home.<key>)
	Count int64
	Link  string
	Warn  bool
}

type stockLine struct {
	ops.StockBudget
	Queued, Awaiting, Left string
	Status                 string // WeChat Pay's stock status ("" when not asked)
}

type dashboardData struct {
	*ops.Dashboard
	Needs        []attention
	Needed       int64
	IssuedYuan   string
	Rate         string
	Stocks       []stockLine
	At           string
	ShowAwaiting bool
}

// dashboardPage renders ops.Dashboard: the page computes nothing but
// formats.
func (p *Pages) dashboardPage(w http.ResponseWriter, r *http.Request) {
	d, err := p.svc.Dashboard(r.Context(), actor(r))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	data := dashboardData{Dashboard: d, IssuedYuan: money.YuanGrouped(d.IssuedTodayFen), Rate: fmt.Sprintf("%.1f", d.Rate),
		At: p.when(d.At)}
	if d.MayApprove {
		data.Needs = append(data.Needs, attention{"awaiting", int64(d.AwaitingNotUploader), "/batches?status=awaiting_approval", false})
	}
	data.Needs = append(data.Needs,
		attention{"halted", int64(d.Halted), "/batches?status=halted", true},
		attention{"review", d.Review, "/batches?has=review", true},
		attention{"in_doubt", d.InDoubt, "/batches?has=in_doubt", true})
	for _, n := range data.Needs {
		data.Needed += n.Count
	}
	for _, sb := range d.Stocks {
		l := stockLine{StockBudget: sb, Queued: money.YuanGrouped(sb.QueuedFen), Awaiting: money.YuanGrouped(sb.AwaitingFen), Left: "—"}
		if sb.LeftFen >= 0 {
			l.Left = money.YuanGrouped(sb.LeftFen)
		}
		if sb.Stock != nil {
			l.Status = sb.Stock.Status
		}
		data.Stocks = append(data.Stocks, l)
	}
	p.con.Render(w, r, http.StatusOK, "dashboard", data)
}
