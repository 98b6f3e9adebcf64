//go:build !(linux || darwin || freebsd)

package ledger

import (
	"errors"
	"fmt"
)

func freeSpace(dir string) (uint64, error) {
	return 0, fmt.Errorf("free space of %s: %w", dir, errors.ErrUnsupported)
}
