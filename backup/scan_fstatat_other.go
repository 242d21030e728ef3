//go:build !(amd64 || arm64 || riscv64 || ppc64 || ppc64le || s390x || mips64 || mips64le)

package backup

import (
	"errors"

	"golang.org/x/sys/unix"
)

// fstatat is lstat(2) of name in the directory dfd. Where the system call
// is not newfstatat (32-bit systems, and loong64, where x/sys uses statx),
// it goes through unix.Fstatat, which copies the name.
func fstatat(dfd int, name string, st *unix.Stat_t) error {
	for {
		err := unix.Fstatat(dfd, name, st, unix.AT_SYMLINK_NOFOLLOW)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}
