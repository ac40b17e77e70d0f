package insights

import (
	"strings"
	"testing"
	"time"
)

func TestMarkdown(t *testing.T) {
	steps := record("", []fakeStep{
		{name: ContextStep, dur: time.Second, bytes: 3 << 20},
		{name: "[build 1/2] RUN echo 'a|b' `x` <script>", start: time.Second, dur: 4 * time.Second},
		{name: "[base 1/1] FROM busybox", start: time.Second, cached: true, dur: 10 * time.Millisecond},
		{name: "[build 2/2] RUN false", start: 5 * time.Second, dur: 2 * time.Second, err: "exit code: 1"},
	}, 2)
	rec := &RecordInfo{Artifact: "insights/web build.dockerbuild", Ref: "abc123"}
	cases := []struct {
		name         string
		title, svg   string
		record       *RecordInfo
		steps        []Step
		want, absent []string
	}{
		{
			name: "everything", title: "Build <web>", svg: "insights/timeline (web).svg", record: rec, steps: steps,
			want: []string{
				"#### :bar_chart: Build &lt;web&gt;\n",
				`<img src="artifact://insights/timeline%20%28web%29.svg" alt="build timeline">`,
				"**Wall time** 7.0s · **Cache** 1 of 4 steps cached (10ms in cached steps, 7.0s in executed steps) · **Context** 3.0 MiB transferred",
				"| Slowest steps | Duration | |\n|---|--:|---|\n| <code>&#91;build 1&#47;2&#93; RUN echo &#39;a&#124;b&#39; &#96;x&#96; &#60;script&#62;</code> | 4.0s | |\n",
				"| <code>&#91;build 2&#47;2&#93; RUN false</code> | 2.0s | :x: failed |\n",
				"| <code>&#91;base 1&#47;1&#93; FROM busybox</code> | 10ms | cached |\n",
				"[`web build.dockerbuild`](artifact://insights/web%20build.dockerbuild)",
				"`docker buildx history import < web build.dockerbuild`",
			},
		},
		{
			name: "insights off: the text stays", steps: steps,
			want:   []string{"**Wall time** 7.0s", "| Slowest steps |"},
			absent: []string{"<img", "####", "dockerbuild", "artifact://"},
		},
		{
			name: "lanes", steps: exampleBuild(),
			want: []string{"| Slowest steps | Lane | Duration | |\n", "| <code>linux&#47;arm64</code> | 14s | |\n", "**Context** 96.0 MiB transferred"},
		},
		{
			name: "no steps", want: []string{"**Cache** 0 of 0 steps cached"}, absent: []string{"| Slowest"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Markdown(c.title, c.steps, c.svg, c.record)
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("no %q in\n%s", w, got)
				}
			}
			for _, a := range c.absent {
				if strings.Contains(got, a) {
					t.Errorf("%q in\n%s", a, got)
				}
			}
		})
	}
}
