package fleet

import (
	"fmt"
	"strings"
	"testing"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
)

func nodes(names ...string) []config.Node {
	var out []config.Node
	for _, n := range names {
		out = append(out, config.Node{Name: n, Host: "tcp://" + n + ":1234"})
	}
	return out
}

// Removing a node moves only the keys it won; the others stay put.
func TestOrderedIsRendezvous(t *testing.T) {
	all := nodes("a", "b", "c", "d")
	without := nodes("a", "b", "d")
	moved, owned := 0, 0
	for i := 0; i < 1000; i++ {
		key := Key(fmt.Sprintf("pipeline-%d", i), "Dockerfile")
		before := Ordered(key, all)[0].Name
		after := Ordered(key, without)[0].Name
		if before == "c" {
			owned++
			if after != Ordered(key, all)[1].Name {
				t.Fatalf("%s: c's keys must go to its runner-up", key)
			}
			continue
		}
		if before != after {
			moved++
		}
	}
	if moved != 0 {
		t.Errorf("%d keys not owned by the removed node moved", moved)
	}
	if owned < 150 || owned > 350 {
		t.Errorf("the removed node owned %d of 1000 keys, want about 250", owned)
	}
}

func TestNative(t *testing.T) {
	for in, want := range map[string]string{
		"linux/amd64,linux/amd64/v2,linux/386,linux/arm64": "linux/amd64,linux/amd64/v2,linux/386",
		"linux/arm64,linux/arm/v7,linux/amd64":             "linux/arm64,linux/arm/v7",
	} {
		got := fmt.Sprint(Native(splitComma(in)))
		if got != fmt.Sprint(splitComma(want)) {
			t.Errorf("Native(%s) = %s, want %s", in, got, want)
		}
	}
}

func splitComma(s string) []string { return strings.Split(s, ",") }
