package faultkit

import (
	"io"
	"net"
	"strings"
	"sync/atomic"
)

// CountingProxy forwards a local TCP port to a daemon and counts the bytes
// the client sends (TLS and gRPC framing included): what a context upload
// costs on the wire.
type CountingProxy struct {
	ln   net.Listener
	Sent atomic.Int64
}

// NewCountingProxy listens on 127.0.0.1 and forwards to target (host:port or
// tcp://host:port).
func NewCountingProxy(target string) (*CountingProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &CountingProxy{ln: ln}
	target = strings.TrimPrefix(target, "tcp://")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forward(c, target)
		}
	}()
	return p, nil
}

func (p *CountingProxy) forward(c net.Conn, target string) {
	defer c.Close()
	d, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer d.Close()
	go func() { io.Copy(c, d); c.Close() }()
	n, _ := io.Copy(d, c)
	p.Sent.Add(n)
}

// Host is the proxy's address for buildkit-host: tcp://127.0.0.1:port.
func (p *CountingProxy) Host() string { return "tcp://" + p.ln.Addr().String() }

// Close stops accepting connections.
func (p *CountingProxy) Close() error { return p.ln.Close() }
