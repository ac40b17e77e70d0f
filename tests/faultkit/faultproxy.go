package faultkit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"time"
)

// Rule is a status-code fault of faultproxy: the first Count requests that
// match Method and Path get Status (or, with Drop, a closed connection and
// no answer); the rest are proxied. Count 0 means every matching request.
type Rule struct {
	Method string            `json:"method,omitempty"` // "" matches any method
	Path   string            `json:"path,omitempty"`   // regular expression on the URL path ("" matches any)
	Status int               `json:"status,omitempty"` // e.g. 503, 500, 429
	Drop   bool              `json:"drop,omitempty"`   // reset the connection instead of answering
	Count  int               `json:"count,omitempty"`
	Body   string            `json:"body,omitempty"`   // the answer's body (default: a line naming the fault)
	Header map[string]string `json:"header,omitempty"` // extra answer headers (Retry-After, ...)
}

// Entry is one request faultproxy saw: Fault is "status" or "drop" when a
// rule answered it, "" when it was proxied (Status is then the target's).
type Entry struct {
	Time   time.Time `json:"time"`
	Method string    `json:"method"`
	Path   string    `json:"path"`
	Status int       `json:"status"`
	Fault  string    `json:"fault,omitempty"`
}

type rule struct {
	Rule
	re   *regexp.Regexp
	used int
}

// FaultHandler is faultproxy: a reverse proxy to target with the control
// API under /__fault: POST a Rule to add it, DELETE to remove every rule,
// GET /__fault/log for the requests seen (JSON list of Entry).
type FaultHandler struct {
	proxy *httputil.ReverseProxy
	mu    sync.Mutex
	rules []*rule
	log   []Entry
}

// NewFaultHandler proxies to target (http://host:port), keeping the Host
// the client used (a registry's Location headers then point back here).
func NewFaultHandler(target *url.URL) *FaultHandler {
	h := &FaultHandler{}
	h.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
		},
		FlushInterval: -1,
	}
	return h
}

func (h *FaultHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/__fault":
		h.control(w, r)
		return
	case "/__fault/log":
		h.mu.Lock()
		b, _ := json.Marshal(append([]Entry{}, h.log...))
		h.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
		return
	}
	if f := h.match(r); f != nil {
		h.inject(w, r, f)
		return
	}
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	h.proxy.ServeHTTP(sw, r)
	h.record(r, sw.status, "")
}

func (h *FaultHandler) control(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
		var f Rule
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
			http.Error(w, "rule: "+err.Error(), http.StatusBadRequest)
			return
		}
		re, err := regexp.Compile(f.Path)
		if err != nil || (f.Status == 0 && !f.Drop) {
			http.Error(w, fmt.Sprintf("rule needs a valid path regexp and a status or drop (%v)", err), http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.rules = append(h.rules, &rule{Rule: f, re: re})
		h.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	case http.MethodDelete:
		h.mu.Lock()
		h.rules = nil
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, "POST a rule or DELETE them all", http.StatusMethodNotAllowed)
	}
}

// match returns the first rule with uses left that matches r, counting the use.
func (h *FaultHandler) match(r *http.Request) *rule {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, f := range h.rules {
		if (f.Method == "" || f.Method == r.Method) && f.re.MatchString(r.URL.Path) && (f.Count == 0 || f.used < f.Count) {
			f.used++
			return f
		}
	}
	return nil
}

func (h *FaultHandler) inject(w http.ResponseWriter, r *http.Request, f *rule) {
	io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20)) // a client may wait to send its whole body
	if f.Drop {
		h.record(r, 0, "drop")
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				if tc, ok := c.(*net.TCPConn); ok {
					tc.SetLinger(0) // RST, not FIN: "connection reset by peer"
				}
				c.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	for k, v := range f.Header {
		w.Header().Set(k, v)
	}
	body := f.Body
	if body == "" {
		body = fmt.Sprintf("faultproxy: injected %d for %s %s\n", f.Status, r.Method, r.URL.Path)
	}
	w.WriteHeader(f.Status)
	io.WriteString(w, body)
	h.record(r, f.Status, "status")
}

func (h *FaultHandler) record(r *http.Request, status int, fault string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.log = append(h.log, Entry{Time: time.Now(), Method: r.Method, Path: r.URL.Path, Status: status, Fault: fault})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }
func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// FaultProxy is a running faultproxy process.
type FaultProxy struct {
	Addr string // 127.0.0.1:PORT, what clients use instead of the target
	URL  string // http://Addr
	proc *Proc
}

// BuildFaultProxy builds tests/faultproxy of the module at repoRoot into dir.
func BuildFaultProxy(repoRoot, dir string) (string, error) {
	out := filepath.Join(dir, "faultproxy")
	cmd := exec.Command("go", "build", "-o", out, "./tests/faultproxy")
	cmd.Dir = repoRoot
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./tests/faultproxy: %v\n%s", err, b)
	}
	return out, nil
}

// StartFaultProxy starts the faultproxy binary on addr in front of target.
func StartFaultProxy(bin, dir, addr, target string) (*FaultProxy, error) {
	p, err := StartProc(dir, "faultproxy-"+filepath.Base(addr), bin, nil, "-listen", addr, "-target", target)
	if err != nil {
		return nil, err
	}
	fp := &FaultProxy{Addr: addr, URL: "http://" + addr, proc: p}
	if err := WaitListening(p, addr, 10*time.Second); err != nil {
		fp.Stop()
		return nil, err
	}
	return fp, nil
}

// Stop kills the proxy.
func (fp *FaultProxy) Stop() error { return fp.proc.KillGroup() }

// Add installs a rule.
func (fp *FaultProxy) Add(r Rule) error {
	b, _ := json.Marshal(r)
	resp, err := http.Post(fp.URL+"/__fault", "application/json", bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("faultproxy: add rule: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("faultproxy: add rule: %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// Log returns every request the proxy saw, in order.
func (fp *FaultProxy) Log() ([]Entry, error) {
	resp, err := http.Get(fp.URL + "/__fault/log")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: log: %w", err)
	}
	defer resp.Body.Close()
	var es []Entry
	return es, json.NewDecoder(resp.Body).Decode(&es)
}

// Clear removes every rule: from now on every request is proxied.
func (fp *FaultProxy) Clear() error {
	req, _ := http.NewRequest(http.MethodDelete, fp.URL+"/__fault", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("faultproxy: clear: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("faultproxy: clear: %s", resp.Status)
	}
	return nil
}
