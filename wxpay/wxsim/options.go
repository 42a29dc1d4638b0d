package wxsim

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Kind is the kind of coupon a stock issues.
type Kind string

const (
	KindFavor   Kind = "favor"   // 代金券, sent by POST /v3/marketing/favor/users/{openid}/coupons
	KindProduct Kind = "product" // 商品券, sent by POST /v3/marketing/busifavor/product-coupons/send
)

// Status is a stock's state. On the wire (stock query and list) the
// simulator reports them with WeChat Pay's enum: unactivated, running,
// paused, and "stoped" (sic) for StatusExpired.
type Status string

const (
	StatusUnactivated Status = "unactivated"
	StatusRunning     Status = "running"
	StatusPaused      Status = "paused"
	StatusExpired     Status = "expired"
)

func (s Status) valid() bool {
	switch s {
	case StatusUnactivated, StatusRunning, StatusPaused, StatusExpired:
		return true
	}
	return false
}

// wire is the status as WeChat Pay spells it in stock answers.
func (s Status) wire() string {
	if s == StatusExpired {
		return "stoped"
	}
	return string(s)
}

// StockSpec describes a stock. Budget counts coupons (0 means empty: every
// send answers budget exhausted); PerUser 0 means no per-user limit.
type StockSpec struct {
	ID            string `json:"stock_id"`
	Kind          Kind   `json:"kind,omitempty"`           // default favor
	Name          string `json:"stock_name,omitempty"`     // default "模拟批次<ID>"
	Budget        int    `json:"budget"`                   // max coupons
	PerUser       int    `json:"per_user_limit,omitempty"` // max coupons per openid
	Status        Status `json:"status,omitempty"`         // default running
	CreatorMchID  string `json:"creator_mchid,omitempty"`  // default the keys' merchant
	CouponValue   int64  `json:"coupon_value,omitempty"`   // fen; default 100
	CouponMinimum int64  `json:"coupon_minimum,omitempty"` // fen; default CouponValue+1
	// Merchants are the merchant ids where the coupons can be used
	// (§3.2.9); default the creator. Items are the goods ids they apply to
	// (§3.2.10); default none.
	Merchants []string `json:"available_merchants,omitempty"`
	Items     []string `json:"available_items,omitempty"`
}

// ParseStockSpec parses the CLI form ID:BUDGET:PER_USER.
func ParseStockSpec(s string, kind Kind) (StockSpec, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 || parts[0] == "" {
		return StockSpec{}, fmt.Errorf("stock %q: want ID:BUDGET:PER_USER", s)
	}
	budget, err := strconv.Atoi(parts[1])
	if err != nil || budget < 0 {
		return StockSpec{}, fmt.Errorf("stock %q: budget must be a count ≥ 0", s)
	}
	perUser, err := strconv.Atoi(parts[2])
	if err != nil || perUser < 0 {
		return StockSpec{}, fmt.Errorf("stock %q: per-user limit must be a count ≥ 0 (0 = none)", s)
	}
	return StockSpec{ID: parts[0], Kind: kind, Budget: budget, PerUser: perUser}, nil
}

// Faults are the injected failures, each drawn independently per coupon send
// (both kinds; other endpoints are never faulted). Probabilities are in
// [0, 1].
type Faults struct {
	Before500  float64  `json:"before_500"`  // 500 SYSTEM_ERROR, nothing issued
	After500   float64  `json:"after_500"`   // coupon recorded, 500 SYSTEM_ERROR answered
	HangAfter  float64  `json:"hang_after"`  // coupon recorded, answer held until the client gives up or HangMax
	ResetAfter float64  `json:"reset_after"` // coupon recorded, TCP connection reset (SO_LINGER 0)
	ForgedSig  float64  `json:"forged_sig"`  // answer carries a signature that does not verify
	Probe      float64  `json:"probe"`       // answer carries a WECHATPAY/SIGNTEST/ probe signature
	Latency    Duration `json:"latency"`     // added before handling
	Jitter     Duration `json:"jitter"`      // uniform extra latency in [0, Jitter)
	HangMax    Duration `json:"hang_max"`    // default 60s; after it the real answer is sent, late
}

// Validate checks probabilities are in [0, 1] and durations not negative.
func (f Faults) Validate() error {
	for name, p := range map[string]float64{
		"before_500": f.Before500, "after_500": f.After500, "hang_after": f.HangAfter,
		"reset_after": f.ResetAfter, "forged_sig": f.ForgedSig, "probe": f.Probe,
	} {
		if p < 0 || p > 1 {
			return fmt.Errorf("fault %s: probability %v outside [0, 1]", name, p)
		}
	}
	if f.Latency < 0 || f.Jitter < 0 || f.HangMax < 0 {
		return errors.New("faults: negative duration")
	}
	return nil
}

// Duration is a time.Duration that reads and writes JSON as "1.5s" (and
// also reads a number of nanoseconds).
type Duration time.Duration

// MarshalJSON writes d as a quoted Go duration.
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(strconv.Quote(time.Duration(d).String())), nil
}

// UnmarshalJSON reads a quoted Go duration or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if s, err := strconv.Unquote(string(b)); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("duration %s: want \"1.5s\" or nanoseconds", b)
	}
	*d = Duration(n)
	return nil
}

// Merchant is one more merchant the simulator accepts requests from, beside
// the one in Options.Keys.
type Merchant struct {
	MchID     string
	AppID     string // when set, sends must carry this appid
	SerialNo  string // merchant API certificate serial
	PublicKey *rsa.PublicKey
}

// Options configure a Server. Keys is required; everything else has a
// working default.
type Options struct {
	Keys      *Keys
	Merchants []Merchant // more merchants besides Keys'

	Stocks []StockSpec
	// Limit is the hidden per-merchant token bucket on coupon sends, in
	// requests per second (burst: one second's worth unless Shape says
	// otherwise); 0 disables it.
	Limit float64
	// Shape is how the limit behaves: bucket depth or fixed windows, a long
	// latency tail, changes over time and outages. See Shape.
	Shape Shape
	// LedgerPath, when set, persists the ledger (append + fsync before the
	// answer) and reloads it on start.
	LedgerPath string
	// CallbackURL receives COUPON.USE notifications for redeemed coupons.
	CallbackURL string
	// CallbackAttempts bounds deliveries of one notification (default 4);
	// CallbackBackoff is the pause between them (default 1s).
	CallbackAttempts int
	CallbackBackoff  time.Duration
	Faults           Faults
	// Seed makes fault draws, redemption picks and generated order data
	// reproducible; 0 picks a random seed.
	Seed uint64
	// BaseURL prefixes the download url in flow-file answers; default
	// "http://" + the request's Host.
	BaseURL string
	// FlowURLTTL is how long a download url stays valid (default 30s).
	FlowURLTTL time.Duration
	// EarlyFlows serves use-flow and refund-flow files as soon as something
	// was redeemed (or refunded), instead of from 10:00 Beijing time the day
	// after the stock ends as WeChat Pay does: for tests about what comes
	// after the download.
	EarlyFlows bool
	// ClockOffset moves the simulator's calendar: stock ends, create, issue
	// and redemption times, and flow files' availability, so that a test
	// can step past "the day after the stock ends". Signature timestamps
	// stay on Now, or no client would accept an answer. SetClockOffset
	// changes it while running.
	ClockOffset time.Duration
	Now         func() time.Time // default time.Now
	Logger      *slog.Logger     // default discards

	// SignMode is what answers and callbacks are signed with; default
	// SignCertificate when Keys has a platform certificate, else
	// SignPublicKey. SetSignMode switches it while running.
	SignMode SignMode
}
