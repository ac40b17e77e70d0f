package report

import (
	"errors"
	"strings"
	"testing"

	"github.com/remote-buildkit/remote-buildkit/internal/builder"
	"github.com/remote-buildkit/remote-buildkit/internal/redact"
)

// outsideCode is body with its code spans and fenced blocks removed: what
// renders as Markdown.
func outsideCode(body string) string {
	var out strings.Builder
	lines := strings.Split(body, "\n")
	for i := 0; i < len(lines); i++ {
		if fence := strings.TrimRight(lines[i], " "); strings.HasPrefix(fence, "```") && strings.Trim(fence, "`") == "" {
			for i++; i < len(lines) && lines[i] != fence; i++ {
			}
			continue
		}
		line := lines[i]
		for {
			start := strings.Index(line, "`")
			if start < 0 {
				break
			}
			n := len(line[start:]) - len(strings.TrimLeft(line[start:], "`"))
			end := strings.Index(line[start+n:], line[start:start+n])
			if end < 0 {
				break
			}
			line = line[:start] + line[start+n+end+n:]
		}
		out.WriteString(line + "\n")
	}
	return out.String()
}

func TestBuildTextRendersAsCode(t *testing.T) {
	evil := "[x](http://evil) ![i](http://e/i.png) <img src=x> `tick` a|b"
	red := redact.New(redact.DefaultPatterns, nil, map[string]string{"NPM_TOKEN": "s3cr3t"})
	err := &builder.StepError{
		Step: "[2/2] RUN echo s3cr3t " + evil,
		Log:  []string{"s3cr3t", evil, "```", "</code>" + evil},
		Err:  errors.New("process \"/bin/sh -c echo s3cr3t " + evil + "\" did not complete successfully: exit code: 9"),
	}
	failure := Failure("remote-buildkit: Dockerfile failed", err, red)
	success := Success("target "+evil, &builder.Result{
		Pushed: []string{"r/x:" + evil + "@sha256:1"}, Digest: "sha256:1", Platforms: []string{evil},
		DaemonVersion: evil, Host: "tcp://" + evil,
	}, red)
	for name, body := range map[string]string{"failure": failure, "success": success} {
		if strings.Contains(body, "s3cr3t") {
			t.Errorf("%s annotation holds the secret:\n%s", name, body)
		}
		md := outsideCode(body)
		for _, bad := range []string{"](http", "<img", "<a ", "</code>"} {
			if strings.Contains(md, bad) {
				t.Errorf("%s annotation has %q outside code:\n%s\n(outside code:\n%s)", name, bad, body, md)
			}
		}
	}
	if !strings.Contains(failure, "exit code: 9") || !strings.Contains(failure, "RUN echo [REDACTED]") {
		t.Errorf("failure annotation lost the error:\n%s", failure)
	}
}
