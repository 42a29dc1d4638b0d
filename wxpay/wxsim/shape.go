package wxsim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"
)

// Shape is how the hidden per-merchant send limit behaves, beyond its rate
// (Options.Limit, SetLimit): real servers differ in how deep their bucket
// is, whether they count per fixed second instead, how their latency is
// spread, and their limit changes while a batch runs. The zero Shape is a
// token bucket one second deep that never changes.
type Shape struct {
	// Kind is "bucket" (default): tokens refill at the limit up to Depth;
	// or "window": at most the limit's worth of sends in each calendar
	// second, whatever their spacing.
	Kind string `json:"kind,omitempty"`
	// Depth of the bucket, in time at the limit (default 1s); anything
	// under one token's worth is one token: strict pacing.
	Depth Duration `json:"depth,omitempty"`
	// LongTail, when positive, multiplies each send's drawn latency
	// (Faults.Latency + jitter) by a log-normal factor with mean 1 and this
	// σ, capped at 20: most answers quick, a few very slow.
	LongTail float64 `json:"long_tail,omitempty"`
	// Steps change the limit over time, measured from when the shape was
	// set (New or SetShape). Each holds until the next.
	Steps []Step `json:"steps,omitempty"`
}

// Step is one change of the limit over time.
type Step struct {
	After Duration `json:"after"`
	// Factor scales the base limit (Options.Limit or SetLimit) from After
	// on: 0.5 halves it, 2 doubles it; 0 means 1.
	Factor float64 `json:"factor,omitempty"`
	// Outage, 429 or 500, answers every coupon send so from After until the
	// next step: a brief outage. 0 for none.
	Outage int `json:"outage,omitempty"`
}

// Shape kinds.
const (
	ShapeBucket = "bucket"
	ShapeWindow = "window"
)

// Validate checks the kind, depth, steps and outage codes.
func (sh Shape) Validate() error {
	switch sh.Kind {
	case "", ShapeBucket, ShapeWindow:
	default:
		return fmt.Errorf("shape: kind %q: want bucket or window", sh.Kind)
	}
	if sh.Depth < 0 || sh.LongTail < 0 || math.IsNaN(sh.LongTail) {
		return errors.New("shape: negative depth or long tail")
	}
	for i, st := range sh.Steps {
		if st.After < 0 || st.Factor < 0 || math.IsNaN(st.Factor) {
			return fmt.Errorf("shape: step %d: negative after or factor", i)
		}
		if i > 0 && st.After < sh.Steps[i-1].After {
			return fmt.Errorf("shape: step %d: steps must be in time order", i)
		}
		if st.Outage != 0 && st.Outage != http.StatusTooManyRequests && st.Outage != http.StatusInternalServerError {
			return fmt.Errorf("shape: step %d: outage %d: want 429 or 500", i, st.Outage)
		}
	}
	return nil
}

// ParseSteps parses the CLI form AFTER:FACTOR[:OUTAGE],... for example
// "20s:0.5,40s:1,50s:1:429,51s:1".
func ParseSteps(s string) ([]Step, error) {
	if s == "" {
		return nil, nil
	}
	var out []Step
	for _, part := range strings.Split(s, ",") {
		f := strings.Split(part, ":")
		if len(f) < 2 || len(f) > 3 {
			return nil, fmt.Errorf("step %q: want AFTER:FACTOR[:OUTAGE]", part)
		}
		after, err := time.ParseDuration(f[0])
		if err != nil {
			return nil, fmt.Errorf("step %q: %w", part, err)
		}
		st := Step{After: Duration(after)}
		if _, err := fmt.Sscan(f[1], &st.Factor); err != nil {
			return nil, fmt.Errorf("step %q: factor: %w", part, err)
		}
		if len(f) == 3 {
			if _, err := fmt.Sscan(f[2], &st.Outage); err != nil {
				return nil, fmt.Errorf("step %q: outage: %w", part, err)
			}
		}
		out = append(out, st)
	}
	return out, nil
}

