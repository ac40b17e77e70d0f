package integration

// Helpers for the Elastic CI Stack tests (elastic_test.go): S3 buckets on
// the stack's moto_server and versitygw, client certificates minted with the
// stack's CA (or a second CA), a counting reverse proxy in front of S3, a
// private moto_server, and a runner for the plugin's real hooks.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// pipelineSlug is the BUILDKITE_PIPELINE_SLUG of every job in these tests.
const pipelineSlug = "elastic-it"

// ecrPassword is the password moto's ECR token decodes to for account
// 123456789012; the stack's registry accepts it for user AWS.
const (
	ecrAccount  = "123456789012"
	ecrPassword = ecrAccount + "-auth-token"
)

// awsStack is the S3/ECR part of the local stack.
type awsStack struct {
	Moto          string // moto_server: S3 + ECR, no signature checks
	Versity       string // versitygw: S3 that checks signatures
	VersityKey    string
	VersitySecret string
}

func requireAWS(t *testing.T) *awsStack {
	t.Helper()
	a := &awsStack{
		Moto:          os.Getenv("STACK_S3_ENDPOINT"),
		Versity:       os.Getenv("STACK_VERSITY_ENDPOINT"),
		VersityKey:    os.Getenv("STACK_VERSITY_ACCESS_KEY"),
		VersitySecret: os.Getenv("STACK_VERSITY_SECRET_KEY"),
	}
	if a.Moto == "" {
		t.Fatal("STACK_S3_ENDPOINT is unset: the stack's env file is out of date (re-run `make stack-up`)")
	}
	return a
}

// s3Client talks to an S3 emulator the way the binary does: path-style.
func s3Client(endpoint, key, secret string) *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(key, secret, ""),
	})
}

// bucket is a fresh S3 bucket, deleted with its objects when the test ends.
type bucket struct {
	t    *testing.T
	c    *s3.Client
	Name string
}

func newBucket(t *testing.T, c *s3.Client) *bucket {
	t.Helper()
	base := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(base) > 40 {
		base = base[:40]
	}
	name := strings.Trim(fmt.Sprintf("rbk-%s-%06d", base, mrand.IntN(1_000_000)), "-")
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	b := &bucket{t: t, c: c, Name: name}
	t.Cleanup(func() {
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &name})
		if err == nil {
			for _, o := range out.Contents {
				c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &name, Key: o.Key})
			}
		}
		c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &name})
	})
	return b
}

func (b *bucket) put(key string, body []byte) {
	b.t.Helper()
	if _, err := b.c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &b.Name, Key: &key, Body: bytes.NewReader(body)}); err != nil {
		b.t.Fatalf("put s3://%s/%s: %v", b.Name, key, err)
	}
}

func (b *bucket) del(key string) {
	b.t.Helper()
	if _, err := b.c.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &b.Name, Key: &key}); err != nil {
		b.t.Fatalf("delete s3://%s/%s: %v", b.Name, key, err)
	}
}

// putSet uploads ca.pem, cert.pem and key.pem under prefix ("" or "a/b/").
func (b *bucket) putSet(prefix string, s certSet) {
	b.t.Helper()
	b.put(prefix+"ca.pem", s.CA)
	b.put(prefix+"cert.pem", s.Cert)
	b.put(prefix+"key.pem", s.Key)
}

// Certificates.

type certSet struct{ CA, Cert, Key []byte }

func (s certSet) equal(o certSet) bool {
	return bytes.Equal(s.CA, o.CA) && bytes.Equal(s.Cert, o.Cert) && bytes.Equal(s.Key, o.Key)
}

