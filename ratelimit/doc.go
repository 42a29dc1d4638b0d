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
// made at the old rate fire regardless. The bucket banks Config.Burst (5 ms,
// at least one request) and, besides, whatever a late timer lost: the head
// of the queue woken late takes its token as if on time and the next one is
// timed from when it was due (see Pacing and late timers).
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
// accepted again, the mark of a fixed window turning over. The rate drops to
// Margin below the measured limit and climbs back to it over a second, then
// probes past it by Probe per second: small, because every request in
// flight when the server runs dry beyond its limit is throttled, and the
// server's bucket, which the cut left nearly empty, runs dry within a few
// percent of the limit.
//
// A real sender is not the limiter: short of CPU, it sends later than
// granted, slower than the rate for a while, and in bunches after a stall,
// which a shallow bucket throttles in part whatever the rate. So an event
// is sized from what was sent. When the latest sends went out far slower
// than the rate yet most got through, it is sized from their own pace, not
// taken for a bucket with no depth (which cut by a sixth), and a cold start
// paced so does not follow its onset's share down. When few were throttled
// and they went out slower than the rate, the limit is about where the rate
// was and the share throttled says by how much it was over; their slow pace
// is not the limit. An onset event that finds the server accepted about
// the rate's worth per second since the last cut cuts no further: its
// throttles are of sends that left later than granted, a backlog still
// draining at its old pace, and cutting Margin for each took the rate far
// under the limit. And a throttle that is isolated — few of the latest
// answers throttled, two seconds after the last cut, at a rate the limit
// was last measured at or while the sends lagged the rate — says little
// but that the server was found empty for a moment: the rate dips by the
// share throttled and Margin and is back on the curve it was on within a
// second, the estimate unchanged (0.7% of the next second's sends against
// a 300/s limit). If the throttling goes on, the next event measures.
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
// # Pacing and late timers
//
// A process that does not get the CPU at once wakes from its timers late, by
// a millisecond and more on a loaded machine. A bucket one token deep (what 5
// ms of Burst held below 400/s) forgets that time: the head of the queue,
// woken late, found one token where more time had passed, and the next was
// timed from the late wake-up. The sends fell behind the rate by as much as
// the timers were late — 400/s at 0.5 ms late sent 320/s — and the limiter
// did not know it. That was the sawtooth against a server whose bucket is
// shallow (limit/20) at 400/s: each throttle cut to Margin under the limit,
// under 400/s, where the sends fell to 0.8 of the limit (a trace: the rate
// 383–400/s, 31–33 grants a 100 ms) until the probe climbed back over 400/s
// two seconds later (Burst then held two tokens) and the next throttle
// started it again; the estimate (396) was right all along. Under 400/s, at
// 300/s and 100/s, it cost the same share all the time. wxsim's default
// bucket, a second deep, let the probe run far over the limit between
// cuts, which hid it. The bucket now has room for one more token, which
// only a late wake-up may bank: runs whose timers are exact, as in
// Simulate, are paced as before, and Simulate's TimerLate shows the loss.
//
// The other difference of that server, its latency waited before the bucket
// is consulted, moves when a send is judged by a round trip, which rates
// per second of send time do not mind; but its jitter bunches arrivals that
// left evenly. Against 5 tokens at 100/s with 150±30 ms, judged after it,
// a fixed sender at 0.97 of the limit is throttled 0.3%, at 0.98 0.6% and
// at 0.99 0.9% (0.967, 0.974 and 0.981 of the limit from 5 s on); the
// limiter got about 0.96, because a throttle among few was measured at its
// share: one among the 50 latest answers said the limit was 2% under the
// rate, and each such throttle at the probe's height cut about 5%. Such a
// limit has no edge to find, only a slope to ride. So a throttle among few
// (at most isolatedShare of the latest answers), outside an onset, while
// fewer than 0.8% of the answers of the last ten seconds were throttles of
// new sends, is met with a gentle cut (gentleLocked): the estimate a third
// of Margin under the rate, the rate as much again under that, and the
// curve held at the estimate until about 250 sends have gone since the
// cut before it probes again — longer at a low rate, where one throttle is
// a larger share of a second's sends. Between 0.8% and 1.6% throttled the
// gentle cut blends into the measured one. A limit with an edge keeps
// throttling when a gentle cut (or a dip) leaves the rate over it, and the
// next event, in the onset, makes the cut the first one measured over the
// latest answers, not the one its own few sends since would say. The
// limiter now gets 0.968 of that limit in steady state, 0.5–0.8% throttled
// (over eight runs each with timers on time and late; 0.956 before).
//
// A limit with memory is harder. A sliding log (the limit's worth in any
// trailing second) that a ramp fills — the cold start's, or a doubling on
// evidence — lets through for a second what it admitted a second before:
// the onset measures that echo, about 0.8 of the limit, as the limit, and
// the probe takes seconds to climb back. After a cold start's slow start
// the echo is about half the limit. A cut in an episode that began in such
// a climb therefore climbs back to just under what the server accepted in
// the second before it throttled (echoLocked): against such a log the
// limiter gets 0.88–0.97 of the limit (bench limiter), was 0.78–0.96.
//
// # Baselines and simulation
//
// Fixed (plain x/time/rate) and AWSAdaptive (the AWS SDKs' adaptive retry
// mode) implement Strategy as well, and Simulate runs any Strategy in virtual
// time against a model of the hidden limit whose shape is a parameter (token
// bucket of any depth, fixed windows or a sliding log, judged on send or
// after part of the round trip, latency fixed, jittered or long-tailed,
// limits that change, outages) and of the sending process (timers that fire
// late, a core that caps and stalls what leaves it): workers are real
// goroutines calling Wait and Observe, time moves only when all of them are
// parked, and a run is deterministic. `go run ./internal/tools/bench
// limiter` (part of make bench) prints the matrix; `bench models` runs the
// real `issuer issue` against servers modelled apart from wxsim
// (internal/limitmodel).
//
// # Tracing
//
// Config.Trace, or the file named by $RATELIMIT_TRACE for a limiter built
// without it (so a real `issuer issue` can be traced), receives one line per
// 100 ms in which anything happened — the rate, the estimate, the measured
// send rate, the mean latency, grants, answers accepted and throttled — and
// one per cut or dip, with what it was sized from, and per doubling on
// evidence. `bench models -trace DIR` keeps each run's trace beside the
// server's own per-100 ms counts.
//
// Every strategy honours SetCeiling (Ceilinged), the per-instance share of
// the merchant's budget the daemon sets.
package ratelimit
