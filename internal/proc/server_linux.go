//go:build linux && amd64

package proc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"syscall"

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
// here, and exits (taking any stragglers with it) when the engine closes.
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
	b := make([]byte, 0, len(prog)*filterInsn)
	for _, in := range prog {
		b = le.AppendUint16(b, in.Op)
		b = append(b, in.Jt, in.Jf)
		b = le.AppendUint32(b, in.K)
	}
	if err := s.send(b, nil); err != nil {
		return err
	}
	var ready [8]byte
	if err := s.recv(ready[:]); err != nil || le.Uint64(ready[:]) != readyMagic {
		return fmt.Errorf("proc: the stub server did not install its filter (%x): %v", ready, err)
	}
	return nil
}

// fork asks the server for a child that maps memfd and follows params.
func (s *server) fork(params []byte, memfd int) (pid, pidfd int, err error) {
	if err := s.send(params, unix.UnixRights(memfd)); err != nil {
		return 0, -1, err
	}
	if err := s.recv(s.buf[:]); err != nil {
		return 0, -1, err
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
			return fmt.Errorf("proc: short write to the stub server (%d of %d bytes)", n, len(b))
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
