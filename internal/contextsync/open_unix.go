//go:build linux || darwin

package contextsync

import (
	"io"
	"os"
	"syscall"
)

// rawFile reads a file with plain system calls: os.Open adds an fstat, the
// poller's fcntl and epoll_ctl calls and a finalizer per file, which on
// 20,000 small files cost more than hashing them.
type rawFile int

func openRaw(path string) (io.ReadCloser, error) {
	for {
		fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return rawFile(fd), nil
	}
}

func (f rawFile) Read(b []byte) (int, error) {
	for {
		n, err := syscall.Read(int(f), b)
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return 0, err
		case n == 0 && len(b) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

func (f rawFile) Close() error { return syscall.Close(int(f)) }
