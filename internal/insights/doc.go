// Package insights turns a build's progress stream into build insights for
// the Buildkite UI: per-step timings (Recorder, Step), their summary
// (Summarize), a timeline image (RenderSVG), the annotation body (Markdown)
// and the build record that Docker Desktop imports (ExportRecord).
//
// The metadata file holds the steps under "remote-buildkit" → "steps" as a
// JSON array, one object per BuildKit vertex, ordered by lane then start:
//
//	"steps": [
//	  {
//	    "lane": "linux/arm64",                    // omitted when the build has one lane
//	    "name": "[build 2/3] RUN make",           // the vertex name as BuildKit shows it
//	    "digest": "sha256:…",                     // the vertex digest
//	    "start": "2026-12-01T21:50:01.123456Z",   // RFC 3339, omitted when it never started
//	    "end": "2026-12-01T21:50:04.5Z",          // omitted when it never finished
//	    "seconds": 3.377,                         // end − start, 0 when either is missing
//	    "cached": false,
//	    "error": "process … did not complete",  // omitted when it succeeded
//	    "bytes": 1234567                          // bytes transferred (build context), omitted when 0
//	  }
//	]
//
// and the summary under "remote-buildkit" → "insights" (Summary):
//
//	{"wall_seconds": 12.5, "steps": 14, "cached_steps": 6,
//	 "cached_seconds": 0.4, "executed_seconds": 15.2, "context_bytes": 1234567,
//	 "slowest": [{"name": "…", "lane": "…", "seconds": 8.1, "cached": false}, …]}
//
// cached_seconds and executed_seconds add up the steps' own durations; steps
// run in parallel, so their sum can exceed wall_seconds.
package insights
