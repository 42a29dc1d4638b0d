package dbtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Cluster is a private PostgreSQL server for tests that must disturb it
// (restart it, cut connections) without touching other tests' server.
type Cluster struct {
	URL    string
	bin    string
	data   string
	port   int
	asUser []string
}

// NewCluster initialises and starts a throwaway cluster, removed when the
// test ends. It skips the test when no server binaries are installed.
func NewCluster(tb testing.TB) *Cluster {
	tb.Helper()
	bin := os.Getenv("ISSUER_PGBIN")
	if bin == "" {
		dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
		sort.Strings(dirs)
		if len(dirs) == 0 {
			tb.Skip("no PostgreSQL server binaries to start a private cluster")
		}
		bin = dirs[len(dirs)-1]
	}
	dir, err := os.MkdirTemp("", "issuer-cluster-")
	require.NoError(tb, err)
	c := &Cluster{bin: bin, data: filepath.Join(dir, "data")}
	if os.Geteuid() == 0 { // initdb refuses root
		u, err := user.Lookup("postgres")
		require.NoError(tb, err, "running as root needs a postgres user")
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		require.NoError(tb, os.Chown(dir, uid, gid))
		c.asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	tb.Cleanup(func() {
		_ = c.pgctl("stop", "-m", "immediate")
		os.RemoveAll(dir)
	})
	out, err := c.command(filepath.Join(bin, "initdb"), "-D", c.data, "-U", "postgres", "--auth=trust", "--no-locale", "-E", "UTF8").CombinedOutput()
	require.NoError(tb, err, string(out))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	c.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	require.NoError(tb, c.Start())
	c.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
	return c
}

func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	argv := append(append([]string{}, c.asUser...), name)
	argv = append(argv, args...)
	return exec.Command(argv[0], argv[1:]...)
}

func (c *Cluster) pgctl(args ...string) error {
	args = append([]string{"-D", c.data, "-w", "-t", "60"}, args...)
	out, err := c.command(filepath.Join(c.bin, "pg_ctl"), args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl %v: %w: %s", args, err, out)
	}
	return nil
}

// Start starts the server.
func (c *Cluster) Start() error {
	return c.pgctl("-l", filepath.Join(filepath.Dir(c.data), "server.log"), "-o",
		fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", c.port, filepath.Dir(c.data)), "start")
}

// Stop stops the server at once, dropping every connection.
func (c *Cluster) Stop() error { return c.pgctl("stop", "-m", "immediate") }

// Restart stops the server, keeps it down for downtime, and starts it.
func (c *Cluster) Restart(downtime time.Duration) error {
	if err := c.Stop(); err != nil {
		return err
	}
	time.Sleep(downtime)
	return c.Start()
}
