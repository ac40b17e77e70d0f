// Command agentstub is a small stand-in for Buildkite's agent API, for tests
// that run the real buildkite-agent (annotate, meta-data) on this machine.
// It answers what those commands need, keeps meta-data in memory, and
// appends every request to a JSON-lines log.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
)

type entry struct {
	Method string          `json:"method"`
	Path   string          `json:"path"`
	Body   json.RawMessage `json:"body,omitempty"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	addrFile := flag.String("addr-file", "", "write the actual address here")
	logPath := flag.String("log", "", "append every request here as a JSON line")
	flag.Parse()

	s := &stub{meta: map[string]string{}}
	if *logPath != "" {
		f, err := os.OpenFile(*logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			log.Fatal(err)
		}
		s.logf = f
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	if *addrFile != "" {
		tmp := *addrFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(ln.Addr().String()), 0o644); err != nil {
			log.Fatal(err)
		}
		os.Rename(tmp, *addrFile)
	}
	log.Fatal(http.Serve(ln, s))
}

// stub is the agent API: meta-data in memory and the request log.
type stub struct {
	mu   sync.Mutex
	meta map[string]string // "<scope>/<id>/<key>" → value, with jobs' data also visible by key
	logf *os.File          // nil: no log
}

func (s *stub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == "/upload" { // the artifact upload the batch's form instructions point at
		upload(w, r, body, s.record) // logged with its parsed form
		return
	}
	e := entry{Method: r.Method, Path: r.URL.Path}
	if json.Valid(body) {
		e.Body = body
	} else if len(body) > 0 {
		e.Body, _ = json.Marshal(string(body))
	}
	s.record(e)

	path := strings.TrimPrefix(r.URL.Path, "/v3")
	if r.Method == http.MethodPost && strings.HasSuffix(path, "/artifacts") {
		artifactBatch(w, r, body)
		return
	}
	s.metaData(w, path, body)
}

// record appends a request to the log.
func (s *stub) record(e entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.logf != nil {
		b, _ := json.Marshal(e)
		s.logf.Write(append(b, '\n'))
	}
}

// artifactBatch answers an artifact batch create: an ID per artifact, and
// form upload instructions pointing back at this server's /upload.
func artifactBatch(w http.ResponseWriter, r *http.Request, body []byte) {
	var batch struct {
		ID        string            `json:"id"`
		Artifacts []json.RawMessage `json:"artifacts"`
	}
	json.Unmarshal(body, &batch)
	ids := make([]string, len(batch.Artifacts))
	for i := range ids {
		ids[i] = fmt.Sprintf("artifact-%d", i)
	}
	json.NewEncoder(w).Encode(map[string]any{
		"id": orDefault(batch.ID, "batch"), "artifact_ids": ids,
		"upload_instructions": map[string]any{
			"action": map[string]string{"url": "http://" + r.Host, "method": "POST", "path": "/upload", "file_input": "file"},
			"data":   map[string]string{"path": "${artifact:path}"},
		},
	})
}

// metaData answers the meta-data set, get, exists and keys calls, and {}
// to anything else (annotations, job updates).
func (s *stub) metaData(w http.ResponseWriter, path string, body []byte) {
	var req struct{ Key, Value string }
	json.Unmarshal(body, &req)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case strings.HasSuffix(path, "/data/set"):
		s.meta[req.Key] = req.Value
		io.WriteString(w, "{}")
	case strings.HasSuffix(path, "/data/get"):
		v, ok := s.meta[req.Key]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"message":"No key \"`+req.Key+`\" found"}`)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"key": req.Key, "value": v})
	case strings.HasSuffix(path, "/data/exists"):
		_, ok := s.meta[req.Key]
		json.NewEncoder(w).Encode(map[string]bool{"exists": ok})
	case strings.HasSuffix(path, "/data/keys"):
		keys := []string{}
		for k := range s.meta {
			keys = append(keys, k)
		}
		json.NewEncoder(w).Encode(keys)
	default:
		io.WriteString(w, "{}")
	}
}

// upload records an artifact upload: the form fields and the file's content.
func upload(w http.ResponseWriter, r *http.Request, body []byte, record func(entry)) {
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	form := map[string]string{}
	for k, v := range r.MultipartForm.Value {
		form[k] = strings.Join(v, ",")
	}
	if f, h, err := r.FormFile("file"); err == nil {
		content, _ := io.ReadAll(f)
		form["file"] = h.Filename
		form["content"] = string(content)
	}
	b, _ := json.Marshal(form)
	record(entry{Method: r.Method, Path: r.URL.Path, Body: b})
	w.WriteHeader(http.StatusCreated)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
