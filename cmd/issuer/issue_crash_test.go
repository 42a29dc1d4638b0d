package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/internal/simtest"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

// issuer issue, SIGKILLed at random moments and restarted, issues every
// recipient exactly once: nothing lost, nothing duplicated.
func TestIssueSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the binary repeatedly")
	}
	b := setup(t)
	sim := simtest.Start(t, wxsim.Options{
		Stocks: []wxsim.StockSpec{{ID: "9856000", Kind: wxsim.KindFavor, Budget: 100000}},
		Faults: wxsim.Faults{After500: 0.02, ResetAfter: 0.02, Latency: wxsim.Duration(2 * time.Millisecond)},
		Limit:  400,
	})
	for k, v := range sim.Env() {
		b.env[k] = v
	}
	b.env["ISSUER_WXPAY_TIMEOUT"] = "1s"
	b.env["ISSUER_ISSUE_LEASE"] = "5s"
	b.env["ISSUER_ISSUE_CONCURRENCY"] = "16"
	b.env["ISSUER_ISSUE_RATE_INITIAL"] = "200"

	var list strings.Builder
	list.WriteString("openid\n")
	for _, id := range openidsN(3000) {
		list.WriteString(id + "\n")
	}
	r := b.issuer(t, list.String(), "import", "--stock", "9856000", "-")
	require.Equal(t, 0, r.code, r.stderr)

	bin := issuerBinary(t)
	env := os.Environ()
	for k, v := range b.env {
		env = append(env, k+"="+v)
	}
	env = append(env, "ISSUER_CONFIG=")
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for kill := range 5 {
		cmd := exec.Command(bin, "issue")
		cmd.Env = env
		require.NoError(t, cmd.Start())
		time.Sleep(time.Duration(300+rnd.IntN(1200)) * time.Millisecond)
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL), "kill %d", kill)
		_ = cmd.Wait()
	}
	issued := len(sim.Ledger("9856000"))
	require.Less(t, issued, 3000, "the kills interrupted the work")

	// A clean pass waits for the dead leases to expire and finishes.
	cmd := exec.Command(bin, "issue")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))

	rows := sim.CheckExactlyOnce(t, b.schema.DB, "9856000")
	require.Len(t, rows, 3000)
	for _, r := range rows {
		require.Equal(t, "issued", r.Status, r.OutRequestNo)
	}
	require.Len(t, sim.Ledger("9856000"), 3000)
}

func openidsN(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("oCrash%05d", i)
	}
	return out
}
