//go:build linux && amd64

package proc

import (
	"fmt"
	"os"
	"runtime"
	"strings"
)

// Supported reports why the process backends cannot run here, or nil. They
// need x86-64 Linux with seccomp filters that can trap and trace (3.5+,
// RET_TRAP and RET_TRACE), pidfds (5.3) and close_range (5.9).
func Supported() error {
	if runtime.GOARCH != "amd64" {
		return fmt.Errorf("proc: the process backends run x86-64 guests natively; this is %s", runtime.GOARCH)
	}
	b, err := os.ReadFile("/proc/sys/kernel/seccomp/actions_avail")
	if err != nil {
		return fmt.Errorf("proc: seccomp filters unavailable: %w", err)
	}
	for _, want := range []string{"trap", "trace", "allow"} {
		if !strings.Contains(" "+strings.TrimSpace(string(b))+" ", " "+want+" ") {
			return fmt.Errorf("proc: the kernel's seccomp lacks the %q action (has: %s)", want, strings.TrimSpace(string(b)))
		}
	}
	return nil
}

// PtraceSupported reports why this process cannot trace its children, or
// nil: Yama's ptrace_scope 3 forbids ptrace altogether (scopes 0 to 2
// allow a parent, or root, to attach to its child).
func PtraceSupported() error {
	b, err := os.ReadFile("/proc/sys/kernel/yama/ptrace_scope")
	if err == nil && strings.TrimSpace(string(b)) == "3" {
		return fmt.Errorf("proc: ptrace is disabled (kernel.yama.ptrace_scope = 3)")
	}
	return nil
}
