// Package insights turns a build's progress stream into build insights for
// the Buildkite UI: per-step timings (Recorder, Step), their summary
// (Summarize), a timeline image (RenderSVG), the annotation body (Markdown)
// and the build record Docker Desktop imports (ExportRecord).
//
// # Metadata file
//
// The steps go under "remote-buildkit" → "steps" as a JSON array of Step,
// one object per BuildKit vertex, by lane then start (these tags are stable):
//
//	"steps": [
//	  {
//	    "lane": "linux/arm64",                   // omitted when "" (a build with one lane)
//	    "name": "[build 2/3] RUN make",          // the vertex name as BuildKit shows it
//	    "digest": "sha256:…",                    // the vertex digest
//	    "start": "2026-12-01T21:50:01.123456Z",  // RFC 3339; omitted when it never started
//	    "end": "2026-12-01T21:50:04.5Z",         // omitted when it never finished
//	    "seconds": 3.376544,                     // end − start; 0 when either is missing
//	    "cached": false,
//	    "error": "process … exit code: 2",      // omitted when it succeeded
//	    "bytes": 1234567                         // bytes transferred (the build context, the
//	  }                                          // Dockerfile); omitted when 0
//	]
//
// and the summary (Summary) fits beside it, e.g. under "insights":
//
//	{"wall_seconds": 12.5, "steps": 14, "cached_steps": 6, "cached_seconds": 0.4,
//	 "executed_seconds": 15.2, "context_bytes": 1234567,
//	 "slowest": [Step, …],          // at most five, longest first
//	 "failed": "[build 3/3] RUN …"} // the first failed step; omitted when none
//
// cached_seconds and executed_seconds add up the steps' own durations; steps
// run in parallel, so their sum can exceed wall_seconds (first start to last
// end). context_bytes adds up the "[internal] load build context" steps of
// all lanes. A step cancelled because another failed ("context canceled") is
// not failed.
//
// # Lanes
//
// Recorder.Lane names the lane of everything one Recorder sees (the platform
// of a node in a split build, or a bake target). Steps a multi-platform
// Dockerfile build names "[linux/arm64 …] …" get that platform added
// ("web linux/arm64"), so one solve of several platforms draws one lane a
// platform; steps without it (the shared "[internal] …" ones) keep Lane.
package insights
