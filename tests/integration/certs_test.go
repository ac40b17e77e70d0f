package integration

// certs init/upload/rotate and builder-config end to end:
// the certificates the binary makes are served by real buildkitd processes
// (ports 1290-1299, started and killed here), uploaded to the stack's moto,
// installed by the real hooks/environment and used by builds that push to
// the stack's registry.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

const certsServerName = "buildkit.test"

// tlsDaemon is a buildkitd started by a certs test with its own root and
// trace socket; args are its TLS flags or its --config.
type tlsDaemon struct {
	t    *testing.T
	Host string
	root string
	proc *os.Process
	done chan struct{} // closed when proc has exited
}

// startTLSDaemon starts $STACK_BUILDKITD listening on 127.0.0.1:port, adding
// --addr, --root and a --config with only an otel socket unless args has a
// --config of its own.
func startTLSDaemon(t *testing.T, port int, args ...string) *tlsDaemon {
	t.Helper()
	if os.Getenv("STACK_BUILDKITD") == "" {
		t.Fatal("STACK_BUILDKITD is unset: re-run `make stack-up`")
	}
	d := &tlsDaemon{t: t, Host: fmt.Sprintf("tcp://127.0.0.1:%d", port), root: t.TempDir()}
	if d.listening() {
		t.Fatalf("port %d is taken: a buildkitd left over from an earlier run? (these tests use 1290-1299)", port)
	}
	d.start(args...)
	t.Cleanup(d.stop)
	return d
}

func (d *tlsDaemon) listening() bool {
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(d.Host, "tcp://"), 200*time.Millisecond)
	if err == nil {
		c.Close()
	}
	return err == nil
}

func (d *tlsDaemon) start(args ...string) {
	d.t.Helper()
	if !contains(args, "--config") {
		conf := filepath.Join(d.root, "otel.toml")
		if err := os.WriteFile(conf, []byte(fmt.Sprintf("[otel]\n  socketPath = %q\n", filepath.Join(d.root, "otel.sock"))), 0o644); err != nil {
			d.t.Fatal(err)
		}
		args = append([]string{"--addr", d.Host, "--root", filepath.Join(d.root, "state"), "--config", conf}, args...)
	}
	logPath := filepath.Join(d.root, fmt.Sprintf("buildkitd-%d.log", time.Now().UnixNano()))
	logf, err := os.Create(logPath)
	if err != nil {
		d.t.Fatal(err)
	}
	cmd := exec.Command(os.Getenv("STACK_BUILDKITD"), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.proc, d.done = cmd.Process, make(chan struct{})
	done := d.done
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	for deadline := time.Now().Add(30 * time.Second); !d.listening(); {
		select {
		case <-done:
			d.proc = nil
			b, _ := os.ReadFile(logPath)
			d.t.Fatalf("buildkitd %v exited:\n%s", args, b)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("buildkitd on %s not listening after 30s", d.Host)
		}
	}
}

func (d *tlsDaemon) stop() {
	if d.proc == nil {
		return
	}
	d.proc.Kill()
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		d.t.Errorf("buildkitd pid %d did not exit after SIGKILL", d.proc.Pid)
	}
	d.proc = nil
}

// restart is "install the files and restart buildkitd" of the runbook.
func (d *tlsDaemon) restart(args ...string) {
	d.t.Helper()
	d.stop()
	for i := 0; i < 100 && d.listening(); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	d.start(args...)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// daemonFlags are buildkitd's TLS flags for a daemon set directory.
func daemonFlags(dir string) []string {
	return []string{"--tlscacert", filepath.Join(dir, "ca.pem"), "--tlscert", filepath.Join(dir, "server.pem"), "--tlskey", filepath.Join(dir, "server-key.pem")}
}

// connect runs buildctl debug workers against host with a client set dir
// (ca.pem cert.pem key.pem) and the server name certs init was given.
func connect(t *testing.T, host, dir string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, os.Getenv("STACK_BUILDCTL"), "--addr", host, "--tlsdir", dir, "--tlsservername", certsServerName, "debug", "workers").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

func mustConnect(t *testing.T, what, host, dir string) {
	t.Helper()
	if err := connect(t, host, dir); err != nil {
		t.Errorf("%s: buildctl to %s with %s: %v", what, host, dir, err)
	}
}

func mustNotConnect(t *testing.T, what, host, dir string) {
	t.Helper()
	if err := connect(t, host, dir); err == nil {
		t.Errorf("%s: buildctl to %s with %s connected, want a TLS failure", what, host, dir)
	} else {
		t.Logf("%s: refused as expected: %v", what, err)
	}
}

// rbk runs the binary with args and the AWS environment of the stack's moto.
func rbk(t *testing.T, a *awsStack, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = mergeEnv([]string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_ENDPOINT_URL=" + a.Moto,
	}, env)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := result{Stdout: stdout.String(), Stderr: stderr.String(), Elapsed: time.Since(start)}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.Code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run %s: %v", bin, err)
	}
	return r
}

