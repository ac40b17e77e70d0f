package certs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/aws/smithy-go"
	"github.com/gofrs/flock"
	"github.com/remote-buildkit/remote-buildkit/internal/atomicfile"
	"github.com/remote-buildkit/remote-buildkit/internal/awsx"
)

// S3 is the part of the S3 client Sync uses.
type S3 interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// Request says what to install where.
type Request struct {
	Bucket   string
	Prefixes []string  // key prefixes in precedence order, each ending in "/"
	Objects  [3]string // object names of the CA, certificate and key
	Files    [3]string // file names in Dir (ca.pem cert.pem key.pem)
	Dir      string
	Now      time.Time
	// Optional: more prefixes follow in another request, so even the last
	// prefix here may be absent or unreadable (then ErrSetNotFound).
	Optional bool
}

// Result reports what Sync did.
type Result struct {
	Prefix     string // the prefix the set came from
	Downloaded int    // objects whose bodies were transferred
	Unchanged  int    // objects answered 304 Not Modified
	Checked    *Checked
}

// stateFile remembers, per installed file, the object and ETag it came from.
const stateFile = ".s3-objects.json"

type objectState struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	ETag   string `json:"etag"`
	SHA256 string `json:"sha256"` // of the installed file, to notice local edits
}

// Sync fetches the set from the first prefix that has it, downloading only
// objects whose ETag changed, verifies it, and installs it atomically under
// a lock. On any error the files in Dir are left as they were.
func Sync(ctx context.Context, api S3, req Request) (*Result, error) {
	if err := EnsureDir(req.Dir); err != nil {
		return nil, err
	}
	unlock, err := Lock(ctx, req.Dir)
	if err != nil {
		return nil, err
	}
	defer unlock()

	state := loadState(req.Dir)
	res := &Result{}
	fetched, err := fetchSet(ctx, api, req, state, res)
	if err != nil {
		return nil, err
	}
	bodies, err := setBodies(req, fetched, res)
	if err != nil {
		return nil, err
	}
	names := [3]string{}
	for i := range names {
		names[i] = fmt.Sprintf("s3://%s/%s%s", req.Bucket, res.Prefix, req.Objects[i])
	}
	checked, err := Verify(Set{CA: bodies[0], Cert: bodies[1], Key: bodies[2]}, names, req.Now)
	if err != nil {
		return nil, err
	}
	res.Checked = checked
	if res.Downloaded == 0 {
		return res, nil
	}
	next, err := install(req, fetched, state)
	if err != nil {
		return nil, err
	}
	return res, saveState(req.Dir, next)
}

// fetchSet fetches the CA from the first prefix that has it, and the
// certificate and key from the same prefix (recorded in res.Prefix).
//
// All requests of a warm run go out at once, so it takes one round trip to
// S3 instead of three: the CA at every prefix, and the certificate and key
// at the prefix the installed set came from (the guess). The outcome is the
// one the requests in sequence would give: the CA's prefixes are judged in
// precedence order, and when the CA decides on another prefix than the
// guess, the guessed results are dropped and that prefix is fetched.
func fetchSet(ctx context.Context, api S3, req Request, state map[string]objectState, res *Result) ([3]*fetchResult, error) {
	var fetched [3]*fetchResult
	ctx, cancel := context.WithCancel(ctx)
	// Every fetch runs on its own copy of what is installed, and every one
	// (a dropped guess too) has returned before fetchSet does: nothing is
	// still reading when install replaces the files and their state.
	installed := [3]objectState{state[req.Files[0]], state[req.Files[1]], state[req.Files[2]]}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // runs before the Wait: dropped fetches stop early
	start := func(prefix string, i int, last bool) chan fetchOutcome {
		ch := make(chan fetchOutcome, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := fetch(ctx, api, req, installed[i], prefix, i, last)
			ch <- fetchOutcome{r, err}
		}()
		return ch
	}
	guess := installedPrefix(req, state)
	cas := make([]chan fetchOutcome, len(req.Prefixes))
	for i, prefix := range req.Prefixes {
		cas[i] = start(prefix, 0, i == len(req.Prefixes)-1 && !req.Optional)
	}
	var rest [3]chan fetchOutcome
	if guess != "" {
		for i := 1; i < 3; i++ {
			rest[i] = start(guess, i, true)
		}
	}
	prefix, ca, err := pickCA(req, cas)
	if err != nil {
		return fetched, err
	}
	res.Prefix, fetched[0] = prefix, ca
	for i := 1; i < 3; i++ {
		if prefix != guess {
			rest[i] = start(prefix, i, true)
		}
	}
	for i := 1; i < 3; i++ {
		o := <-rest[i]
		if o.err == nil && o.res == nil {
			o.err = fmt.Errorf("s3://%s/%s%s not found, but %s is there: upload the whole set (%s) under the same prefix",
				req.Bucket, prefix, req.Objects[i], req.Objects[0], strings.Join(req.Objects[:], ", "))
		}
		if o.err != nil {
			return fetched, o.err
		}
		fetched[i] = o.res
	}
	return fetched, nil
}

