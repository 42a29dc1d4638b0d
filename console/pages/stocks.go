package pages

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/console"
	"github.com/issuer-dev/issuer/internal/money"
	"github.com/issuer-dev/issuer/ops"
)

// The Stocks page, a user's coupons, the reconciliation's "fetch now" and
// their API. Stock information and acts go to WeChat Pay through ops,
// which authorizes and audits them; the routes check only that someone is
// signed in, so a refusal is in the audit log too.

// stockActions are the stock acts the pages offer, in the order shown.
var stockActions = []ops.StockAction{ops.StockStart, ops.StockPause, ops.StockRestart, ops.StockStop}

// maxStocksListed bounds the stocks one page lists.
const maxStocksListed = 100

func (p *Pages) stockRoutes() {
	h := func(pattern string, act auth.Action, fn http.HandlerFunc) { p.con.Handle(pattern, act, fn) }
	h("GET /api/v1/stocks", "", p.apiStocks)
	h("GET /api/v1/stocks/{id}", "", p.apiStock)
	h("GET /api/v1/coupons", "", p.apiCoupons)
	h("POST /api/v1/reconcile", "", p.apiReconcile)
	p.con.Page("GET /stocks", auth.ActReadStockInfo, p.stocksPage)
	h("GET /stocks/{id}", auth.ActReadStockInfo, p.stockPage)
	h("GET /coupons", auth.ActReadStockInfo, p.couponsPage)
	for _, a := range stockActions {
		h("POST /api/v1/stocks/{id}/"+string(a), "", p.apiStockAction(a))
		h("POST /stocks/{id}/"+string(a), "", p.pageStockAction(a))
	}
	h("POST /reconciliation/fetch", "", p.pageFetch)
	p.con.AddNav(console.NavItem{Path: "/stocks", Key: "nav.stocks", Action: auth.ActReadStockInfo})
}

// stockID reads the path's stock id; ops checks its form.
func stockID(r *http.Request) string { return r.PathValue("id") }

func (p *Pages) stockFilter(r *http.Request) (ops.StockFilter, error) {
	q := r.URL.Query()
	f := ops.StockFilter{Status: q.Get("status")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return f, badRequest("limit must be a positive number")
		}
		f.Limit = n
	}
	return f, nil
}

func (p *Pages) apiStocks(w http.ResponseWriter, r *http.Request) {
	f, err := p.stockFilter(r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	l, err := p.svc.Stocks(r.Context(), actor(r), f)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	// As `stock list --json` prints them: the stocks as WeChat Pay has them.
	console.WriteJSON(w, http.StatusOK, l.Stocks)
}

func (p *Pages) apiStock(w http.ResponseWriter, r *http.Request) {
	st, err := p.svc.Stock(r.Context(), actor(r), stockID(r))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	console.WriteJSON(w, http.StatusOK, st)
}

// stockActionAnswer is what a stock act answers.
type stockActionAnswer struct {
	StockID string `json:"stock_id"`
	Action  string `json:"action"`
	Time    string `json:"time"` // start_time, pause_time, restart_time or stop time, as WeChat Pay answered
}

func (p *Pages) apiStockAction(action ops.StockAction) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		res, err := p.svc.ChangeStock(r.Context(), actor(r), action, stockID(r))
		if err != nil {
			p.fail(w, r, err)
			return
		}
		console.WriteJSON(w, http.StatusOK, stockActionAnswer{StockID: res.StockID, Action: string(action), Time: res.Time})
	}
}

func (p *Pages) apiCoupons(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	list, err := p.svc.UserCoupons(r.Context(), actor(r), strings.TrimSpace(q.Get("openid")), strings.TrimSpace(q.Get("stock")))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	if list == nil {
		list = []ops.Coupon{}
	}
	console.WriteJSON(w, http.StatusOK, list)
}

// reconcileAnswer is a reconciliation run as the API answers it.
type reconcileAnswer struct {
	Date     string         `json:"date"`
	Results  []reconcileRow `json:"results"`
	Failures int            `json:"failures"`
	Error    string         `json:"error,omitempty"`
}

type reconcileRow struct {
	StockID string `json:"stock_id"`
	Kind    string `json:"kind"`
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
	Error   string `json:"error,omitempty"`
	FileDay string `json:"file_date,omitempty"`
	SHA1    string `json:"sha1,omitempty"`
	Rows    int    `json:"rows"`
	NewRows int    `json:"new_rows"`
}

