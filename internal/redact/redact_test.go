package redact

import (
	"slices"
	"testing"
)

func TestPatterns(t *testing.T) {
	for _, tt := range []struct {
		env  string
		want []string
	}{
		{"", DefaultPatterns},
		{" , ", DefaultPatterns},
		{"*_PASS, MY_*", []string{"*_PASS", "MY_*"}},
	} {
		got := Patterns(func(string) string { return tt.env })
		if !slices.Equal(got, tt.want) {
			t.Errorf("Patterns(%q) = %v, want %v", tt.env, got, tt.want)
		}
	}
}

func TestRedactor(t *testing.T) {
	environ := []string{
		"NPM_TOKEN_ENV=ignored", // no pattern matches the name
		"DEPLOY_PASSWORD=hunter2-pw",
		"AWS_SECRET_ACCESS_KEY=test", // too short: like the agent, not a secret
		"PATH=/usr/bin",
		"GITHUB_TOKEN=ghp_<&\"quoted\">",
	}
	args := map[string]string{"NPM_TOKEN": "s3cr3t", "GREETING": "hi there", "API_SECRET": "abc", "COPY": "hunter2-pw"}
	r := New(DefaultPatterns, environ, args)
	for _, tt := range []struct{ in, want string }{
		{"RUN echo s3cr3t", "RUN echo [REDACTED]"},
		{"hi there", "hi there"},
		{"login hunter2-pw", "login [REDACTED]"}, // a build arg holding an env secret's value
		{"test abc ignored", "test abc ignored"},
		{`{"t":"ghp_\u003c\u0026\"quoted\"\u003e"}`, `{"t":"[REDACTED]"}`},            // JSON form
		{`t="ghp_<&\"quoted\">"`, `t="[REDACTED]"`},                                   // Go-quoted form
		{"<text>ghp_&lt;&amp;&#34;quoted&#34;&gt;</text>", "<text>[REDACTED]</text>"}, // HTML/SVG form
		{"xs3cr3ts3cr3t", "x[REDACTED][REDACTED]"},
	} {
		if got := r.String(tt.in); got != tt.want {
			t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := r.Find([]byte("a log: s3cr3t")); got != "build arg NPM_TOKEN" {
		t.Errorf("Find = %q", got)
	}
	if got := r.Find([]byte("nothing here")); got != "" {
		t.Errorf("Find = %q", got)
	}
	if got, want := r.Values(), []string{"ghp_<&\"quoted\">", "hunter2-pw", "s3cr3t"}; !slices.Equal(got, want) {
		t.Errorf("Values = %q, want %q", got, want)
	}
	if got, want := r.Short(), []string{"build arg API_SECRET", "AWS_SECRET_ACCESS_KEY"}; !slices.Equal(got, want) {
		t.Errorf("Short = %q, want %q", got, want)
	}
	var none *Redactor
	if none.String("s3cr3t") != "s3cr3t" || none.Find([]byte("s3cr3t")) != "" || none.Values() != nil {
		t.Error("a nil Redactor must redact nothing")
	}
}