type fetchOutcome struct {
	res *fetchResult
	err error
}

// installedPrefix is the prefix the installed certificate and key came
// from, when both came from one of req's prefixes ("" otherwise).
func installedPrefix(req Request, state map[string]objectState) string {
	cert, key := state[req.Files[1]], state[req.Files[2]]
	for _, prefix := range req.Prefixes {
		if cert.Bucket == req.Bucket && key.Bucket == req.Bucket &&
			cert.Key == prefix+req.Objects[1] && key.Key == prefix+req.Objects[2] {
			return prefix
		}
	}
	return ""
}

// pickCA takes the CA from the first prefix, in precedence order, that has
// it; an error at a prefix before that one is the answer, as it would be
// had the prefixes been tried one after the other.
func pickCA(req Request, cas []chan fetchOutcome) (string, *fetchResult, error) {
	for i, prefix := range req.Prefixes {
		o := <-cas[i]
		if o.err != nil {
			return "", nil, o.err
		}
		if o.res != nil {
			return prefix, o.res, nil
		}
	}
	return "", nil, SetNotFound(req.Bucket, req.Prefixes, req.Objects[0])
}

// SetNotFound is the error for a CA found at none of prefixes.
func SetNotFound(bucket string, prefixes []string, caObject string) error {
	var tried []string
	for _, p := range prefixes {
		tried = append(tried, fmt.Sprintf("s3://%s/%s%s", bucket, p, caObject))
	}
	return notFound{fmt.Errorf("%s not found: upload the BuildKit client certificates there (see README, \"Certificates in the secrets bucket\"), or set secrets-bucket/secrets-prefix", strings.Join(tried, " and "))}
}

// ErrSetNotFound: no prefix of the request holds a CA (errors.Is).
var ErrSetNotFound = errors.New("certificate set not found")

type notFound struct{ error }

func (e notFound) Unwrap() []error { return []error{e.error, ErrSetNotFound} }

// setBodies returns the set's contents: the downloaded bodies, and the
// installed files for objects answered 304. It counts both in res.
func setBodies(req Request, fetched [3]*fetchResult, res *Result) ([3][]byte, error) {
	var bodies [3][]byte
	for i, f := range fetched {
		if f.body == nil { // 304: the installed file is current
			b, err := os.ReadFile(filepath.Join(req.Dir, req.Files[i]))
			if err != nil {
				return bodies, err
			}
			bodies[i] = b
			res.Unchanged++
			continue
		}
		bodies[i] = f.body
		res.Downloaded++
	}
	return bodies, nil
}

// install writes the downloaded files into req.Dir and records where each
// came from in the state it returns (a new map: state is not changed). It
// writes every file before renaming any, so a failure to write leaves the
// old set.
func install(req Request, fetched [3]*fetchResult, state map[string]objectState) (map[string]objectState, error) {
	var set atomicfile.Set
	defer set.Discard()
	for i, f := range fetched {
		if f.body == nil {
			continue
		}
		if err := set.Add(filepath.Join(req.Dir, req.Files[i]), f.body, 0o600); err != nil {
			return nil, err
		}
	}
	if err := set.Commit(); err != nil {
		return nil, fmt.Errorf("install: %w", err)
	}
	next := make(map[string]objectState, len(state)+len(fetched))
	maps.Copy(next, state)
	for i, f := range fetched {
		if f.body != nil {
			sum := sha256.Sum256(f.body)
			next[req.Files[i]] = objectState{Bucket: req.Bucket, Key: f.key, ETag: f.etag, SHA256: hex.EncodeToString(sum[:])}
		}
	}
	return next, nil
}

type fetchResult struct {
	key  string
	etag string
	body []byte // nil when the installed file is current (304)
}