func (p *Pages) newReconcileAnswer(r *http.Request, sum *ops.ReconcileSummary) reconcileAnswer {
	a := reconcileAnswer{Date: sum.Date, Results: []reconcileRow{}, Failures: sum.Failures()}
	for _, res := range sum.Results {
		row := reconcileRow{StockID: res.StockID, Kind: string(res.Kind), Outcome: string(res.Outcome), Reason: res.Reason}
		if res.Err != nil {
			row.Error = p.reconcileError(r, res.Err)
		}
		if f := res.File; f != nil {
			row.FileDay, row.SHA1, row.Rows, row.NewRows = f.Date, f.SHA1, f.Rows, f.NewRows
		}
		a.Results = append(a.Results, row)
	}
	return a
}

// apiReconcile fetches flow files now: JSON {"stock","date"} or form
// fields of the same names, both optional.
func (p *Pages) apiReconcile(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Stock string `json:"stock"`
		Date  string `json:"date"`
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&body); err != nil && !errors.Is(err, io.EOF) {
			p.fail(w, r, badRequest(`reconcile takes JSON {"stock":ID,"date":"YYYY-MM-DD"}, both optional`))
			return
		}
	} else {
		body.Stock, body.Date = r.FormValue("stock"), r.FormValue("date")
	}
	req := ops.ReconcileRequest{ReconcileOptions: ops.ReconcileOptions{StockID: strings.TrimSpace(body.Stock), Date: strings.TrimSpace(body.Date)}}
	p.extendDeadlines(w, false)
	sum, err := p.svc.Reconcile(r.Context(), actor(r), req)
	if sum == nil {
		p.fail(w, r, err)
		return
	}
	a := p.newReconcileAnswer(r, sum)
	status := http.StatusOK
	if err != nil {
		// Some files failed; the summary says which, and what was loaded.
		status = http.StatusBadGateway
		a.Error = p.reconcileFailures(r, sum, err)
	}
	console.WriteJSON(w, status, a)
}

type stockRow struct {
	ops.Stock
	Value, Budget, Begin, End, Created string
}

func (p *Pages) stockRow(st ops.Stock) stockRow {
	row := stockRow{Stock: st, Value: "—", Budget: "—", Begin: p.wxTime(st.AvailableBeginTime), End: p.wxTime(st.AvailableEndTime),
		Created: p.wxTime(st.CreateTime)}
	if u := st.StockUseRule; u != nil {
		row.Budget = money.Yuan(u.MaxAmount)
		if c := u.FixedNormalCoupon; c != nil {
			row.Value = money.Yuan(c.CouponAmount)
		}
	}
	return row
}

// wxTime shows a WeChat Pay time (RFC 3339) in the configured zone.
func (p *Pages) wxTime(s string) string {
	if s == "" {
		return "—"
	}
	t, err := time.Parse(time.RFC3339, s) // RFC 3339 accepts the fraction WeChat Pay may add
	if err != nil {
		return s
	}
	return p.when(t)
}

type stocksData struct {
	Stocks   []stockRow
	Total    int
	Statuses []string
	Status   string
	Zone     string
	Error    string
}

