package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/issuer-dev/issuer/wxpay"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

// floorSampler measures the CPU one coupon cannot go below — signing its
// request (RSA-2048) and verifying the answer's signature — while a run
// goes on: a few of each every quarter second on one locked thread, so that
// the floor and the run see the same machine. On a shared virtual machine
// a signature's cost moves by ±40% from one minute to the next; a floor
// measured before or after a run is not comparable with it. The sampler
// takes about 2% of one core.
type floorSampler struct {
	stop chan struct{}
	done chan struct{}
	cpu  time.Duration
	n    int
	err  error
}

func sampleFloor(keys *wxsim.Keys) *floorSampler {
	f := &floorSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(f.done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		body := []byte(`{"stock_id":"9856000","out_request_no":"1900000109202611220000000001","appid":"wx233544546545989","stock_creator_mchid":"1900000109"}`)
		msg := []byte("POST\n/v3/marketing/favor/users/o1/coupons\n1700000000\nNONCE\n" + string(body) + "\n")
		sig, err := wxpay.SignSHA256RSA(keys.PlatformKey, msg)
		if err != nil {
			f.err = err
			return
		}
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			start := threadCPU()
			for range 4 {
				if _, err := wxpay.SignSHA256RSA(keys.MerchantKey, msg); err != nil {
					f.err = err
					return
				}
				if err := wxpay.VerifySHA256RSA(keys.PlatformPublic, msg, sig); err != nil {
					f.err = err
					return
				}
			}
			f.cpu += threadCPU() - start
			f.n += 4
			select {
			case <-f.stop:
				return
			case <-t.C:
			}
		}
	}()
	return f
}

// result stops the sampler and returns the mean floor.
func (f *floorSampler) result() (time.Duration, error) {
	close(f.stop)
	<-f.done
	if f.err != nil {
		return 0, f.err
	}
	return f.cpu / time.Duration(f.n), nil
}

// threadCPU is this thread's CPU time, to the nanosecond
// (CLOCK_THREAD_CPUTIME_ID; RUSAGE_THREAD counts in scheduler ticks).
func threadCPU() time.Duration {
	var ts syscall.Timespec
	_, _, _ = syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 3 /* CLOCK_THREAD_CPUTIME_ID */, uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano())
}

