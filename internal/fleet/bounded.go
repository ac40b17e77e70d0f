package fleet

// Consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam,
// "Consistent Hashing with Bounded Loads", 2016) on the rendezvous order:
// a key goes to its best-ranked member unless that member already runs more
// than its share of the fleet's builds, then to the next one.

import (
	"errors"
	"fmt"
	"math"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
)

// Down is the load of a member that did not answer the probe.
const Down = -1

// ErrNoMember: the pool is empty or no member answered.
var ErrNoMember = errors.New("no BuildKit member available")

// Passed is a member ranked above the chosen one and skipped.
type Passed struct {
	Node   config.Node
	Active int // Down when it did not answer
	Bound  int // the bound it was held to (0 when down)
	Reason string
}

func (p Passed) String() string { return p.Node.Name + ": " + p.Reason }

// Bound is the most builds a member may already run and still take one
// more: ceil(factor × (total + 1) / members), for total active builds on
// members up members.
func Bound(factor float64, total, members int) float64 {
	return math.Ceil(factor * float64(total+1) / float64(members))
}

// ChooseBounded walks the rendezvous order for key and takes the first
// member that is up and whose active count is below Bound(factor, total
// active, members up). loads is keyed by Node.Name; Down marks a member that
// did not answer, and a member missing from loads was not probed: it is
// taken as it comes (not counted in the bound, never skipped as busy). rank
// is the chosen member's 1-based position; passed lists the members ranked
// above it. Without load anywhere a key always gets its first member.
func ChooseBounded(key string, members []config.Node, loads map[string]int, factor float64) (chosen config.Node, rank int, passed []Passed, err error) {
	if math.IsNaN(factor) || factor < 1 {
		return config.Node{}, 0, nil, fmt.Errorf("max-load-factor %v: must be at least 1", factor)
	}
	total, up := 0, 0
	for _, n := range members {
		if l, ok := loads[n.Name]; ok && l >= 0 {
			total += l
			up++
		}
	}
	bound := math.Inf(1)
	if up > 0 {
		bound = Bound(factor, total, up)
	}
	for i, n := range Ordered(key, members) {
		l, probed := loads[n.Name]
		switch {
		case probed && l < 0:
			passed = append(passed, Passed{Node: n, Active: Down, Reason: "down"})
		case probed && float64(l) >= bound:
			b := int(bound)
			passed = append(passed, Passed{Node: n, Active: l, Bound: b, Reason: fmt.Sprintf("busy: %d active, bound %d", l, b)})
		default:
			return n, i + 1, passed, nil
		}
	}
	if len(members) == 0 {
		return config.Node{}, 0, nil, fmt.Errorf("%w: the pool has no members", ErrNoMember)
	}
	return config.Node{}, 0, passed, fmt.Errorf("%w: none of the %d members answered", ErrNoMember, len(members))
}
