package loader

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"testing"

	"tessera/internal/elfgen"
)

var code = []byte{0x0f, 0x05} // syscall

func minimal() elfgen.File { return elfgen.Minimal(code) }

func TestParseMinimal(t *testing.T) {
	img, err := Parse(minimal().Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if img.Entry != 0x10000 || img.SystemData != 0x11000 || img.Low != 0x10000 || img.End != 0x12000 {
		t.Errorf("got entry %#x sysdata %#x low %#x end %#x", img.Entry, img.SystemData, img.Low, img.End)
	}
	if len(img.Segments) != 2 || img.Segments[0].Perm != PermRead|PermExec || img.Segments[1].Perm != PermRead|PermWrite {
		t.Errorf("segments %+v", img.Segments)
	}
	if got := img.PermAt(0x10fff); got != PermRead|PermExec {
		t.Errorf("PermAt(text) = %v", got)
	}
	if got := img.PermAt(0x20000); got != 0 {
		t.Errorf("PermAt(unmapped) = %v", got)
	}
}

func TestParseRejects(t *testing.T) {
	mod := func(f func(*elfgen.File)) []byte {
		e := minimal()
		f(&e)
		return e.Bytes()
	}
	patch := func(off int, b ...byte) []byte {
		bin := minimal().Bytes()
		copy(bin[off:], b)
		return bin
	}
	u16 := func(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
	tests := []struct {
		name string
		bin  []byte
		want error
	}{
		{"empty", nil, ErrNotELF},
		{"text file", []byte("#!/bin/sh\necho hello, this is not an ELF file at all, but long enough\n"), ErrNotELF},
		{"32-bit", patch(elf.EI_CLASS, byte(elf.ELFCLASS32)), ErrClass},
		{"big-endian", patch(elf.EI_DATA, byte(elf.ELFDATA2MSB)), ErrEndian},
		{"aarch64", patch(18, u16(uint16(elf.EM_AARCH64))...), ErrMachine},
		{"relocatable object", patch(16, u16(uint16(elf.ET_REL))...), ErrType},
		{"core file", patch(16, u16(uint16(elf.ET_CORE))...), ErrType},
		{"truncated headers", minimal().Bytes()[:100], ErrMalformed},
		{"interpreter", mod(func(f *elfgen.File) { f.Interp = "/lib64/ld-linux-x86-64.so.2" }), ErrDynamic},
		{"needs libc.so", mod(func(f *elfgen.File) { f.Needed = []string{"libc.so.6"} }), ErrDynamic},
		{"glob-dat relocation", mod(func(f *elfgen.File) {
			f.Relas = []elfgen.Rela{{Offset: 0x11008, Type: elf.R_X86_64_GLOB_DAT}}
		}), ErrDynamic},
		{"ifunc relocation", mod(func(f *elfgen.File) {
			f.Relas = []elfgen.Rela{{Offset: 0x11008, Type: elf.R_X86_64_IRELATIVE, Addend: 0x10000}}
		}), ErrDynamic},
		{"no loadable segments", mod(func(f *elfgen.File) { f.Segments = nil }), ErrNoSegments},
		{"overlapping segments", mod(func(f *elfgen.File) {
			f.Segments = append(f.Segments, elfgen.Segment{Vaddr: 0x10800, Data: make([]byte, 0x1000), Flags: elf.PF_R})
		}), ErrSegmentOverlap},
		{"segment at zero", mod(func(f *elfgen.File) {
			f.Segments = append(f.Segments, elfgen.Segment{Vaddr: 0, Data: []byte{1}, Flags: elf.PF_R})
		}), ErrSegmentLow},
		{"segment just below 0x10000", mod(func(f *elfgen.File) {
			f.Segments = append(f.Segments, elfgen.Segment{Vaddr: 0xf000, Data: make([]byte, 0x1000), Flags: elf.PF_R})
		}), ErrSegmentLow},
		{"segment beyond the largest context", mod(func(f *elfgen.File) {
			f.Segments = append(f.Segments, elfgen.Segment{Vaddr: MaxContextSize - 0x1000, MemSize: 0x2000, Flags: elf.PF_R | elf.PF_W})
		}), ErrSegmentRange},
		{"segment size wraps", mod(func(f *elfgen.File) {
			f.Segments = append(f.Segments, elfgen.Segment{Vaddr: 0x20000, MemSize: ^uint64(0) - 0x1000, Flags: elf.PF_R})
		}), ErrOverflow},
		{"filesz larger than memsz", mod(func(f *elfgen.File) {
			f.Segments[0].MemSize = 1
		}), ErrMalformed},
		{"entry in data", mod(func(f *elfgen.File) { f.Entry = 0x11000 }), ErrEntry},
		{"entry outside segments", mod(func(f *elfgen.File) { f.Entry = 0x400000 }), ErrEntry},
		{"no system data symbol", mod(func(f *elfgen.File) { f.Symbols = nil }), ErrNoSystemData},
		{"stripped", mod(func(f *elfgen.File) { f.NoSymtab = true }), ErrNoSystemData},
		{"system data in text", mod(func(f *elfgen.File) { f.Symbols[0].Value = 0x10000 }), ErrNoSystemData},
		{"system data straddles the end", mod(func(f *elfgen.File) { f.Symbols[0].Value = 0x11ff8 }), ErrNoSystemData},
		{"system data misaligned", mod(func(f *elfgen.File) { f.Symbols[0].Value = 0x11004 }), ErrNoSystemData},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := Parse(tt.bin)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse: got %v (image %v), want %v", err, img != nil, tt.want)
			}
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T is not a *FormatError", err)
			}
			if fe.Error() == "" {
				t.Fatal("empty message")
			}
		})
	}
}

