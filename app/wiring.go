package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/issuer-dev/issuer"
	"github.com/issuer-dev/issuer/alert"
	"github.com/issuer-dev/issuer/audit"
	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/internal/config"
	"github.com/issuer-dev/issuer/jobs"
	"github.com/issuer-dev/issuer/queue"
	"github.com/issuer-dev/issuer/ratelimit"
	"github.com/issuer-dev/issuer/wxpay"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// OpenDB connects and checks that the schema is current, so that a
// forgotten `issuer migrate` is reported as such rather than as a missing
// table halfway through a command.
func OpenDB(ctx context.Context, cfg *config.Config) (*sqlx.DB, error) {
	db, err := Connect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	var version int
	err = db.GetContext(ctx, &version, `SELECT coalesce(max(version), 0) FROM schema_migrations`)
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && pqErr.Code == "42P01" { // undefined_table
		version, err = 0, nil
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("database %s: %w", config.RedactURL(cfg.DatabaseURL), err)
	}
	if want := issuer.SchemaVersion(); version != want {
		db.Close()
		if version < want {
			return nil, fmt.Errorf("database schema is at version %d, this issuer needs %d: run `issuer migrate`", version, want)
		}
		return nil, fmt.Errorf("database schema is at version %d, newer than this issuer's %d: upgrade issuer", version, want)
	}
	return db, nil
}

// Connect opens a pool and pings it, naming the (redacted) URL on failure.
func Connect(ctx context.Context, cfg *config.Config) (*sqlx.DB, error) {
	db, err := sqlx.Open("postgres", cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", config.RedactURL(cfg.DatabaseURL), err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("database %s unreachable: %w", config.RedactURL(cfg.DatabaseURL), err)
	}
	return db, nil
}

// WXOptions loads the merchant's key files into client options; maxConns
// sizes the connection pool (the issue job's concurrency), and version
// goes into the User-Agent.
func WXOptions(cfg *config.Config, maxConns int, logger *slog.Logger, version string) (wxpay.Options, error) {
	required := []string{"wxpay.mchid", "wxpay.appid", "wxpay.cert_serial_no", "wxpay.private_key_file"}
	mode := cfg.WXPay.VerifyMode()
	if mode != wxpay.VerifyCertificate {
		required = append(required, "wxpay.public_key_id", "wxpay.public_key_file")
	}
	if mode != wxpay.VerifyPublicKey {
		required = append(required, "wxpay.apiv3_key_file")
	}
	if err := cfg.Require(required...); err != nil {
		return wxpay.Options{}, err
	}
	w := cfg.WXPay
	files := wxpay.KeyFiles{
		MchID: w.MchID, AppID: w.AppID, CertSerialNo: w.CertSerialNo, PrivateKeyFile: w.PrivateKeyFile,
		PublicKeyID: w.PublicKeyID, PublicKeyFile: w.PublicKeyFile,
		Verify: mode, PlatformCAFile: w.PlatformCAFile, InsecureSkipPlatformCA: w.InsecureSkipPlatformCA,
		PlatformCertDir: w.PlatformCertDir, PlatformCertRefresh: w.PlatformCertRefresh, Logger: logger,
	}
	if mode != wxpay.VerifyPublicKey {
		// Platform certificates arrive encrypted with the APIv3 key.
		key, err := config.ReadSecretFile(w.APIv3KeyFile)
		if err != nil {
			return wxpay.Options{}, fmt.Errorf("config: wxpay.apiv3_key_file: %w", err)
		}
		files.APIv3Key = key
	}
	opts, err := wxpay.LoadOptions(files)
	if err != nil {
		return wxpay.Options{}, fmt.Errorf("wxpay keys: %w", err)
	}
	opts.BaseURL = w.BaseURL
	opts.BackupBaseURL = w.BackupBaseURL
	opts.Timeout = w.Timeout
	opts.MaxConns = maxConns
	opts.UserAgent = "issuer/" + version
	opts.Logger = logger
	return opts, nil
}

// NewWXClient builds a WeChat Pay client from options.
func NewWXClient(opts wxpay.Options) (*wxpay.Client, error) {
	c, err := wxpay.New(opts)
	if err != nil {
		return nil, fmt.Errorf("wxpay client: %w", err)
	}
	return c, nil
}

