package main

import (
	"bufio"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// An import SIGKILLed in the middle of its COPY leaves no batch and no rows.
func TestImportKilledMidCopy(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary and imports a large file")
	}
	b := setup(t)
	bin := issuerBinary(t)

	path := filepath.Join(b.dir, "big.csv")
	f, err := os.Create(path)
	require.NoError(t, err)
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "openid")
	for i := range 3_000_000 {
		fmt.Fprintf(w, "oKill%022d\n", i)
	}
	require.NoError(t, w.Flush())
	require.NoError(t, f.Close())

	u, err := url.Parse(b.schema.URL)
	require.NoError(t, err)
	q := u.Query()
	app := "kill_" + b.schema.Name
	q.Set("application_name", app)
	u.RawQuery = q.Encode()

	cmd := exec.Command(bin, "import", "--stock", "9856000", path)
	cmd.Env = append(os.Environ(), "ISSUER_DATABASE_URL="+u.String(), "ISSUER_WXPAY_MCHID=1900000109", "ISSUER_WXPAY_APPID=wx1", "ISSUER_CONFIG=")
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	// Wait until the server reports the COPY under way, then kill.
	deadline := time.Now().Add(60 * time.Second)
	for {
		var copied int64
		err := b.schema.DB.Get(&copied, `SELECT coalesce(max(p.tuples_processed), 0)
			FROM pg_stat_progress_copy p JOIN pg_stat_activity a USING (pid) WHERE a.application_name = $1`, app)
		require.NoError(t, err)
		if copied > 10_000 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("import finished before it could be killed: %v", err)
		default:
		}
		require.True(t, time.Now().Before(deadline), "COPY never started")
		time.Sleep(5 * time.Millisecond)
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	<-done

	var batches, recipients int
	require.NoError(t, b.schema.DB.Get(&batches, `SELECT count(*) FROM batches`))
	require.NoError(t, b.schema.DB.Get(&recipients, `SELECT count(*) FROM recipients`))
	require.Zero(t, batches)
	require.Zero(t, recipients)
}
