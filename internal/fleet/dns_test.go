package fleet

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/remote-buildkit/remote-buildkit/internal/config"
)

func TestParseDNS(t *testing.T) {
	for _, tc := range []struct {
		in, name, port string
		ok             bool
	}{
		{"dns://builders.internal:1234", "builders.internal", "1234", true},
		{"dns://buildkitd.ci.svc.cluster.local.:1234", "buildkitd.ci.svc.cluster.local.", "1234", true},
		{"dns://_buildkit.example.com:443/", "_buildkit.example.com", "443", true},
		{"dns://builders:1", "builders", "1", true},
		{"dns://builders.internal", "", "", false},
		{"dns://builders.internal:", "", "", false},
		{"dns://builders.internal:0", "", "", false},
		{"dns://builders.internal:65536", "", "", false},
		{"dns://builders.internal:http", "", "", false},
		{"dns://:1234", "", "", false},
		{"dns://user@builders:1234", "", "", false},
		{"dns://builders:1234/x", "", "", false},
		{"dns://builders:1234?a=b", "", "", false},
		{"dns://bad_name!:1234", "", "", false},
		{"dns://-bad.example:1234", "", "", false},
		{"dns://a..b:1234", "", "", false},
		{"tcp://builders.internal:1234", "", "", false},
		{"dns:builders:1234", "", "", false},
		{"", "", "", false},
	} {
		name, port, ok := ParseDNS(tc.in)
		if name != tc.name || port != tc.port || ok != tc.ok {
			t.Errorf("ParseDNS(%q) = %q, %q, %v; want %q, %q, %v", tc.in, name, port, ok, tc.name, tc.port, tc.ok)
		}
	}
}

func TestMembers(t *testing.T) {
	base := config.Node{Name: "pool", Host: "dns://builders.test.:1260", TLSDir: "/tls", TLSDirSet: true, Platforms: []string{"linux/amd64"}}
	got := Members("builders.test.", []string{"tcp://10.0.0.1:1260", "tcp://[fd00::2]:1260"}, base)
	want := []config.Node{
		{Name: "10.0.0.1:1260", Host: "tcp://10.0.0.1:1260", TLSDir: "/tls", TLSDirSet: true, Platforms: []string{"linux/amd64"}, TLSServerName: "builders.test"},
		{Name: "[fd00::2]:1260", Host: "tcp://[fd00::2]:1260", TLSDir: "/tls", TLSDirSet: true, Platforms: []string{"linux/amd64"}, TLSServerName: "builders.test"},
	}
	if !slices.EqualFunc(got, want, sameNode) {
		t.Errorf("Members = %+v\nwant %+v", got, want)
	}
	got[0].Platforms[0] = "changed"
	if base.Platforms[0] != "linux/amd64" {
		t.Error("members share base's Platforms slice")
	}
	base.TLSServerName = "buildkit.internal"
	if got := Members("builders.test", []string{"tcp://10.0.0.1:1260"}, base); got[0].TLSServerName != "buildkit.internal" {
		t.Errorf("an explicit tls-server-name must win, got %q", got[0].TLSServerName)
	}
}

func sameNode(a, b config.Node) bool {
	return a.Name == b.Name && a.Host == b.Host && a.TLSDir == b.TLSDir && a.TLSDirSet == b.TLSDirSet &&
		a.TLSServerName == b.TLSServerName && a.SecretsPrefix == b.SecretsPrefix && slices.Equal(a.Platforms, b.Platforms)
}

// fakeDNS answers A and AAAA queries over UDP from records (name without the
// trailing dot → addresses) and NXDOMAIN for any other name.
func fakeDNS(t *testing.T, records map[string][]string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp := dnsAnswer(buf[:n], records); resp != nil {
				pc.WriteTo(resp, from)
			}
		}
	}()
	return pc.LocalAddr().String()
}

