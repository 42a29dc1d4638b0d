// Package startstop gives the daemon's background parts one shape, after
// River's startstop: Start launches a part and returns once it runs, Stop
// ends it and returns once it has ended. A Group starts parts in order and
// stops them in the reverse order, so what depends on another part stops
// before it.
package startstop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Service is one background part of the daemon.
type Service interface {
	// Start launches the part; its work ends when ctx does or at Stop.
	Start(ctx context.Context) error
	// Stop ends the part and waits for it, within the part's own bound.
	Stop() error
}

// Loop runs Run in a goroutine until Stop cancels its context. Stop waits
// for Run to return, at most Timeout when it is set.
type Loop struct {
	Name    string
	Run     func(ctx context.Context)
	Timeout time.Duration

	cancel context.CancelFunc
	done   chan struct{}
}

func (l *Loop) Start(ctx context.Context) error {
	ctx, l.cancel = context.WithCancel(ctx)
	l.done = make(chan struct{})
	go func() {
		defer close(l.done)
		l.Run(ctx)
	}()
	return nil
}

func (l *Loop) Stop() error {
	if l.cancel == nil {
		return nil
	}
	l.cancel()
	if l.Timeout <= 0 {
		<-l.done
		return nil
	}
	select {
	case <-l.done:
		return nil
	case <-time.After(l.Timeout):
		return fmt.Errorf("%s still running after %s", l.Name, l.Timeout)
	}
}

// Funcs adapts a pair of functions; either may be nil.
type Funcs struct {
	OnStart func(ctx context.Context) error
	OnStop  func() error
}

func (f Funcs) Start(ctx context.Context) error {
	if f.OnStart == nil {
		return nil
	}
	return f.OnStart(ctx)
}

func (f Funcs) Stop() error {
	if f.OnStop == nil {
		return nil
	}
	return f.OnStop()
}

// Group starts services in order and stops the started ones in reverse.
type Group struct {
	Logger  *slog.Logger
	started []named
}

type named struct {
	name string
	svc  Service
}

// Start starts svc; on failure nothing more is started, and Stop stops
// what was.
func (g *Group) Start(ctx context.Context, name string, svc Service) error {
	if err := svc.Start(ctx); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	g.started = append(g.started, named{name, svc})
	return nil
}

// Stop stops every started service, last started first, and joins what
// went wrong.
func (g *Group) Stop() error {
	var errs []error
	for i := len(g.started) - 1; i >= 0; i-- {
		s := g.started[i]
		if err := s.svc.Stop(); err != nil {
			if g.Logger != nil {
				g.Logger.Warn("stop", "part", s.name, "err", err)
			}
			errs = append(errs, fmt.Errorf("stop %s: %w", s.name, err))
		}
	}
	g.started = nil
	return errors.Join(errs...)
}
