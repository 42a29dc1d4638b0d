// Package ratelimit paces requests to WeChat Pay so that a merchant's coupon
// sends ride just under the API's hidden rate limit.
//
// WeChat Pay documents 500 requests/s for favor send, but the limit it
// enforces per merchant is lower, unpublished and may change while a batch
// runs; above it the API answers HTTP 429 (FREQUENCY_LIMITED). A Limiter is
// a client-side token bucket (golang.org/x/time/rate) whose rate follows that
// hidden limit: it starts at Config.Initial, never exceeds Config.Max or the
// ceiling set with SetCeiling, cuts when told of a throttle and probes back
// up. It keeps its own measured send rate and counters (Stats) for progress
// displays and logs.
//
// Every worker asks before each request and reports each definite answer:
//
//	lim := ratelimit.New(ratelimit.Config{Initial: 100, Max: 500})
//	for recipient := range work {
//		if err := lim.Wait(ctx); err != nil {
//			return err
//		}
//		answer, err := send(ctx, recipient)
//		if err == nil { // a timeout or reset is no answer: report nothing
//			lim.Observe(answer.Throttled)
//		}
//	}
//
// # Algorithm
//
// Waiters queue in arrival order and only the first sleeps on the bucket, so
// a grant wakes one goroutine (no stampede when 64 wait) and a cut applies at
// once to everybody waiting; x/time/rate's own Wait would let reservations
// made at the old rate fire regardless.
//
// Answers are matched to sends in order. A throttle of a request sent before
// the last cut belongs to an episode already handled; only a throttle of a
// later request is a new congestion event. An event measures the rate at
// which the latest sends got through, per second of send time: while the
// server throttles, its bucket is empty, so that is the hidden limit. The
// rate drops to Margin below it (always by at least Margin, by at most 30%
// per event, so a deep fall takes a few round trips), climbs back to it
// along a concave cubic over two seconds, then probes past it slowly (Probe
// per second, accelerating the longer it finds no limit): a server bucket
// with depth hides an overshoot until it runs dry. Before the first throttle
// the rate doubles every second. As in the AWS algorithm, the rate never runs
// ahead of twice the measured send rate.
//
// # Baselines and simulation
//
// Fixed (plain x/time/rate) and AWSAdaptive (the AWS SDKs' adaptive retry
// mode) implement Strategy as well, and Simulate runs any Strategy in virtual
// time against a model of the hidden limit: workers are real goroutines
// calling Wait and Observe, time moves only when all of them are parked, and
// a run is deterministic. ISSUER_BENCH=1 go test -run TestPrintComparison -v
// prints the comparison.
package ratelimit
