package main

// --- 8. insights overhead ----------------------------------------------------
//
// The same small, fully cached build with `insights: true` (timeline SVG and
// the daemon's build record exported to .remote-buildkit/) and with
// `insights: false`, alternating; the cost of insights is the difference.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

const insightsDockerfile = `FROM %s
COPY data /data
RUN cat /data/* | sha256sum > /sum
`

func insightsOverhead(notes *[]string) {
	dir, err := os.MkdirTemp("", "bench-insights-")
	must(err)
	defer os.RemoveAll(dir)
	must(os.MkdirAll(filepath.Join(dir, "data"), 0o755))
	for i := 0; i < 10; i++ {
		must(os.WriteFile(filepath.Join(dir, "data", fmt.Sprintf("f%d", i)), []byte(fmt.Sprintf("file %d\n", i)), 0o644))
	}
	must(os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(fmt.Sprintf(insightsDockerfile, stackEnv("STACK_BASE_IMAGE"))), 0o644))
	must(os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte(".remote-buildkit\n"), 0o644))
	out := filepath.Join(dir, ".remote-buildkit")
	build := func(on bool) func() time.Duration {
		cfg, _ := json.Marshal(map[string]any{"buildkit-host": stackEnv("STACK_BUILDKIT_HOST"), "tls-dir": stackEnv("STACK_TLS_DIR"),
			"insights": on, "progress": "quiet", "annotate": false, "version-check": "off"})
		env := []string{"BUILDKITE_PLUGIN_CONFIGURATION=" + string(cfg), "BUILDKITE_PIPELINE_SLUG=bench-insights", "BUILDKITE=",
			"DOCKER_CONFIG=" + stackEnv("STACK_DOCKER_CONFIG")}
		return func() time.Duration {
			must(os.RemoveAll(out)) // each run writes its own files (not timed)
			wall := run(env, dir, *bin, "build").wall
			for _, f := range []string{"timeline.svg", "build.dockerbuild"} {
				if _, err := os.Stat(filepath.Join(out, f)); (err == nil) != on {
					fail("insights: %v: .remote-buildkit/%s: %v", on, f, err)
				}
			}
			return wall
		}
	}
	on, off := build(true), build(false)
	on() // warm-up: everything cached from here on
	off()
	n := max(20, 4**runs)
	a, b := alternate(n, on, off)
	diffs := make([]time.Duration, n)
	for i := range a {
		diffs[i] = a[i] - b[i]
	}
	d := median(diffs)
	verdict := "met"
	if d > 50*time.Millisecond {
		verdict = "MISSED"
	}
	rows = append(rows, row{what: "insights overhead, warm build (`insights: true` vs `false`)", a: ms(median(a)), b: ms(median(b)),
		ratio: fmt.Sprintf("%+.1f ms", float64(d.Microseconds())/1000), target: "≤ 50 ms", verdict: verdict,
		raw: fmt.Sprintf("insights: true %v; false %v; paired differences %v", a, b, diffs)})
	fmt.Printf("%-45s true %-9s false %-9s median difference %s\n", "insights overhead, warm build", ms(median(a)), ms(median(b)), ms(d))
	*notes = append(*notes, fmt.Sprintf("Insights: a small build (10 files, `COPY` + one `RUN`, no push), fully cached after one warm-up run each, %d alternating runs with `insights: true` (writes .remote-buildkit/timeline.svg and exports the daemon's build record to .remote-buildkit/build.dockerbuild; both checked after every run, and their absence with `false`) and `insights: false`; the baseline column is `false`, the ratio column the median of the paired differences (true − false of the same round).", n))
}
