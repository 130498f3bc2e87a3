//go:build linux && amd64

package vmm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/cpu"

	"tessera/loader"
)

func requireKVM(t testing.TB) {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("KVM backend unavailable here, skipping: %v", err)
	}
}

var (
	guestDir     string
	guestDirOnce sync.Once
	guestMu      sync.Mutex
	guestCache   = map[string]*loader.Image{}
)

// asmGuest assembles testdata/guests/<name>.S with the system C compiler
// (for its preprocessor and linker) and parses it.
func asmGuest(t testing.TB, name string) *loader.Image {
	t.Helper()
	guestMu.Lock()
	defer guestMu.Unlock()
	if img, ok := guestCache[name]; ok {
		return img
	}
	cc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not found; it assembles the test guests")
	}
	guestDirOnce.Do(func() { guestDir, _ = os.MkdirTemp("", "tessera-vmm-guests") })
	out := filepath.Join(guestDir, name)
	args := []string{"-nostdlib", "-static", "-no-pie", "-Wl,-Ttext-segment=0x10000",
		"-Wl,-z,max-page-size=4096", "-Wl,--build-id=none", "-Wl,-z,noexecstack",
		"-Itestdata/guests", "-o", out, filepath.Join("testdata/guests", name+".S")}
	if cpu.X86.HasAVX512F {
		args = append([]string{"-DAVX512"}, args...)
	}
	if b, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
		t.Fatalf("assembling %s: %v\n%s", name, err, b)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	img, err := loader.Parse(bin)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	guestCache[name] = img
	return img
}

func TestMain(m *testing.M) {
	code := m.Run()
	if guestDir != "" {
		os.RemoveAll(guestDir)
	}
	os.Exit(code)
}

// newEngine creates an engine bound to the calling test goroutine's thread.
func newEngine(t testing.TB) *Engine {
	t.Helper()
	requireKVM(t)
	runtime.LockOSThread()
	e, err := NewEngine(Config{MaxContextSize: 64 << 20})
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.Close()
		runtime.UnlockOSThread()
	})
	return e
}

func fnFor(t testing.TB, name string) *loader.Function {
	return &loader.Function{Name: name, Image: asmGuest(t, name), ContextSize: 4 << 20,
		InputSets: []string{"in"}, OutputSets: []string{"out"}}
}

var hello = []loader.Set{{Ident: "in", Items: []loader.Item{{Ident: "greeting", Key: 7, Data: []byte("hello, sandbox")}}}}

// checkEcho runs the echo guest and checks its output.
func checkEcho(t *testing.T, e *Engine) {
	t.Helper()
	outs, err := e.Run(context.Background(), fnFor(t, "echo"), hello)
	if err != nil {
		t.Fatalf("echo after the hostile guest: %v", err)
	}
	it := outs.Sets[0].Items
	if len(it) != 1 || it[0].Ident != "greeting" || it[0].Key != 7 || string(it[0].Data) != "hello, sandbox" {
		t.Fatalf("echo outputs %+v", outs.Sets)
	}
}

func TestEcho(t *testing.T) {
	e := newEngine(t)
	for i := 0; i < 3; i++ {
		checkEcho(t, e)
	}
}

func TestExitStatus(t *testing.T) {
	e := newEngine(t)
	outs, err := e.Run(context.Background(), fnFor(t, "exit3"), hello)
	var ee *loader.ExitError
	if !errors.As(err, &ee) || ee.Status != 3 {
		t.Fatalf("got %v, want exit status 3", err)
	}
	if outs == nil || string(outs.Sets[0].Items[0].Data) != "hello, sandbox" {
		t.Fatalf("outputs of a failed function: %+v", outs)
	}
	if _, err := e.Run(context.Background(), fnFor(t, "int20"), nil); err != nil {
		t.Fatalf("Dandelion int $0x20 exit: %v", err)
	}
	// Dandelion SDK binaries set their thread pointer with wrfsbase.
	if _, err := e.Run(context.Background(), fnFor(t, "tls"), nil); err != nil {
		t.Fatalf("TLS through wrfsbase and %%fs: %v", err)
	}
}

