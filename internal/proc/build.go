//go:build linux && amd64

package proc

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

//go:embed stub/stub.c stub/floor.c
var sources embed.FS

// cflags build a freestanding static PIE: no libc, no stack protector (it
// would read %fs), no vector registers (the guest must find them as execve
// left them), no relocations but the stub's own R_X86_64_RELATIVE ones. The
// kernel loads an interpreter-less PIE at a random address high in the
// address space (above 2^42 with either mmap layout), never where a
// context (below loader.MaxContextSize, 64 GiB) goes; the stub checks.
var cflags = []string{
	"-std=gnu11", "-Os", "-fPIE", "-static-pie", "-nostdlib",
	"-ffreestanding", "-fno-builtin", "-fno-tree-loop-distribute-patterns",
	"-fno-stack-protector", "-fno-asynchronous-unwind-tables",
	"-fcf-protection=none", "-mgeneral-regs-only",
	"-Wall", "-Wextra", "-Werror",
	"-Wl,--build-id=none", "-Wl,-z,noexecstack", "-Wl,-z,norelro",
	"-Wl,-z,noseparate-code", "-Wl,-z,max-page-size=4096", "-Wl,-z,text",
	// The control area's layout: Go's constants are the only copy.
	fmt.Sprintf("-DRECORD_OFFSET=%d", RecordOffset),
	fmt.Sprintf("-DHANDSHAKE_OFFSET=%d", HandshakeOffset),
	fmt.Sprintf("-DPID_OFFSET=%d", PidOffset),
}

// StubEnv names an environment variable that, when set, is the path of a
// prebuilt stub to use instead of building one, for hosts without a C
// compiler (copy the one a build host put in its CacheDir).
const StubEnv = "TESSERA_STUB"

var (
	stubOnce, floorOnce sync.Once
	stubPath, floorPath string
	stubErr, floorErr   error
)

// StubPath returns the path of the stub binary, building it on first use.
func StubPath() (string, error) {
	stubOnce.Do(func() {
		if p := os.Getenv(StubEnv); p != "" {
			stubPath, stubErr = p, checkBinary(p)
			return
		}
		stubPath, stubErr = Build("stub.c", CacheDir())
	})
	return stubPath, stubErr
}

// StubHook selects a test build of the stub that misbehaves on purpose.
type StubHook int

const (
	// HookServerDies: after every second clone the stub server kills
	// itself instead of replying with the child's pid.
	HookServerDies StubHook = 1
	// HookServerHangs: after every second clone the stub server waits
	// forever instead of replying.
	HookServerHangs StubHook = 2
)

// TestStub builds (once) a stub with a test hook, for Config.Stub in tests.
func TestStub(h StubHook) (string, error) {
	if h != HookServerDies && h != HookServerHangs {
		return "", fmt.Errorf("proc: unknown stub hook %d", h)
	}
	return build("stub.c", CacheDir(), fmt.Sprintf("-DTESSERA_TEST_HOOK=%d", h))
}

// FloorPath returns the path of the floor program: a static binary built
// like the stub that only calls exit_group(0). Benchmarks spawn it to
// measure what any process sandbox must pay at least.
func FloorPath() (string, error) {
	floorOnce.Do(func() { floorPath, floorErr = Build("floor.c", CacheDir()) })
	return floorPath, floorErr
}

// CacheDir is where built stubs are kept: $XDG_CACHE_HOME/tessera (or the
// platform's equivalent), else a per-user folder in the temporary folder.
func CacheDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "tessera")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("tessera-%d", os.Getuid()))
}

// StubAvailable reports why no stub can be had here, or nil: TESSERA_STUB
// names one, the cache holds one, or a C compiler can build one. It builds
// nothing.
func StubAvailable() error {
	if p := os.Getenv(StubEnv); p != "" {
		return checkBinary(p)
	}
	path, _, err := cachePath("stub.c", CacheDir())
	if err != nil {
		return err
	}
	if checkBinary(path) == nil {
		return nil
	}
	if _, err := exec.LookPath(compiler()); err != nil {
		return fmt.Errorf("proc: no stub in %s and no C compiler to build one (%v); set %s", CacheDir(), err, StubEnv)
	}
	return nil
}

func compiler() string {
	if cc := os.Getenv("CC"); cc != "" {
		return cc
	}
	return "gcc"
}