// fetch gets one object, conditionally when the installed file is the one
// last fetched from that key. It returns nil, nil when the object is absent
// (or, for a prefix that is not the last, not readable: S3 answers 403 for
// absent keys when the role lacks s3:ListBucket).
func fetch(ctx context.Context, api S3, req Request, st objectState, prefix string, i int, last bool) (*fetchResult, error) {
	key := prefix + req.Objects[i]
	in := &s3.GetObjectInput{Bucket: &req.Bucket, Key: &key}
	if st.Bucket == req.Bucket && st.Key == key && st.ETag != "" && fileSHA(filepath.Join(req.Dir, req.Files[i])) == st.SHA256 {
		in.IfNoneMatch = &st.ETag
	}
	out, err := api.GetObject(ctx, in)
	if err != nil {
		var re *awshttp.ResponseError
		if errors.As(err, &re) && re.HTTPStatusCode() == 304 {
			return &fetchResult{key: key, etag: *in.IfNoneMatch}, nil
		}
		code := errorCode(err)
		switch code {
		case "NoSuchKey", "NotFound":
			return nil, nil
		case "AccessDenied":
			if !last {
				return nil, nil
			}
			return nil, fmt.Errorf("access denied reading s3://%s/%s: give the agent's IAM role s3:GetObject on it (S3 also answers AccessDenied for a missing object when the role lacks s3:ListBucket)", req.Bucket, key)
		case "NoSuchBucket":
			return nil, fmt.Errorf("bucket s3://%s does not exist: fix secrets-bucket (or BUILDKITE_PLUGIN_S3_SECRETS_BUCKET) or secrets-region", req.Bucket)
		case "SignatureDoesNotMatch", "InvalidAccessKeyId", "ExpiredToken", "InvalidToken", "TokenRefreshRequired":
			return nil, fmt.Errorf("S3 rejected the agent's AWS credentials (%s) reading s3://%s/%s: check the instance role or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY", code, req.Bucket, key)
		case "PermanentRedirect", "AuthorizationHeaderMalformed":
			return nil, fmt.Errorf("bucket s3://%s is in another region (%s): set secrets-region or BUILDKITE_PLUGIN_S3_SECRETS_REGION", req.Bucket, code)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if awsx.NoCredentials(err) {
			return nil, fmt.Errorf("no AWS credentials to read s3://%s/%s: run on an instance with an IAM role (Elastic CI Stack agents have one) or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY", req.Bucket, key)
		}
		return nil, fmt.Errorf("fetch s3://%s/%s: %w", req.Bucket, key, err)
	}
	defer out.Body.Close()
	body, err := io.ReadAll(io.LimitReader(out.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("fetch s3://%s/%s: %w", req.Bucket, key, err)
	}
	etag := ""
	if out.ETag != nil {
		etag = *out.ETag
	}
	return &fetchResult{key: key, etag: etag, body: body}, nil
}

func errorCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		switch re.HTTPStatusCode() {
		case 404:
			return "NotFound"
		case 403:
			return "AccessDenied"
		}
	}
	return ""
}

// EnsureDir creates dir 0700, tightening an existing directory's mode.
func EnsureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create tls-dir %s: %w (set tls-dir to a directory the agent user can write, e.g. under $HOME)", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("tls-dir %s: %w", dir, err)
		}
	}
	return nil
}

// Lock takes the exclusive lock of a tls-dir, waiting for other agents on
// the host that are installing certificates. Call the returned func to release.
func Lock(ctx context.Context, dir string) (func(), error) {
	l := flock.New(filepath.Join(dir, ".lock"))
	ok, err := l.TryLockContext(ctx, 20*time.Millisecond)
	if err != nil || !ok {
		return nil, fmt.Errorf("lock %s: %w", l.Path(), errors.Join(err, ctx.Err()))
	}
	return func() { l.Unlock() }, nil
}

// RLock takes the shared lock readers hold while loading the set.
func RLock(ctx context.Context, dir string) (func(), error) {
	l := flock.New(filepath.Join(dir, ".lock"))
	ok, err := l.TryRLockContext(ctx, 20*time.Millisecond)
	if err != nil || !ok {
		return nil, fmt.Errorf("lock %s: %w", l.Path(), errors.Join(err, ctx.Err()))
	}
	return func() { l.Unlock() }, nil
}

func fileSHA(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func loadState(dir string) map[string]objectState {
	st := map[string]objectState{}
	if b, err := os.ReadFile(filepath.Join(dir, stateFile)); err == nil {
		_ = json.Unmarshal(b, &st) // a corrupt state only costs full downloads
	}
	return st
}

func saveState(dir string, st map[string]objectState) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, stateFile), append(b, '\n'), 0o600)
}
