//go:build linux

package ledger

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

const pageoutSupported = true

// errPageoutUnsupported: the kernel predates MADV_PAGEOUT (Linux 5.4), or
// refuses it for the range because the process locked its memory.
var errPageoutUnsupported = errors.New("madvise MADV_PAGEOUT refused: needs Linux 5.4 or later and memory that is not locked")

// pageout asks the kernel to reclaim the pages of [start, start+length).
// The raw system call takes the range as integers: the range is not
// memory this program owns as a Go value, and may no longer be mapped.
func pageout(start, length uintptr) error {
	_, _, e := unix.Syscall(unix.SYS_MADVISE, start, length, unix.MADV_PAGEOUT)
	switch e {
	case 0:
		return nil
	case unix.EINVAL:
		return errPageoutUnsupported
	default:
		return fmt.Errorf("madvise pageout: %w", e)
	}
}
