package guest

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"sort"
	"testing"

	"golang.org/x/arch/x86/x86asm"

	"tessera/loader"
)

// load reads a built guest, failing when `make test` built the guests and
// skipping when someone runs `go test` without them.
func load(t *testing.T, arch, name string) []byte {
	t.Helper()
	bin, err := Read(arch, name)
	if errors.Is(err, ErrNotBuilt) && !Required() {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// finding is one instruction of interest in a guest's code.
type finding struct {
	addr uint64
	inst x86asm.Inst
}

func (f finding) String() string { return fmt.Sprintf("%#x: %v", f.addr, f.inst) }

// scanCode disassembles every executable segment of bin (found through
// loader.Parse) and returns the system-call instructions (syscall,
// sysenter, int 0x80) and CPUIDs, plus the address range of
// __tessera_exit. Decoding restarts at every function symbol, so a
// decoding slip cannot run on into the next function.
func scanCode(bin []byte) (syscalls, cpuids []finding, exitLo, exitHi uint64, err error) {
	img, err := loader.Parse(bin)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return nil, nil, 0, 0, err
	}
	syms, err := f.Symbols()
	if err != nil {
		return nil, nil, 0, 0, err
	}
	var starts []uint64
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) == elf.STT_FUNC {
			starts = append(starts, s.Value+img.Base)
		}
		if s.Name == "__tessera_exit" {
			exitLo, exitHi = s.Value+img.Base, s.Value+img.Base+s.Size
		}
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	for _, seg := range img.Segments {
		if seg.Perm&loader.PermExec == 0 {
			continue
		}
		code := seg.Data
		next := sort.Search(len(starts), func(i int) bool { return starts[i] > seg.Addr })
		for pc := seg.Addr; pc < seg.Addr+uint64(len(code)); {
			for next < len(starts) && starts[next] <= pc {
				next++
			}
			inst, err := x86asm.Decode(code[pc-seg.Addr:], 64)
			n := uint64(inst.Len)
			if err != nil {
				n = 1
			}
			if next < len(starts) && pc+n > starts[next] {
				pc = starts[next] // resynchronise at the function
				continue
			}
			if err == nil {
				imm, _ := inst.Args[0].(x86asm.Imm)
				switch {
				case inst.Op == x86asm.SYSCALL, inst.Op == x86asm.SYSENTER, inst.Op == x86asm.INT && imm == 0x80:
					syscalls = append(syscalls, finding{pc, inst})
				case inst.Op == x86asm.CPUID:
					cpuids = append(cpuids, finding{pc, inst})
				}
			}
			pc += n
		}
	}
	return syscalls, cpuids, exitLo, exitHi, nil
}

// TestNoSyscalls checks that no sandbox build of a guest (x86-64, -v3,
// -v4; hostile guests aside, and debug builds make real system calls by
// design) contains a system-call instruction outside hlibc's exit path,
// that the exit path has exactly one, and that none contains CPUID (it
// costs a VM exit on KVM).
func TestNoSyscalls(t *testing.T) {
	for _, arch := range NativeArches {
		for _, name := range append(append([]string{}, ExampleNames...), CheckNames...) {
			t.Run(arch+"/"+name, func(t *testing.T) {
				sys, cpuids, lo, hi, err := scanCode(load(t, arch, name))
				if err != nil {
					t.Fatal(err)
				}
				if lo == hi {
					t.Fatal("no __tessera_exit symbol")
				}
				inExit := 0
				for _, s := range sys {
					if s.addr >= lo && s.addr < hi && s.inst.Op == x86asm.SYSCALL {
						inExit++
						continue
					}
					t.Errorf("system-call instruction outside the exit path: %v", s)
				}
				if inExit != 1 {
					t.Errorf("%d syscall instructions in __tessera_exit, want 1", inExit)
				}
				for _, c := range cpuids {
					t.Errorf("CPUID: %v", c)
				}
			})
		}
	}
}

// TestScanCodeFindsSyscalls is the scanner's positive control: the hostile
// guests that make system calls must be caught by it.
func TestScanCodeFindsSyscalls(t *testing.T) {
	for name, op := range map[string]x86asm.Op{
		"hostile_syscall":  x86asm.SYSCALL,
		"hostile_sysenter": x86asm.SYSENTER,
		"hostile_int80":    x86asm.INT,
	} {
		t.Run(name, func(t *testing.T) {
			sys, _, lo, hi, err := scanCode(load(t, X86_64, name))
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range sys {
				if s.inst.Op == op && (s.addr < lo || s.addr >= hi) {
					return
				}
			}
			t.Errorf("no %v outside the exit path found in %v", op, sys)
		})
	}
}
