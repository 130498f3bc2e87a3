package loader

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// mfdExec asks for an executable memfd explicitly (Linux 6.3+), so the
// process backends can map code from it whatever vm.memfd_noexec says.
const mfdExec = 0x10

// mapMemfd creates a memfd of size bytes and maps it shared and writable.
func mapMemfd(size uint64) ([]byte, int, func() error, error) {
	fd, err := unix.MemfdCreate("tessera-context", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|mfdExec)
	if errors.Is(err, unix.EINVAL) {
		fd, err = unix.MemfdCreate("tessera-context", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		return nil, -1, nil, fmt.Errorf("memfd_create: %w", err)
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		unix.Close(fd)
		return nil, -1, nil, fmt.Errorf("ftruncate: %w", err)
	}
	// Contexts never grow or shrink: sealing lets mappers rely on the size.
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_GROW|unix.F_SEAL_SHRINK|unix.F_SEAL_SEAL); err != nil {
		unix.Close(fd)
		return nil, -1, nil, fmt.Errorf("sealing: %w", err)
	}
	m, err := unix.Mmap(fd, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(fd)
		return nil, -1, nil, fmt.Errorf("mmap: %w", err)
	}
	free := func() error {
		return errors.Join(unix.Munmap(m), unix.Close(fd))
	}
	return m, fd, free, nil
}
