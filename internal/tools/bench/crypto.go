package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// benchCrypto runs wxpay's Go benchmarks (signing, verification, client
// round trips) and prints them as a table with the client's overhead beyond
// crypto: a SendFavor round trip minus a plain HTTP exchange of the same
// bytes, minus one Sign and one Verify.
//
// The test binary is built once and run whole several times, so that every
// benchmark samples the machine's load alike, and the overhead is a median
// of per-round differences rather than a difference of medians taken at
// different moments.
func benchCrypto(ctx context.Context, args []string) error {
	fs := flagSet("crypto")
	rounds := fs.Int("rounds", 5, "runs of the whole benchmark set; the table shows medians")
	benchtime := fs.String("benchtime", "1s", "-test.benchtime of each benchmark")
	pkg := fs.String("pkg", "./wxpay/", "package holding the benchmarks")
	_ = fs.Parse(args)

	dirOut, err := exec.CommandContext(ctx, "go", "list", "-f", "{{.Dir}}", *pkg).Output()
	if err != nil {
		return fmt.Errorf("go list %s: %w", *pkg, err)
	}
	tmp, err := os.MkdirTemp("", "issuer-bench-crypto-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "wxpay.test")
	if out, err := exec.CommandContext(ctx, "go", "test", "-c", "-o", bin, *pkg).CombinedOutput(); err != nil {
		return fmt.Errorf("go test -c %s: %w\n%s", *pkg, err, out)
	}
	var all []map[string]benchResult
	for range *rounds {
		cmd := exec.CommandContext(ctx, bin, "-test.run", "^$", "-test.bench", ".", "-test.benchmem", "-test.benchtime", *benchtime)
		cmd.Dir = strings.TrimSpace(string(dirOut)) // testdata is relative to the package
		var out bytes.Buffer
		cmd.Stdout = &out
		cmd.Stderr = &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s benchmarks: %w\n%s", *pkg, err, out.String())
		}
		res, err := parseBenchmarks(&out)
		if err != nil {
			return err
		}
		all = append(all, res)
	}
	fmt.Printf("\n## WeChat Pay signing and client round trip (go test -bench %s, median of %d rounds)\n\n", *pkg, *rounds)
	if load, err := os.ReadFile("/proc/loadavg"); err == nil && len(strings.Fields(string(load))) >= 3 {
		fmt.Printf("Load average after the runs: %s (figures are noisier on a busy machine).\n\n", strings.Join(strings.Fields(string(load))[:3], " "))
	}
	return printCrypto(os.Stdout, all)
}

// benchResult is one benchmark's figures per operation.
type benchResult struct {
	ns, bytes, allocs float64
}

// parseBenchmarks reads `go test -bench -benchmem` output and returns the
// median of each benchmark's runs, by name without the -GOMAXPROCS suffix.
func parseBenchmarks(r io.Reader) (map[string]benchResult, error) {
	runs := map[string][]benchResult{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		var res benchResult
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("benchmark line %q: %w", sc.Text(), err)
			}
			switch f[i+1] {
			case "ns/op":
				res.ns = v
			case "B/op":
				res.bytes = v
			case "allocs/op":
				res.allocs = v
			}
		}
		runs[name] = append(runs[name], res)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	out := make(map[string]benchResult, len(runs))
	for name, rs := range runs {
		out[name] = medianResult(rs)
	}
	return out, nil
}

// medianResult is the median of each figure separately.
func medianResult(rs []benchResult) benchResult {
	return benchResult{
		ns:     median(rs, func(r benchResult) float64 { return r.ns }),
		bytes:  median(rs, func(r benchResult) float64 { return r.bytes }),
		allocs: median(rs, func(r benchResult) float64 { return r.allocs }),
	}
}

func median(rs []benchResult, field func(benchResult) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = field(r)
	}
	slices.Sort(v)
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[len(v)/2]
}

// printCrypto writes the markdown table from one or more rounds of results.
// Sign, Verify, RoundTrip/raw and RoundTrip/client are required; the
// parallel and simulator rows are shown when present.
func printCrypto(w io.Writer, rounds []map[string]benchResult) error {
	byName := map[string][]benchResult{}
	var overheads []benchResult
	for _, res := range rounds {
		for _, name := range []string{"Sign", "Verify", "RoundTrip/raw", "RoundTrip/client"} {
			if _, ok := res[name]; !ok {
				return fmt.Errorf("benchmark %s missing from the wxpay benchmarks", name)
			}
		}
		for name, r := range res {
			byName[name] = append(byName[name], r)
		}
		sign, verify, raw, client := res["Sign"], res["Verify"], res["RoundTrip/raw"], res["RoundTrip/client"]
		overheads = append(overheads, benchResult{
			ns:     client.ns - raw.ns - sign.ns - verify.ns,
			bytes:  client.bytes - raw.bytes - sign.bytes - verify.bytes,
			allocs: client.allocs - raw.allocs - sign.allocs - verify.allocs,
		})
	}
	if len(rounds) == 0 {
		return fmt.Errorf("no benchmark results")
	}
	res := map[string]benchResult{}
	for name, rs := range byName {
		res[name] = medianResult(rs)
	}
	sign, verify, raw, client := res["Sign"], res["Verify"], res["RoundTrip/raw"], res["RoundTrip/client"]
	overhead := medianResult(overheads)
	type row struct {
		label string
		r     benchResult
	}
	rows := []row{
		{"sign: Authorization header (SHA256-RSA2048)", sign},
		{"verify: response signature", verify},
		{"round trip: plain HTTP, same bytes, loopback", raw},
		{"round trip: client SendFavor (marshal, sign, send, verify, decode)", client},
		{"**client overhead beyond crypto** (client − plain − sign − verify)", overhead},
	}
	if r, ok := res["RoundTrip/client-parallel"]; ok {
		rows = append(rows, row{"round trip: client SendFavor, parallel (per op, all cores)", r})
	}
	if r, ok := res["SimSendFavor"]; ok {
		rows = append(rows, row{"full exchange with the simulator (both sides sign and verify)", r})
	}
	fmt.Fprintf(w, "| figure | ns/op | time/op | B/op | allocs/op |\n|---|---:|---:|---:|---:|\n")
	for _, row := range rows {
		fmt.Fprintf(w, "| %s | %.0f | %s | %.0f | %.0f |\n", row.label, row.r.ns, humanNs(row.r.ns), row.r.bytes, row.r.allocs)
	}
	if overhead.ns < 0 {
		fmt.Fprintf(w, "\nThe time overhead is below the noise of the figures it is computed from: the machine is loaded.\n")
	}
	return nil
}

func humanNs(ns float64) string {
	switch a := max(ns, -ns); {
	case a >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case a >= 1e3:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	default:
		return fmt.Sprintf("%.0f ns", ns)
	}
}
