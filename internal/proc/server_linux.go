//go:build linux && amd64

package proc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The stub server's messages (stub.c, serve()).
const (
	helloMagic = 0x3130565253535354 // "TSSSRV01"
	readyMagic = 0x3130594452535354 // "TSSRDY01"
)

// maxStubCode bounds the code range a server may ask its filter to let
// through; the stub's setup code is a few pages.
const maxStubCode = 1 << 20

// server is one running stub server: a process that forks a child per
// call, each of which becomes a call's process. It serves one request at
// a time; an engine has one per slot.
type server struct {
	fd    int // our end of the SOCK_SEQPACKET socket
	pid   int
	pidfd int
	buf   [8]byte
}

// spawner owns the OS thread that starts the stub servers. A server and
// the processes it forks (CLONE_PARENT makes them ours) get SIGKILL when
// the thread that started the server exits (PDEATHSIG follows threads), so
// that thread must live as long as the engine: it is locked and parked
// here, and ends when the engine closes (unless it is the main thread,
// which Go never ends: Engine.Close kills what it started itself).
type spawner struct {
	mu     sync.Mutex
	jobs   chan func()
	closed bool
}

func newSpawner() *spawner {
	s := &spawner{jobs: make(chan func())}
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		for job := range s.jobs {
			job()
		}
	}()
	return s
}

// do runs f on the spawner's thread, unless the spawner is closed.
func (s *spawner) do(f func()) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	done := make(chan struct{})
	s.jobs <- func() { f(); close(done) }
	<-done
	return nil
}

// close ends the thread, and with it (PDEATHSIG) every server and every
// process they forked that is still alive.
func (s *spawner) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.jobs)
	}
}

// startServer execs the stub as a server for mode, hands it the gated
// filter for the code range it reports, and waits until it is ready.
func startServer(sp *spawner, stub string, flags uint64, f *Filter) (*server, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("proc: socketpair: %w", err)
	}
	s := &server{fd: fds[0], pidfd: -1}
	arg := binary.LittleEndian.AppendUint64(nil, flags)
	if e := sp.do(func() {
		s.pid, s.pidfd, err = spawn(stub, []string{"tessera-stub", "serve", fmt.Sprintf("%x", arg)}, fds[1])
	}); e != nil {
		err = e
	}
	unix.Close(fds[1])
	if err != nil {
		unix.Close(fds[0])
		return nil, fmt.Errorf("proc: starting the stub server: %w", err)
	}
	if err := s.handshake(f); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *server) handshake(f *Filter) error {
	var hello [24]byte
	if err := s.recv(hello[:]); err != nil {
		return fmt.Errorf("proc: the stub server did not say hello: %w", err)
	}
	le := binary.LittleEndian
	lo, hi := le.Uint64(hello[8:]), le.Uint64(hello[16:])
	if le.Uint64(hello[:]) != helloMagic || hi <= lo || hi-lo > maxStubCode {
		return fmt.Errorf("proc: the stub server said %x", hello)
	}
	prog, err := f.Gated(lo, hi)
	if err != nil {
		return err
	}
	if err := s.send(appendFilter(nil, prog), nil); err != nil {
		return err
	}
	var ready [8]byte
	if err := s.recv(ready[:]); err != nil || le.Uint64(ready[:]) != readyMagic {
		return fmt.Errorf("proc: the stub server did not install its filter (%x): %v", ready, err)
	}
	return nil
}

// fork asks the server for a child that maps memfd and follows params.
// An error that wraps errNoPid means the request reached the server but no
// pid came back: a child may exist, and the caller must abandon the server
// and the memfd.
func (s *server) fork(params []byte, memfd int) (pid, pidfd int, err error) {
	if err := s.send(params, unix.UnixRights(memfd)); err != nil {
		if errors.Is(err, errShortWrite) {
			return 0, -1, fmt.Errorf("%w: %w", errNoPid, err)
		}
		return 0, -1, err // nothing reached the server
	}
	if err := s.recv(s.buf[:]); err != nil {
		return 0, -1, fmt.Errorf("%w: %w", errNoPid, err)
	}
	v := int64(binary.LittleEndian.Uint64(s.buf[:]))
	if v <= 0 {
		return 0, -1, fmt.Errorf("proc: the stub server could not fork: %w", syscall.Errno(-v))
	}
	pid = int(v)
	// The child is ours (CLONE_PARENT) and nobody else reaps it, so its
	// pid cannot be reused before we wait for it.
	if pidfd, err = unix.PidfdOpen(pid, 0); err != nil {
		unix.Kill(pid, unix.SIGKILL)
		wait(pid)
		return 0, -1, fmt.Errorf("proc: pidfd_open: %w", err)
	}
	return pid, pidfd, nil
}

