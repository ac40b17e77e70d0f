package faultkit

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// The first Count matching requests get the rule's status; the rest, and
// requests that do not match, reach the target; the log has them all.
func TestFaultHandler(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "target "+r.Host)
	}))
	defer target.Close()
	u, _ := url.Parse(target.URL)
	srv := httptest.NewServer(NewFaultHandler(u))
	defer srv.Close()
	fp := &FaultProxy{URL: srv.URL}
	if err := fp.Add(Rule{Method: "PUT", Path: "^/v2/.+/manifests/", Status: 503, Count: 2, Header: map[string]string{"Retry-After": "1"}}); err != nil {
		t.Fatal(err)
	}
	if err := fp.Add(Rule{Path: "("}); err == nil {
		t.Error("a rule with a bad regexp and no status was accepted")
	}
	do := func(method, path string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader("body"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var got []int
	for _, p := range []string{"/v2/a/manifests/x", "/v2/a/blobs/y", "/v2/a/manifests/x", "/v2/a/manifests/x"} {
		code, _ := do("PUT", p)
		got = append(got, code)
	}
	if want := []int{503, 201, 503, 201}; !slices.Equal(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	if _, body := do("GET", "/v2/a/manifests/x"); body != "target "+strings.TrimPrefix(srv.URL, "http://") {
		t.Errorf("the target saw %q: want the client's Host kept", body)
	}
	es, err := fp.Log()
	if err != nil || len(es) != 5 || es[0].Fault != "status" || es[1].Fault != "" || es[1].Status != 201 {
		t.Errorf("log %+v (%v)", es, err)
	}
}