func (p *Pages) stocksPage(w http.ResponseWriter, r *http.Request) {
	f, err := p.stockFilter(r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	if f.Limit == 0 || f.Limit > maxStocksListed {
		f.Limit = maxStocksListed
	}
	d := stocksData{Statuses: ops.StockStatuses(), Status: f.Status, Zone: p.zone()}
	l, err := p.svc.Stocks(r.Context(), actor(r), f)
	status := http.StatusOK
	if err != nil {
		// The page still offers the coupons lookup; the error says why
		// there is no list.
		var ok bool
		if status, d.Error, ok = p.inline(w, r, err); !ok {
			return
		}
	} else {
		d.Total = l.Total
		for _, st := range l.Stocks {
			d.Stocks = append(d.Stocks, p.stockRow(st))
		}
	}
	p.con.Render(w, r, status, "stocks", d)
}

type stockData struct {
	Stock   *stockRow
	Actions []string
	Notice  string
	Error   string
	Zone    string
}

// actionsFor are the acts a stock's status allows, as WeChat Pay's state
// machine has them; WeChat Pay checks again.
func actionsFor(status string) []string {
	switch status {
	case ops.StockUnactivated:
		return []string{string(ops.StockStart)}
	case ops.StockRunning:
		return []string{string(ops.StockPause), string(ops.StockStop)}
	case ops.StockPaused:
		return []string{string(ops.StockRestart), string(ops.StockStop)}
	}
	return nil
}

func (p *Pages) stockPage(w http.ResponseWriter, r *http.Request) {
	notice, errMsg := p.con.TakeFlash(w, r)
	if ok := r.URL.Query().Get("ok"); notice == "" && slices.Contains(stockActions, ops.StockAction(ok)) {
		notice = p.con.T(r, "stock.ok_"+ok)
	}
	p.renderStock(w, r, http.StatusOK, notice, errMsg)
}

func (p *Pages) renderStock(w http.ResponseWriter, r *http.Request, status int, notice, errMsg string) {
	d := stockData{Notice: notice, Error: errMsg, Zone: p.zone()}
	st, err := p.svc.Stock(r.Context(), actor(r), stockID(r))
	if err != nil {
		if errMsg == "" {
			p.fail(w, r, err)
			return
		}
		// The act's error is what matters; the stock could not be read
		// after it.
		d.Error += " · " + p.errMessage(r, err)
	} else {
		row := p.stockRow(*st)
		d.Stock = &row
		d.Actions = actionsFor(st.Status)
	}
	p.con.Render(w, r, status, "stock", d)
}

func (p *Pages) pageStockAction(action ops.StockAction) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := stockID(r)
		if _, err := p.svc.ChangeStock(r.Context(), actor(r), action, id); err != nil {
			if _, msg, ok := p.inline(w, r, err); ok {
				p.con.Redirect(w, r, "/stocks/"+url.PathEscape(id), "", msg)
			}
			return
		}
		http.Redirect(w, r, "/stocks/"+url.PathEscape(id)+"?ok="+string(action), http.StatusSeeOther)
	}
}

type couponRow struct {
	ops.Coupon
	Value, Created, Used string
}

type couponsData struct {
	OpenID, Stock string
	Coupons       []couponRow
	Searched      bool
	Error         string
	Zone          string
}

func (p *Pages) couponsPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := couponsData{OpenID: strings.TrimSpace(q.Get("openid")), Stock: strings.TrimSpace(q.Get("stock")), Zone: p.zone()}
	status := http.StatusOK
	if d.OpenID != "" {
		list, err := p.svc.UserCoupons(r.Context(), actor(r), d.OpenID, d.Stock)
		if err != nil {
			var ok bool
			if status, d.Error, ok = p.inline(w, r, err); !ok {
				return
			}
		}
		d.Searched = err == nil
		for _, c := range list {
			row := couponRow{Coupon: c, Value: "—", Created: p.wxTime(c.CreateTime), Used: "—"}
			if n := c.NormalCouponInformation; n != nil {
				row.Value = money.Yuan(n.CouponAmount)
			}
			if u := c.ConsumeInformation; u != nil {
				row.Used = p.wxTime(u.ConsumeTime)
			}
			d.Coupons = append(d.Coupons, row)
		}
	}
	p.con.Render(w, r, status, "coupons", d)
}

// pageFetch is the reconciliation page's "fetch flow files now": the
// page's stock whatever the schedule, or every stock's files that are due.
func (p *Pages) pageFetch(w http.ResponseWriter, r *http.Request) {
	stock := strings.TrimSpace(r.PostFormValue("stock"))
	// Redirect-after-POST: the reconciliation page, with what the fetch
	// did or why it failed shown once.
	v := url.Values{}
	if stock != "" {
		v.Set("stock", stock)
	}
	if lang := r.URL.Query().Get("lang"); lang != "" {
		v.Set("lang", lang)
	}
	back := "/reconciliation"
	if len(v) > 0 {
		back += "?" + v.Encode()
	}
	p.extendDeadlines(w, false)
	sum, err := p.svc.Reconcile(r.Context(), actor(r), ops.ReconcileRequest{ReconcileOptions: ops.ReconcileOptions{StockID: stock}})
	if err != nil && sum == nil {
		if status, msg, ok := p.inline(w, r, err); ok {
			if status >= http.StatusInternalServerError {
				msg = p.reconcileError(r, err)
			}
			p.con.Redirect(w, r, back, "", msg)
		}
		return
	}
	notice := p.con.T(r, "recon.fetched", sum.Date, sum.Count(ops.FlowLoaded), sum.Count(ops.FlowUnchanged),
		sum.Count(ops.FlowNotYet, ops.FlowNotDue, ops.FlowSkipped), sum.Failures())
	errMsg := ""
	if err != nil {
		errMsg = p.reconcileFailures(r, sum, err)
	}
	p.con.Redirect(w, r, back, notice, errMsg)
}

