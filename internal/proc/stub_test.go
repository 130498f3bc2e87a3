//go:build linux && amd64

package proc

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"testing"

	"golang.org/x/arch/x86/x86asm"
	"golang.org/x/sys/unix"

	"tessera/internal/elfgen"
	"tessera/loader"
)

func testStub(t *testing.T) string {
	t.Helper()
	if err := Supported(); err != nil {
		t.Skip(err)
	}
	p, err := StubPath()
	if err != nil {
		t.Skip(err) // no C compiler and no prebuilt stub
	}
	return p
}

// The stub must be a static PIE that needs nothing from a loader, and must
// never touch vector or x87 registers (the guest finds them as execve left
// them, which is the ABI's initial state).
func TestStubBinary(t *testing.T) {
	f, err := elf.Open(testStub(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Type != elf.ET_DYN || f.Machine != elf.EM_X86_64 {
		t.Errorf("stub is %v %v, want a static PIE for x86-64", f.Type, f.Machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("stub has an interpreter")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("stub needs %v", libs)
	}
	for _, s := range f.Sections {
		if s.Type == elf.SHT_RELA {
			data, err := s.Data()
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i+24 <= len(data); i += 24 {
				if typ := elf.R_X86_64(f.ByteOrder.Uint64(data[i+8:]) & 0xffffffff); typ != elf.R_X86_64_RELATIVE {
					t.Errorf("%s: relocation %v; the stub applies only R_X86_64_RELATIVE", s.Name, typ)
				}
			}
		}
		if s.Flags&elf.SHF_EXECINSTR == 0 {
			continue
		}
		code, err := s.Data()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, in := range decodeAll(code) {
			n++
			for _, a := range in.Args {
				if r, ok := a.(x86asm.Reg); ok && (r >= x86asm.X0 && r <= x86asm.X15 || r >= x86asm.F0 && r <= x86asm.F7 || r >= x86asm.M0 && r <= x86asm.M7) {
					t.Errorf("%s: %v uses a vector or x87 register", s.Name, in)
				}
			}
			switch in.Op {
			case x86asm.LDMXCSR, x86asm.FLDCW, x86asm.FXRSTOR, x86asm.FXRSTOR64, x86asm.XRSTOR, x86asm.XRSTOR64, x86asm.EMMS:
				t.Errorf("%s: %v changes the floating-point state", s.Name, in)
			}
		}
		if n < 30 {
			t.Errorf("%s: only %d instructions decoded", s.Name, n)
		}
	}
}

type decoded struct {
	x86asm.Inst
	pc uint64
}

func decodeAll(code []byte) []decoded {
	var out []decoded
	for pc := 0; pc < len(code); {
		in, err := x86asm.Decode(code[pc:], 64)
		if err != nil {
			pc++
			continue
		}
		out = append(out, decoded{in, uint64(pc)})
		pc += in.Len
	}
	return out
}

// The layout the server's filter and every call's process rely on (see
// stub.c): all setup code lies below the gate, the gate is the last two
// bytes of a page and is a syscall, and the guest page behind it holds the
// entry and the handlers, which branch only within it and leave it only
// through the jump to the function's entry.
func TestStubLayout(t *testing.T) {
	f, err := elf.Open(testStub(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	addr := map[string]uint64{}
	for _, s := range syms {
		addr[s.Name] = s.Value
	}
	gate, guest := addr["stub_gate"], addr["stub_guest"]
	if gate%loader.PageSize != loader.PageSize-2 || guest != gate+2 {
		t.Fatalf("gate at %#x, guest page at %#x: want the gate in the last two bytes of a page and the guest page right behind", gate, guest)
	}
	guestSyms := map[string]bool{"stub_guest": true, "stub_on_signal": true, "stub_restorer": true}
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC && !guestSyms[s.Name] {
			continue
		}
		if guestSyms[s.Name] != (s.Value >= guest) {
			t.Errorf("%s at %#x is on the wrong side of the gate (%#x)", s.Name, s.Value, guest)
		}
		if guestSyms[s.Name] && s.Value >= guest+loader.PageSize {
			t.Errorf("%s at %#x is beyond the guest page", s.Name, s.Value)
		}
	}
	sec := f.Section(".tguest")
	if sec == nil || sec.Addr+sec.Size <= guest || sec.Addr > gate {
		t.Fatalf(".tguest section %+v does not hold the gate and the guest page", sec)
	}
	code, err := sec.Data()
	if err != nil {
		t.Fatal(err)
	}
	if g := code[gate-sec.Addr:]; g[0] != 0x0f || g[1] != 0x05 {
		t.Errorf("the gate is % x, want syscall (0f 05)", g[:2])
	}
	lo, hi := guest, sec.Addr+sec.Size
	indirect := 0
	for _, in := range decodeAll(code[guest-sec.Addr:]) {
		pc := guest + in.pc
		switch in.Op {
		case x86asm.CALL, x86asm.LCALL, x86asm.RET, x86asm.LRET:
			t.Errorf("%#x: %v in the guest page", pc, in.Inst)
		case x86asm.JMP, x86asm.JE, x86asm.JNE, x86asm.JB, x86asm.JAE, x86asm.JA, x86asm.JBE, x86asm.JL, x86asm.JGE, x86asm.JLE, x86asm.JG, x86asm.JS, x86asm.JNS:
			switch a := in.Args[0].(type) {
			case x86asm.Rel:
				if to := pc + uint64(in.Len) + uint64(int64(a)); to < lo || to >= hi {
					t.Errorf("%#x: %v leaves the guest page (to %#x)", pc, in.Inst, to)
				}
			case x86asm.Mem:
				if a.Base != x86asm.RIP {
					t.Errorf("%#x: %v: the only way out is through the cfg page", pc, in.Inst)
				}
				indirect++
			default:
				t.Errorf("%#x: %v: unexpected jump", pc, in.Inst)
			}
		}
	}
	if indirect != 1 {
		t.Errorf("%d indirect jumps in the guest page, want the one to the entry", indirect)
	}
}

// runStub spawns the stub with arg and the memfd of a fresh 1 MiB context
// and waits for it.
func runStub(t *testing.T, arg string) (*loader.Context, unix.WaitStatus) {
	t.Helper()
	path := testStub(t)
	ctx, err := loader.NewContext(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctx.Release() })
	pid, pidfd, err := spawn(path, []string{"tessera-stub", arg}, ctx.Fd())
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pidfd)
	ws, err := wait(pid)
	if err != nil {
		t.Fatal(err)
	}
	return ctx, ws
}

// The host builds every parameter block, but the stub still checks them:
// it must die of SIGABRT (never run anything) on a bad one.
func TestStubRejectsBadParams(t *testing.T) {
	f, err := NewFilter(ModeSeccomp)
	if err != nil {
		t.Fatal(err)
	}
	good := Params{
		Size: 1 << 20, Entry: 0x10000, StackTop: 1<<20 - 32,
		Regions: []Region{{0x10000, 0x1000, protRead | protExec}}, Filter: f.Program(),
	}
	arg := func(mod func(p *Params)) string {
		p := good
		p.Regions = append([]Region(nil), good.Regions...)
		mod(&p)
		s, err := p.Arg()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tt := range []struct {
		name string
		arg  string
		step int // -1: before the control page exists
	}{
		{"not hex", "zz", -1},
		{"odd length", arg(func(*Params) {})[1:], -1},
		{"truncated", arg(func(*Params) {})[:200], -1},
		{"bad size", arg(func(p *Params) { p.Size = 1<<20 + 1 }), -1},
		{"region below MinAddr", arg(func(p *Params) { p.Regions[0].Addr = 0x1000 }), 6},
		{"region beyond the context", arg(func(p *Params) { p.Regions[0].Len = 1 << 20 }), 6},
		{"overlapping regions", arg(func(p *Params) { p.Regions = append(p.Regions, p.Regions[0]) }), 7},
	} {
		ctx, ws := runStub(t, tt.arg)
		if !ws.Signaled() || ws.Signal() != unix.SIGABRT {
			t.Errorf("%s: wait status %#x, want death by SIGABRT", tt.name, uint32(ws))
			continue
		}
		r, ok := ReadRecord(ctx)
		switch {
		case tt.step < 0 && ok:
			t.Errorf("%s: record %+v before the control page existed", tt.name, r)
		case tt.step >= 0 && (!ok || r.Kind != RecordStub || int(r.Nr) != tt.step):
			t.Errorf("%s: record %+v (found %v), want stub failure at step %d", tt.name, r, ok, tt.step)
		}
		var se *StubError
		if err := DeathError(&Call{Ctx: ctx}, unix.SIGABRT); !errors.As(err, &se) || !errors.Is(err, ErrStub) || se.Step != tt.step {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

// A stub server forks children that become the host's own (CLONE_PARENT),
// rejects requests without a memfd, and outlives children that fail.
func TestServer(t *testing.T) {
	path := testStub(t)
	f, err := NewFilter(ModeSeccomp)
	if err != nil {
		t.Fatal(err)
	}
	sp := newSpawner()
	defer sp.close()
	srv, err := startServer(sp, path, FlagSeccompHandlers, f)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.close()

	// exit_group(0): the entry leaves rdi zero.
	img, err := loader.Parse(elfgen.Minimal([]byte{0xb8, 231, 0, 0, 0, 0x0f, 0x05}).Bytes())
	if err != nil {
		t.Fatal(err)
	}
	call := func(mod func(*Params)) (unix.WaitStatus, error) {
		ctx, err := loader.NewContext(1 << 20)
		if err != nil {
			t.Fatal(err)
		}
		defer ctx.Release()
		l, err := ctx.Setup(img, nil, nil, loader.SetupOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rs, err := Regions(img, l)
		if err != nil {
			t.Fatal(err)
		}
		p := Params{Size: l.Size, Entry: l.Entry, StackTop: l.StackTop, CPUSoft: 5, CPUHard: 6,
			ASLimit: l.Size + asSlack, PPid: uint64(os.Getpid()), Regions: rs}
		mod(&p)
		b, err := p.Encode()
		if err != nil {
			t.Fatal(err)
		}
		pid, pidfd, err := srv.fork(b, ctx.Fd())
		if err != nil {
			return 0, err
		}
		defer unix.Close(pidfd)
		return wait(pid) // ours to reap: CLONE_PARENT
	}
	for i := range 3 {
		ws, err := call(func(*Params) {})
		if err != nil || !ws.Exited() || ws.ExitStatus() != 0 {
			t.Fatalf("call %d: status %#x, %v", i, uint32(ws), err)
		}
		// A bad block kills that child only.
		ws, err = call(func(p *Params) { p.Regions[0].Addr = 0x1000 })
		if err != nil || !ws.Signaled() || ws.Signal() != unix.SIGABRT {
			t.Fatalf("bad block %d: status %#x, %v", i, uint32(ws), err)
		}
		// A filter in the block is for exec'd stubs only.
		ws, err = call(func(p *Params) { p.Filter = f.Program() })
		if err != nil || !ws.Signaled() || ws.Signal() != unix.SIGABRT {
			t.Fatalf("block with a filter %d: status %#x, %v", i, uint32(ws), err)
		}
	}
	if err := srv.send([]byte("no memfd"), nil); err != nil {
		t.Fatal(err)
	}
	if err := srv.recv(srv.buf[:]); err != nil || int64(binary.LittleEndian.Uint64(srv.buf[:])) != -int64(unix.EINVAL) {
		t.Errorf("a request without a memfd: %x, %v", srv.buf, err)
	}
}
