package ops

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/queue"
)

// RateWindow is how far back Progress looks for the sending rate, and
// RateBucket the width of one point of its series.
const (
	RateWindow = 10 * time.Minute
	RateBucket = 10 * time.Second
)

// Progress is a batch's progress as the console shows it while it runs.
type Progress struct {
	Batch *queue.Batch `json:"batch"`
	// Counts by recipient status (every status, zeros included) and by
	// WeChat Pay outcome of the last answer ("" for rows never answered).
	Counts   map[string]int `json:"counts"`
	Outcomes map[string]int `json:"outcomes"`
	// InDoubt counts rows in doubt: a send got an answer that did not say
	// what happened, and nothing has settled it since.
	InDoubt int `json:"in_doubt"`
	Total   int `json:"total"`
	// Remaining is pending plus in flight: what sending still has to do.
	Remaining int `json:"remaining"`
	// PendingInDoubt counts the pending rows that are in doubt (the rest
	// of InDoubt are in review).
	PendingInDoubt int `json:"pending_in_doubt"`
	// Rate is the rows answered per second over the last minute, and
	// Series the answers per second in RateBucket steps over RateWindow,
	// oldest first, by the time of each row's last attempt (a row tried
	// twice counts at its latest try).
	Rate   float64     `json:"sends_per_second"`
	Series []RatePoint `json:"series"`
	ETA    *time.Time  `json:"eta,omitempty"` // at Rate, when Remaining > 0 and Rate > 0
	Now    time.Time   `json:"now"`
	Halt   *HaltAdvice `json:"halt,omitempty"`
	Money  ProgressFen `json:"money"`
	// Parts partition the rows (queue.PartKeys): issued, in flight,
	// pending, in doubt, in review, failed, cancelled; their counts add up
	// to Total and their face values to Money.TotalFen.
	Parts []queue.Part `json:"parts"`
}

// ProgressFen is what the batch's rows are worth, in fen, where known.
type ProgressFen struct {
	IssuedFen   int64 `json:"issued_fen"`
	InFlightFen int64 `json:"in_flight_fen"`
	PendingFen  int64 `json:"pending_fen"` // pending and not in doubt
	InDoubtFen  int64 `json:"in_doubt_fen"`
	TotalFen    int64 `json:"total_fen"` // every part's, Parts' sum
}

// RatePoint is the answers per second in one bucket starting at At.
type RatePoint struct {
	At   time.Time `json:"at"`
	Rate float64   `json:"rate"`
}

// HaltAdvice explains a halted batch: the outcome and WeChat Pay's code
// and message as recorded, and what a person should do.
type HaltAdvice struct {
	Reason  string `json:"reason"`
	Outcome string `json:"outcome"`
	Code    string `json:"wx_code"`
	Message string `json:"wx_message"`
	// Detail is the rest of a reason issuer itself gave (a spend cap),
	// which is no WeChat Pay code and message.
	Detail string `json:"detail,omitempty"`
	Advice string `json:"advice"`
	// Source says who gave the reason: WeChat Pay's answer (Code and
	// Message) or issuer's own check (Detail).
	Source string `json:"source"`
}

// Who gave a halt's reason (HaltAdvice.Source).
const (
	HaltFromWeChatPay = "wechat_pay"
	HaltFromIssuer    = "issuer"
)

