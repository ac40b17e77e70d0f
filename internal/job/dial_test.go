package job

import (
	"context"
	"sync"
	"testing"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
)

// Concurrent images dial each daemon once and share the connection; a
// forgotten connection is dialled again.
func TestSharedDial(t *testing.T) {
	f := &fakeDialer{up: map[string]string{"tcp://a:1": "v", "tcp://b:1": "v"}}
	s := &sharedDial{dial: f.dial}
	defer s.Close()
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			host := []string{"tcp://a:1", "tcp://b:1"}[i%2]
			c, err := s.Dial(context.Background(), config.Node{Name: "n", Host: host}, 0)
			if err != nil || !c.Shared || c.Node.Host != host {
				t.Errorf("Dial(%s) = %+v, %v", host, c, err)
			}
			c.Close() // a shared connection stays open
		}()
	}
	wg.Wait()
	if len(f.dialed) != 2 {
		t.Fatalf("dialled %v, want each daemon once", f.dialed)
	}
	s.forget("tcp://a:1")
	if _, err := s.Dial(context.Background(), config.Node{Host: "tcp://a:1"}, 0); err != nil || len(f.dialed) != 3 {
		t.Fatalf("after forget: dialled %v, %v", f.dialed, err)
	}
	if _, err := s.Dial(context.Background(), config.Node{Host: "tcp://down:1"}, 0); err == nil {
		t.Fatal("a daemon that is down was reported up")
	}
}
