package fleet

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestBound(t *testing.T) {
	for _, tc := range []struct {
		factor         float64
		total, members int
		want           float64
	}{
		{1.25, 0, 8, 1},  // ceil(1.25/8)
		{1.25, 8, 3, 4},  // ceil(1.25×9/3) = ceil(3.75)
		{1.25, 11, 3, 5}, // ceil(5)
		{1, 5, 3, 2},
		{2, 5, 3, 4},
	} {
		if got := Bound(tc.factor, tc.total, tc.members); got != tc.want {
			t.Errorf("Bound(%v, %d, %d) = %v, want %v", tc.factor, tc.total, tc.members, got, tc.want)
		}
	}
}

func TestChooseBounded(t *testing.T) {
	members := nodes("a", "b", "c", "d")
	key := Key("pipeline", "Dockerfile")
	o := Ordered(key, members)
	first, second, third, fourth := o[0].Name, o[1].Name, o[2].Name, o[3].Name
	for _, tc := range []struct {
		name   string
		loads  map[string]int
		factor float64
		want   string
		rank   int
		passed []string
	}{
		{"no load: first in order", map[string]int{}, 1.25, first, 1, nil},
		{"all idle", map[string]int{"a": 0, "b": 0, "c": 0, "d": 0}, 1.25, first, 1, nil},
		{"first below bound", map[string]int{first: 2, second: 2, third: 2, fourth: 2}, 1.25, first, 1, nil}, // ceil(1.25×9/4) = 3
		{"at low load one build passes a member", map[string]int{first: 1, second: 0, third: 0, fourth: 0}, 1.25, second, 2,
			[]string{first + ": busy: 1 active, bound 1"}}, // ceil(1.25×2/4) = 1
		{"first busy", map[string]int{first: 4, second: 1, third: 1, fourth: 1}, 1.25, second, 2,
			[]string{first + ": busy: 4 active, bound 3"}}, // ceil(1.25×8/4) = 3
		{"first down", map[string]int{first: Down, second: 0, third: 0, fourth: 0}, 1.25, second, 2, []string{first + ": down"}},
		{"first down, second busy", map[string]int{first: Down, second: 3, third: 0, fourth: 0}, 1.25, third, 3,
			[]string{first + ": down", second + ": busy: 3 active, bound 2"}}, // ceil(1.25×4/3) = 2
		{"factor 2 keeps affinity", map[string]int{first: 3, second: 1, third: 1, fourth: 1}, 2, first, 1, nil}, // ceil(2×7/4) = 4
		{"factor 1.25 does not", map[string]int{first: 3, second: 1, third: 1, fourth: 1}, 1.25, second, 2,
			[]string{first + ": busy: 3 active, bound 3"}}, // ceil(1.25×7/4) = 3
		{"unprobed members are taken as they come", map[string]int{first: Down, second: Down}, 1.25, third, 3,
			[]string{first + ": down", second + ": down"}},
		{"infinite factor is plain rendezvous", map[string]int{first: 100, second: 0, third: 0, fourth: 0}, math.Inf(1), first, 1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, rank, passed, err := ChooseBounded(key, members, tc.loads, tc.factor)
			if err != nil {
				t.Fatal(err)
			}
			var reasons []string
			for _, p := range passed {
				reasons = append(reasons, p.String())
			}
			if got.Name != tc.want || rank != tc.rank || fmt.Sprint(reasons) != fmt.Sprint(tc.passed) {
				t.Errorf("got %s rank %d passed %q; want %s rank %d passed %q", got.Name, rank, reasons, tc.want, tc.rank, tc.passed)
			}
		})
	}
}

func TestChooseBoundedErrors(t *testing.T) {
	members := nodes("a", "b")
	for _, tc := range []struct {
		name    string
		members int
		loads   map[string]int
		factor  float64
		want    string
	}{
		{"factor below 1", 2, nil, 0.9, "max-load-factor 0.9: must be at least 1"},
		{"factor NaN", 2, nil, math.NaN(), "must be at least 1"},
		{"no members", 0, nil, 1.25, "the pool has no members"},
		{"all down", 2, map[string]int{"a": Down, "b": Down}, 1.25, "none of the 2 members answered"},
	} {
		_, _, passed, err := ChooseBounded("k", members[:tc.members], tc.loads, tc.factor)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
		if tc.name == "all down" && (len(passed) != 2 || !errors.Is(err, ErrNoMember)) {
			t.Errorf("all down: passed %v, err %v; want both passed and ErrNoMember", passed, err)
		}
	}
}

// Whatever the loads, the chosen member is up and below the bound, every
// member ranked above it is down or at the bound, and some member is
// always below it (factor ≥ 1).
func TestChooseBoundedInvariants(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	members := nodes("m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7")
	for i := 0; i < 2000; i++ {
		key := Key(fmt.Sprintf("p%d", i), "Dockerfile")
		loads := map[string]int{}
		total, up := 0, 0
		for _, m := range members {
			l := r.IntN(12) - 2 // some down
			if l < 0 {
				l = Down
			} else {
				total, up = total+l, up+1
			}
			loads[m.Name] = l
		}
		factor := 1 + r.Float64()
		got, rank, passed, err := ChooseBounded(key, members, loads, factor)
		if up == 0 {
			if err == nil {
				t.Fatalf("%v: all down but chose %s", loads, got.Name)
			}
			continue
		}
		bound := Bound(factor, total, up)
		if err != nil || loads[got.Name] < 0 || float64(loads[got.Name]) >= bound || len(passed) != rank-1 {
			t.Fatalf("loads %v factor %.2f: chose %s (rank %d, passed %v, err %v), bound %v", loads, factor, got.Name, rank, passed, err, bound)
		}
		if Ordered(key, members)[rank-1].Name != got.Name {
			t.Fatalf("rank %d is not %s's place in the order", rank, got.Name)
		}
	}
}

// With no load anywhere a key always gets its rendezvous winner.
func TestChooseBoundedIdleIsRendezvous(t *testing.T) {
	members := nodes("m0", "m1", "m2", "m3", "m4")
	idle := map[string]int{}
	for _, m := range members {
		idle[m.Name] = 0
	}
	for i := 0; i < 500; i++ {
		key := Key(fmt.Sprintf("p%d", i), "Dockerfile")
		for _, loads := range []map[string]int{nil, idle} {
			got, rank, _, err := ChooseBounded(key, members, loads, 1.25)
			if err != nil || rank != 1 || got.Name != Ordered(key, members)[0].Name {
				t.Fatalf("%s: got %s rank %d err %v, want the rendezvous winner", key, got.Name, rank, err)
			}
		}
	}
}
