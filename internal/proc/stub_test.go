package proc

import (
	"debug/elf"
	"errors"
	"testing"

	"golang.org/x/arch/x86/x86asm"
	"golang.org/x/sys/unix"

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
		for len(code) > 0 {
			in, err := x86asm.Decode(code, 64)
			if err != nil {
				code = code[1:]
				continue
			}
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
			code = code[in.Len:]
		}
		if n < 100 {
			t.Errorf("%s: only %d instructions decoded", s.Name, n)
		}
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
		Regions: []Region{{0x10000, 0x1000, protRead | protExec}}, Filter: f.For(1 << 20),
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
		{"record outside the control page", arg(func(p *Params) { p.Record = 4000 }), -1},
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