// reconcileFailures says in plain words which files failed and why, one
// sentence each; the errors themselves go to the log.
func (p *Pages) reconcileFailures(r *http.Request, sum *ops.ReconcileSummary, err error) string {
	var parts []string
	for _, res := range sum.Results {
		if res.Err != nil {
			parts = append(parts, p.con.T(r, "recon.err.file", res.StockID, p.con.T(r, "recon.kind."+string(res.Kind)),
				p.reconcileError(r, res.Err)))
		}
	}
	if len(parts) == 0 {
		return p.reconcileError(r, err)
	}
	return strings.Join(parts, " ")
}

// reconcileError tells a person what went wrong fetching flow files and
// what to do, without the error's own text (addresses, paths, Go's
// wording), which it logs.
func (p *Pages) reconcileError(r *http.Request, err error) string {
	p.log.Warn("reconcile failed", "path", r.URL.Path, "err", err)
	var we *ops.APIError
	var fe *ops.FlowFileError
	var pe *fs.PathError
	switch {
	case errors.As(err, &fe):
		return p.con.T(r, "recon.err.malformed")
	case errors.Is(err, ops.ErrChecksum):
		return p.con.T(r, "recon.err.checksum")
	case errors.As(err, &we):
		return p.con.T(r, "recon.err.refused", we.Code, we.Message)
	case errors.Is(err, ops.ErrNoWX):
		return p.con.T(r, "recon.err.keys")
	case errors.Is(err, ops.ErrTransport), errors.Is(err, context.DeadlineExceeded):
		return p.con.T(r, "recon.err.network")
	case errors.As(err, &pe):
		return p.con.T(r, "recon.err.disk")
	}
	return p.con.T(r, "recon.err.other")
}

