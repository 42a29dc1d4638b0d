package campaign

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Harness is what every seed of a test binary's run shares: the issuer
// binary, built once.
type Harness struct {
	// Bin is cmd/issuer built for this run.
	Bin string
	// Tokens says whether this issuer reads ISSUER_TOKEN (an operator
	// acting with --as needs their API token there); an issuer that does
	// not would refuse the unknown variable.
	Tokens bool
}

// BuildHarness builds cmd/issuer into dir and probes what its CLI takes.
func BuildHarness(ctx context.Context, dir string) (*Harness, error) {
	bin := filepath.Join(dir, "issuer")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/issuer-dev/issuer/cmd/issuer")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build issuer: %w: %s", err, out)
	}
	h := &Harness{Bin: bin}
	// An issuer that knows ISSUER_TOKEN accepts it in `config check`; one
	// that does not calls it an unknown environment variable.
	probe := exec.CommandContext(ctx, bin, "config", "check", "--offline")
	probe.Env = append(cleanEnv(), "ISSUER_CONFIG=", "ISSUER_DATABASE_URL=postgres://probe@127.0.0.1:1/x", "ISSUER_TOKEN=probe")
	out, _ := probe.CombinedOutput()
	h.Tokens = !bytes.Contains(out, []byte("ISSUER_TOKEN: unknown environment variable"))
	return h, nil
}

// cleanEnv is the test process's environment without any ISSUER_
// variable: each process gets exactly the configuration the run gives it.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ISSUER_") {
			env = append(env, kv)
		}
	}
	return env
}

// cliResult is one CLI command's outcome.
type cliResult struct {
	Code           int
	Stdout, Stderr string
}

// String is the exit status and the gist of the output: the first line
// of stdout, or the error (the last line of stderr; the lines before it
// are the log).
func (c cliResult) String() string {
	if c.Code == 0 {
		out := strings.TrimSpace(c.Stdout)
		if strings.HasPrefix(out, "{") {
			var b bytes.Buffer
			if json.Compact(&b, []byte(out)) == nil {
				out = b.String()
			}
		}
		first, _, more := strings.Cut(out, "\n")
		if more {
			first += " …"
		}
		return "exit 0: " + first
	}
	lines := strings.Split(strings.TrimSpace(c.Stderr), "\n")
	return fmt.Sprintf("exit %d: %s", c.Code, lines[len(lines)-1])
}

// instance is one `issuer run` process, started again after a kill.
type instance struct {
	n    int
	bin  string
	env  []string
	logf *os.File // stderr of every incarnation

	mu     sync.Mutex
	cmd    *exec.Cmd
	addr   string
	done   chan struct{} // closed when the process exits
	exit   error
	killed bool // by the campaign: an exit that is not a finding
}

func newInstance(n int, bin string, env []string, dir string) (*instance, error) {
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("i%d.log", n)))
	if err != nil {
		return nil, err
	}
	return &instance{n: n, bin: bin, env: env, logf: f}, nil
}

// start runs the process and waits until it serves HTTP. While PostgreSQL
// is down an instance exits at start; start tries again until deadline.
func (in *instance) start(ctx context.Context, deadline time.Time) error {
	for {
		err := in.startOnce(ctx)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("instance i%d: %w", in.n, err)
		}
		select {
		case <-time.After(300 * time.Millisecond):
		case <-ctx.Done():
		}
	}
}

func (in *instance) startOnce(ctx context.Context) error {
	cmd := exec.Command(in.bin, "run")
	cmd.Env = in.env
	dieWithUs(cmd)
	cmd.Stderr = in.logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	fmt.Fprintf(in.logf, "=== campaign: start at %s\n", time.Now().Format(time.RFC3339Nano))
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening on http://"); ok {
				select {
				case addr <- a:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	in.mu.Lock()
	in.cmd, in.done, in.exit, in.killed, in.addr = cmd, done, nil, false, ""
	in.mu.Unlock()
	go func() {
		err := cmd.Wait()
		in.mu.Lock()
		in.exit = err
		in.mu.Unlock()
		close(done)
	}()
	select {
	case a := <-addr:
		in.mu.Lock()
		in.addr = a
		in.mu.Unlock()
		return nil
	case <-done:
		return fmt.Errorf("exited at start: %v (see %s)", in.exitErr(), in.logf.Name())
	case <-time.After(30 * time.Second):
		in.signal(syscall.SIGKILL, true)
		<-done
		return fmt.Errorf("did not start within 30s (see %s)", in.logf.Name())
	case <-ctx.Done():
		in.signal(syscall.SIGKILL, true)
		<-done
		return ctx.Err()
	}
}

func (in *instance) exitErr() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.exit
}

// running reports whether the current incarnation is alive, and whether
// it ended without the campaign ending it.
func (in *instance) running() (alive, diedAlone bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.done == nil {
		return false, false
	}
	select {
	case <-in.done:
		return false, !in.killed
	default:
		return true, false
	}
}

func (in *instance) signal(sig syscall.Signal, byUs bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.cmd == nil || in.cmd.Process == nil {
		return
	}
	if byUs {
		in.killed = true
	}
	_ = in.cmd.Process.Signal(sig)
}

// kill ends the process at once (SIGKILL) and waits for it.
func (in *instance) kill() {
	in.signal(syscall.SIGKILL, true)
	in.wait(time.Minute)
}

// stop asks the process to finish (SIGTERM) and waits; after timeout it is
// killed. It returns the exit error of a process that did not stop cleanly.
func (in *instance) stop(timeout time.Duration) error {
	in.signal(syscall.SIGTERM, true)
	if in.wait(timeout) {
		return in.exitErr()
	}
	in.signal(syscall.SIGKILL, true)
	in.wait(time.Minute)
	return errors.New("did not stop within " + timeout.String())
}

// wait waits up to timeout for the current incarnation to end.
func (in *instance) wait(timeout time.Duration) bool {
	in.mu.Lock()
	done := in.done
	in.mu.Unlock()
	if done == nil {
		return true
	}
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}

func (in *instance) httpAddr() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.addr
}
