package fleet

// A simulation of routing strategies on a pool: jobs from
// pipelines of Zipf-distributed popularity arrive in bursts and run for a
// random time on one of the members; each strategy is scored on affinity
// (does a pipeline keep its cache?) and balance (how much busier is the
// busiest member than the mean?). Deterministic: a fixed seed.
//
//	go test -run TestSimulation -v ./internal/fleet/
//	SIM_RESULTS=bench/results/sim-DATE.md go test -run TestSimulation ./internal/fleet/   # also writes the tables

import (
	"container/heap"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
)

// simParams are the workload's knobs.
type simParams struct {
	Seed        uint64
	Jobs        int
	Pipelines   int
	ZipfS       float64 // popularity exponent (math/rand/v2 Zipf s, v = 1)
	Members     int
	MeanActive  float64 // target mean active builds per member
	MedianSec   float64 // job duration: log-normal with this median
	Sigma       float64 // and this σ of its log
	BurstSpread float64 // seconds over which a burst's jobs start
	LagSec      float64 // a build shows in the probe this long after it starts
	FixedBurst  int     // > 0: every burst has this many jobs (else burstSize)
}

var defaultSim = simParams{Seed: 13, Jobs: 10_000, Pipelines: 500, ZipfS: 1.1, Members: 8, MeanActive: 4,
	MedianSec: 120, Sigma: 0.8, BurstSpread: 5, LagSec: 0.5}

// burstSize: half the bursts are one job, the others 2–8 (a merge starting
// several jobs of one pipeline); mean 3.
func burstSize(r *rand.Rand) int {
	if r.IntN(2) == 0 {
		return 1
	}
	return 2 + r.IntN(7)
}

type simJob struct {
	pipeline   int
	start, dur float64
}