// wxCode reports whether s looks like a WeChat Pay error code: capitals,
// digits and underscores (NOT_ENOUGH, STOCK_STATUS_INVALID).
func wxCode(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// BatchProgress returns a batch's counts, sending rate and estimate.
func (s *Service) BatchProgress(ctx context.Context, a auth.Actor, id int64) (*Progress, error) {
	if err := s.read(ctx, a, auth.ActRead, target{batch: id}); err != nil {
		return nil, err
	}
	// One snapshot: the batch, its counts, its money and its outcomes
	// agree with each other, also while it sends.
	v, err := s.Queue.BatchView(ctx, id)
	if err != nil {
		return nil, err
	}
	b := v.Batch
	now := time.Now()
	p := &Progress{Batch: b, Counts: map[string]int{}, Outcomes: v.Outcomes, InDoubt: b.InDoubt, Now: now, Parts: v.Parts,
		PendingInDoubt: b.PendingInDoubt}
	for _, st := range queue.RecipientStatuses {
		p.Counts[st] = b.Counts[st]
		p.Total += b.Counts[st]
	}
	for _, pt := range v.Parts {
		p.Money.TotalFen += pt.Fen
	}
	p.Money.IssuedFen, p.Money.InFlightFen = v.Part(queue.PartIssued).Fen, v.Part(queue.PartInFlight).Fen
	p.Money.PendingFen, p.Money.InDoubtFen = v.Part(queue.PartPending).Fen, v.Part(queue.PartInDoubt).Fen
	p.Remaining = p.Counts[queue.StatusPending] + p.Counts[queue.StatusInFlight]
	if err := s.rateSeries(ctx, id, now, p); err != nil {
		return nil, err
	}
	if p.Remaining > 0 && p.Rate > 0 && (b.Status == queue.BatchRunning || b.Status == queue.BatchPending) {
		eta := now.Add(time.Duration(float64(p.Remaining) / p.Rate * float64(time.Second)))
		p.ETA = &eta
	}
	if b.HaltReason != nil {
		h := Halt(*b.HaltReason)
		p.Halt = &h
	}
	return p, nil
}

func (s *Service) rateSeries(ctx context.Context, id int64, now time.Time, p *Progress) error {
	n := int(RateWindow / RateBucket)
	start := now.Truncate(RateBucket).Add(-time.Duration(n-1) * RateBucket)
	counts := make([]int64, n)
	var buckets []int64
	var ns []int64
	rows, err := s.DB.QueryContext(ctx, `SELECT floor(extract(epoch FROM last_attempt_at - $2) / $3)::bigint AS k, count(*)
		FROM recipients WHERE batch_id = $1 AND last_attempt_at >= $2 AND last_attempt_at < $4
		GROUP BY 1`, id, start, RateBucket.Seconds(), start.Add(time.Duration(n)*RateBucket))
	if err != nil {
		return fmt.Errorf("sending rate: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, c int64
		if err := rows.Scan(&k, &c); err != nil {
			return fmt.Errorf("sending rate: %w", err)
		}
		buckets, ns = append(buckets, k), append(ns, c)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sending rate: %w", err)
	}
	for i, k := range buckets {
		if k >= 0 && int(k) < n {
			counts[k] += ns[i]
		}
	}
	p.Series = make([]RatePoint, n)
	for i := range counts {
		p.Series[i] = RatePoint{At: start.Add(time.Duration(i) * RateBucket), Rate: float64(counts[i]) / RateBucket.Seconds()}
	}
	var lastMinute int64
	err = s.DB.GetContext(ctx, &lastMinute, `SELECT count(*) FROM recipients WHERE batch_id = $1 AND last_attempt_at >= $2`,
		id, now.Add(-time.Minute))
	if err != nil {
		return fmt.Errorf("sending rate: %w", err)
	}
	p.Rate = float64(lastMinute) / 60
	return nil
}

// Halt explains a batch's halt_reason ("<outcome>: <code> <message>", or
// "spend_cap…") and says what to do about it.
func Halt(reason string) HaltAdvice {
	h := HaltAdvice{Reason: reason, Outcome: reason}
	h.Source = HaltFromIssuer
	if o, rest, ok := strings.Cut(reason, ": "); ok {
		h.Outcome = o
		code, msg, _ := strings.Cut(rest, " ")
		if !strings.HasPrefix(o, "spend_cap") && wxCode(code) {
			h.Code, h.Message, h.Source = code, msg, HaltFromWeChatPay
		} else {
			// issuer's own words (the spend cap, the stock guard's check of
			// the stock), never shown as WeChat Pay's.
			h.Detail = rest
		}
	}
	switch {
	case h.Outcome == "budget_exhausted":
		h.Advice = "The stock's budget is spent. Add budget to the stock in the merchant platform (商户平台), then resume the batch."
	case h.Outcome == "stock_unavailable":
		h.Advice = "The stock is not running (paused, stopped, expired or not started). Start or restart it, then resume the batch."
	case h.Outcome == "config_error":
		h.Advice = "WeChat Pay refused the merchant's credentials or permissions. Check the merchant keys and API permissions (issuer config check), then resume every halted batch."
	case strings.HasPrefix(h.Outcome, "spend_cap"):
		h.Advice = "The batch reached its spending cap. Raise the cap only if the spend is intended; otherwise cancel the batch."
	default:
		h.Advice = "Read WeChat Pay's code and message, fix the cause, then resume the batch; rows in doubt are settled by asking WeChat Pay, never re-sent blindly."
	}
	return h
}

// Recipient is one row of a batch as a lookup shows it.
type Recipient struct {
	BatchID        int64      `db:"batch_id" json:"batch_id"`
	OpenID         string     `db:"openid" json:"openid"`
	OutRequestNo   string     `db:"out_request_no" json:"out_request_no"`
	Status         string     `db:"status" json:"status"`
	Outcome        string     `db:"outcome" json:"outcome"`
	InDoubt        bool       `db:"in_doubt" json:"in_doubt"`
	CouponID       string     `db:"coupon_id" json:"coupon_id"`
	CouponValueFen *int64     `db:"coupon_value" json:"coupon_value_fen,omitempty"`
	WxCode         string     `db:"wx_code" json:"wx_code"`
	WxMessage      string     `db:"wx_message" json:"wx_message"`
	Attempts       int        `db:"attempts" json:"attempts"`
	LastAttemptAt  *time.Time `db:"last_attempt_at" json:"last_attempt_at"`
	IssuedAt       *time.Time `db:"issued_at" json:"issued_at"`
	Note           string     `db:"note" json:"note"`
	SourceLine     int        `db:"source_line" json:"source_line"`
}

// LookupRecipient finds the row of openid in a batch.
func (s *Service) LookupRecipient(ctx context.Context, a auth.Actor, batch int64, openid string) (*Recipient, error) {
	if err := s.read(ctx, a, auth.ActRead, target{batch: batch}); err != nil {
		return nil, err
	}
	if openid == "" {
		return nil, invalidf("lookup: the openid is required")
	}
	if _, err := s.Queue.Batch(ctx, batch); err != nil {
		return nil, err
	}
	var r Recipient
	err := s.DB.GetContext(ctx, &r, `SELECT batch_id, openid, out_request_no, status, coalesce(outcome, '') AS outcome,
			in_doubt, coalesce(coupon_id, coupon_code, '') AS coupon_id, coupon_value, coalesce(wx_code, '') AS wx_code,
			coalesce(wx_message, '') AS wx_message, attempts, last_attempt_at, issued_at, coalesce(note, '') AS note, source_line
		FROM recipients WHERE batch_id = $1 AND openid = $2`, batch, openid)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("openid %s in batch %d: %w", openid, batch, queue.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("lookup recipient: %w", err)
	}
	return &r, nil
}

// BatchExtra is what the batch list shows beside a batch's counts.
type BatchExtra struct {
	// Uploader is who imported the batch, from the audit log's import row
	// ("" for a batch imported before the audit log existed).
	Uploader string
}

// BatchExtras returns the extras of the batches ids.
func (s *Service) BatchExtras(ctx context.Context, a auth.Actor, ids []int64) (map[int64]BatchExtra, error) {
	if err := s.read(ctx, a, auth.ActRead, target{}); err != nil {
		return nil, err
	}
	out := map[int64]BatchExtra{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT b.id, coalesce(u.actor, '')
		FROM unnest($2::bigint[]) AS b(id)
		LEFT JOIN LATERAL (SELECT actor FROM audit_log WHERE action = $1 AND outcome = 'ok' AND batch_id = b.id
			ORDER BY at, id LIMIT 1) u ON true`, string(auth.ActImport), pq.Array(ids))
	if err != nil {
		return nil, fmt.Errorf("batch extras: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var e BatchExtra
		if err := rows.Scan(&id, &e.Uploader); err != nil {
			return nil, fmt.Errorf("batch extras: %w", err)
		}
		out[id] = e
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("batch extras: %w", err)
	}
	return out, nil
}
