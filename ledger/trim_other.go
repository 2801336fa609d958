//go:build !linux

package ledger

import "errors"

// Paging out file mappings needs Linux's madvise MADV_PAGEOUT; elsewhere
// the trimmer does not run.
const pageoutSupported = false

var errPageoutUnsupported = errors.New("paging out file mappings is only supported on Linux")

func pageout(start, length uintptr) error { return errPageoutUnsupported }
