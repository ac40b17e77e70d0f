//go:build !linux && !darwin

package contextsync

import "os"

// statOf: without a device and inode there is no identity to cache by;
// every file is hashed.
func statOf(os.FileInfo) (fileStat, bool) { return fileStat{}, false }
