// Package dockerload streams an image from BuildKit's docker exporter into
// a Docker engine's image-load API (`docker load` without the CLI), through
// a pipe: no temporary file, and the load runs while the daemon exports.
package dockerload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/moby/moby/client"
)

// DefaultHost is where the engine listens when DOCKER_HOST is unset.
const DefaultHost = "unix:///var/run/docker.sock"

// Engine is the one engine call a load needs.
type Engine interface {
	ImageLoad(ctx context.Context, input io.Reader, opts ...client.ImageLoadOption) (client.ImageLoadResult, error)
}

// Connect returns a client for the engine at host (DOCKER_HOST; "" for the
// default) after checking that it answers, so a build never starts when
// the image has nowhere to go.
func Connect(ctx context.Context, host string) (*client.Client, error) {
	shown := host
	if host == "" {
		host, shown = DefaultHost, DefaultHost+" (DOCKER_HOST is unset)"
	}
	c, err := client.New(client.WithHost(host), client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("load: true needs the agent's Docker engine, and DOCKER_HOST %q is not an address: %w", host, err)
	}
	if _, err := c.Ping(ctx, client.PingOptions{}); err != nil {
		c.Close()
		return nil, fmt.Errorf("load: true needs the agent's Docker engine, and none answers at %s: start Docker on the agent or set DOCKER_HOST to its socket (%v)", shown, oneLine(err))
	}
	return c, nil
}

// Session is one image load: Output is the exporter's output; Wait
// returns when the engine has taken the image.
type Session struct {
	ctx     context.Context
	engine  Engine
	mu      sync.Mutex
	started bool
	done    chan error
}

// New prepares a load into engine; nothing happens until Output is called.
func New(ctx context.Context, engine Engine) *Session {
	return &Session{ctx: ctx, engine: engine, done: make(chan error, 1)}
}

// Output is the docker exporter's output function: the tar stream the
// daemon sends goes straight into the engine.
func (s *Session) Output(map[string]string) (io.WriteCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return nil, errors.New("load: the exporter asked for a second output")
	}
	s.started = true
	pr, pw := io.Pipe()
	go func() {
		err := s.load(pr)
		pr.CloseWithError(err) // unblocks the exporter if the engine gave up
		s.done <- err
	}()
	return pw, nil
}

func (s *Session) load(r io.Reader) error {
	res, err := s.engine.ImageLoad(s.ctx, r)
	if err != nil {
		return fmt.Errorf("load into the Docker engine: %w", err)
	}
	defer res.Close()
	return readStream(res)
}

// Wait returns the engine's verdict on the load (nil when no image was
// exported, e.g. the build failed first).
func (s *Session) Wait() error {
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	if !started {
		return nil
	}
	return <-s.done
}

// readStream reads the engine's JSON message stream and returns the first
// error it reports.
func readStream(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var m struct {
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("load into the Docker engine: reading its answer: %w", err)
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return fmt.Errorf("the Docker engine refused the image: %s", m.ErrorDetail.Message)
		}
		if m.Error != "" {
			return fmt.Errorf("the Docker engine refused the image: %s", m.Error)
		}
	}
}

func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }
