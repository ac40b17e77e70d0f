package checkout_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/remote-buildkit/remote-buildkit/internal/checkout"
)

// layout builds a checkout and a directory outside it: entries ending in /
// are directories, "name -> target" are links, the rest files.
func layout(t *testing.T, entries ...string) (root, outside string) {
	t.Helper()
	base := t.TempDir()
	root, outside = filepath.Join(base, "checkout"), filepath.Join(base, "outside")
	for _, d := range []string{root, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		var err error
		name, target, link := strings.Cut(e, " -> ")
		p := filepath.Join(root, name)
		switch {
		case link:
			err = os.Symlink(os.Expand(target, func(string) string { return outside }), p)
		case name[len(name)-1] == '/':
			err = os.MkdirAll(p, 0o755)
		default:
			err = os.WriteFile(p, []byte(name), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return root, outside
}

func TestResolve(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []string
		path    string
		want    string // relative to the checkout; "" when a LinkError is wanted
		link    string // the link the LinkError names
	}{
		{name: "plain file", entries: []string{"app/", "app/Dockerfile"}, path: "app/Dockerfile", want: "app/Dockerfile"},
		{name: "missing tail", entries: []string{"out/"}, path: "out/a/b", want: "out/a/b"},
		{name: "link inside", entries: []string{"real/", "real/f", "l -> real"}, path: "l/f", want: "real/f"},
		{name: "link with .. inside", entries: []string{"a/", "b/", "b/f", "a/l -> ../b"}, path: "a/l/f", want: "b/f"},
		{name: "chain inside", entries: []string{"x/", "y -> x", "z -> y"}, path: "z", want: "x"},
		{name: "absolute link out", entries: []string{".npmrc -> ${O}/secret"}, path: ".npmrc", link: ".npmrc"},
		{name: "relative link out", entries: []string{"assets -> ../outside"}, path: "assets", link: "assets"},
		{name: "link out in a parent", entries: []string{"dist -> ${O}"}, path: "dist/bin/remote-buildkit", link: "dist"},
		{name: "nested link out", entries: []string{"dist/", "dist/sub -> ../../outside"}, path: "dist/sub/f", link: "dist/sub"},
		{name: "proc root", entries: []string{"r -> /proc/self/root"}, path: "r/etc/passwd", link: "r"},
		{name: "dangling link out", entries: []string{"d -> ${O}/not-yet"}, path: "d", link: "d"},
		{name: "dangling link inside", entries: []string{"d -> later/x"}, path: "d", want: "later/x"},
		{name: "link inside to a link out", entries: []string{"a -> b", "b -> ${O}"}, path: "a/secret", link: "b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, _ := layout(t, tc.entries...)
			got, err := checkout.Resolve(root, tc.path)
			if tc.want != "" {
				if err != nil || got != filepath.Join(root, tc.want) {
					t.Fatalf("Resolve(%s) = %q, %v; want %s", tc.path, got, err, filepath.Join(root, tc.want))
				}
				return
			}
			var le *checkout.LinkError
			if !errors.As(err, &le) || le.Link != tc.link {
				t.Fatalf("Resolve(%s) = %q, %v; want a LinkError naming %s", tc.path, got, err, tc.link)
			}
		})
	}
}

func TestResolveLoop(t *testing.T) {
	root, _ := layout(t, "a -> b", "b -> a")
	if _, err := checkout.Resolve(root, "a/x"); err == nil {
		t.Fatal("a loop of links resolved")
	}
}

func TestRelative(t *testing.T) {
	for p, want := range map[string]bool{"a": true, "./a/b": true, ".": true, "/abs": false, "..": false, "../x": false, "a/../../x": false, "": false} {
		if got := checkout.Relative(p); got != want {
			t.Errorf("Relative(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestTree(t *testing.T) {
	root, _ := layout(t, "cache/", "cache/blobs/", "cache/ok -> blobs", "bad/", "bad/blobs -> ${O}")
	if err := checkout.Tree(root, "cache"); err != nil {
		t.Fatalf("a tree with a link inside: %v", err)
	}
	if err := checkout.Tree(root, "missing"); err != nil {
		t.Fatalf("a missing tree: %v", err)
	}
	var le *checkout.LinkError
	if err := checkout.Tree(root, "bad"); !errors.As(err, &le) || le.Link != "bad/blobs" {
		t.Fatalf("Tree(bad) = %v; want a LinkError naming bad/blobs", err)
	}
}

// TestStagingMove: the exported files land in dest through the root; a
// link out of the checkout under dest stops the move before anything moves.
func TestStagingMove(t *testing.T) {
	root, outside := layout(t, "dist/", "dist/keep", "dist/in -> ../other", "other/")
	st := checkout.NewStaging(root)
	for _, d := range []string{"sub", "in"} {
		os.MkdirAll(filepath.Join(st.Dir, d), 0o755)
		os.WriteFile(filepath.Join(st.Dir, d, "f"), []byte(d), 0o644)
	}
	if err := st.Move("dist"); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"dist/keep": "dist/keep", "dist/sub/f": "sub", "other/f": "in"} {
		if b, err := os.ReadFile(filepath.Join(root, p)); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", p, b, err, want)
		}
	}
	if _, err := os.Stat(st.Dir); !os.IsNotExist(err) {
		t.Errorf("the staging directory is left: %v", err)
	}

	os.Symlink(outside, filepath.Join(root, "dist", "out"))
	st = checkout.NewStaging(root)
	os.MkdirAll(filepath.Join(st.Dir, "a"), 0o755)
	os.WriteFile(filepath.Join(st.Dir, "a", "f"), []byte("a"), 0o644)
	os.MkdirAll(filepath.Join(st.Dir, "out"), 0o755)
	os.WriteFile(filepath.Join(st.Dir, "out", "planted"), []byte("x"), 0o644)
	var le *checkout.LinkError
	if err := st.Move("dist"); !errors.As(err, &le) || le.Link != "dist/out" {
		t.Fatalf("Move = %v; want a LinkError naming dist/out", err)
	}
	if _, err := os.Stat(filepath.Join(outside, "planted")); !os.IsNotExist(err) {
		t.Fatalf("a file was written outside the checkout: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "dist", "a")); !os.IsNotExist(err) {
		t.Fatalf("a refused move moved something: %v", err)
	}
}
