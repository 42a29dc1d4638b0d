package ops

// The domain's types and values as the front ends see them. ops answers with
// them and takes them in its requests, so the CLI, the API and the console
// import ops for an operation and never the package behind it.

import (
	"time"

	"github.com/issuer-dev/issuer/alert"
	"github.com/issuer-dev/issuer/intake"
	"github.com/issuer-dev/issuer/jobs"
	"github.com/issuer-dev/issuer/queue"
	"github.com/issuer-dev/issuer/ratelimit"
	"github.com/issuer-dev/issuer/wxpay"
)

type (
	Stock              = wxpay.Stock
	CallbackSetting    = wxpay.CallbackSetting
	Coupon             = wxpay.Coupon
	StockScope         = wxpay.StockScope
	StockActionResult  = wxpay.StockAction
	SettleSummary      = jobs.SettleSummary
	ReconcileSummary   = jobs.ReconcileSummary
	IssueProgress      = jobs.Progress
	PluginCoupon       = wxpay.PluginCoupon
	ReviewRow          = queue.ReviewRow
	CreateStockResult  = wxpay.CreateStockResult
	APIError           = wxpay.APIError
	LimiterStats       = ratelimit.Stats
	Part               = queue.Part
	OpenIDRow          = queue.OpenIDRow
	IssueSummary       = jobs.Summary
	IssueOptions       = jobs.IssueOptions
	ReconcileOptions   = jobs.ReconcileOptions
	FlowFileError      = jobs.FlowFileError
	DuplicateFileError = intake.DuplicateFileError
	FatalError         = intake.FatalError
	KeptAlert          = alert.Kept
)

const (
	StatusIssued     = queue.StatusIssued
	BatchHalted      = queue.BatchHalted
	HasReview        = queue.HasReview
	HasInDoubt       = queue.HasInDoubt
	StockUnactivated = wxpay.StockUnactivated
	StockRunning     = wxpay.StockRunning
	StockPaused      = wxpay.StockPaused
	MaxPluginCoupons = wxpay.MaxPluginCoupons
	StatusReview     = queue.StatusReview
	BatchRunning     = queue.BatchRunning
	BatchPending     = queue.BatchPending
	BatchCompleted   = queue.BatchCompleted
	BatchCancelled   = queue.BatchCancelled
	FlowUnchanged    = jobs.FlowUnchanged
	FlowSkipped      = jobs.FlowSkipped
	FlowNotYet       = jobs.FlowNotYet
	FlowNotDue       = jobs.FlowNotDue
	FlowLoaded       = jobs.FlowLoaded
)

var (
	ErrTransport        = wxpay.ErrTransport
	ErrChecksum         = wxpay.ErrChecksum
	ErrNotFound         = queue.ErrNotFound
	ErrState            = queue.ErrState
	ErrNoFaceValue      = queue.ErrNoFaceValue
	ErrCapBelowReserved = queue.ErrCapBelowReserved
	ErrNoChannels       = alert.ErrNoChannels
)

// RecipientStatuses are a recipient row's statuses in their order.
func RecipientStatuses() []string { return append([]string(nil), queue.RecipientStatuses...) }

// SortColumns are the batch list's sortable columns.
func SortColumns() []string { return queue.SortColumns() }

// Outcomes are the classified outcomes of a send, in their order.
func Outcomes() []wxpay.Outcome { return wxpay.Outcomes() }

// Beijing is WeChat Pay's time zone.
func Beijing() *time.Location { return wxpay.Beijing() }