func TestHostileGuests(t *testing.T) {
	e := newEngine(t)
	type check func(t *testing.T, err error)
	syscall := func(nr uint64, via string) check {
		return func(t *testing.T, err error) {
			var se *SyscallError
			if !errors.As(err, &se) || se.Nr != nr || se.Via != via {
				t.Errorf("got %v, want system call %d via %s", err, nr, via)
			}
		}
	}
	vector := func(vs ...uint8) check {
		return func(t *testing.T, err error) {
			var ex *ExceptionError
			if !errors.As(err, &ex) {
				t.Fatalf("got %v, want an exception", err)
			}
			for _, v := range vs {
				if ex.Vector == v {
					return
				}
			}
			t.Errorf("got %v, want vector %v", err, vs)
		}
	}
	pageFault := func(addr uint64, code uint64, detail string) check {
		return func(t *testing.T, err error) {
			var ex *ExceptionError
			if !errors.As(err, &ex) || ex.Vector != 14 || (addr != 0 && ex.Addr != addr) || ex.ErrorCode&code != code || ex.Detail != detail || ex.Inst == "" {
				t.Errorf("got %v (%+v), want #PF at %#x with code bits %#x, detail %q", err, ex, addr, code, detail)
			}
		}
	}
	tests := []struct {
		guest string
		want  error
		check check
	}{
		{"write", loader.ErrSyscall, syscall(1, "syscall")},
		{"getpid", loader.ErrSyscall, syscall(39, "syscall")},
		{"int80", loader.ErrSyscall, syscall(1, "int 0x80")},
		{"sysenter", loader.ErrSyscall, nil},
		{"nullwrite", loader.ErrFault, pageFault(8, 0x6, "null pointer")},
		{"farwrite", loader.ErrFault, pageFault(0x7f0000000000, 0x6, "outside the 0x400000-byte context")},
		{"sysread", loader.ErrFault, pageFault(sysBase, 0x5, "VMM memory")},
		{"textwrite", loader.ErrFault, pageFault(0, 0x7, "")},
		{"execstack", loader.ErrFault, pageFault(0, 0x15, "")},
		{"recurse", loader.ErrFault, pageFault(0, 0x6, "stack overflow into the guard page")},
		{"hlt", loader.ErrFault, vector(13)},
		{"cli", loader.ErrFault, vector(13)},
		{"outport", loader.ErrFault, vector(13)},
		{"inport", loader.ErrFault, vector(13)},
		{"movcr3", loader.ErrFault, vector(13)},
		{"farjmp", loader.ErrFault, vector(6, 13)},
		{"ud2", loader.ErrFault, vector(6)},
		{"int3", loader.ErrFault, vector(3, 13)},
		{"div0", loader.ErrFault, vector(0)},
		{"exitport", loader.ErrFault, nil},
		{"forged", loader.ErrOutputDescriptor, nil},
		{"forgedlen", loader.ErrOutputDescriptor, nil},
	}
	// No subtests: they run on other goroutines, and the point is that the
	// same vCPU serves the next call after each hostile one.
	for _, tt := range tests {
		outs, err := e.Run(context.Background(), fnFor(t, tt.guest), hello)
		if !errors.Is(err, tt.want) || outs != nil {
			t.Errorf("%s: got outputs %v, error %v; want %v", tt.guest, outs, err, tt.want)
			continue
		}
		if tt.check != nil {
			tt.check(t, err)
		}
		t.Logf("%s: %v", tt.guest, err)
		checkEcho(t, e)
	}
}

