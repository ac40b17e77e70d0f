package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	controlapi "github.com/moby/buildkit/api/services/control"
	"github.com/moby/buildkit/client"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
	"github.com/remote-buildkit/remote-buildkit/tests/faultkit"
)

func event(typ controlapi.BuildHistoryEventType, ref string, completed bool) *controlapi.BuildHistoryEvent {
	r := &controlapi.BuildHistoryRecord{Ref: ref, CreatedAt: timestamppb.Now()}
	if completed {
		r.CompletedAt = timestamppb.Now()
	}
	return &controlapi.BuildHistoryEvent{Type: typ, Record: r}
}

func TestCountActive(t *testing.T) {
	const started, complete, deleted = controlapi.BuildHistoryEventType_STARTED, controlapi.BuildHistoryEventType_COMPLETE, controlapi.BuildHistoryEventType_DELETED
	for _, tc := range []struct {
		name   string
		events []*controlapi.BuildHistoryEvent
		want   int
	}{
		{"idle", nil, 0},
		{"two running", []*controlapi.BuildHistoryEvent{event(started, "a", false), event(started, "b", false)}, 2},
		{"the same build twice", []*controlapi.BuildHistoryEvent{event(started, "a", false), event(started, "a", false)}, 1},
		{"completed records do not count", []*controlapi.BuildHistoryEvent{event(started, "a", false), event(complete, "b", true)}, 1},
		{"a record without completion counts", []*controlapi.BuildHistoryEvent{event(complete, "c", false)}, 1},
		{"completed after start", []*controlapi.BuildHistoryEvent{event(started, "a", false), event(complete, "a", true)}, 0},
		{"deleted", []*controlapi.BuildHistoryEvent{event(started, "a", false), event(deleted, "a", false)}, 0},
		{"no record", []*controlapi.BuildHistoryEvent{{Type: started}}, 0},
	} {
		i := 0
		recv := func() (*controlapi.BuildHistoryEvent, error) {
			if i == len(tc.events) {
				return nil, io.EOF
			}
			i++
			return tc.events[i-1], nil
		}
		if got, err := countActive(recv); err != nil || got != tc.want {
			t.Errorf("%s: countActive = %d, %v; want %d", tc.name, got, err, tc.want)
		}
	}
	boom := errors.New("stream broke")
	if _, err := countActive(func() (*controlapi.BuildHistoryEvent, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("a stream error must be returned, got %v", err)
	}
}

// fakeControl is a daemon's control API that only lists its active builds.
type fakeControl struct {
	controlapi.UnimplementedControlServer
	active int
	calls  atomic.Int32
}

func (f *fakeControl) ListenBuildHistory(req *controlapi.BuildHistoryRequest, s grpc.ServerStreamingServer[controlapi.BuildHistoryEvent]) error {
	f.calls.Add(1)
	if !req.ActiveOnly || !req.EarlyExit {
		return fmt.Errorf("want ActiveOnly and EarlyExit, got %v", req)
	}
	for i := 0; i < f.active; i++ {
		if err := s.Send(event(controlapi.BuildHistoryEventType_STARTED, fmt.Sprint("ref", i), false)); err != nil {
			return err
		}
	}
	return nil
}

// fakeDaemon serves the control API on 127.0.0.1 and returns its member.
func fakeDaemon(t *testing.T, active int) config.Node {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	controlapi.RegisterControlServer(srv, &fakeControl{active: active})
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	return config.Node{Name: l.Addr().String(), Host: "tcp://" + l.Addr().String()}
}

// silentDaemon accepts TCP connections and never answers.
func silentDaemon(t *testing.T) config.Node {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	faultkit.Hold(l)
	t.Cleanup(func() { l.Close() })
	return config.Node{Name: l.Addr().String(), Host: "tcp://" + l.Addr().String()}
}

// plainDial connects without TLS and does not wait for the daemon (the
// history call is the first RPC).
func plainDial(ctx context.Context, n config.Node, _ time.Duration) (*Connected, error) {
	c, err := client.New(ctx, n.Host)
	if err != nil {
		return nil, err
	}
	return &Connected{Node: n, Client: c}, nil
}

func TestActiveBuilds(t *testing.T) {
	n := fakeDaemon(t, 3)
	c, err := plainDial(context.Background(), n, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if got, err := ActiveBuilds(ctx, c.Client); err != nil || got != 3 {
		t.Errorf("ActiveBuilds = %d, %v; want 3", got, err)
	}
}

func TestProbe(t *testing.T) {
	busy, idle, silent := fakeDaemon(t, 4), fakeDaemon(t, 0), silentDaemon(t)
	refused := config.Node{Name: "refused", Host: "tcp://127.0.0.1:1"}
	failing := config.Node{Name: "failing", Host: "tcp://failing"}
	dial := func(ctx context.Context, n config.Node, timeout time.Duration) (*Connected, error) {
		if n.Name == "failing" {
			return nil, errors.New("tls: bad certificate")
		}
		return plainDial(ctx, n, timeout)
	}
	start := time.Now()
	ls := Probe(context.Background(), dial, []config.Node{busy, silent, idle, refused, failing}, 5*time.Second, time.Second)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Probe took %s, want about its 1s deadline", took)
	}
	want := []int{4, Down, 0, Down, Down}
	for i, l := range ls {
		if l.Active != want[i] || (l.Active == Down) != (l.Err != nil) || (l.Active == Down) == (l.Conn != nil) {
			t.Errorf("%s: %+v, want active %d", l.Node.Name, l, want[i])
		}
		if l.Conn != nil {
			l.Conn.Close()
		}
	}
	if !strings.Contains(ls[1].Err.Error(), "no answer within 1s") {
		t.Errorf("silent member: %v", ls[1].Err)
	}
	if got := Loads(ls); fmt.Sprint(got) != fmt.Sprint(map[string]int{busy.Name: 4, silent.Name: Down, idle.Name: 0, "refused": Down, "failing": Down}) {
		t.Errorf("Loads = %v", got)
	}
}

// A dial that ignores its context is abandoned at the deadline (what it
// returns later is closed by probeOne).
func TestProbeAbandonsSlowDial(t *testing.T) {
	n := fakeDaemon(t, 1)
	finished := make(chan struct{})
	dial := func(ctx context.Context, n config.Node, _ time.Duration) (*Connected, error) {
		time.Sleep(300 * time.Millisecond)
		c, err := plainDial(context.Background(), n, 0)
		go func() { <-ctx.Done(); close(finished) }()
		return c, err
	}
	ls := Probe(context.Background(), dial, []config.Node{n}, time.Second, 100*time.Millisecond)
	if ls[0].Active != Down || ls[0].Conn != nil {
		t.Fatalf("got %+v, want down", ls[0])
	}
	select {
	case <-finished:
	case <-time.After(2 * time.Second):
		t.Fatal("the late dial never finished")
	}
}

// keyRanking finds a key whose rendezvous order starts with first.
func keyRanking(t *testing.T, members []config.Node, first string) string {
	t.Helper()
	for i := 0; i < 1000; i++ {
		if key := Key(fmt.Sprint("pipeline-", i), "Dockerfile"); Ordered(key, members)[0].Name == first {
			return key
		}
	}
	t.Fatalf("no key ranks %s first", first)
	return ""
}

func TestChooseLoaded(t *testing.T) {
	busy, idle1, idle2, silent := fakeDaemon(t, 5), fakeDaemon(t, 0), fakeDaemon(t, 0), silentDaemon(t)
	for _, tc := range []struct {
		name    string
		members []config.Node
		first   string // the member the key ranks first
		probe   int
		rank    int
		warns   []string
	}{
		{"busy first", []config.Node{busy, idle1, idle2}, busy.Name, 0, 2, []string{"passing BuildKit node " + busy.Name + ": busy: 5 active, bound 3"}},
		{"idle first", []config.Node{busy, idle1, idle2}, idle1.Name, 0, 1, nil},
		{"silent first, only it probed", []config.Node{silent, idle1, idle2}, silent.Name, 1, 2, []string{"skipping BuildKit node " + silent.Name + ": no answer within 1s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := keyRanking(t, tc.members, tc.first)
			var warns []string
			c, passed, err := ChooseLoaded(context.Background(), plainDial, key, tc.members, 1.25, tc.probe, time.Second, time.Second, func(s string) { warns = append(warns, s) })
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if want := Ordered(key, tc.members)[tc.rank-1].Name; c.Node.Name != want || c.Rank != tc.rank || len(passed) != tc.rank-1 {
				t.Errorf("chose %s rank %d (passed %v), want %s rank %d", c.Node.Name, c.Rank, passed, want, tc.rank)
			}
			if fmt.Sprint(warns) != fmt.Sprint(tc.warns) {
				t.Errorf("warnings %q, want %q", warns, tc.warns)
			}
			if _, err := ActiveBuilds(context.Background(), c.Client); err != nil {
				t.Errorf("the chosen connection must stay usable: %v", err)
			}
		})
	}
}

func TestChooseLoadedAllDown(t *testing.T) {
	members := []config.Node{silentDaemon(t), {Name: "refused", Host: "tcp://127.0.0.1:1"}}
	var warns []string
	_, passed, err := ChooseLoaded(context.Background(), plainDial, "k", members, 1.25, 0, time.Second, 300*time.Millisecond, func(s string) { warns = append(warns, s) })
	if !errors.Is(err, ErrNoMember) || len(passed) != 2 || len(warns) != 2 {
		t.Errorf("err %v, passed %v, warnings %q; want ErrNoMember with both passed and warned", err, passed, warns)
	}
}