// errServerGone: the server's end of the socket is closed.
var errServerGone = errors.New("proc: the stub server is gone")

// errNoPid: a fork request reached the server, and its reply did not come
// back. The server may have died (or gone wrong) after its clone, so a
// child of ours may exist that maps the request's memfd: the memfd must
// never be used again, and the child must be found (abandon).
var errNoPid = errors.New("proc: the stub server took a fork request and did not answer")

// errShortWrite: a message went out in part (which SOCK_SEQPACKET never
// does); the server may have read it.
var errShortWrite = errors.New("proc: short write to the stub server")

func (s *server) send(b, oob []byte) error {
	for {
		n, err := unix.SendmsgN(s.fd, b, oob, nil, unix.MSG_NOSIGNAL)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EPIPE || err == unix.ECONNRESET:
			return errServerGone
		case err != nil:
			return fmt.Errorf("proc: writing to the stub server: %w", err)
		case n != len(b):
			return fmt.Errorf("%w (%d of %d bytes)", errShortWrite, n, len(b))
		}
		return nil
	}
}

// recv reads one message of exactly len(b) bytes; the socket is blocking,
// so the calling thread sleeps until the server answers.
func (s *server) recv(b []byte) error {
	for {
		n, err := unix.Read(s.fd, b)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.ECONNRESET || (err == nil && n == 0):
			return errServerGone
		case err != nil:
			return fmt.Errorf("proc: reading from the stub server: %w", err)
		case n != len(b):
			return fmt.Errorf("proc: the stub server sent %d bytes, want %d", n, len(b))
		}
		return nil
	}
}

// drainLimit bounds how long abandon waits for the last copy of a dead
// server's socket to close. A child holds it only for its first few
// system calls, none of which blocks; only a child stopped from outside
// takes longer.
const drainLimit = 10 * time.Second

// abandon ends a server after errNoPid, and kills and reaps the child it
// may have made for the request's context mem. The child wrote its pid at
// PidOffset (a page no process but the host maps) before it closed its
// copy of the server's socket; so once the server is dead and every copy
// of its end of the socket is closed, the pid is there if the child
// exists. It returns the child's pid if it found one.
func (s *server) abandon(mem []byte) (int, error) {
	if s.pidfd >= 0 {
		kill(s.pidfd)
	}
	drained := s.drain(drainLimit)
	s.close()
	pid, err := reapChild(mem)
	if err == nil && pid == 0 && !drained {
		err = errors.New("proc: a child of a dead stub server may still be setting up (its socket stayed open)")
	}
	return pid, err
}

// drain reads and drops what the socket holds until every other end of it
// is closed, or the limit passes; it reports whether it got there.
func (s *server) drain(limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	var b [64]byte
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		fds := []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, int(left.Milliseconds())+1); err != nil && err != unix.EINTR {
			return false
		}
		if fds[0].Revents == 0 {
			continue
		}
		n, err := unix.Read(s.fd, b[:])
		switch {
		case err == unix.EINTR || err == unix.EAGAIN:
		case err == unix.ECONNRESET || (err == nil && n == 0):
			return true
		case err != nil:
			return false
		}
	}
}

// reapChild kills and reaps the child whose pid a server's child wrote into
// the context mem (see abandon), if there is one, and returns its pid. The
// pid comes from the stub (no function can reach that page); that the
// process is our child is checked all the same before it is killed.
func reapChild(mem []byte) (int, error) {
	if uint64(len(mem)) < PidOffset+8 {
		return 0, nil
	}
	v := binary.LittleEndian.Uint64(mem[PidOffset:])
	if v == 0 {
		return 0, nil
	}
	if v > math.MaxInt32 {
		return 0, fmt.Errorf("proc: pid %#x in the control area", v)
	}
	pid := int(v)
	// Our child, not yet reaped, so the pid cannot name anyone else.
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return 0, fmt.Errorf("proc: pidfd_open of the abandoned child %d: %w", pid, err)
	}
	defer unix.Close(pidfd)
	if ppid, ok := parentOf(pid); !ok || ppid != os.Getpid() {
		return 0, fmt.Errorf("proc: process %d, named by an abandoned context, is not our child", pid)
	}
	kill(pidfd)
	if _, err := reap(pid); err != nil {
		return 0, fmt.Errorf("proc: reaping the abandoned child %d: %w", pid, err)
	}
	return pid, nil
}

// parentOf reads a process's parent from /proc/pid/stat.
func parentOf(pid int) (int, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name is in parentheses and may contain anything.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}

// close ends the server: closing our end makes it exit; the kill is for a
// server that is stuck. Then it is reaped.
func (s *server) close() {
	unix.Close(s.fd)
	if s.pidfd >= 0 {
		kill(s.pidfd)
		wait(s.pid)
		unix.Close(s.pidfd)
		s.pidfd = -1
	}
}