func TestDeadline(t *testing.T) {
	e := newEngine(t)
	loop := fnFor(t, "loop")
	for _, d := range []time.Duration{time.Millisecond, 20 * time.Millisecond, time.Millisecond} {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		start := time.Now()
		_, err := e.Run(ctx, loop, nil)
		late := time.Since(start) - d
		cancel()
		if !errors.Is(err, loader.ErrTimeout) {
			t.Fatalf("got %v, want ErrTimeout", err)
		}
		t.Logf("deadline %v: stopped %v after it (%v)", d, late, err)
		checkEcho(t, e)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(5*time.Millisecond, cancel)
	if _, err := e.Run(ctx, loop, nil); !errors.Is(err, loader.ErrCanceled) {
		t.Fatalf("got %v, want ErrCanceled", err)
	}
	checkEcho(t, e)
}

// TestIsolation: a call that leaves a secret in every writable byte and
// register it can reach must leave nothing the next call can find.
func TestIsolation(t *testing.T) {
	e := newEngine(t)
	scan := fnFor(t, "scan")
	// The scanner works: given the secret as an input, it finds it.
	secret := make([]byte, 64)
	for i := 0; i < len(secret); i += 8 {
		copy(secret[i:], []byte{0xe5, 0x0d, 0x7c, 0x2e, 0xc1, 0x5e, 0, 0})
	}
	_, err := e.Run(context.Background(), scan, []loader.Set{{Ident: "in", Items: []loader.Item{{Ident: "s", Data: secret}}}})
	var ee *loader.ExitError
	if !errors.As(err, &ee) || ee.Status != 8 {
		t.Fatalf("scanner given 8 secrets: %v", err)
	}
	for _, before := range []string{"scribble", "fsbase", "recurse", "loop"} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		e.Run(ctx, fnFor(t, before), hello)
		cancel()
		if _, err := e.Run(context.Background(), scan, nil); err != nil {
			t.Fatalf("after %s: %v", before, err)
		}
	}
	// A function whose image carries the secret and whose call dirties more
	// pages than the engine keeps warm: the reset hands pages back to the
	// OS, and the image must not outlive it (its read-only pages are never
	// dirty).
	img := fnFor(t, "imgsecret")
	img.ContextSize = 8 << 20
	for i := 0; i < 2; i++ {
		if _, err := e.Run(context.Background(), img, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Run(context.Background(), scan, nil); err != nil {
			t.Fatalf("after a function with the secret in its image: %v", err)
		}
	}
	// The same through a different image and a larger context, which moves
	// the stack: the old stack pages must be clean too.
	big := *scan
	big.ContextSize = 16 << 20
	e.Run(context.Background(), fnFor(t, "scribble"), nil)
	if _, err := e.Run(context.Background(), &big, nil); err != nil {
		t.Fatalf("larger context after scribble: %v", err)
	}
	small := *fnFor(t, "scribble")
	small.ContextSize = 16 << 20
	e.Run(context.Background(), &small, nil)
	if _, err := e.Run(context.Background(), scan, nil); err != nil {
		t.Fatalf("smaller context after scribble: %v", err)
	}
}

func rss(t testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	var size, res int64
	fmt.Sscan(string(b), &size, &res)
	return res * int64(os.Getpagesize())
}

// TestMemoryFlat: committed memory does not grow with the number of calls.
// One call in ten dirties every page of its 4 MiB context.
func TestMemoryFlat(t *testing.T) {
	e := newEngine(t)
	scribble := fnFor(t, "scribble")
	run := func(n int) {
		for i := 0; i < n; i++ {
			if i%10 == 0 {
				// The scribbler overwrites its own output descriptors too.
				if _, err := e.Run(context.Background(), scribble, nil); !errors.Is(err, loader.ErrOutputDescriptor) {
					t.Fatal(err)
				}
				continue
			}
			checkEcho(t, e)
		}
	}
	run(1000)
	debug.FreeOSMemory()
	before, guestBefore := rss(t), e.ResidentBytes()
	run(10000)
	debug.FreeOSMemory()
	after, guestAfter := rss(t), e.ResidentBytes()
	t.Logf("after 1,000 calls: RSS %d KiB, guest memory %d KiB; after 10,000 more: RSS %d KiB, guest memory %d KiB",
		before>>10, guestBefore>>10, after>>10, guestAfter>>10)
	if limit := uint64(DefaultWarmPages * pageSize); guestAfter > limit {
		t.Errorf("engine keeps %d KiB of guest memory, more than its %d KiB warm budget", guestAfter>>10, limit>>10)
	}
	if after > before+4<<20 && !raceEnabled {
		t.Errorf("RSS grew from %d to %d KiB over 10,000 calls", before>>10, after>>10)
	}
	if err := e.Trim(); err != nil {
		t.Fatal(err)
	}
	if got := e.ResidentBytes(); got != 0 {
		t.Errorf("%d bytes of guest memory resident after Trim", got)
	}
	checkEcho(t, e)
}

// TestEnginesConcurrently runs one engine per CPU at once.
func TestEnginesConcurrently(t *testing.T) {
	requireKVM(t)
	fn := fnFor(t, "echo")
	var wg sync.WaitGroup
	errs := make(chan error, runtime.NumCPU())
	for i := 0; i < runtime.NumCPU(); i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			e, err := NewEngine(Config{})
			if err != nil {
				errs <- err
				return
			}
			defer e.Close()
			for j := 0; j < 500; j++ {
				in := []loader.Set{{Ident: "in", Items: []loader.Item{{Ident: "x", Data: []byte(fmt.Sprint(i, j))}}}}
				outs, err := e.Run(context.Background(), fn, in)
				if err != nil {
					errs <- err
					return
				}
				if got := outs.Sets[0].Items[0].Data; !bytes.Equal(got, in[0].Items[0].Data) {
					errs <- fmt.Errorf("engine %d call %d: got %q", i, j, got)
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestWrongThread(t *testing.T) {
	e := newEngine(t)
	done := make(chan error)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		_, err := e.Run(context.Background(), fnFor(t, "echo"), hello)
		done <- err
	}()
	if err := <-done; !errors.Is(err, ErrWrongThread) {
		t.Fatalf("got %v, want ErrWrongThread", err)
	}
}

// TestInputsTooLarge: a request that does not fit is refused before the
// guest runs, and whatever was written for it is cleaned up.
func TestInputsTooLarge(t *testing.T) {
	e := newEngine(t)
	big := []loader.Set{{Ident: "in", Items: []loader.Item{{Ident: "x", Data: make([]byte, 5<<20)}}}}
	for i := range big[0].Items[0].Data {
		big[0].Items[0].Data[i] = 0x5e
	}
	if _, err := e.Run(context.Background(), fnFor(t, "echo"), big); !errors.Is(err, loader.ErrContextTooSmall) {
		t.Fatalf("got %v, want ErrContextTooSmall", err)
	}
	checkEcho(t, e)
	// Inputs that fit only partly must not leave bytes behind either.
	nearly := []loader.Set{{Ident: "in", Items: []loader.Item{{Ident: "a", Data: big[0].Items[0].Data[:2<<20]}, {Ident: "b", Data: big[0].Items[0].Data[:2<<20]}}}}
	if _, err := e.Run(context.Background(), fnFor(t, "echo"), nearly); !errors.Is(err, loader.ErrContextTooSmall) {
		t.Fatalf("got %v, want ErrContextTooSmall", err)
	}
	for i, b := range e.mem.mem[:4<<20] {
		if b == 0x5e {
			t.Fatalf("input byte left at %#x after a refused call", i)
		}
	}
}

// TestExpiredDeadline: a call whose deadline passed before it started does
// not run, and says so without showing the previous call's registers.
func TestExpiredDeadline(t *testing.T) {
	e := newEngine(t)
	checkEcho(t, e)
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	_, err := e.Run(ctx, fnFor(t, "loop"), nil)
	if !errors.Is(err, loader.ErrTimeout) || !strings.Contains(err.Error(), "before it started") {
		t.Fatalf("got %v", err)
	}
	checkEcho(t, e)
}

// TestRdtsc: the time-stamp counter is off limits (CR4.TSD) wherever the
// host honours it; PVM hosts run CPL3 code under their own CR4 and cannot.
func TestRdtsc(t *testing.T) {
	e := newEngine(t)
	_, err := e.Run(context.Background(), fnFor(t, "rdtsc"), nil)
	if _, pvm := os.Stat("/sys/module/kvm_pvm"); pvm == nil {
		var ee *loader.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("on a PVM host rdtsc runs; got %v", err)
		}
		return
	}
	var ex *ExceptionError
	if !errors.As(err, &ex) || ex.Vector != 13 {
		t.Fatalf("got %v, want #GP from rdtsc", err)
	}
}

// TestArenaRenewal: when the page-table arena fills, the engine starts a
// fresh one (re-registering the system slot) and calls keep working, with
// the floor's tables rebuilt too.
func TestArenaRenewal(t *testing.T) {
	e := newEngine(t)
	exit0 := fnFor(t, "exit0")
	for i := 0; i < 3; i++ {
		e.arena.next = sysArenaStart + sysArenaPages - 3 // too few for another set
		clear(e.tables)
		checkEcho(t, e)
		if _, err := e.Run(context.Background(), exit0, nil); err != nil {
			t.Fatal(err)
		}
		if err := e.FloorRoundTrip(); err != nil {
			t.Fatal(err)
		}
		if e.arena.next > sysArenaStart+32 {
			t.Fatalf("arena at page %d: not renewed", e.arena.next)
		}
	}
}
