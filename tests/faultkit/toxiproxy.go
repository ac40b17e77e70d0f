package faultkit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Toxiproxy is a toxiproxy-server of the kit's own (TCP faults: reset_peer,
// timeout, latency, a disabled listener), driven over its HTTP API.
type Toxiproxy struct {
	API  string // http://127.0.0.1:PORT
	proc *Proc
}

// StartToxiproxy starts $STACK_TOXIPROXY with its API on 127.0.0.1:port.
func StartToxiproxy(bin, dir string, port int) (*Toxiproxy, error) {
	if bin == "" {
		return nil, fmt.Errorf("STACK_TOXIPROXY is unset: run `bash tests/stack/stack.sh install` and `up`, then source its env file")
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p, err := StartProc(dir, fmt.Sprintf("toxiproxy-%d", port), bin, nil, "-host", "127.0.0.1", "-port", fmt.Sprint(port))
	if err != nil {
		return nil, err
	}
	x := &Toxiproxy{API: "http://" + addr, proc: p}
	if err := WaitListening(p, addr, 10*time.Second); err != nil {
		x.Stop()
		return nil, err
	}
	return x, nil
}

// Stop kills the server (and with it every proxy it listens for).
func (x *Toxiproxy) Stop() error { return x.proc.KillGroup() }

// call sends a JSON request to the API and wants a 2xx answer.
func (x *Toxiproxy) call(method, path string, body any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, x.API+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("toxiproxy %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("toxiproxy %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(out))
	}
	return nil
}

// Proxy creates a proxy from listen (host:port) to upstream (host:port);
// a disabled one does not listen (connections are refused).
func (x *Toxiproxy) Proxy(name, listen, upstream string, enabled bool) error {
	return x.call(http.MethodPost, "/proxies", map[string]any{
		"name": name, "listen": listen, "upstream": upstream, "enabled": enabled})
}

// SetEnabled opens (true) or closes (false) a proxy's listener; disabling
// also drops the connections it carries.
func (x *Toxiproxy) SetEnabled(name string, enabled bool) error {
	return x.call(http.MethodPost, "/proxies/"+name, map[string]any{"enabled": enabled})
}

// Toxic is one toxic: Type reset_peer, timeout, latency, bandwidth...;
// Stream "downstream" (default) or "upstream"; Attributes as toxiproxy
// documents them (reset_peer/timeout: {"timeout": ms}, latency: {"latency": ms}).
type Toxic struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Stream     string         `json:"stream,omitempty"`
	Toxicity   float64        `json:"toxicity"`
	Attributes map[string]any `json:"attributes,omitempty"`
}

// AddToxic adds a toxic to a proxy (Toxicity 0 means 1: every connection).
func (x *Toxiproxy) AddToxic(proxy string, t Toxic) error {
	if t.Toxicity == 0 {
		t.Toxicity = 1
	}
	return x.call(http.MethodPost, "/proxies/"+proxy+"/toxics", t)
}

// RemoveToxic removes a toxic by name.
func (x *Toxiproxy) RemoveToxic(proxy, name string) error {
	return x.call(http.MethodDelete, "/proxies/"+proxy+"/toxics/"+name, nil)
}
