package vmm

import (
	"debug/elf"
	"encoding/binary"
	"testing"

	"tessera/internal/elfgen"
	"tessera/loader"
)

// testImage has text, rodata and data pages, a text/data page shared by two
// segments (union permissions), and a gap between segments.
func testImage(t *testing.T) *loader.Image {
	t.Helper()
	f := elfgen.File{
		Entry: 0x10000,
		Segments: []elfgen.Segment{
			{Vaddr: 0x10000, Data: make([]byte, 0x1800), Flags: elf.PF_R | elf.PF_X}, // 0x10000-0x11800
			{Vaddr: 0x11800, Data: make([]byte, 0x100), Flags: elf.PF_R | elf.PF_W},  // shares page 0x11000
			{Vaddr: 0x13000, Data: make([]byte, 0x1000), Flags: elf.PF_R},            // rodata; 0x12000 is a gap
			{Vaddr: 0x14000, Data: make([]byte, 72), MemSize: 0x3000, Flags: elf.PF_R | elf.PF_W},
		},
		Symbols: []elfgen.Symbol{{Name: loader.SystemDataSymbol, Value: 0x14000, Size: 72}},
	}
	img, err := loader.Parse(f.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestPageTables(t *testing.T) {
	img := testImage(t)
	for _, size := range []uint64{4 << 20, 6<<20 + 12<<10, 1<<30 + 8<<20} {
		l, err := loader.PlanLayout(img, size, loader.SetupOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sys := make([]byte, sysSize)
		buildSystem(sys)
		a := &arena{mem: sys, next: sysArenaStart}
		cr3, err := buildTables(a, img, l)
		if err != nil {
			t.Fatal(err)
		}
		const (
			none = 0
			rx   = ptePresent | pteUser
			r    = ptePresent | pteUser | pteNX
			rw   = ptePresent | pteUser | pteWrite | pteNX
			rwx  = ptePresent | pteUser | pteWrite
		)
		want := func(va uint64) uint64 {
			switch {
			case va < 0x10000:
				return none
			case va < 0x11000:
				return rx
			case va < 0x12000:
				return rwx // text and data share this page
			case va < 0x13000:
				return none // gap between segments
			case va < 0x14000:
				return r
			case va < l.Guard:
				return rw // data, bss, inputs, heap
			case va < l.StackLow:
				return none // stack guard
			case va < size:
				return rw
			}
			return none
		}
		for va := uint64(0); va < size+3*pageSize; va += pageSize {
			pa, flags, err := walk(sys, cr3, va)
			w := want(va)
			if w == none {
				if err == nil {
					t.Fatalf("size %#x: va %#x mapped (flags %#x), want unmapped", size, va, flags)
				}
				continue
			}
			if err != nil {
				t.Fatalf("size %#x: va %#x: %v", size, va, err)
			}
			if pa != va {
				t.Fatalf("size %#x: va %#x maps to %#x, want identity", size, va, pa)
			}
			if got := flags & (ptePresent | pteUser | pteWrite | pteNX); got != w {
				t.Fatalf("size %#x: va %#x flags %#x, want %#x", size, va, got, w)
			}
		}
		// The system region: stubs and tables where the CPU expects them,
		// the syscall entry reachable from CPL3, everything else not.
		for _, c := range []struct {
			va   uint64
			want uint64
		}{
			{gdtAddr, ptePresent | pteNX},
			{idtAddr, ptePresent | pteNX},
			{sysAddr(sysKStubPage), ptePresent},
			{syscallEntry, ptePresent | pteUser},
			{istTop - 8, ptePresent | pteWrite | pteNX},
		} {
			pa, flags, err := walk(sys, cr3, c.va)
			if err != nil || pa != c.va || flags&(ptePresent|pteUser|pteWrite|pteNX) != c.want {
				t.Errorf("system va %#x: pa %#x flags %#x err %v, want flags %#x", c.va, pa, flags, err, c.want)
			}
		}
		for _, va := range []uint64{sysAddr(sysPDPage), sysAddr(sysArenaStart), sysBase + sysSize - pageSize} {
			if _, _, err := walk(sys, cr3, va); err == nil {
				t.Errorf("page-table memory at %#x is mapped", va)
			}
		}
		// Large pages keep the tables small: a 1 GiB context must not need
		// a page table per 2 MiB.
		if used := a.next - sysArenaStart; used > 8 {
			t.Errorf("size %#x used %d table pages", size, used)
		}
	}
}

func TestArenaFull(t *testing.T) {
	img := testImage(t)
	l, _ := loader.PlanLayout(img, 4<<20, loader.SetupOptions{})
	sys := make([]byte, sysSize)
	a := &arena{mem: sys, next: sysArenaStart + sysArenaPages - 2}
	if _, err := buildTables(a, img, l); err != errArenaFull {
		t.Fatalf("got %v, want errArenaFull", err)
	}
}

func TestSystemStructures(t *testing.T) {
	sys := make([]byte, sysSize)
	buildSystem(sys)
	le := binary.LittleEndian
	gate := func(v int) (target uint64, sel uint16, ist, typ byte) {
		g := sys[sysIDTPage*pageSize+v*16:]
		target = uint64(le.Uint16(g[0:])) | uint64(le.Uint16(g[6:]))<<16 | uint64(le.Uint32(g[8:]))<<32
		return target, le.Uint16(g[2:]), g[4], g[5]
	}
	for v := 0; v < idtEntries; v++ {
		target, sel, ist, typ := gate(v)
		wantType := byte(0x8e)
		if v == 0x20 {
			wantType = 0xee
		}
		if target != sysAddr(sysKStubPage)+uint64(v)*8 || sel != selKernelCode || ist != 1 || typ != wantType {
			t.Errorf("gate %d: target %#x sel %#x ist %d type %#x", v, target, sel, ist, typ)
		}
		stub := sys[sysKStubPage*pageSize+v*8:]
		wantPort := byte(portException + v)
		if v == 0x20 {
			wantPort = portInt20
		}
		if stub[0] != 0xe6 || stub[1] != wantPort {
			t.Errorf("stub %d: % x", v, stub[:4])
		}
	}
	// Only the syscall port is open in the I/O bitmap.
	bm := sys[tssOffset+0x68:]
	for port := 0; port < 0x100; port++ {
		open := bm[port/8]&(1<<(port%8)) == 0
		if open != (port == portSyscall) {
			t.Errorf("port %#x open=%v", port, open)
		}
	}
	if bm[ioBitmapBytes-1] != 0xff {
		t.Error("I/O bitmap lacks its terminating byte")
	}
}
