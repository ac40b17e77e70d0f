package contextsync

import (
	"os"
	"syscall"
)

// statOf is the identity of fi: device, inode, owner and change time.
func statOf(fi os.FileInfo) (fileStat, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileStat{}, false
	}
	return newFileStat(uint64(st.Dev), st.Ino, st.Size, st.Mtimespec, st.Ctimespec, st.Uid, st.Gid), true
}
