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
// server throttles, its bucket is empty, so that is the hidden limit. During
// the onset of an episode the measurement starts at the send the server
// first throttled, so the calm before does not dilute it and a cold start or
// a fallen limit is cut to in a round trip or two (one event cuts at most by
// half of the rate it starts from, so a deep fall takes a few events; when
// nothing at all gets through, an outage or a spent fixed window, it
// holds). When the accepted rate is far under the rate, the event is
// ambiguous — a limit far below, or a bucket with no depth that throttles
// every other request as soon as the rate passes its limit — and cuts 15%;
// if throttling goes on more than one and a half round trips later in the
// same onset, it was the former, and each further event cuts 15% more. A
// cold start (nothing learned) does not wait for those events: once most
// answers to the sends made between the first throttled one and the first
// cut are back, their accepted share of the rate they went out at is the
// limit, and the rate follows it down — unless they were throttled and then
// accepted again, the mark of a fixed window turning over. The rate drops to Margin below the measured limit and climbs
// back to it over a second, then probes past it by Probe per second: small,
// because every request in flight when the server runs dry beyond its limit
// is throttled, and the server's bucket, which the cut left nearly empty,
// runs dry within a few percent of the limit.
//
// A raised limit is found from evidence, whatever the depth of the server's
// bucket: since the send that found it empty, the server can have accepted
// at most the limit's worth per second. Once it accepted clearly more than
// the estimate's worth, the rate doubles every two seconds (every half second
// while under half the highest limit seen, after an outage) until the next
// throttle says where the limit is. Before the first throttle the rate
// doubles every second; Config.Learned (a limit measured before, kept by
// Keeper in PostgreSQL) skips that. As in the AWS algorithm, the rate never
// runs ahead of twice the measured send rate.
//
// # Baselines and simulation
//
// Fixed (plain x/time/rate) and AWSAdaptive (the AWS SDKs' adaptive retry
// mode) implement Strategy as well, and Simulate runs any Strategy in virtual
// time against a model of the hidden limit whose shape is a parameter (token
// bucket of any depth or fixed windows, latency fixed, jittered or
// long-tailed, limits that change, outages): workers are real goroutines
// calling Wait and Observe, time moves only when all of them are parked, and
// a run is deterministic. `go run ./internal/tools/bench limiter` (part of
// make bench) prints the matrix.
//
// Every strategy honours SetCeiling (Ceilinged), the per-instance share of
// the merchant's budget the daemon sets.
package ratelimit