// dnsAnswer builds the response to one query (RFC 1035 §4.1).
func dnsAnswer(q []byte, records map[string][]string) []byte {
	if len(q) < 12 {
		return nil
	}
	var labels []string
	i := 12
	for i < len(q) && q[i] != 0 {
		l := int(q[i])
		if i+1+l > len(q) {
			return nil
		}
		labels = append(labels, string(q[i+1:i+1+l]))
		i += 1 + l
	}
	if i+5 > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[i+1:])
	question := q[12 : i+5]
	addrs, known := records[strings.ToLower(strings.Join(labels, "."))]
	var answers [][]byte
	for _, s := range addrs {
		a := netip.MustParseAddr(s)
		if (qtype == 1 && a.Is4()) || (qtype == 28 && a.Is6()) {
			rr := []byte{0xc0, 12, 0, byte(qtype), 0, 1, 0, 0, 0, 5}
			rr = binary.BigEndian.AppendUint16(rr, uint16(a.BitLen()/8))
			answers = append(answers, append(rr, a.AsSlice()...))
		}
	}
	flags := uint16(0x8180)
	if !known {
		flags |= 3 // NXDOMAIN
	}
	resp := append([]byte{q[0], q[1]}, byte(flags>>8), byte(flags), 0, 1, 0, byte(len(answers)), 0, 0, 0, 0)
	resp = append(resp, question...)
	for _, rr := range answers {
		resp = append(resp, rr...)
	}
	return resp
}

func TestResolve(t *testing.T) {
	server := fakeDNS(t, map[string][]string{
		"builders.test": {"127.0.0.33", "127.0.0.4", "fd00::1", "127.0.0.31"},
		"empty.test":    {},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := Resolve(ctx, "builders.test", "1260", server)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"tcp://127.0.0.4:1260", "tcp://127.0.0.31:1260", "tcp://127.0.0.33:1260", "tcp://[fd00::1]:1260"}
	if !slices.Equal(got, want) {
		t.Errorf("Resolve = %v, want %v", got, want)
	}
	for _, name := range []string{"empty.test", "missing.test"} {
		_, err := Resolve(ctx, name, "1260", server)
		if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "on "+server+": no such host") {
			t.Errorf("Resolve(%s) = %v, want an error naming %s and the server, no such host", name, err, name)
		}
	}
}

// A server that does not answer is an error within the caller's deadline.
func TestResolveNoServer(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close() // bound but silent
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := Resolve(ctx, "builders.test", "1260", pc.LocalAddr().String()); err == nil {
		t.Fatal("want an error from a silent server")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %s, want about the 500ms deadline", d)
	}
}

// Expand replaces each dns:// daemon by its members and keeps the others,
// in order; a name that does not resolve is a DNSError naming it.
func TestExpand(t *testing.T) {
	nodes := []config.Node{{Name: "a", Host: "tcp://a:1"}, {Name: "pool", Host: "dns://builders.test:1234"}}
	resolve := func(_ context.Context, name, port, server string) ([]string, error) {
		if name != "builders.test" || port != "1234" || server != "127.0.0.1:53" {
			t.Errorf("resolve(%q, %q, %q)", name, port, server)
		}
		return []string{"tcp://10.0.0.1:1234", "tcp://10.0.0.2:1234"}, nil
	}
	got, found, err := Expand(context.Background(), nodes, "127.0.0.1:53", resolve)
	if err != nil {
		t.Fatal(err)
	}
	var hosts []string
	for _, n := range got {
		hosts = append(hosts, n.Host)
	}
	if strings.Join(hosts, " ") != "tcp://a:1 tcp://10.0.0.1:1234 tcp://10.0.0.2:1234" || len(found) != 1 || found[0].Host != nodes[1].Host || len(found[0].Addrs) != 2 {
		t.Errorf("Expand = %v, %+v", hosts, found)
	}
	if nodes[1].Host != "dns://builders.test:1234" {
		t.Errorf("Expand changed its input: %+v", nodes)
	}
	if _, found, _ := Expand(context.Background(), nodes[:1], "", resolve); len(found) != 0 {
		t.Errorf("no dns:// daemon: found %+v", found)
	}
	noRecords := errors.New("builders.test has no A or AAAA records")
	_, _, err = Expand(context.Background(), nodes, "", func(context.Context, string, string, string) ([]string, error) { return nil, noRecords })
	var dnsErr *DNSError
	if !errors.As(err, &dnsErr) || dnsErr.Name != "builders.test" || !errors.Is(err, noRecords) {
		t.Errorf("Expand error = %v, want a DNSError for builders.test", err)
	}
}
