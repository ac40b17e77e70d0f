package integration

// Load: many concurrent jobs, each with its own content, on one daemon and
// across a pool of three (daemons of the test's own, see
// faults_helpers_test.go): every job succeeds and every digest its metadata
// file records is the one the registry answers for its tag.

import (
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"
)

// loadJobs runs n builds at once on hosts (one host, or a pool), job i with
// pipeline slug load-<i> and a file of its own (copied, then read by a RUN),
// pushing <repo>:job-<i>; it checks each job and returns how many each
// daemon built.
func loadJobs(t *testing.T, s *stack, n int, hosts []string) map[string]int {
	t.Helper()
	repo := s.repo(t)
	type out struct {
		r    result
		meta string
	}
	outs := make([]out, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		dir := writeFiles(t, map[string]string{
			"Dockerfile": fmt.Sprintf("FROM %s\nCOPY unique /unique\nRUN cat /unique > /copy\n", s.BaseImage),
			"unique":     fmt.Sprintf("%s job %d %d\n", repo, i, time.Now().UnixNano()),
		})
		outs[i].meta = filepath.Join(t.TempDir(), "m.json")
		cfg := s.baseConfig(map[string]any{"buildkit-host": hosts, "tags": []string{fmt.Sprintf("%s:job-%d", repo, i)},
			"push": true, "metadata-file": outs[i].meta, "progress": "quiet", "annotate": false})
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i].r = s.run(t, dir, cfg, fmt.Sprintf("BUILDKITE_PIPELINE_SLUG=load-%d", i))
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	built := map[string]int{}
	var times []time.Duration
	for i, o := range outs {
		if o.r.Code != 0 {
			t.Errorf("job %d: %s", i, o.r)
			continue
		}
		times = append(times, o.r.Elapsed)
		tag := fmt.Sprintf("%s:job-%d", repo, i)
		got, err := s.headDigest(t, tag)
		if want := metaDigest(t, o.meta); err != nil || got != want || want == "" {
			t.Errorf("job %d: registry answers HEAD %s with %q (%v), its metadata file has %q", i, tag, got, err, want)
		}
		host, _ := readMetadata(t, o.meta)["remote-buildkit"].(map[string]any)["buildkit_host"].(string)
		built[host]++
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	if len(times) > 0 {
		t.Logf("%d jobs on %d daemon(s) in %s (job times: median %s, max %s); built: %v", n, len(hosts),
			wall.Round(time.Millisecond), times[len(times)/2].Round(time.Millisecond), times[len(times)-1].Round(time.Millisecond), built)
	}
	return built
}

// 16 concurrent jobs on one daemon.
func TestLoadJobsOneDaemon(t *testing.T) {
	s := requireStack(t)
	d := startDaemon(t)
	start := time.Now()
	built := loadJobs(t, s, 16, []string{d.Host})
	if built[d.Host] != 16 {
		t.Errorf("built %v, want 16 on %s", built, d.Host)
	}
	if took := time.Since(start); took > 60*time.Second {
		t.Errorf("16 jobs took %s, want < 60s", took.Round(time.Millisecond))
	}
}

// 24 concurrent jobs across a pool of three: spread by rendezvous rank.
func TestLoadJobsPool(t *testing.T) {
	s := requireStack(t)
	var hosts []string
	for range 3 {
		hosts = append(hosts, startDaemon(t).Host)
	}
	start := time.Now()
	built := loadJobs(t, s, 24, hosts)
	if len(built) < 2 {
		t.Errorf("every job went to one member: %v", built)
	}
	for h := range built {
		if h != hosts[0] && h != hosts[1] && h != hosts[2] {
			t.Errorf("a job was built on %s, not a pool member", h)
		}
	}
	if took := time.Since(start); took > 75*time.Second {
		t.Errorf("24 jobs took %s, want < 75s", took.Round(time.Millisecond))
	}
}