// consistent checks that the key belongs to the certificate and that the
// certificate chains to the CA for client authentication.
func (s certSet) consistent() error {
	if _, err := tls.X509KeyPair(s.Cert, s.Key); err != nil {
		return fmt.Errorf("key does not match cert: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(s.CA) {
		return errors.New("ca.pem does not parse")
	}
	block, _ := pem.Decode(s.Cert)
	if block == nil {
		return errors.New("cert.pem does not parse")
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return err
	}
	_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return err
}

// readSet reads the three files of a tls-dir.
func readSet(dir string) (certSet, error) {
	var s certSet
	var err error
	if s.CA, err = os.ReadFile(filepath.Join(dir, "ca.pem")); err != nil {
		return s, err
	}
	if s.Cert, err = os.ReadFile(filepath.Join(dir, "cert.pem")); err != nil {
		return s, err
	}
	s.Key, err = os.ReadFile(filepath.Join(dir, "key.pem"))
	return s, err
}

func mustReadSet(t *testing.T, dir string) certSet {
	t.Helper()
	s, err := readSet(dir)
	if err != nil {
		t.Fatalf("read the installed set: %v", err)
	}
	return s
}

// writeSet installs a set into dir by hand (0700 dir, 0600 files).
func writeSet(t *testing.T, dir string, s certSet) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"ca.pem": s.CA, "cert.pem": s.Cert, "key.pem": s.Key} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// stackClientSet is the stack's own client set (trusted by its buildkitd).
func stackClientSet(t *testing.T) certSet {
	t.Helper()
	return mustReadSet(t, os.Getenv("STACK_TLS_DIR"))
}

// authority is a CA that can issue client certificates.
type authority struct {
	cert *x509.Certificate
	key  crypto.Signer
	PEM  []byte
}

// stackCA loads the stack's CA (the one buildkitd trusts) from STACK_CA_DIR.
func stackCA(t *testing.T) *authority {
	t.Helper()
	dir := os.Getenv("STACK_CA_DIR")
	if dir == "" {
		t.Fatal("STACK_CA_DIR is unset: the stack's env file is out of date (re-run `make stack-up`)")
	}
	certPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		t.Fatalf("stack CA in %s does not parse", dir)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	var key any
	switch kb.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(kb.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(kb.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(kb.Bytes)
	}
	if err != nil {
		t.Fatalf("stack CA key: %v", err)
	}
	return &authority{cert: cert, key: key.(crypto.Signer), PEM: certPEM}
}

// newCA makes a self-signed CA unrelated to the stack's.
func newCA(t *testing.T, cn string) *authority {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &authority{cert: cert, key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue mints a client certificate and key valid from notBefore to notAfter.
func (a *authority) issue(t *testing.T, cn string, notBefore, notAfter time.Time) certSet {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, key.Public(), a.key)
	if err != nil {
		t.Fatal(err)
	}
	k, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return certSet{
		CA:   a.PEM,
		Cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		Key:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k}),
	}
}

// valid mints a client certificate valid for a year.
func (a *authority) valid(t *testing.T, cn string) certSet {
	return a.issue(t, cn, time.Now().Add(-time.Hour), time.Now().Add(365*24*time.Hour))
}

func serial(t *testing.T) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// keyLines returns the base64 lines of a PEM key's body: the key material
// to look for in logs and files.
func keyLines(key []byte) []string {
	var out []string
	for _, l := range strings.Split(string(key), "\n") {
		if l != "" && !strings.HasPrefix(l, "-----") && len(l) >= 16 {
			out = append(out, l)
		}
	}
	return out
}

// s3Counter counts what a counting proxy saw.
type s3Counter struct {
	mu   sync.Mutex
	gets map[int]int // object GETs by response status
	all  []string    // "METHOD path status" for the log
}

func (c *s3Counter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gets = map[int]int{}
	c.all = nil
}

func (c *s3Counter) objectGets(status int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gets[status]
}

func (c *s3Counter) log() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.all, "\n")
}

// countingProxy is a reverse proxy to an S3 endpoint that counts object
// GETs (path /bucket/key) by response status: 200 means a body was sent.
func countingProxy(t *testing.T, target string) (string, *s3Counter) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	c := &s3Counter{gets: map[int]int{}}
	p := httputil.NewSingleHostReverseProxy(u)
	p.ModifyResponse = func(r *http.Response) error {
		req := r.Request
		path := strings.TrimPrefix(req.URL.Path, "/")
		c.mu.Lock()
		defer c.mu.Unlock()
		c.all = append(c.all, fmt.Sprintf("%s %s %d", req.Method, req.URL.Path, r.StatusCode))
		if req.Method == http.MethodGet && strings.Contains(path, "/") && !strings.HasSuffix(path, "/") {
			c.gets[r.StatusCode]++
		}
		return nil
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv.URL, c
}

