package report

import (
	"errors"
	"strings"
	"testing"

	"github.com/remote-buildkit/remote-buildkit/internal/redact"
	"github.com/remote-buildkit/remote-buildkit/internal/solve"
)

func TestBuildTextRendersAsCode(t *testing.T) {
	evil := "[x](http://evil) ![i](http://e/i.png) <img src=x> `tick` a|b"
	red := redact.New(redact.DefaultPatterns, nil, map[string]string{"NPM_TOKEN": "s3cr3t"})
	err := &solve.StepError{
		Step: "[2/2] RUN echo s3cr3t " + evil,
		Log:  []string{"s3cr3t", evil, "```", "</code>" + evil},
		Err:  errors.New("process \"/bin/sh -c echo s3cr3t " + evil + "\" did not complete successfully: exit code: 9"),
	}
	failure := Failure("remote-buildkit: Dockerfile failed", err, red)
	success := Success("target "+evil, &solve.Result{
		Pushed: []string{"r/x:s3cr3t@sha256:1"}, Digest: "sha256:1", Platforms: []string{evil},
		DaemonVersion: evil, Host: "tcp://" + evil,
	}, red)
	for name, body := range map[string]string{"failure": failure, "success": success} {
		if strings.Contains(body, "s3cr3t") {
			t.Errorf("%s annotation holds the secret:\n%s", name, body)
		}
		for _, bad := range []string{"](http", "<img", "<a "} {
			if strings.Contains(body, bad) {
				t.Errorf("%s annotation has %q:\n%s", name, bad, body)
			}
		}
	}
	if !strings.Contains(failure, "exit code: 9") || !strings.Contains(failure, "RUN echo &#91;REDACTED&#93;") {
		t.Errorf("failure annotation lost the error:\n%s", failure)
	}
}
