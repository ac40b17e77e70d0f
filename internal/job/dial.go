package job

import (
	"context"
	"sync"
	"time"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/internal/fleet"
)

// sharedDial hands every image of a job the same connection to a daemon.
// Dials to different daemons run at once (a pool's load probe); dials to
// one daemon wait for each other and share the result.
type sharedDial struct {
	dial  fleet.Dial
	mu    sync.Mutex
	conns map[string]*sharedConn
}

type sharedConn struct {
	mu sync.Mutex
	c  *fleet.Connected // nil until dialled
}

func (s *sharedDial) entry(host string) *sharedConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == nil {
		s.conns = map[string]*sharedConn{}
	}
	e := s.conns[host]
	if e == nil {
		e = &sharedConn{}
		s.conns[host] = e
	}
	return e
}

// Dial returns the job's connection to n, dialling it the first time.
func (s *sharedDial) Dial(ctx context.Context, n config.Node, timeout time.Duration) (*fleet.Connected, error) {
	e := s.entry(n.Host)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.c == nil {
		c, err := s.dial(ctx, n, timeout)
		if err != nil {
			return nil, err
		}
		e.c = c
	}
	cp := *e.c
	cp.Node, cp.Shared = n, true
	return &cp, nil
}

// forget closes and drops a connection that was lost, so the next Dial of
// that daemon dials again.
func (s *sharedDial) forget(host string) {
	s.mu.Lock()
	e := s.conns[host]
	delete(s.conns, host)
	s.mu.Unlock()
	if e != nil {
		e.close()
	}
}

// Close closes every connection.
func (s *sharedDial) Close() {
	s.mu.Lock()
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()
	for _, e := range conns {
		e.close()
	}
}

func (e *sharedConn) close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.c != nil {
		e.c.Close()
		e.c = nil
	}
}
