//go:build linux && amd64

package vmm

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// deadlineTimer is a POSIX timer that signals one thread (the vCPU's)
// directly from the kernel. A Go timer cannot stop a guest on time: its
// callback needs a P, and the engine's own P is parked in KVM_RUN, so the
// runtime may not run it for up to ~10 ms (sysmon's retake interval).
type deadlineTimer struct{ id int32 }

// sigevent for SIGEV_THREAD_ID (struct sigevent, 64 bytes on x86-64).
type sigevent struct {
	value  uint64
	signo  int32
	notify int32
	tid    int32
	_      [11]int32
}

const sigevThreadID = 4

func newDeadlineTimer(tid int) (*deadlineTimer, error) {
	ev := sigevent{signo: int32(unix.SIGURG), notify: sigevThreadID, tid: int32(tid)}
	var id int32
	_, _, errno := unix.Syscall(unix.SYS_TIMER_CREATE, unix.CLOCK_MONOTONIC, uintptr(unsafe.Pointer(&ev)), uintptr(unsafe.Pointer(&id)))
	if errno != 0 {
		return nil, errno
	}
	return &deadlineTimer{id: id}, nil
}

// set arms the timer to fire after d and then every millisecond until
// disarmed: a signal that arrives just before KVM_RUN is entered is
// consumed by the Go runtime's handler, and the next one stops the guest.
// d <= 0 disarms it.
func (t *deadlineTimer) set(d time.Duration) error {
	var spec [2]unix.Timespec // it_interval, it_value
	if d > 0 {
		spec[0] = unix.NsecToTimespec(int64(time.Millisecond))
		spec[1] = unix.NsecToTimespec(int64(d))
	}
	_, _, errno := unix.Syscall6(unix.SYS_TIMER_SETTIME, uintptr(t.id), 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func (t *deadlineTimer) delete() {
	unix.Syscall(unix.SYS_TIMER_DELETE, uintptr(t.id), 0, 0)
}
