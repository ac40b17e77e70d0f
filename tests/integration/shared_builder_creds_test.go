package integration

// Credentials kept to their owner, on a builder shared by pipelines: an
// ECR token an assumed role fetched never reaches a job without that role;
// per-pipeline certificate sets stay with their pipeline's job.

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Two ECR logins in one HOME: the first job assumes a role (moto's STS) and
// caches its token in tls-dir; the second, without the role and with the
// AWS endpoint dead, must not get that token: it cannot log in, and its
// push does not happen.
func TestSharedBuilderECRTokenStaysWithItsRole(t *testing.T) {
	s := requireStack(t)
	a := requireAWS(t)
	home := t.TempDir()
	writeSet(t, filepath.Join(home, ".buildkit"), stackClientSet(t))
	dir := writeFiles(t, map[string]string{"Dockerfile": "FROM " + s.BaseImage + "\nRUN echo role > /role\n"})
	env := []string{ecrHosts, "DOCKER_CONFIG=" + t.TempDir()}

	withRole := s.repo(t)
	r := a.hooks(t, s, hookRun{Home: home, Dir: dir, Env: env, Build: true, Cfg: map[string]any{
		"buildkit-host": s.BuildkitHost, "tags": []string{withRole + ":role"}, "push": true,
		"ecr": map[string]any{"assume-role": "arn:aws:iam::" + ecrAccount + ":role/rbk-deploy"},
	}})
	if r.Code != 0 {
		t.Fatalf("the job with the role failed: %s", r)
	}

	without := s.repo(t)
	dead := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	r = a.hooks(t, s, hookRun{Home: home, Dir: dir, Env: append(env, "AWS_ENDPOINT_URL="+dead), Build: true, Cfg: map[string]any{
		"buildkit-host": s.BuildkitHost, "tags": []string{without + ":norole"}, "push": true,
	}})
	if r.Code == 0 || !s.repoMissing(t, without) {
		t.Fatalf("ATTACK: the job without the role pushed with the role's cached ECR token (exit %d): %s", r.Code, r)
	}
	t.Logf("job without the role: exit %d: %s", r.Code, strings.Join(errorLines(r.Stderr), " | "))
}

// Two pipelines with their own certificate sets in the secrets bucket run
// at once on one agent (one HOME): each job uses its own set, and after
// the jobs neither set is anywhere under tls-dir for a later job to find.
func TestSharedBuilderPipelineCertSetsStayWithTheirJob(t *testing.T) {
	s := requireStack(t)
	a := requireAWS(t)
	b := newBucket(t, s3Client(a.Moto, "test", "test"))
	ca := stackCA(t)
	def := ca.valid(t, "default-set")
	sets := map[string]certSet{"pipeline-a": ca.valid(t, "pipeline-a-set"), "pipeline-b": ca.valid(t, "pipeline-b-set")}
	b.putSet("buildkit/", def)
	for slug, set := range sets {
		b.putSet(slug+"/buildkit/", set)
	}
	home := t.TempDir()
	used := map[string][]byte{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for slug := range sets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := filepath.Join(t.TempDir(), "cert-used")
			dir := writeFiles(t, map[string]string{"Dockerfile": fmt.Sprintf("FROM %s\nRUN echo %s > /p\n", s.BaseImage, slug)})
			r := a.hooks(t, s, hookRun{Home: home, Dir: dir, Build: true, PreExit: true,
				Env: []string{"BUILDKITE_PIPELINE_SLUG=" + slug, "BUILDKITE_JOB_ID=job-" + slug, "OUT_CERT=" + out},
				Cfg: map[string]any{"buildkit-host": s.BuildkitHost, "secrets-bucket": b.Name},
				// Which set the command hook gets, read while the other job runs too.
				After: `cp "$BUILDKIT_TLS_CERT" "$OUT_CERT"; sleep 1`,
			})
			if r.Code != 0 {
				t.Errorf("%s: %s", slug, r)
				return
			}
			got, _ := os.ReadFile(out)
			mu.Lock()
			used[slug] = got
			mu.Unlock()
			if !strings.Contains(r.Stderr, "removed the job's pipeline certificates") {
				t.Errorf("%s: pre-exit did not remove the pipeline's set: %s", slug, r)
			}
		}()
	}
	wg.Wait()
	for slug, set := range sets {
		if !bytes.Equal(used[slug], set.Cert) {
			t.Errorf("ATTACK: the job of %s did not use its own certificate (it got %d bytes, another pipeline's or the default set)", slug, len(used[slug]))
		}
	}
	// After the jobs: no file under tls-dir holds either pipeline's key or certificate.
	filepath.WalkDir(filepath.Join(home, ".buildkit"), func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		body, _ := os.ReadFile(p)
		for slug, set := range sets {
			if bytes.Equal(body, set.Key) || bytes.Equal(body, set.Cert) {
				t.Errorf("ATTACK: %s of %s's set is still there after its job", p, slug)
			}
		}
		return nil
	})
}