func mustRbk(t *testing.T, a *awsStack, args ...string) result {
	t.Helper()
	r := rbk(t, a, nil, args...)
	if r.Code != 0 {
		t.Fatalf("remote-buildkit %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// certsInit runs certs init into a new directory and returns it.
func certsInit(t *testing.T, a *awsStack) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "certs")
	r := mustRbk(t, a, "certs", "init", "--out", dir, "--server-name", certsServerName, "--ip", "127.0.0.1")
	if !strings.Contains(r.Stdout, "keep "+filepath.Join(dir, "ca")+" offline") {
		t.Errorf("certs init does not say to keep the CA offline: %s", r)
	}
	return dir
}

// copyDir copies the files of src into a new directory (a snapshot of a
// set, or "install on the builder host").
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// jobConfig is the plugin configuration of a job on the test daemon.
func jobConfig(host, bucket string, tags ...string) map[string]any {
	cfg := map[string]any{"buildkit-host": host, "secrets-bucket": bucket, "tls-server-name": certsServerName}
	if len(tags) > 0 {
		cfg["tags"], cfg["push"] = tags, true
	}
	return cfg
}

var syncLine = regexp.MustCompile(`client certificates from s3://\S+ → \S+: (\d+) downloaded, (\d+) unchanged`)

// jobWithBuild runs hooks/environment and hooks/command in home and checks
// the image reached the registry; it returns the environment hook's counts.
func jobWithBuild(t *testing.T, s *stack, a *awsStack, home, host, bucket string) (downloaded, unchanged string) {
	t.Helper()
	repo := s.repo(t)
	dir := writeFiles(t, map[string]string{"Dockerfile": fmt.Sprintf("FROM %s\nRUN echo %d > /certs\n", s.BaseImage, time.Now().UnixNano())})
	r := a.hooks(t, s, hookRun{Home: home, Dir: dir, Cfg: jobConfig(host, bucket, repo+":certs"), Build: true})
	if r.Code != 0 {
		t.Fatalf("environment + build on %s: %s", host, r)
	}
	m := syncLine.FindStringSubmatch(r.Stderr)
	if m == nil {
		t.Fatalf("no \"N downloaded, M unchanged\" line: %s", r)
	}
	printed := lineValue(r.Stdout, "digest")
	if d := s.descriptor(t, repo+":certs"); printed == "" || d.Digest.String() != printed {
		t.Errorf("registry has %s, build printed %q", d.Digest, printed)
	}
	if !strings.Contains(r.Stdout, "at "+host+" (mTLS") {
		t.Errorf("the build did not connect with mTLS: %s", r)
	}
	t.Logf("job on %s: %s; build %s in %s", host, m[0], printed, r.Elapsed.Round(time.Millisecond))
	return m[1], m[2]
}

// headSSE checks that an uploaded object is encrypted with aws:kms.
func headSSE(t *testing.T, b *bucket, key string) {
	t.Helper()
	out, err := b.c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &b.Name, Key: &key})
	if err != nil {
		t.Fatalf("head s3://%s/%s: %v", b.Name, key, err)
	}
	if out.ServerSideEncryption != types.ServerSideEncryptionAwsKms {
		t.Errorf("s3://%s/%s: SSE %q, want aws:kms", b.Name, key, out.ServerSideEncryption)
	}
}

