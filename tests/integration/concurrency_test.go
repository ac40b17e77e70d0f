package integration

// Concurrency: many concurrent jobs, each with its own content, on one daemon,
// across a pool of three, and on a daemon restarted under them (daemons of
// the test's own, see faults_helpers_test.go): every job succeeds and every
// digest its metadata file records is the one the registry answers for its
// tag.

import (
	"fmt"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/remote-buildkit/remote-buildkit/tests/faultkit"
)

// concurrentJobs runs n builds at once on hosts (one host, or a pool), job i with
// pipeline slug load-<i> and a file of its own (copied, then read by `RUN
// cat /unique > /copy` + then), pushing <repo>:job-<i>; during (if not nil)
// runs while they build. It checks each job and returns how many each
// daemon built and the results.
func concurrentJobs(t *testing.T, s *stack, n int, hosts []string, then string, during func([]*faultkit.Job)) (map[string]int, []result) {
	t.Helper()
	repo := s.repo(t)
	jobs, metas := make([]*faultkit.Job, n), make([]string, n)
	start := time.Now()
	for i := range n {
		dir := writeFiles(t, map[string]string{
			"Dockerfile": fmt.Sprintf("FROM %s\nCOPY unique /unique\nRUN cat /unique > /copy%s\n", s.BaseImage, then),
			"unique":     fmt.Sprintf("%s job %d %d\n", repo, i, time.Now().UnixNano()),
		})
		metas[i] = filepath.Join(t.TempDir(), "m.json")
		cfg := s.baseConfig(map[string]any{"buildkit-host": hosts, "tags": []string{fmt.Sprintf("%s:job-%d", repo, i)},
			"push": true, "metadata-file": metas[i], "annotate": false})
		jobs[i] = s.startBuild(t, dir, cfg, fmt.Sprintf("BUILDKITE_PIPELINE_SLUG=load-%d", i))
	}
	if during != nil {
		during(jobs)
	}
	built := map[string]int{}
	var times []time.Duration
	var rs []result
	for i, j := range jobs {
		r := finish(t, j, 120*time.Second)
		rs = append(rs, r)
		if r.Code != 0 {
			t.Errorf("job %d: %s", i, r)
			continue
		}
		times = append(times, r.Elapsed)
		tag := fmt.Sprintf("%s:job-%d", repo, i)
		got, err := s.headDigest(t, tag)
		if want := metaDigest(t, metas[i]); err != nil || got != want || want == "" {
			t.Errorf("job %d: registry answers HEAD %s with %q (%v), its metadata file has %q", i, tag, got, err, want)
		}
		host, _ := readMetadata(t, metas[i])["remote-buildkit"].(map[string]any)["buildkit_host"].(string)
		built[host]++
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	if len(times) > 0 {
		t.Logf("%d jobs on %d daemon(s) in %s (job times: median %s, max %s); built: %v", n, len(hosts), time.Since(start).Round(time.Millisecond),
			times[len(times)/2].Round(time.Millisecond), times[len(times)-1].Round(time.Millisecond), built)
	}
	return built, rs
}

// 16 concurrent jobs on one daemon.
func TestConcurrentJobsOneDaemon(t *testing.T) {
	s := requireStack(t)
	d := startDaemon(t)
	start := time.Now()
	built, _ := concurrentJobs(t, s, 16, []string{d.Host}, "", nil)
	if built[d.Host] != 16 {
		t.Errorf("built %v, want 16 on %s", built, d.Host)
	}
	if took := time.Since(start); took > 60*time.Second {
		t.Errorf("16 jobs took %s, want < 60s", took.Round(time.Millisecond))
	}
}

// 24 concurrent jobs across a pool of three: spread by rendezvous rank.
func TestParallelConcurrentJobsPool(t *testing.T) {
	s := requireStack(t)
	var hosts []string
	for range 3 {
		hosts = append(hosts, startDaemon(t).Host)
	}
	start := time.Now()
	built, _ := concurrentJobs(t, s, 24, hosts, "", nil)
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

// 8 concurrent jobs on one daemon, killed (-9) while all of them run their
// RUN step and restarted 1 s later: every job runs again and succeeds.
func TestConcurrentJobsDaemonRestart(t *testing.T) {
	s := requireStack(t)
	d := startDaemon(t)
	start := time.Now()
	_, rs := concurrentJobs(t, s, 8, []string{d.Host}, " && sleep 6", func(jobs []*faultkit.Job) {
		for _, j := range jobs {
			waitLine(t, j, stepRe("RUN cat /unique > /copy && sleep 6"), 0, 60*time.Second)
		}
		time.Sleep(time.Second)
		if err := d.Restart(time.Second); err != nil {
			t.Fatal(err)
		}
	})
	for i, r := range rs {
		if causes := retriedAfter(r.Stdout); r.Code == 0 && len(causes) != 1 {
			t.Errorf("job %d: want one attempt 2 section, got %q: %s", i, causes, r)
		}
	}
	if took := time.Since(start); took > 60*time.Second {
		t.Errorf("8 restarted jobs took %s, want < 60s", took.Round(time.Millisecond))
	}
}
