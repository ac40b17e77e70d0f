// Command faultproxy is an HTTP reverse proxy that answers chosen requests
// with a status code (or a reset connection) and proxies the rest: the
// registry and S3 faults of the fault-injection tests.
//
//	faultproxy -listen 127.0.0.1:5040 -target http://127.0.0.1:5000
//	curl -X POST 127.0.0.1:5040/__fault -d '{"method":"PUT","path":"/v2/.*/manifests/.*","status":503,"count":1}'
//	curl 127.0.0.1:5040/__fault/log
//
// The first count matching requests get the status (count 0: all of them);
// DELETE /__fault removes every rule. See faultkit.Rule and faultkit.Entry.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"

	"github.com/remote-buildkit/remote-buildkit/tests/faultkit"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "listen address")
	target := flag.String("target", "", "where requests are proxied: http://host:port")
	flag.Parse()
	u, err := url.Parse(*target)
	if err != nil || u.Scheme == "" || u.Host == "" {
		fmt.Fprintln(os.Stderr, "faultproxy: -target http://host:port is required")
		os.Exit(2)
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("faultproxy: %v", err)
	}
	fmt.Printf("faultproxy: listening on %s, proxying to %s\n", l.Addr(), u)
	log.Fatal(http.Serve(l, faultkit.NewFaultHandler(u)))
}
