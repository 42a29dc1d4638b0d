// Command bench measures issuer end to end and prints the figures `make
// bench` reports. Each figure comes from real processes against the real
// PostgreSQL named by ISSUER_DATABASE_URL (and, for issuing, the simulator),
// with CPU and peak RSS read from the child's rusage.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bench import|crypto|reconcile|limiter|models|issue|console [flags]")
		os.Exit(2)
	}
	ctx := context.Background()
	var err error
	switch os.Args[1] {
	case "issue":
		err = benchIssue(ctx, os.Args[2:])
	case "limiter":
		err = benchLimiter(ctx, os.Args[2:])
	case "models":
		err = benchLimiterModels(ctx, os.Args[2:])
	case "import":
		err = benchImport(ctx, os.Args[2:])
	case "import-costs":
		err = benchImportCosts(ctx, os.Args[2:])
	case "console":
		err = benchConsole(ctx, os.Args[2:])
	case "crypto":
		err = benchCrypto(ctx, os.Args[2:])
	case "reconcile":
		err = benchReconcile(ctx, os.Args[2:])
	case "cpu-bare": // child of the CPU benchmark
		err = cpuBare(ctx, os.Args[2:])
	case "reconcile-gen", "reconcile-load": // children of the reconcile benchmark
		err = reconcileChild(ctx, os.Args[1], os.Args[2:])
	default:
		err = fmt.Errorf("unknown benchmark %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// measurement is one child process's cost.
type measurement struct {
	wall      time.Duration
	user, sys time.Duration
	maxRSS    int64 // bytes
	output    string
}

func (m measurement) cpu() time.Duration { return m.user + m.sys }

// measure runs name with args and env additions, failing on a non-zero exit.
//
// Peak RSS is the child's own high-water mark (VmHWM), sampled from /proc
// while it runs: rusage's ru_maxrss would include this process's memory,
// because Go starts children sharing its address space until exec.
func measure(ctx context.Context, env []string, name string, args ...string) (measurement, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out strings.Builder
	cmd.Stdout = &out
	cmd.Stderr = &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return measurement{}, fmt.Errorf("%s: %w", name, err)
	}
	peak := make(chan int64, 1)
	stop := make(chan struct{})
	go func() {
		var hwm int64
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			if v := procStatusBytes(cmd.Process.Pid, "VmHWM"); v > hwm {
				hwm = v
			}
			select {
			case <-stop:
				peak <- hwm
				return
			case <-t.C:
			}
		}
	}()
	err := cmd.Wait()
	close(stop)
	m := measurement{wall: time.Since(start), output: out.String(), maxRSS: <-peak}
	if err != nil {
		return m, fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out.String())
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.user = time.Duration(ru.Utime.Nano())
		m.sys = time.Duration(ru.Stime.Nano())
	}
	return m, nil
}

// procStatusBytes reads a kB field of /proc/PID/status (VmHWM: the peak
// resident set, VmRSS: the current one) in bytes; 0 if the process is gone.
func procStatusBytes(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func flagSet(name string) *flag.FlagSet { return flag.NewFlagSet(name, flag.ExitOnError) }
