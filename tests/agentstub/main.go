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

	var mu sync.Mutex
	meta := map[string]string{} // "<scope>/<id>/<key>" → value, with jobs' data also visible by key
	var logf *os.File
	if *logPath != "" {
		f, err := os.OpenFile(*logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			log.Fatal(err)
		}
		logf = f
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/upload" {
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		e := entry{Method: r.Method, Path: r.URL.Path}
		if json.Valid(body) {
			e.Body = body
		} else if len(body) > 0 {
			e.Body, _ = json.Marshal(string(body))
		}
		if r.URL.Path != "/upload" { // logged with its parsed form instead
			mu.Lock()
			if logf != nil {
				b, _ := json.Marshal(e)
				logf.Write(append(b, '\n'))
			}
			mu.Unlock()
		}

		w.Header().Set("Content-Type", "application/json")
		path := strings.TrimPrefix(r.URL.Path, "/v3")
		if r.URL.Path == "/upload" { // the artifact upload the form instructions below point at
			upload(w, r, body, func(e entry) {
				mu.Lock()
				defer mu.Unlock()
				if logf != nil {
					b, _ := json.Marshal(e)
					logf.Write(append(b, '\n'))
				}
			})
			return
		}
		if r.Method == http.MethodPost && strings.HasSuffix(path, "/artifacts") {
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
			return
		}
		var req struct{ Key, Value string }
		json.Unmarshal(body, &req)
		switch {
		case strings.HasSuffix(path, "/data/set"):
			mu.Lock()
			meta[req.Key] = req.Value
			mu.Unlock()
			io.WriteString(w, "{}")
		case strings.HasSuffix(path, "/data/get"):
			mu.Lock()
			v, ok := meta[req.Key]
			mu.Unlock()
			if !ok {
				w.WriteHeader(http.StatusNotFound)
				io.WriteString(w, `{"message":"No key \"`+req.Key+`\" found"}`)
				return
			}
			json.NewEncoder(w).Encode(map[string]string{"key": req.Key, "value": v})
		case strings.HasSuffix(path, "/data/exists"):
			mu.Lock()
			_, ok := meta[req.Key]
			mu.Unlock()
			json.NewEncoder(w).Encode(map[string]bool{"exists": ok})
		case strings.HasSuffix(path, "/data/keys"):
			mu.Lock()
			keys := []string{}
			for k := range meta {
				keys = append(keys, k)
			}
			mu.Unlock()
			json.NewEncoder(w).Encode(keys)
		default:
			io.WriteString(w, "{}")
		}
	})
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
	log.Fatal(http.Serve(ln, h))
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