// Pool sizes, named once.
const (
	DaemonDBConns = 16 // `issuer run`: claims, records, heartbeats, the HTTP API and console
	IssueDBConns  = 8  // `issuer issue`: claims and records
	OpsWXConns    = 2  // an operation's WeChat Pay calls (settling, stocks, reconcile)
)

// NewLimiter builds the configured rate limiting strategy; the adaptive one
// starts near the merchant's learned limit.
func NewLimiter(ctx context.Context, cfg *config.Config, keeper *ratelimit.Keeper) ratelimit.Strategy {
	r := cfg.Issue.Rate
	switch r.Strategy {
	case "fixed":
		return ratelimit.NewFixed(r.Max, nil)
	case "aws":
		return ratelimit.NewAWSAdaptive(ratelimit.AWSConfig{Max: r.Max})
	default:
		return ratelimit.New(keeper.Seed(ctx, ratelimit.Config{Initial: r.Initial, Max: r.Max}))
	}
}

// NewKeeper keeps the merchant's learned limit in the database.
func NewKeeper(cfg *config.Config, db *sqlx.DB, logger *slog.Logger) *ratelimit.Keeper {
	return &ratelimit.Keeper{Store: &ratelimit.EstimateStore{DB: db}, MchID: cfg.WXPay.MchID, Logger: logger}
}

// NewIssueJob wires the issue job from config; owner names this process
// in leases.
func NewIssueJob(cfg *config.Config, store *queue.Store, sender jobs.Sender, limiter jobs.Limiter, owner string, logger *slog.Logger) *jobs.Issue {
	j := &jobs.Issue{
		Store: store, Sender: sender, Limiter: limiter,
		Concurrency: cfg.Issue.Concurrency, Lease: cfg.Issue.Lease, Owner: owner,
		Policy:          jobs.Policy{MaxAttempts: cfg.Issue.MaxAttempts, Location: cfg.Location},
		ShutdownTimeout: cfg.Issue.ShutdownTimeout,
		Logger:          logger,
		Audit:           audit.NewStore(store.DB(), nil),
	}
	// The WeChat Pay client also answers for stocks: a pass checks each
	// 代金券 stock before it claims for it.
	if sc, ok := sender.(jobs.StockChecker); ok {
		j.Stocks = sc
	}
	return j
}

// LeaseOwner names this process in leases: host, pid and a random suffix.
func LeaseOwner() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// NewAuthStore builds the accounts store with the console's settings.
func NewAuthStore(cfg *config.Config, db *sqlx.DB) (*auth.Store, *audit.Store, error) {
	log := audit.NewStore(db, nil)
	store, err := auth.NewStore(db, log, auth.Options{
		SessionIdle: cfg.Console.SessionIdle, SessionMax: cfg.Console.SessionMax,
		AccountLimit: cfg.Console.LockoutAfter, Lockout: cfg.Console.Lockout,
		MaxHashes: cfg.Console.MaxConcurrentLogins, MaxHashesPerAddress: cfg.Console.MaxConcurrentLoginsPerAddress,
	})
	if err != nil {
		return nil, nil, err
	}
	return store, log, nil
}

// AlertConfig turns alerts.* into the notifier's channels, reading robot
// URLs and signing secrets from their files.
func AlertConfig(cfg *config.Config) (alert.Config, error) {
	ac := alert.Config{WebhookURL: cfg.Alerts.WebhookURL, Location: cfg.Location}
	for i, c := range cfg.Alerts.Channels {
		key := fmt.Sprintf("alerts.channels[%d]", i)
		ch := alert.Channel{Name: c.Name, Type: c.Type, URL: c.URL, MinSeverity: c.MinSeverity, Mention: c.Mention, Format: c.Format}
		var err error
		if c.URLFile != "" {
			if ch.URL, err = config.ReadSecretFile(c.URLFile); err != nil {
				return ac, fmt.Errorf("config: %s.url_file: %w", key, err)
			}
		}
		if c.SecretFile != "" {
			if ch.Secret, err = config.ReadSecretFile(c.SecretFile); err != nil {
				return ac, fmt.Errorf("config: %s.secret_file: %w", key, err)
			}
		}
		ac.Channels = append(ac.Channels, ch)
	}
	if err := ac.Validate(); err != nil {
		return ac, fmt.Errorf("config: %w", err)
	}
	return ac, nil
}