// stockMessages are the texts of the pages in this file.
var stockMessages = map[string]map[string]string{
	"en": {
		"nav.stocks": "Stocks", "stocks.title": "Stocks (代金券)", "stocks.all": "all",
		"stocks.total": "%d stocks at WeChat Pay", "stocks.empty": "No stocks.", "stocks.name": "Name",
		"stocks.value": "Coupon (元)", "stocks.budget": "Budget (元)", "stocks.distributed": "Distributed",
		"stocks.max": "Max coupons", "stocks.begin": "Available from", "stocks.end": "until",
		"stocks.coupons": "A user's coupons", "stocks.coupons_help": "Asks WeChat Pay which of the merchant's coupons a user holds (used ones too); it never sends a coupon.",
		"stocks.openid": "openid", "stocks.stock_optional": "stock (optional)", "stocks.find": "Find",
		"stock.title": "Stock %s", "stock.status": "Status", "stock.created": "Created", "stock.per_user": "Per user",
		"stock.no_cash": "No cash", "stock.batches": "Batches of this stock", "stock.reconciliation": "Reconciliation",
		"stock.start": "Start", "stock.pause": "Pause", "stock.restart": "Restart", "stock.stop": "Stop for good",
		"stock.start_confirm":   "Start this stock? Coupons can be sent from it at once.",
		"stock.pause_confirm":   "Pause this stock? Every send from it fails until it is restarted; running batches of it halt.",
		"stock.restart_confirm": "Restart this stock? Halted batches of it can then be resumed.",
		"stock.stop_confirm":    "Stop this stock for good? It cannot be started again; coupons already issued stay usable.",
		"stock.ok_start":        "Stock started.", "stock.ok_pause": "Stock paused.", "stock.ok_restart": "Stock restarted.",
		"stock.ok_stop": "Stock stopped.",
		"coupons.title": "Coupons of %s", "coupons.none": "This user holds no coupon of the merchant's stocks.",
		"coupons.coupon": "Coupon", "coupons.used": "Used at",
		"recon.fetch": "Fetch flow files now", "recon.fetch_help": "Downloads, verifies and loads the flow files that are due (this stock's whatever the schedule when a stock is chosen).",
		"recon.fetched":  "Flow files for %s: %d loaded, %d unchanged, %d not yet or not due, %d failed or rejected.",
		"recon.err.file": "Stock %s, %s: %s", "recon.kind.use": "use-flow file", "recon.kind.refund": "refund-flow file",
		"recon.err.malformed": "WeChat Pay's file does not read as a flow file, so nothing of it was loaded; it is kept for a look, and the next fetch tries again.",
		"recon.err.checksum":  "the file downloaded does not match its checksum, so nothing of it was loaded; fetch again.",
		"recon.err.refused":   "WeChat Pay refused: %s %s",
		"recon.err.keys":      "the merchant keys (wxpay.*) are not configured, so WeChat Pay cannot be asked.",
		"recon.err.network":   "WeChat Pay could not be reached (network or timeout); fetch again in a while.",
		"recon.err.disk":      "the file could not be saved on the server (reconcile.dir); an administrator finds why in the log.",
		"recon.err.other":     "fetching failed; an administrator finds why in the log.",
		"recon.no_data":       "Stock %s has no batches and no flow files yet.",
	},
	"zh": {
		"nav.stocks": "券批次", "stocks.title": "券批次(代金券)", "stocks.all": "全部",
		"stocks.total": "微信支付共 %d 个券批次", "stocks.empty": "没有券批次。", "stocks.name": "名称",
		"stocks.value": "面额(元)", "stocks.budget": "预算(元)", "stocks.distributed": "已发放",
		"stocks.max": "最多张数", "stocks.begin": "可用时间从", "stocks.end": "至",
		"stocks.coupons": "查询用户的券", "stocks.coupons_help": "向微信支付查询用户持有的本商户代金券(含已使用),绝不会发券。",
		"stocks.openid": "openid", "stocks.stock_optional": "券批次号(可选)", "stocks.find": "查询",
		"stock.title": "券批次 %s", "stock.status": "状态", "stock.created": "创建时间", "stock.per_user": "每人限领",
		"stock.no_cash": "免充值", "stock.batches": "本券批次的发放批次", "stock.reconciliation": "对账",
		"stock.start": "激活", "stock.pause": "暂停", "stock.restart": "重启", "stock.stop": "永久停止",
		"stock.start_confirm":   "确定激活此券批次吗?激活后即可从中发券。",
		"stock.pause_confirm":   "确定暂停此券批次吗?重启前从中发券都会失败,进行中的发放批次会中止。",
		"stock.restart_confirm": "确定重启此券批次吗?之后可以恢复已中止的发放批次。",
		"stock.stop_confirm":    "确定永久停止此券批次吗?停止后不能再激活;已发出的券仍可使用。",
		"stock.ok_start":        "券批次已激活。", "stock.ok_pause": "券批次已暂停。", "stock.ok_restart": "券批次已重启。",
		"stock.ok_stop": "券批次已停止。",
		"coupons.title": "%s 的券", "coupons.none": "该用户没有本商户券批次的券。",
		"coupons.coupon": "券", "coupons.used": "核销时间",
		"recon.fetch": "立即下载明细文件", "recon.fetch_help": "下载、校验并加载到期的核销与退款明细文件(选定券批次时不论计划立即下载该券批次的文件)。",
		"recon.fetched":  "%s 的明细文件:加载 %d 个,未变 %d 个,尚未提供或未到期 %d 个,失败或被拒 %d 个。",
		"recon.err.file": "券批次 %s 的%s:%s", "recon.kind.use": "核销明细文件", "recon.kind.refund": "退款明细文件",
		"recon.err.malformed": "微信支付的文件无法按明细文件读取,未加载任何记录;文件已保留备查,下次下载会重试。",
		"recon.err.checksum":  "下载的文件与其校验值不符,未加载任何记录;请重新下载。",
		"recon.err.refused":   "微信支付拒绝了请求:%s %s",
		"recon.err.keys":      "未配置商户密钥(wxpay.*),无法向微信支付查询。",
		"recon.err.network":   "无法连接微信支付(网络或超时);请稍后重新下载。",
		"recon.err.disk":      "文件无法保存到服务器(reconcile.dir);管理员可在日志中查看原因。",
		"recon.err.other":     "下载失败;管理员可在日志中查看原因。",
		"recon.no_data":       "券批次 %s 尚无发放批次,也没有明细文件。",
	},
}
