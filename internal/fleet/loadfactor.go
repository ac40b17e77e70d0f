package fleet

// How busy each pool member is, from BuildKit's own build history: the
// daemon lists the builds it is running now, no agent or coordinator keeps
// count.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	controlapi "github.com/moby/buildkit/api/services/control"
	"github.com/moby/buildkit/client"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
)

// ActiveBuilds is how many builds the daemon runs right now: the records of
// its build history that have started and not completed.
func ActiveBuilds(ctx context.Context, c *client.Client) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.ControlClient().ListenBuildHistory(ctx, &controlapi.BuildHistoryRequest{ActiveOnly: true, EarlyExit: true})
	if err != nil {
		return 0, fmt.Errorf("build history: %w", err)
	}
	n, err := countActive(stream.Recv)
	if err != nil {
		return 0, fmt.Errorf("build history: %w", err)
	}
	return n, nil
}

// countActive reads history events until the end of the stream and counts
// the distinct builds that are running: STARTED events, and records with no
// completion time.
func countActive(recv func() (*controlapi.BuildHistoryEvent, error)) (int, error) {
	active := map[string]bool{}
	for {
		ev, err := recv()
		if errors.Is(err, io.EOF) {
			return len(active), nil
		}
		if err != nil {
			return 0, err
		}
		r := ev.GetRecord()
		if r == nil {
			continue
		}
		switch ev.GetType() {
		case controlapi.BuildHistoryEventType_STARTED:
			active[r.GetRef()] = true
		case controlapi.BuildHistoryEventType_COMPLETE:
			if r.GetCompletedAt() == nil {
				active[r.GetRef()] = true
			} else {
				delete(active, r.GetRef())
			}
		case controlapi.BuildHistoryEventType_DELETED:
			delete(active, r.GetRef())
		}
	}
}

// Load is one member's answer to Probe.
type Load struct {
	Node   config.Node
	Active int        // builds running now; Down when it did not answer
	Conn   *Connected // the open connection when it answered; the caller closes it
	Err    error      // why it is down
	Took   time.Duration
}

// Probe dials the nodes in parallel (each within timeout) and asks each how
// many builds it runs; a node that has not answered within deadline is Down
// and any connection it makes later is closed. The loads are in nodes'
// order.
func Probe(ctx context.Context, dial Dial, nodes []config.Node, timeout time.Duration, deadline time.Duration) []Load {
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	if timeout <= 0 || timeout > deadline {
		timeout = deadline
	}
	out := make([]Load, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = probeOne(ctx, dial, n, timeout, deadline)
		}()
	}
	wg.Wait()
	return out
}

// probeOne returns by ctx's end even when dial or the history call ignore
// it; what they return afterwards is closed.
func probeOne(ctx context.Context, dial Dial, n config.Node, timeout, deadline time.Duration) Load {
	start := time.Now()
	done := make(chan Load, 1)
	go func() {
		c, err := dial(ctx, n, timeout)
		if err != nil {
			done <- Load{Node: n, Active: Down, Err: err}
			return
		}
		active, err := ActiveBuilds(ctx, c.Client)
		if err != nil {
			c.Close()
			done <- Load{Node: n, Active: Down, Err: err}
			return
		}
		done <- Load{Node: n, Active: active, Conn: c}
	}()
	var l Load
	select {
	case l = <-done:
	case <-ctx.Done():
		go func() {
			if late := <-done; late.Conn != nil {
				late.Conn.Close()
			}
		}()
		l = Load{Node: n, Active: Down, Err: fmt.Errorf("no answer within %s", deadline)}
	}
	l.Took = time.Since(start)
	return l
}

// Loads maps each probed member's Name to its active count (Down when it
// did not answer), as ChooseBounded wants it.
func Loads(ls []Load) map[string]int {
	m := make(map[string]int, len(ls))
	for _, l := range ls {
		m[l.Node.Name] = l.Active
	}
	return m
}

// ChooseLoaded routes a build on a pool with bounded loads: it probes the
// first probe members of key's rendezvous order (all when probe <= 0), picks
// with ChooseBounded, keeps the chosen member's connection and closes the
// others. When every probed member is down it falls over to the members it
// did not probe, in order, as Choose does. Each member passed is reported
// through warn.
func ChooseLoaded(ctx context.Context, dial Dial, key string, members []config.Node, factor float64, probe int, timeout, deadline time.Duration, warn func(string)) (*Connected, []Passed, error) {
	ordered := Ordered(key, members)
	if probe <= 0 || probe > len(ordered) {
		probe = len(ordered)
	}
	ls := Probe(ctx, dial, ordered[:probe], timeout, deadline)
	chosen, rank, passed, err := ChooseBounded(key, members, Loads(ls), factor)
	var conn *Connected
	for _, l := range ls {
		switch {
		case l.Conn != nil && err == nil && l.Node.Name == chosen.Name:
			conn = l.Conn
		case l.Conn != nil:
			l.Conn.Close()
		}
	}
	for _, p := range passed {
		msg := "passing BuildKit node " + p.String() // busy
		for _, l := range ls {
			if l.Node.Name == p.Node.Name && l.Err != nil {
				msg = fmt.Sprintf("skipping BuildKit node %s: %v", p.Node.Name, l.Err) // down, as Choose says
			}
		}
		warn(msg)
	}
	if err != nil {
		return nil, passed, err
	}
	if conn == nil { // not probed: dial it and the rest in order
		conn, err = Choose(ctx, dial, key, ordered[rank-1:], timeout, warn)
		if err != nil {
			return nil, passed, err
		}
		conn.Rank += rank - 1
		return conn, passed, nil
	}
	conn.Rank = rank
	return conn, passed, nil
}