// certs init's daemon set works with buildkitd's TLS flags and, separately,
// through builder-config's buildkitd.toml alone; certs upload puts the
// client set into the bucket with SSE-KMS; hooks/environment installs it and
// a build pushes through the daemon.
func TestCertsInitServeUploadBuild(t *testing.T) {
	s := requireStack(t)
	a := requireAWS(t)
	dir := certsInit(t, a)
	client := filepath.Join(dir, "client")

	flags := startTLSDaemon(t, 1290, daemonFlags(filepath.Join(dir, "daemon"))...)
	mustConnect(t, "daemon with --tlscacert/--tlscert/--tlskey", flags.Host, client)
	mustNotConnect(t, "the stack's client set (another CA)", flags.Host, s.TLSDir)

	conf := t.TempDir()
	r := mustRbk(t, a, "builder-config", "--tls-dir", filepath.Join(dir, "daemon"), "--root", filepath.Join(t.TempDir(), "root"),
		"--addr", "tcp://127.0.0.1:1291", "--cache-size", "10GB", "--write", conf)
	toml := filepath.Join(conf, "buildkitd.toml")
	if !strings.Contains(r.Stdout, "wrote "+filepath.Join(conf, "buildkitd.service")+" and "+toml) {
		t.Errorf("builder-config --write output: %s", r)
	}
	unit, _ := os.ReadFile(filepath.Join(conf, "buildkitd.service"))
	if !strings.Contains(string(unit), "ExecStart=/usr/local/bin/buildkitd --config /etc/buildkit/buildkitd.toml\n") {
		t.Errorf("unit:\n%s", unit)
	}
	// The test's own trace socket (see up_extra_buildkitd in stack.sh); nothing else is added.
	f, err := os.OpenFile(toml, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "\n[otel]\n  socketPath = %q\n", filepath.Join(conf, "otel.sock"))
	f.Close()
	configured := startTLSDaemon(t, 1291, "--config", toml)
	mustConnect(t, "daemon with builder-config's buildkitd.toml only", configured.Host, client)
	mustNotConnect(t, "the stack's client set (another CA)", configured.Host, s.TLSDir)
	out, err := exec.Command(s.Buildctl, "--addr", configured.Host, "--tlsdir", client, "--tlsservername", certsServerName, "debug", "workers", "-v").CombinedOutput()
	if err != nil || strings.Count(string(out), "Maximum used space:\t10.73741824GB") != 3 {
		t.Errorf("the daemon's GC policy is not capped at --cache-size 10GB (3 rules): %v\n%s", err, out)
	}

	b := newBucket(t, s3Client(a.Moto, "test", "test"))
	start := time.Now()
	r = mustRbk(t, a, "certs", "upload", "--dir", dir, "--bucket", b.Name)
	for _, o := range []string{"ca.pem", "cert.pem", "key.pem"} {
		if !strings.Contains(r.Stdout, "uploaded s3://"+b.Name+"/buildkit/"+o) {
			t.Errorf("upload does not print the key of %s: %s", o, r)
		}
		headSSE(t, b, "buildkit/"+o)
	}
	t.Logf("certs upload in %s:\n%s", time.Since(start).Round(time.Millisecond), r.Stdout)

	home := t.TempDir()
	if n, u := jobWithBuild(t, s, a, home, configured.Host, b.Name); n != "3" || u != "0" {
		t.Errorf("first job: %s downloaded, %s unchanged; want 3, 0", n, u)
	}
	if !mustReadSet(t, filepath.Join(home, ".buildkit")).equal(mustReadSet(t, client)) {
		t.Error("the installed set is not DIR/client")
	}
	jobWithBuild(t, s, a, t.TempDir(), flags.Host, b.Name)
}

