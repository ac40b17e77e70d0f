package faultkit

import "net"

// Serve hands each connection l accepts to handle on its own goroutine and
// closes it when handle returns, until l is closed.
func Serve(l net.Listener, handle func(net.Conn)) {
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
}

// Hold accepts connections on l and never answers them (a daemon that hangs,
// a black hole); they are closed once l is.
func Hold(l net.Listener) {
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
}
