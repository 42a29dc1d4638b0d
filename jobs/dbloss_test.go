package jobs_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	issuer "github.com/issuer-dev/issuer"
	"github.com/issuer-dev/issuer/intake"
	"github.com/issuer-dev/issuer/internal/dbtest"
	"github.com/issuer-dev/issuer/internal/simtest"
	"github.com/issuer-dev/issuer/jobs"
	"github.com/issuer-dev/issuer/queue"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

// The database restarts in the middle of a pass: the job keeps its
// in-flight answers, retries until the server is back, and in the end
// every recipient is issued exactly once.
func TestIssueSurvivesDatabaseRestart(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a private PostgreSQL")
	}
	cluster := dbtest.NewCluster(t)
	db, err := sqlx.Open("postgres", cluster.URL)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = issuer.Migrate(context.Background(), db)
	require.NoError(t, err)

	sim := simtest.Start(t, wxsim.Options{Stocks: []wxsim.StockSpec{{ID: "S1", Kind: wxsim.KindFavor, Budget: 100000}},
		Faults: wxsim.Faults{Latency: wxsim.Duration(3 * time.Millisecond)}})
	_, err = intake.Import(context.Background(), db, strings.NewReader("openid\n"+strings.Join(openids("o", 3000), "\n")), intake.Options{
		StockID: "S1", Kind: "favor", MchID: sim.Keys.MchID, AppID: sim.Keys.AppID, Source: "t.csv"})
	require.NoError(t, err)

	b := &testBundle{db: db, store: queue.NewStore(db), sim: sim, client: sim.Client(t, 16), alerts: make(chan jobs.Alert, 100)}
	j := b.job(16)
	j.ShutdownTimeout = time.Minute
	var once sync.Once
	restarted := make(chan error, 1)
	j.Progress = func(p jobs.Progress) {
		if p.Issued > 300 {
			once.Do(func() { go func() { restarted <- cluster.Restart(2 * time.Second) }() })
		}
	}
	_, runErr := j.Run(context.Background(), jobs.IssueOptions{})
	require.NoError(t, <-restarted)
	t.Logf("pass during restart ended with: %v", runErr)

	// Whatever the pass managed, later passes finish the work.
	j.Progress = nil
	b.runUntilDone(t, j, 0)
	rows := sim.CheckExactlyOnce(t, db, "S1")
	require.Len(t, rows, 3000)
	require.Len(t, sim.Ledger("S1"), 3000)
}