// shapeState is the shape in force and when it was set.
type shapeState struct {
	Shape
	since  time.Time
	window map[string]*windowCount // per merchant, for ShapeWindow
}

type windowCount struct {
	second int64
	count  int
}

// stepAt is the step in force at now, if any.
func (sh *shapeState) stepAt(now time.Time) (Step, bool) {
	elapsed := Duration(now.Sub(sh.since))
	var cur Step
	found := false
	for _, st := range sh.Steps {
		if st.After > elapsed {
			break
		}
		cur, found = st, true
	}
	return cur, found
}

// SetShape replaces the limit's shape; its steps count from now. Buckets
// and windows restart full.
func (s *Server) SetShape(sh Shape) error {
	if err := sh.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shape = shapeState{Shape: sh, since: s.now(), window: map[string]*windowCount{}}
	clear(s.buckets)
	return nil
}

// Shape is the limit's shape in force.
func (s *Server) Shape() Shape {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh := s.shape.Shape
	sh.Steps = append([]Step(nil), sh.Steps...)
	return sh
}

// outageLocked is the status every coupon send is answered with now, or 0.
func (s *Server) outageLocked(now time.Time) int {
	if st, ok := s.shape.stepAt(now); ok {
		return st.Outage
	}
	return 0
}

// shapedAllowLocked judges one send of mchid against the limit's shape.
func (s *Server) shapedAllowLocked(mchid string, now time.Time) bool {
	if s.limit <= 0 {
		return true
	}
	limit := s.limit
	if st, ok := s.shape.stepAt(now); ok {
		if st.Outage == http.StatusTooManyRequests {
			return false
		}
		if st.Factor > 0 {
			limit *= st.Factor
		}
	}
	if s.shape.Kind == ShapeWindow {
		if s.shape.window == nil {
			s.shape.window = map[string]*windowCount{}
		}
		w := s.shape.window[mchid]
		if w == nil {
			w = &windowCount{}
			s.shape.window[mchid] = w
		}
		if sec := now.Unix(); sec != w.second {
			w.second, w.count = sec, 0
		}
		if float64(w.count+1) > limit {
			return false
		}
		w.count++
		return true
	}
	depth := time.Second
	if s.shape.Depth > 0 {
		depth = time.Duration(s.shape.Depth)
	}
	burst := max(1, limit*depth.Seconds())
	b := s.buckets[mchid]
	if b == nil {
		b = &bucket{tokens: burst, last: now}
		s.buckets[mchid] = b
	}
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens += dt * limit
	}
	b.tokens = min(burst, b.tokens)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}

// tailLatency stretches a drawn latency by the shape's long tail.
func (s *Server) tailLatency(d time.Duration) time.Duration {
	s.mu.Lock()
	sigma := s.shape.LongTail
	s.mu.Unlock()
	if sigma <= 0 || d <= 0 {
		return d
	}
	s.rngMu.Lock()
	z := s.rng.NormFloat64()
	s.rngMu.Unlock()
	return time.Duration(float64(d) * min(20, math.Exp(sigma*z-sigma*sigma/2)))
}

// shapeRoutes serves GET and PUT /sim/shape.
func (s *Server) shapeRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /sim/shape", func(w http.ResponseWriter, r *http.Request) {
		adminJSON(w, http.StatusOK, s.Shape())
	})
	m.HandleFunc("PUT /sim/shape", func(w http.ResponseWriter, r *http.Request) {
		var in Shape
		if !adminDecode(w, r, &in) {
			return
		}
		if err := s.SetShape(in); err != nil {
			adminError(w, http.StatusBadRequest, err)
			return
		}
		adminJSON(w, http.StatusOK, s.Shape())
	})
}

// Shape reads the limit's shape.
func (a *AdminClient) Shape(ctx context.Context) (Shape, error) {
	var out Shape
	return out, a.do(ctx, http.MethodGet, "shape", nil, &out)
}

// SetShape replaces the limit's shape; its steps count from now.
func (a *AdminClient) SetShape(ctx context.Context, sh Shape) error {
	return a.do(ctx, http.MethodPut, "shape", sh, nil)
}
