package contextsync

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The user's git attributes file comes in as a path (Options.UserAttributes,
// from the job's environment through config), not from this process's
// XDG_CONFIG_HOME or HOME: when it exists, git's ids are not trusted.
func TestUserAttributesPassedIn(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	home := t.TempDir()
	t.Setenv("HOME", home) // no ~/.gitconfig with core.attributesFile
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "process-xdg"))
	os.MkdirAll(filepath.Join(home, "process-xdg", "git"), 0o755)
	os.WriteFile(filepath.Join(home, "process-xdg", "git", "attributes"), []byte("* filter=x\n"), 0o644)
	repo := t.TempDir()
	writeTree(t, repo, map[string]string{"a": "1"})
	git(t, repo, "init", "-q")
	if _, err := os.Stat("/etc/gitattributes"); err == nil {
		t.Skip("/etc/gitattributes exists on this machine")
	}
	gitDir := filepath.Join(repo, ".git")
	if attributesElsewhere(context.Background(), repo, gitDir, "") {
		t.Errorf("no user attributes file passed in: the process's XDG_CONFIG_HOME was read")
	}
	user := filepath.Join(t.TempDir(), "attributes")
	if attributesElsewhere(context.Background(), repo, gitDir, user) {
		t.Errorf("a user attributes file that does not exist counts")
	}
	os.WriteFile(user, []byte("*.txt filter=up\n"), 0o644)
	if !attributesElsewhere(context.Background(), repo, gitDir, user) {
		t.Errorf("the user's attributes file %s is not seen", user)
	}
}