// certs rotate --bucket: a new client certificate from the same CA, uploaded
// in place; the old one keeps working until replaced; the next job installs
// the new one (the objects that changed are downloaded) and builds.
func TestCertsRotateClient(t *testing.T) {
	s := requireStack(t)
	a := requireAWS(t)
	dir := certsInit(t, a)
	client := filepath.Join(dir, "client")
	d := startTLSDaemon(t, 1292, daemonFlags(filepath.Join(dir, "daemon"))...)
	b := newBucket(t, s3Client(a.Moto, "test", "test"))
	mustRbk(t, a, "certs", "upload", "--dir", dir, "--bucket", b.Name)
	home := t.TempDir()
	jobWithBuild(t, s, a, home, d.Host, b.Name)
	old := copyDir(t, client)
	ca := mustRead(t, filepath.Join(dir, "ca", "ca.pem"))

	r := mustRbk(t, a, "certs", "rotate", "--dir", dir, "--bucket", b.Name)
	t.Logf("certs rotate --bucket in %s:\n%s", r.Elapsed.Round(time.Millisecond), r.Stdout)
	for _, o := range []string{"ca.pem", "cert.pem", "key.pem"} {
		if !strings.Contains(r.Stdout, "uploaded s3://"+b.Name+"/buildkit/"+o) {
			t.Errorf("rotate does not print the key of %s: %s", o, r)
		}
	}
	if !bytes.Equal(mustRead(t, filepath.Join(dir, "ca", "ca.pem")), ca) {
		t.Error("certs rotate changed the CA")
	}
	rotated := mustReadSet(t, client)
	if bytes.Equal(rotated.Cert, mustReadSet(t, old).Cert) || bytes.Equal(rotated.Key, mustReadSet(t, old).Key) {
		t.Fatal("certs rotate did not replace cert.pem and key.pem")
	}
	mustConnect(t, "the old client certificate, until replaced", d.Host, old)
	mustConnect(t, "the rotated client certificate", d.Host, client)
	if !mustReadSet(t, filepath.Join(home, ".buildkit")).equal(mustReadSet(t, old)) {
		t.Error("the agent's installed set changed before its next job")
	}

	// ca.pem is byte-identical, so its ETag is too: the CA object answers 304.
	if n, u := jobWithBuild(t, s, a, home, d.Host, b.Name); n != "2" || u != "1" {
		t.Errorf("job after the rotation: %s downloaded, %s unchanged; want 2 (cert.pem, key.pem), 1 (ca.pem)", n, u)
	}
	if !mustReadSet(t, filepath.Join(home, ".buildkit")).equal(rotated) {
		t.Error("the job did not install the rotated set")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The CA rotation runbook, step by step, against one daemon that is
// "installed" (files copied) and restarted at each step: during the overlap
// old and new client sets both connect; after --finish only the new one.
func TestCertsRotateCA(t *testing.T) {
	s := requireStack(t)
	a := requireAWS(t)
	dir := certsInit(t, a)
	client, daemon := filepath.Join(dir, "client"), filepath.Join(dir, "daemon")
	d := startTLSDaemon(t, 1293, daemonFlags(copyDir(t, daemon))...)
	b := newBucket(t, s3Client(a.Moto, "test", "test"))
	mustRbk(t, a, "certs", "upload", "--dir", dir, "--bucket", b.Name)
	home := t.TempDir()
	jobWithBuild(t, s, a, home, d.Host, b.Name)
	oldSet := copyDir(t, client)

	r := mustRbk(t, a, "certs", "rotate", "--dir", dir, "--new-ca")
	t.Logf("certs rotate --new-ca:\n%s", r.Stdout)
	steps := []string{"1. daemon: install " + daemon, "2. agents: remote-buildkit certs upload --dir " + dir, "3. once every agent has run a job since step 2: remote-buildkit certs rotate --dir " + dir + " --finish"}
	last := -1
	for _, st := range steps {
		i := strings.Index(r.Stdout, st)
		if i <= last {
			t.Errorf("step %q missing or out of order:\n%s", st, r.Stdout)
		}
		last = i
	}
	if _, err := os.Stat(filepath.Join(dir, "ca", "old-ca.pem")); err != nil {
		t.Errorf("the old CA was not kept: %v", err)
	}
	overlapSet := copyDir(t, client)
	mustNotConnect(t, "new client certificate before step 1", d.Host, overlapSet)

	d.restart(daemonFlags(copyDir(t, daemon))...) // step 1
	mustConnect(t, "old client set during the overlap", d.Host, oldSet)
	mustConnect(t, "new client set during the overlap", d.Host, overlapSet)
	mustRbk(t, a, "certs", "upload", "--dir", dir, "--bucket", b.Name) // step 2
	if n, _ := jobWithBuild(t, s, a, home, d.Host, b.Name); n != "3" {
		t.Errorf("job after step 2 downloaded %s objects, want 3", n)
	}

	r = mustRbk(t, a, "certs", "rotate", "--dir", dir, "--finish") // step 3
	t.Logf("certs rotate --finish:\n%s", r.Stdout)
	d.restart(daemonFlags(copyDir(t, daemon))...)
	mustConnect(t, "new client set with the bundle", d.Host, overlapSet)
	mustConnect(t, "new client set with the new CA only", d.Host, client)
	mustNotConnect(t, "old client set after --finish", d.Host, oldSet)
	oldCertNewCA := copyDir(t, oldSet)
	os.WriteFile(filepath.Join(oldCertNewCA, "ca.pem"), mustRead(t, filepath.Join(dir, "ca", "ca.pem")), 0o600)
	mustNotConnect(t, "old client certificate (trusting the new server) after --finish", d.Host, oldCertNewCA)
	mustRbk(t, a, "certs", "upload", "--dir", dir, "--bucket", b.Name)
	if n, u := jobWithBuild(t, s, a, home, d.Host, b.Name); n != "1" || u != "2" {
		t.Errorf("job after --finish: %s downloaded, %s unchanged; want 1 (ca.pem), 2", n, u)
	}
}

// treeSnapshot maps every path below dir to its content ("/" for a directory).
func treeSnapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		switch {
		case err != nil:
			return err
		case fi.IsDir():
			m[p] = "/"
		default:
			b, err := os.ReadFile(p)
			m[p] = string(b)
			return err
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return m
}

func sameTree(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// deniedS3 is a private moto_server that enforces IAM, a bucket "ro-certs"
// the user may only read and a bucket "part-certs" where it may write only
// buildkit/ca.pem; it returns the endpoint and the user's keys.
func deniedS3(t *testing.T) (endpoint, key, secret string) {
	t.Helper()
	endpoint = startMoto(t, "INITIAL_NO_AUTH_ACTION_COUNT=5") // the 5 set-up calls below
	policy := `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":"*"},
		{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::part-certs/buildkit/ca.pem"}]}`
	var out []byte
	for _, args := range [][]string{
		{"s3api", "create-bucket", "--bucket", "ro-certs"},
		{"s3api", "create-bucket", "--bucket", "part-certs"},
		{"iam", "create-user", "--user-name", "agent"},
		{"iam", "put-user-policy", "--user-name", "agent", "--policy-name", "read-certs", "--policy-document", policy},
		{"iam", "create-access-key", "--user-name", "agent"},
	} {
		cmd := exec.Command("aws", append([]string{"--endpoint-url", endpoint, "--region", "us-east-1", "--output", "json"}, args...)...)
		cmd.Env = mergeEnv(os.Environ(), []string{"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "-AWS_PROFILE"})
		var err error
		if out, err = cmd.CombinedOutput(); err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	var ak struct {
		AccessKey struct{ AccessKeyId, SecretAccessKey string }
	}
	if err := json.Unmarshal(out, &ak); err != nil || ak.AccessKey.AccessKeyId == "" {
		t.Fatalf("create-access-key: %v\n%s", err, out)
	}
	return endpoint, ak.AccessKey.AccessKeyId, ak.AccessKey.SecretAccessKey
}

func bucketKeys(t *testing.T, c *s3.Client, name string) []string {
	t.Helper()
	out, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &name})
	if err != nil {
		t.Fatalf("list s3://%s: %v", name, err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, *o.Key)
	}
	return keys
}

// Each bad input: exit 2 (usage) or 6 (certificates), one error line naming
// the flag or the object and the fix, and nothing half-written, on disk or
// in the bucket.
func TestCertsBadInputs(t *testing.T) {
	requireStack(t)
	a := requireAWS(t)
	good := certsInit(t, a)
	moto := newBucket(t, s3Client(a.Moto, "test", "test"))
	denied, key, secret := deniedS3(t)
	deniedEnv := []string{"AWS_ENDPOINT_URL=" + denied, "AWS_ACCESS_KEY_ID=" + key, "AWS_SECRET_ACCESS_KEY=" + secret}
	copyTree := func(damage func(dir string)) string {
		dir := filepath.Join(t.TempDir(), "certs")
		if out, err := exec.Command("cp", "-a", good, dir).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
		if damage != nil {
			damage(dir)
		}
		return dir
	}
	newOut := filepath.Join(t.TempDir(), "new")
	keyIsDir := copyTree(func(d string) {
		os.Remove(filepath.Join(d, "ca", "ca-key.pem"))
		os.Mkdir(filepath.Join(d, "ca", "ca-key.pem"), 0o700)
	})
	keyCorrupt := copyTree(func(d string) {
		os.WriteFile(filepath.Join(d, "ca", "ca-key.pem"), []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n"), 0o600)
	})
	mismatched := copyTree(func(d string) {
		os.WriteFile(filepath.Join(d, "client", "key.pem"), mustRead(t, filepath.Join(d, "daemon", "server-key.pem")), 0o600)
	})
	tests := []struct {
		name  string
		env   []string
		args  []string
		code  int
		want  []string
		watch string          // a directory that must not change
		empty func() []string // bucket contents that must stay empty (or as listed in left)
		left  []string
	}{
		{"init without --server-name", nil, []string{"certs", "init", "--out", newOut}, 2, []string{"--server-name is required", "e.g. --server-name"}, filepath.Dir(newOut), nil, nil},
		{"init into an existing DIR", nil, []string{"certs", "init", "--out", good, "--server-name", "b"}, 2, []string{"--out " + good + " already exists", "pick a new directory"}, good, nil, nil},
		{"init with a bad --ip", nil, []string{"certs", "init", "--out", newOut, "--server-name", "b", "--ip", "10.1"}, 2, []string{`--ip "10.1" is not an IP address`}, filepath.Dir(newOut), nil, nil},
		{"unknown certs command", nil, []string{"certs", "create"}, 2, []string{`unknown command "certs create"`, "init, upload and rotate"}, "", nil, nil},
		{"unknown flag", nil, []string{"certs", "init", "--out", newOut, "--sever-name", "b"}, 2, []string{"flag provided but not defined: -sever-name"}, filepath.Dir(newOut), nil, nil},
		{"rotate, CA key unreadable", nil, []string{"certs", "rotate", "--dir", keyIsDir}, 6, []string{"cannot read the CA key " + filepath.Join(keyIsDir, "ca", "ca-key.pem"), "restore"}, keyIsDir, nil, nil},
		{"rotate, CA key corrupt", nil, []string{"certs", "rotate", "--dir", keyCorrupt, "--new-ca"}, 6, []string{"the CA key " + filepath.Join(keyCorrupt, "ca", "ca-key.pem") + " is not the valid, unencrypted PEM key"}, keyCorrupt, nil, nil},
		{"rotate --new-ca --bucket", nil, []string{"certs", "rotate", "--dir", good, "--new-ca", "--bucket", moto.Name}, 2, []string{"--bucket cannot be used with --new-ca"}, good, func() []string { return bucketKeys(t, moto.c, moto.Name) }, nil},
		{"upload without --bucket", nil, []string{"certs", "upload", "--dir", good}, 2, []string{"--bucket is required"}, good, nil, nil},
		{"upload, key of another certificate", nil, []string{"certs", "upload", "--dir", mismatched, "--bucket", moto.Name}, 6, []string{filepath.Join(mismatched, "client", "key.pem") + " does not belong to", "nothing was uploaded"}, mismatched, func() []string { return bucketKeys(t, moto.c, moto.Name) }, nil},
		{"upload, no such bucket", nil, []string{"certs", "upload", "--dir", good, "--bucket", "rbk-no-such-bucket"}, 6, []string{"bucket s3://rbk-no-such-bucket does not exist (404)", "fix --bucket"}, good, nil, nil},
		{"upload, bucket the role cannot write", deniedEnv, []string{"certs", "upload", "--dir", good, "--bucket", "ro-certs"}, 6,
			[]string{"access denied (403) writing s3://ro-certs/buildkit/ca.pem", "s3:PutObject", "nothing was uploaded"}, good, func() []string { return bucketKeys(t, s3Client(denied, key, secret), "ro-certs") }, nil},
		{"upload, second object denied", deniedEnv, []string{"certs", "upload", "--dir", good, "--bucket", "part-certs"}, 6,
			[]string{"access denied (403) writing s3://part-certs/buildkit/cert.pem", "already uploaded: s3://part-certs/buildkit/ca.pem ("}, good, func() []string { return bucketKeys(t, s3Client(denied, key, secret), "part-certs") }, []string{"buildkit/ca.pem"}},
		{"builder-config, bad --cache-size", nil, []string{"builder-config", "--cache-size", "lots"}, 2, []string{`--cache-size "lots" is not a size`, "100GB", "80%"}, "", nil, nil},
		{"builder-config, relative --tls-dir", nil, []string{"builder-config", "--tls-dir", "certs"}, 2, []string{`--tls-dir "certs" must be an absolute path`}, "", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var before map[string]string
			if tc.watch != "" {
				before = treeSnapshot(t, tc.watch)
			}
			r := rbk(t, a, tc.env, tc.args...)
			lines := errorLines(r.Stderr)
			if r.Code != tc.code || len(lines) != 1 {
				t.Fatalf("want exit %d and one error line: %s", tc.code, r)
			}
			for _, w := range tc.want {
				if !strings.Contains(lines[0], w) {
					t.Errorf("error line lacks %q: %s", w, lines[0])
				}
			}
			if tc.watch != "" && !sameTree(before, treeSnapshot(t, tc.watch)) {
				t.Errorf("%s changed", tc.watch)
			}
			if tc.empty != nil {
				if got := tc.empty(); strings.Join(got, ",") != strings.Join(tc.left, ",") {
					t.Errorf("bucket holds %v, want %v", got, tc.left)
				}
			}
			t.Logf("exit %d in %s: %s", r.Code, r.Elapsed.Round(time.Millisecond), lines[0])
		})
	}
}