// workload generates the jobs, sorted by start time.
func workload(p simParams) []simJob {
	r := rand.New(rand.NewPCG(p.Seed, p.Seed^0x5eed))
	zipf := rand.NewZipf(r, p.ZipfS, 1, uint64(p.Pipelines-1))
	meanDur := p.MedianSec * math.Exp(p.Sigma*p.Sigma/2)
	perBurst := 3.0
	if p.FixedBurst > 0 {
		perBurst = float64(p.FixedBurst)
	}
	burstRate := p.MeanActive * float64(p.Members) / (perBurst * meanDur) // bursts per second
	var jobs []simJob
	t := 0.0
	for len(jobs) < p.Jobs {
		t += r.ExpFloat64() / burstRate
		pl := int(zipf.Uint64())
		k := burstSize(r)
		if p.FixedBurst > 0 {
			k = p.FixedBurst
		}
		for ; k > 0 && len(jobs) < p.Jobs; k-- {
			dur := p.MedianSec * math.Exp(p.Sigma*r.NormFloat64())
			jobs = append(jobs, simJob{pipeline: pl, start: t + r.Float64()*p.BurstSpread, dur: min(dur, 3600)})
		}
	}
	slices.SortStableFunc(jobs, func(a, b simJob) int { return cmpFloat(a.start, b.start) })
	return jobs
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// strategy picks a member index for a job from what the probe sees.
type strategy struct {
	name   string
	choose func(r *rand.Rand, key string, members []config.Node, visible []int) int
}

func boundedStrategy(name string, factor float64, probe int) strategy {
	return strategy{name, func(_ *rand.Rand, key string, members []config.Node, visible []int) int {
		loads := map[string]int{}
		top := Ordered(key, members)
		if probe > 0 {
			top = top[:probe]
		}
		for _, n := range top {
			loads[n.Name] = visible[memberIndex(n)]
		}
		n, _, _, err := ChooseBounded(key, members, loads, factor)
		if err != nil {
			panic(err)
		}
		return memberIndex(n)
	}}
}

func memberIndex(n config.Node) int {
	var i int
	fmt.Sscanf(n.Name, "m%d", &i)
	return i
}

var (
	randomStrategy = strategy{"random", func(r *rand.Rand, _ string, members []config.Node, _ []int) int {
		return r.IntN(len(members))
	}}
	rendezvousStrategy = strategy{"rendezvous", func(_ *rand.Rand, key string, members []config.Node, _ []int) int {
		return memberIndex(Ordered(key, members)[0])
	}}
	// leastLoaded ignores keys: the best balance this arrival process allows
	// (with the same probe lag), and no affinity.
	leastLoadedStrategy = strategy{"least loaded (reference)", func(r *rand.Rand, _ string, _ []config.Node, visible []int) int {
		var best []int
		for i, v := range visible {
			switch {
			case len(best) == 0 || v < visible[best[0]]:
				best = []int{i}
			case v == visible[best[0]]:
				best = append(best, i)
			}
		}
		return best[r.IntN(len(best))]
	}}
)

// departure is a running job's end on a member.
type departure struct {
	end    float64
	member int
	id     int
}

type departures []departure

func (d departures) Len() int           { return len(d) }
func (d departures) Less(i, j int) bool { return d[i].end < d[j].end }
func (d departures) Swap(i, j int)      { d[i], d[j] = d[j], d[i] }
func (d *departures) Push(x any)        { *d = append(*d, x.(departure)) }
func (d *departures) Pop() any {
	old := *d
	x := old[len(old)-1]
	*d = old[:len(old)-1]
	return x
}

// simState is the fleet while the jobs run, and what it measures.
type simState struct {
	members  int
	running  [][]simJobRun // per member
	ends     departures
	now      float64
	area     float64 // ∫ total active dt
	areaMax  float64 // ∫ busiest member's active dt
	peak     int
	samples  [][2]float64 // (busiest/mean, dt) where mean ≥ 1
	duration float64
}

type simJobRun struct {
	id    int
	start float64
}

// advance moves the clock to t, ending the jobs due by then and
// integrating the loads in between.
func (s *simState) advance(t float64) {
	for {
		next := t
		if len(s.ends) > 0 && s.ends[0].end < t {
			next = s.ends[0].end
		}
		s.integrate(next - s.now)
		s.now = next
		if next == t {
			return
		}
		d := heap.Pop(&s.ends).(departure)
		s.running[d.member] = slices.DeleteFunc(s.running[d.member], func(j simJobRun) bool { return j.id == d.id })
	}
}

func (s *simState) integrate(dt float64) {
	if dt <= 0 {
		return
	}
	total, busiest := 0, 0
	for _, r := range s.running {
		total += len(r)
		busiest = max(busiest, len(r))
	}
	s.area += dt * float64(total)
	s.areaMax += dt * float64(busiest)
	s.duration += dt
	if mean := float64(total) / float64(s.members); mean >= 1 {
		s.samples = append(s.samples, [2]float64{float64(busiest) / mean, dt})
	}
}

// visible is each member's count as a probe at the current time sees it:
// builds started more than lag ago.
func (s *simState) visible(lag float64) []int {
	out := make([]int, s.members)
	for m, r := range s.running {
		for _, j := range r {
			if j.start <= s.now-lag {
				out[m]++
			}
		}
	}
	return out
}

// simResult is one strategy's score.
type simResult struct {
	Affinity     float64 // share of jobs on their pipeline's most-used member
	Top2         float64 // share of jobs on their pipeline's two most-used members
	PeakOverMean float64 // highest count on any member / mean active per member
	BusiestAvg   float64 // time-averaged busiest member / mean
	P99          float64 // 99th percentile (over time) of busiest / mean, where mean ≥ 1
	MeanActive   float64
}

func simulate(p simParams, jobs []simJob, st strategy) simResult {
	members := make([]config.Node, p.Members)
	for i := range members {
		members[i] = config.Node{Name: fmt.Sprintf("m%d", i), Host: fmt.Sprintf("tcp://10.0.0.%d:1234", i+1)}
	}
	r := rand.New(rand.NewPCG(p.Seed, 7))
	s := &simState{members: p.Members, running: make([][]simJobRun, p.Members), now: jobs[0].start}
	counts := make([][]int, p.Pipelines)
	for i := range counts {
		counts[i] = make([]int, p.Members)
	}
	for id, j := range jobs {
		s.advance(j.start)
		m := st.choose(r, Key(fmt.Sprint("pipeline-", j.pipeline), "Dockerfile"), members, s.visible(p.LagSec))
		s.running[m] = append(s.running[m], simJobRun{id: id, start: j.start})
		s.peak = max(s.peak, len(s.running[m]))
		heap.Push(&s.ends, departure{end: j.start + j.dur, member: m, id: id})
		counts[j.pipeline][m]++
	}
	kept, kept2 := 0, 0
	for _, c := range counts {
		c = slices.Clone(c)
		slices.Sort(c)
		kept, kept2 = kept+c[len(c)-1], kept2+c[len(c)-1]+c[len(c)-2]
	}
	mean := s.area / s.duration / float64(p.Members)
	return simResult{
		Affinity:     float64(kept) / float64(len(jobs)),
		Top2:         float64(kept2) / float64(len(jobs)),
		PeakOverMean: float64(s.peak) / mean,
		BusiestAvg:   s.areaMax / s.area * float64(p.Members),
		P99:          weightedQuantile(s.samples, 0.99),
		MeanActive:   mean,
	}
}

// weightedQuantile is the q-quantile of values weighted by their durations.
func weightedQuantile(samples [][2]float64, q float64) float64 {
	if len(samples) == 0 {
		return math.NaN()
	}
	s := slices.Clone(samples)
	slices.SortFunc(s, func(a, b [2]float64) int { return cmpFloat(a[0], b[0]) })
	total := 0.0
	for _, x := range s {
		total += x[1]
	}
	acc := 0.0
	for _, x := range s {
		acc += x[1]
		if acc >= q*total {
			return x[0]
		}
	}
	return s[len(s)-1][0]
}

func simStrategies() []strategy {
	return []strategy{randomStrategy, rendezvousStrategy, leastLoadedStrategy,
		boundedStrategy("bounded 1.1", 1.1, 0), boundedStrategy("bounded 1.25", 1.25, 0),
		boundedStrategy("bounded 1.5", 1.5, 0), boundedStrategy("bounded 2", 2, 0),
		boundedStrategy("bounded 3", 3, 0), boundedStrategy("bounded 1.25, probe top 3", 1.25, 3)}
}

func simTable(p simParams, strategies []strategy) (string, map[string]simResult) {
	jobs := workload(p)
	var b strings.Builder
	b.WriteString("| strategy | affinity | on top 2 | peak / mean | busiest / mean (time avg) | busiest / mean (p99) |\n|---|---|---|---|---|---|\n")
	out := map[string]simResult{}
	for _, st := range strategies {
		res := simulate(p, jobs, st)
		out[st.name] = res
		fmt.Fprintf(&b, "| %s | %.1f %% | %.1f %% | %.2f | %.2f | %.2f |\n", st.name, 100*res.Affinity, 100*res.Top2, res.PeakOverMean, res.BusiestAvg, res.P99)
	}
	return b.String(), out
}

// simSweep is bounded load's affinity / time-averaged busiest÷mean over one
// parameter (set by vary) and the factors.
func simSweep(title string, values []float64, vary func(*simParams, float64)) string {
	factors := []float64{1.25, 1.5, 2, 3}
	var b strings.Builder
	fmt.Fprintf(&b, "| %s | rendezvous |", title)
	for _, f := range factors {
		fmt.Fprintf(&b, " bounded %v |", f)
	}
	b.WriteString(" least loaded |\n|---|---|" + strings.Repeat("---|", len(factors)+1) + "\n")
	for _, v := range values {
		p := defaultSim
		vary(&p, v)
		sts := []strategy{rendezvousStrategy}
		for _, f := range factors {
			sts = append(sts, boundedStrategy(fmt.Sprint(f), f, 0))
		}
		sts = append(sts, leastLoadedStrategy)
		_, res := simTable(p, sts)
		fmt.Fprintf(&b, "| %v |", v)
		for _, st := range sts {
			fmt.Fprintf(&b, " %.0f %% / %.2f |", 100*res[st.name].Affinity, res[st.name].BusiestAvg)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// simReport (the sweeps take ~10 s) is the whole markdown report (bench/results/sim-DATE.md up to
// its notes).
func simReport(main string) string {
	p := defaultSim
	return fmt.Sprintf(`# Routing on a pool: random, rendezvous, bounded-load rendezvous (simulation)

Generated by `+"`SIM_RESULTS=<this file> go test -run TestSimulation ./internal/fleet/`"+` (internal/fleet/sim_test.go,
deterministic seed %d; ChooseBounded is the production function).

Workload: %d jobs from %d pipelines (one routing key each), popularity Zipf s = %v, v = 1 (the top pipeline
has ~18 %% of the jobs, the second ~10 %%); jobs arrive in bursts (Poisson; half the bursts one job, the others
2–8 jobs of one pipeline starting within %v s); durations log-normal, median %v s, σ = %v (mean ≈ 165 s, capped at
1 h); %d members; arrival rate set for a mean of %v active builds per member. A probe sees a build %v s after it
starts (the time from probe to the build's history record); completions are seen at once.

Columns: *affinity* = share of jobs that ran on their pipeline's most-used member (weighted over jobs);
*on top 2* = on its two most-used members (bounded load spills to the key's second-ranked member first, whose
cache is then warm too); *peak / mean* = the highest active count any member ever had over the mean active
count per member; *busiest / mean* = at each moment, the busiest member's count over the mean per member,
averaged over time (time avg) or its 99th percentile over the time the mean is at least 1 (p99).
*least loaded* ignores the key (best balance with the same probe lag, no affinity): the floor for balance.

## Main run (mean %v active per member, lag %v s)

%s
## Bounded load over the load level (affinity / time-averaged busiest÷mean)

%s
## Over the probe lag (mean 4 active per member)

%s
## Over the burst size (mean 4 active per member; all bursts of this many jobs)

%s
## Over the burst spread (mean 4 active per member; a burst's jobs start within this many seconds)

%s
`, p.Seed, p.Jobs, p.Pipelines, p.ZipfS, p.BurstSpread, p.MedianSec, p.Sigma, p.Members, p.MeanActive, p.LagSec,
		p.MeanActive, p.LagSec, main,
		simSweep("mean active per member", []float64{1, 2, 4, 8, 16}, func(p *simParams, v float64) { p.MeanActive = v }),
		simSweep("probe lag (s)", []float64{0, 0.5, 2, 10}, func(p *simParams, v float64) { p.LagSec = v }),
		simSweep("jobs per burst", []float64{1, 3, 8}, func(p *simParams, v float64) { p.FixedBurst = int(v) }),
		simSweep("burst spread (s)", []float64{0, 1, 5, 20}, func(p *simParams, v float64) { p.BurstSpread = v }))
}

const simNotesMarker = "<!-- notes: kept when the file is regenerated -->"

func TestSimulation(t *testing.T) {
	table, res := simTable(defaultSim, simStrategies())
	t.Logf("%+v\n%s", defaultSim, table)
	random, rendezvous, b125 := res["random"], res["rendezvous"], res["bounded 1.25"]
	if rendezvous.Affinity != 1 {
		t.Errorf("rendezvous affinity %.3f, want 1", rendezvous.Affinity)
	}
	// The trade-off the factor sets: affinity rises and balance worsens with it.
	prev := simResult{}
	for _, f := range []string{"1.1", "1.25", "1.5", "2", "3"} {
		r := res["bounded "+f]
		if r.Affinity <= prev.Affinity || r.BusiestAvg <= prev.BusiestAvg {
			t.Errorf("bounded %s: affinity %.3f, busiest %.2f; want both above the smaller factor's (%.3f, %.2f)", f, r.Affinity, r.BusiestAvg, prev.Affinity, prev.BusiestAvg)
		}
		prev = r
	}
	if b125.Affinity < 2*random.Affinity || b125.BusiestAvg > random.BusiestAvg || b125.PeakOverMean > rendezvous.PeakOverMean/2 {
		t.Errorf("bounded 1.25 (%+v) must keep twice random's affinity (%+v) at no worse balance, and halve rendezvous's peak (%+v)", b125, random, rendezvous)
	}
	met := []string{}
	for name, r := range res {
		if r.Affinity >= 0.9 && r.BusiestAvg <= 1.25 {
			met = append(met, name)
		}
	}
	t.Logf("strategies meeting affinity >= 90 %% with busiest <= 1.25x mean: %v", met)
	if path := os.Getenv("SIM_RESULTS"); path != "" {
		writeSimReport(t, path, simReport(table))
	}
}

func writeSimReport(t *testing.T, path, report string) {
	notes := "\n" + simNotesMarker + "\n"
	if old, err := os.ReadFile(path); err == nil {
		if i := strings.Index(string(old), simNotesMarker); i >= 0 {
			notes = "\n" + string(old[i:])
		}
	}
	if err := os.WriteFile(path, []byte(report+notes), 0o644); err != nil {
		t.Fatal(err)
	}
}
