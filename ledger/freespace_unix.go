//go:build linux || darwin || freebsd

package ledger

import (
	"fmt"
	"syscall"
)

// freeSpace is statfs's blocks available to unprivileged users (ledgerd
// does not run as root under systemd) times the block size.
func freeSpace(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("free space of %s: %w", dir, err)
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil
}
