package ops

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jmoiron/sqlx"

	"github.com/issuer-dev/issuer/audit"
	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/internal/config"
	"github.com/issuer-dev/issuer/jobs"
	"github.com/issuer-dev/issuer/queue"
	"github.com/issuer-dev/issuer/wxpay"
)

// Auditor keeps the audit log (audit.Store). One that is a TxAuditor
// writes the row of a money act in the act's own transaction.
type Auditor interface {
	Record(ctx context.Context, e audit.Entry) error
}

// TxAuditor writes an audit row through a transaction (audit.Store).
type TxAuditor interface {
	RecordTx(ctx context.Context, ext sqlx.ExecerContext, e audit.Entry) error
}

// WXClient is the part of the WeChat Pay client (*wxpay.Client) the
// operations use.
type WXClient interface {
	AllUserCoupons(ctx context.Context, req wxpay.UserCouponsRequest) ([]wxpay.Coupon, error)
	CreateStock(ctx context.Context, req wxpay.CreateStockRequest) (*wxpay.CreateStockResult, error)
	StartStock(ctx context.Context, stockID, creatorMchID string) (*wxpay.StockAction, error)
	PauseStock(ctx context.Context, stockID, creatorMchID string) (*wxpay.StockAction, error)
	RestartStock(ctx context.Context, stockID, creatorMchID string) (*wxpay.StockAction, error)
	StopStock(ctx context.Context, stockID, creatorMchID string) (*wxpay.StockAction, error)
	QueryStock(ctx context.Context, stockID, creatorMchID string) (*wxpay.Stock, error)
	ListStocks(ctx context.Context, req wxpay.ListStocksRequest) (*wxpay.StockList, error)
	AllStockMerchants(ctx context.Context, stockID, creatorMchID string) (*wxpay.StockScope, error)
	AllStockItems(ctx context.Context, stockID, creatorMchID string) (*wxpay.StockScope, error)
	Callback(ctx context.Context, mchid string) (*wxpay.CallbackSetting, error)
	SetCallback(ctx context.Context, req wxpay.CallbackRequest) (*wxpay.CallbackSetting, error)
	jobs.FlowSource // reconciliation
	Close()
}

var _ WXClient = (*wxpay.Client)(nil)

// Service performs the operations on one database and one merchant.
type Service struct {
	DB     *sqlx.DB
	Queue  *queue.Store
	Config *config.Config
	// WX makes a WeChat Pay client when an operation needs one (settling,
	// stock actions); nil when the merchant keys are not configured.
	WX     func() (WXClient, error)
	Audit  Auditor // nil: acts are only logged
	Logger *slog.Logger
	// stocks keeps WeChat Pay's recent answers about stocks for the
	// dashboard (New makes it; nil: every view asks).
	stocks *stockAnswers
}

// New returns a Service on db.
func New(db *sqlx.DB, cfg *config.Config, wx func() (WXClient, error), audit Auditor, logger *slog.Logger) *Service {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Service{DB: db, Queue: queue.NewStore(db), Config: cfg, WX: wx, Audit: audit, Logger: logger, stocks: &stockAnswers{}}
}

// target names what an act is about, for the audit log.
type target struct {
	batch int64
	stock string
}

// authorize checks that a may perform act; a refusal is audited.
func (s *Service) authorize(ctx context.Context, a auth.Actor, act auth.Action, t target) error {
	if a.Can(act) {
		return nil
	}
	err := forbiddenf("%s may not %s (needs the %s role)", describe(a), act, auth.MinRole(act))
	if auth.Allowed(a.Role, act) && !a.Account() {
		err = forbiddenf("%s acts without a credential, which may import, pause and cancel but not %s", a.Name, act)
	}
	s.audit(ctx, a, act, t, err, "")
	return err
}

func describe(a auth.Actor) string {
	if a.Role == "" {
		return a.Name
	}
	return fmt.Sprintf("%s (%s)", a.Name, a.Role)
}

// read authorizes a read; reads are not audited.
func (s *Service) read(ctx context.Context, a auth.Actor, act auth.Action, t target) error {
	return s.authorize(ctx, a, act, t)
}
