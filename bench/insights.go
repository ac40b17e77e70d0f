package main

// --- 8. insights overhead ----------------------------------------------------
//
// The same small, fully cached build with `insights: true` (the timeline SVG;
// the build record is opt-in), with `insights: {record: true}` (the daemon's
// build record exported to .remote-buildkit/ too) and with `insights: false`,
// alternating with `false`; the cost of insights is the paired difference.

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

// insightsFiles are the files each insights setting leaves in .remote-buildkit/.
var insightsFiles = []string{"timeline.svg", "build.dockerbuild"}

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
	off := insightsBuild(dir, false, 0)
	on := insightsBuild(dir, true, 1)                            // timeline.svg only
	rec := insightsBuild(dir, map[string]any{"record": true}, 2) // timeline.svg and build.dockerbuild
	on()                                                         // warm-up: everything cached from here on
	rec()
	off()
	n := max(20, 4**runs)
	insightsRow("insights overhead, warm build (`insights: true` vs `false`)", n, on, off)
	insightsRow("insights with the build record (`insights: {record: true}` vs `false`)", n, rec, off)
	*notes = append(*notes, fmt.Sprintf("Insights: a small build (10 files, `COPY` + one `RUN`, no push), fully cached after one warm-up run each, %d alternating runs of `insights: true` (writes .remote-buildkit/timeline.svg; the record is opt-in) and of `insights: {record: true}` (also exports the daemon's build record to .remote-buildkit/build.dockerbuild), each against `insights: false`; which files exist is checked after every run. The baseline column is `false`, the ratio column the median of the paired differences (setting − false of the same round).", n))
}

// insightsBuild is one timed build of dir with the given insights setting,
// checking that exactly the first want of insightsFiles were written.
func insightsBuild(dir string, setting any, want int) func() time.Duration {
	out := filepath.Join(dir, ".remote-buildkit")
	cfg, _ := json.Marshal(map[string]any{"buildkit-host": stackEnv("STACK_BUILDKIT_HOST"), "tls-dir": stackEnv("STACK_TLS_DIR"),
		"insights": setting, "progress": "quiet", "annotate": false, "version-check": "off"})
	env := []string{"BUILDKITE_PLUGIN_CONFIGURATION=" + string(cfg), "BUILDKITE_PIPELINE_SLUG=bench-insights", "BUILDKITE=",
		"DOCKER_CONFIG=" + stackEnv("STACK_DOCKER_CONFIG")}
	return func() time.Duration {
		must(os.RemoveAll(out)) // each run writes its own files (not timed)
		wall := run(env, dir, *bin, "build").wall
		for i, f := range insightsFiles {
			if _, err := os.Stat(filepath.Join(out, f)); (err == nil) != (i < want) {
				fail("insights: %s: .remote-buildkit/%s: want it written %v: %v", cfg, f, i < want, err)
			}
		}
		return wall
	}
}

// insightsRow times n alternating rounds of a against b and adds the row.
func insightsRow(what string, n int, a, b func() time.Duration) {
	as, bs := alternate(n, a, b)
	diffs := make([]time.Duration, n)
	for i := range as {
		diffs[i] = as[i] - bs[i]
	}
	d := median(diffs)
	verdict := "met"
	if d > 50*time.Millisecond {
		verdict = "MISSED"
	}
	rows = append(rows, row{what: what, a: ms(median(as)), b: ms(median(bs)),
		ratio: fmt.Sprintf("%+.1f ms", float64(d.Microseconds())/1000), target: "≤ 50 ms", verdict: verdict,
		raw: fmt.Sprintf("setting %v; false %v; paired differences %v", as, bs, diffs)})
	fmt.Printf("%-72s %-9s false %-9s median difference %s\n", what, ms(median(as)), ms(median(bs)), ms(d))
}