// simProcess runs `issuer sim` as a child, so that the simulator's CPU is
// its own and not counted in the issuer's.
func simProcess(ctx context.Context, bin, keysDir string) (baseURL string, stop func(), err error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.CommandContext(ctx, bin, "sim", "--keys", keysDir, "--addr", addr, "--stock", "9856000:100000000:0", "--seed", "1")
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr, stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("issuer sim did not start listening on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// benchCPU is P2: the issuer's own CPU (user + sys from its rusage) per
// issued coupon at fixed rates, beside the signing floor sampled during the
// run and beside a bare loop: a process that only signs, sends and
// verifies the same calls at the same rate (no queue, no database). The
// bare loop is what any Go program pays for paced calls on this machine;
// the gap to it is the issuer's own machinery.
func benchCPU(ctx context.Context, bin string, seconds int, rates []int, profileDir, wrap string) error {
	dir, err := os.MkdirTemp("", "issuer-bench-cpu-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	keysDir := filepath.Join(dir, "keys")
	keys, err := wxsim.GenerateKeys(keysDir)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	printCPUHeader()
	for _, rate := range rates {
		n := 10_000
		if rate > 0 {
			n = rate * seconds
		}
		baseURL, stop, err := simProcess(ctx, bin, keysDir)
		if err != nil {
			return err
		}
		dbURL, _, dropSchema, err := benchSchema(ctx, "cpu")
		if err != nil {
			stop()
			return err
		}
		env := []string{"ISSUER_DATABASE_URL=" + dbURL, "ISSUER_CONFIG=", "ISSUER_WXPAY_TIMEOUT=5s"}
		for k, v := range keys.IssuerEnv(keysDir, baseURL) {
			env = append(env, k+"="+v)
		}
		r := 100_000
		if rate > 0 {
			r = rate
		}
		rig := &issueRig{env: env, dir: dir}
		err = rig.importRows(ctx, bin, n)
		var m, bare measurement
		var floor, bareFloor time.Duration
		if err == nil {
			args := []string{"issue"}
			if profileDir != "" {
				args = append(args, "--cpuprofile", filepath.Join(profileDir, fmt.Sprintf("cpu-%d.pprof", rate)))
			}
			m, floor, err = sampled(keys, func() (measurement, error) {
				return rig.issue(ctx, wrapped(wrap, bin, args), "ISSUER_ISSUE_RATE_STRATEGY=fixed", "ISSUER_ISSUE_RATE_MAX="+strconv.Itoa(r),
					"ISSUER_ISSUE_RATE_INITIAL="+strconv.Itoa(r))
			})
		}
		if err == nil {
			bareRate := float64(rate)
			if rate == 0 {
				bareRate = float64(n) / m.wall.Seconds() // as fast as the issuer went
			}
			bare, bareFloor, err = sampled(keys, func() (measurement, error) {
				return measure(ctx, nil, self, "cpu-bare", keysDir, baseURL, strconv.FormatFloat(bareRate, 'f', 1, 64), strconv.Itoa(n))
			})
		}
		dropSchema()
		stop()
		if err != nil {
			return err
		}
		printCPURow(rate, n, m, bare, floor, bareFloor)
	}
	return nil
}

// printCPUHeader says what P2 measures and heads its table.
func printCPUHeader() {
	fmt.Printf("\n## P2 CPU per issued coupon: `issuer issue` against `issuer sim` (its own process, limit off), fixed rate, concurrency 32\n\n")
	fmt.Printf("Signing floor: one RSA-2048 signature and one verification, a few every quarter second on one thread during the run (a signature's cost\n")
	fmt.Printf("on this shared machine moves by ±40%% from minute to minute). Bare loop: a process that only signs, sends and verifies the same calls at the\n")
	fmt.Printf("same rate against the same simulator — no queue, no database — what any Go program pays for paced calls here.\n\n")
	fmt.Printf("| rate | coupons | wall | issuer CPU (user+sys) | CPU per coupon | signing floor | ÷ floor | bare loop per call | bare ÷ floor | issuer ÷ bare |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
}

// printCPURow is P2's row of one rate (0: as fast as it goes): the CPU per
// coupon of issuer and of the bare loop, each against its signing floor.
func printCPURow(rate, n int, m, bare measurement, floor, bareFloor time.Duration) {
	label := fmt.Sprintf("%d/s", rate)
	if rate == 0 {
		label = fmt.Sprintf("max (%.0f/s)", float64(n)/m.wall.Seconds())
	}
	per, barePer := m.cpu()/time.Duration(n), bare.cpu()/time.Duration(n)
	fmt.Printf("| %s | %d | %.1f s | %.2f s | %.3f ms | %.3f ms | %.2f× | %.3f ms | %.2f× | %.2f× |\n", label, n, m.wall.Seconds(), m.cpu().Seconds(),
		millis(per), millis(floor), per.Seconds()/floor.Seconds(), millis(barePer), barePer.Seconds()/bareFloor.Seconds(),
		(per.Seconds()/floor.Seconds())/(barePer.Seconds()/bareFloor.Seconds()))
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// sampled runs run with the signing floor sampled meanwhile.
func sampled(keys *wxsim.Keys, run func() (measurement, error)) (measurement, time.Duration, error) {
	sampler := sampleFloor(keys)
	m, err := run()
	floor, ferr := sampler.result()
	if err == nil {
		err = ferr
	}
	return m, floor, err
}

// wrapped puts a profiler or tracer command line (--cpu-wrap, say
// "perf record -g -o /tmp/issuer.data --") in front of bin.
func wrapped(wrap, bin string, args []string) []string {
	if wrap == "" {
		return append([]string{bin}, args...)
	}
	return append([]string{"sh", "-c", wrap + ` "$@"`, "sh", bin}, args...)
}

// cpuBare is the bare loop's child process: KEYS BASE-URL RATE N. It sends
// N 代金券 at RATE through the issuer's own WeChat Pay client, 32 at a time
// at most, and exits.
func cpuBare(ctx context.Context, args []string) error {
	if len(args) != 4 {
		return fmt.Errorf("usage: bench cpu-bare KEYS BASE-URL RATE N")
	}
	keys, err := wxsim.LoadKeys(args[0])
	if err != nil {
		return err
	}
	rate, err := strconv.ParseFloat(args[2], 64)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(args[3])
	if err != nil {
		return err
	}
	o := keys.ClientOptions(args[1])
	o.MaxConns, o.Timeout = 32, 5*time.Second
	client, err := wxpay.New(o)
	if err != nil {
		return err
	}
	defer client.Close()
	work := make(chan int)
	errs := make(chan error, 32)
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				_, err := client.SendFavor(ctx, wxpay.FavorSendRequest{StockID: "9856000", OpenID: fmt.Sprintf("obare%08d", i),
					OutRequestNo: fmt.Sprintf("%sBARE%012d", keys.MchID, i), StockCreatorMchID: keys.MchID})
				if err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	for i := range n {
		<-tick.C
		work <- i
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		return fmt.Errorf("bare loop: %w", err)
	default:
		return nil
	}
}