// cachePath returns where Build puts name built with cflags and extra, and
// its source.
func cachePath(name, dir string, extra ...string) (string, []byte, error) {
	src, err := sources.ReadFile("stub/" + name)
	if err != nil {
		return "", nil, err
	}
	h := sha256.New()
	h.Write(src)
	for _, f := range append(slices.Clip(cflags), extra...) {
		h.Write([]byte{0})
		h.Write([]byte(f))
	}
	base := strings.TrimSuffix(name, filepath.Ext(name))
	return filepath.Join(dir, fmt.Sprintf("%s-%s", base, hex.EncodeToString(h.Sum(nil))[:24])), src, nil
}

// Build compiles the embedded source name (stub.c or floor.c) into dir,
// named by the SHA-256 of the source and the flags, unless it is already
// there. Concurrent builders (parallel test binaries) are safe: each writes
// a temporary file and renames it into place.
func Build(name, dir string) (string, error) { return build(name, dir) }

// build is Build with extra compiler flags.
func build(name, dir string, extra ...string) (string, error) {
	path, src, err := cachePath(name, dir, extra...)
	if err != nil {
		return "", err
	}
	base := strings.TrimSuffix(name, filepath.Ext(name))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("proc: creating the stub cache: %w", err)
	}
	// The binary is written here and then executed: nobody else may be
	// able to swap it, the one already there included.
	if fi, err := os.Lstat(dir); err != nil {
		return "", err
	} else if st, ok := fi.Sys().(*syscall.Stat_t); !fi.IsDir() || fi.Mode().Perm()&0o022 != 0 || !ok || int(st.Uid) != os.Getuid() {
		return "", fmt.Errorf("proc: the stub cache %s must be a folder of uid %d that nobody else can write to", dir, os.Getuid())
	}
	if err := checkBinary(path); err == nil {
		return path, nil
	}
	cc := compiler()
	tmp, err := os.CreateTemp(dir, base+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("proc: creating the stub cache: %w", err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	cmd := exec.Command(cc, append(append(slices.Clip(cflags), extra...), "-o", tmp.Name(), "-x", "c", "-")...)
	cmd.Stdin = bytes.NewReader(src)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("proc: building %s with %s (set %s to a prebuilt stub on hosts without a C compiler): %v\n%s", name, cc, StubEnv, err, out)
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("proc: installing the stub: %w", err)
	}
	return path, checkBinary(path)
}

// checkBinary refuses a stub that someone else could have replaced: it must
// be a regular executable file owned by us (or root) and writable by nobody
// else.
func checkBinary(path string) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return &os.PathError{Op: "lstat", Path: path, Err: err}
	}
	return checkStat(path, &st)
}

func checkStat(path string, st *unix.Stat_t) error {
	perm := st.Mode & 0o777
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return fmt.Errorf("proc: stub %s is not a regular file", path)
	case perm&0o022 != 0:
		return fmt.Errorf("proc: stub %s is writable by others (%#o)", path, perm)
	case int(st.Uid) != os.Getuid() && st.Uid != 0:
		return fmt.Errorf("proc: stub %s is owned by neither uid %d nor root", path, os.Getuid())
	case perm&0o100 == 0:
		return errors.New("proc: stub " + path + " is not executable")
	}
	return nil
}

// stubBin is a stub binary opened once and checked through its descriptor.
// It is executed through that descriptor (/proc/self/fd/N, which execve
// resolves to the open file), so whatever the path names later never runs.
type stubBin struct {
	fd   int
	path string // where it was opened, for messages
	once sync.Once
}

// openStub opens and checks the stub at path.
func openStub(path string) (*stubBin, error) {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	if fd < 3 {
		// A spawn moves the child's files to 0, 1, 2 before it execs:
		// the stub's descriptor must not be among them.
		high, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 3)
		unix.Close(fd)
		if err != nil {
			return nil, fmt.Errorf("proc: stub %s: %w", path, err)
		}
		fd = high
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if err := checkStat(path, &st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &stubBin{fd: fd, path: path}, nil
}

// exec is the path to execute: the open file itself.
func (s *stubBin) exec() string { return "/proc/self/fd/" + strconv.Itoa(s.fd) }

// close closes the descriptor, once; nothing may spawn the stub after.
func (s *stubBin) close() { s.once.Do(func() { unix.Close(s.fd) }) }

var (
	defaultOnce sync.Once
	defaultStub *stubBin
	defaultErr  error
)

// openDefaultStub opens the stub StubPath names, once per process: an
// engine without Config.Stub uses it, and it is never closed.
func openDefaultStub() (*stubBin, error) {
	defaultOnce.Do(func() {
		var path string
		if path, defaultErr = StubPath(); defaultErr == nil {
			defaultStub, defaultErr = openStub(path)
		}
	})
	return defaultStub, defaultErr
}