// freePort returns a TCP port on 127.0.0.1 nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startMoto starts a private moto_server with env and returns its endpoint;
// it is killed when the test ends.
func startMoto(t *testing.T, env ...string) string {
	t.Helper()
	path := ""
	if out, err := exec.Command("pyenv", "which", "moto_server").Output(); err == nil {
		path = strings.TrimSpace(string(out))
	} else if p, err := exec.LookPath("moto_server"); err == nil {
		path = p
	} else {
		t.Fatal("moto_server not found (pyenv which moto_server, PATH)")
	}
	port := freePort(t)
	cmd := exec.Command(path, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.Env = append(os.Environ(), env...)
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto_server on %s not ready after 15s:\n%s", addr, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "http://" + addr
}

// Running the plugin's hooks.

// hookScript sources hooks/environment exactly as the agent would run it,
// saves what it eval'd and the resulting environment, runs an optional
// snippet with the exports in scope, then optionally the command hook.
const hookScript = `hooks=$1 out=$2 build=$3 after=${4:-} preexit=${5:-0}
source "$hooks/environment"
printf '%s' "$exports" >"$out/exports"
env -0 >"$out/env"
if [[ -n "$after" ]]; then eval "$after"; fi
if [[ "$build" == 1 ]]; then bash "$hooks/command"; fi
if [[ "$preexit" == 1 ]]; then bash "$hooks/pre-exit"; fi
`

type hookRun struct {
	Home  string         // HOME; tls-dir defaults to $HOME/.buildkit
	Dir   string         // working directory (the build context)
	Cfg   map[string]any // the plugin configuration
	Env   []string       // extra environment: KEY=value overrides, -KEY removes
	Build bool           // also run hooks/command
	After string         // bash run after the environment hook
	// PreExit also runs hooks/pre-exit (after the command hook).
	PreExit bool
}

type hookResult struct {
	result
	Exports string            // what hooks/environment eval'd
	Env     map[string]string // the environment after hooks/environment
}

// job returns the environment of a Buildkite job on an Elastic CI Stack
// agent, talking to the stack's moto for AWS.
func (a *awsStack) jobEnv(s *stack, home string) []string {
	abs, _ := filepath.Abs(bin)
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"BUILDKITE=true",
		"BUILDKITE_PIPELINE_SLUG=" + pipelineSlug,
		"REMOTE_BUILDKIT_BIN=" + abs,
		"DOCKER_CONFIG=" + s.DockerConfig,
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"AWS_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_ENDPOINT_URL=" + a.Moto,
	}
}

func mergeEnv(base, extra []string) []string {
	out := append([]string{}, base...)
	for _, e := range extra {
		key, _, _ := strings.Cut(strings.TrimPrefix(e, "-"), "=")
		kept := out[:0]
		for _, o := range out {
			if !strings.HasPrefix(o, key+"=") {
				kept = append(kept, o)
			}
		}
		out = kept
		if !strings.HasPrefix(e, "-") {
			out = append(out, e)
		}
	}
	return out
}

func (a *awsStack) hooks(t *testing.T, s *stack, h hookRun) hookResult {
	t.Helper()
	hooksDir, err := filepath.Abs("../../hooks")
	if err != nil {
		t.Fatal(err)
	}
	if h.Home == "" {
		h.Home = t.TempDir()
	}
	if h.Dir == "" {
		h.Dir = t.TempDir()
	}
	js, err := json.Marshal(h.Cfg)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	build := "0"
	if h.Build {
		build = "1"
	}
	preExit := "0"
	if h.PreExit {
		preExit = "1"
	}
	cmd := exec.Command("bash", "-c", hookScript, "hook-wrapper", hooksDir, out, build, h.After, preExit)
	cmd.Dir = h.Dir
	cmd.Env = mergeEnv(append(a.jobEnv(s, h.Home), "BUILDKITE_PLUGIN_CONFIGURATION="+string(js)), h.Env)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err = cmd.Run()
	r := hookResult{result: result{Stdout: stdout.String(), Stderr: stderr.String(), Elapsed: time.Since(start)}}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.Code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run the hooks: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(out, "exports")); err == nil {
		r.Exports = string(b)
	}
	if b, err := os.ReadFile(filepath.Join(out, "env")); err == nil {
		r.Env = map[string]string{}
		for _, kv := range strings.Split(string(b), "\x00") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				r.Env[k] = v
			}
		}
	}
	return r
}

// errorLines returns the "remote-buildkit: error: " lines of stderr.
func errorLines(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "remote-buildkit: error: ") {
			out = append(out, l)
		}
	}
	return out
}

// mode returns the permission bits of path.
func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}