func TestParseStaticPIE(t *testing.T) {
	f := elfgen.File{
		Type:  elf.ET_DYN,
		Entry: 0x1000,
		Segments: []elfgen.Segment{
			{Vaddr: 0x1000, Data: code, Flags: elf.PF_R | elf.PF_X},
			{Vaddr: 0x2000, Data: make([]byte, 16), MemSize: 0x1000, Flags: elf.PF_R | elf.PF_W},
		},
		Symbols: []elfgen.Symbol{{Name: SystemDataSymbol, Value: 0x2100, Size: 72}},
		// Pointers in .data to the entry and to the system data.
		Relas: []elfgen.Rela{
			{Offset: 0x2008, Type: elf.R_X86_64_RELATIVE, Addend: 0x1000},
			{Offset: 0x2000, Type: elf.R_X86_64_RELATIVE, Addend: 0x2100},
		},
	}
	img, err := Parse(f.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if img.Base != PIEBase {
		t.Fatalf("base %#x, want %#x", img.Base, PIEBase)
	}
	if img.Entry != PIEBase+0x1000 || img.SystemData != PIEBase+0x2100 {
		t.Errorf("entry %#x sysdata %#x", img.Entry, img.SystemData)
	}
	data := img.Segments[1].Data
	if got := binary.LittleEndian.Uint64(data[8:]); got != PIEBase+0x1000 {
		t.Errorf(".data pointer %#x, want %#x", got, PIEBase+0x1000)
	}
	if got := binary.LittleEndian.Uint64(data[0:]); got != PIEBase+0x2100 {
		t.Errorf(".data pointer %#x, want %#x", got, PIEBase+0x2100)
	}
	if len(data) != 16 {
		t.Errorf("relocating grew the segment's data to %d bytes", len(data))
	}
	// A relocation that points outside every segment is rejected, and so
	// is one into the zero-filled part: from a tiny file it would make the
	// loader allocate the segment's whole memory size (up to 64 GiB).
	for _, off := range []uint64{0x9000, 0x2200} {
		g := f
		g.Relas = append(append([]elfgen.Rela(nil), f.Relas...), elfgen.Rela{Offset: off, Type: elf.R_X86_64_RELATIVE})
		if _, err := Parse(g.Bytes()); !errors.Is(err, ErrDynamic) {
			t.Fatalf("relocation at %#x: got %v", off, err)
		}
	}
	huge := f
	huge.Segments = append([]elfgen.Segment(nil), f.Segments...)
	huge.Segments[1].MemSize = 4 << 30
	huge.Relas = []elfgen.Rela{{Offset: 0x2000 + 4<<30 - 8, Type: elf.R_X86_64_RELATIVE}}
	if _, err := Parse(huge.Bytes()); !errors.Is(err, ErrDynamic) {
		t.Fatalf("relocation at the end of a 4 GiB bss: got %v", err)
	}
}

func TestParseDoesNotAliasInput(t *testing.T) {
	bin := minimal().Bytes()
	img, err := Parse(bin)
	if err != nil {
		t.Fatal(err)
	}
	for i := range bin {
		bin[i] = 0xcc
	}
	if img.Segments[0].Data[0] != code[0] {
		t.Fatal("image shares memory with the caller's buffer")
	}
}
