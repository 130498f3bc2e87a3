// Package elfgen writes small ELF64 x86-64 executables for tests: loader
// table tests, fuzz seed corpora, and hand-assembled guests for the
// backends' tests that must not depend on the C toolchain.
//
// It writes exactly what it is told, including things a linker never would
// (overlapping segments, a PT_INTERP, a missing symbol), so tests can
// exercise every rejection path of the loader.
package elfgen

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
)

// Segment is one PT_LOAD program header and its bytes.
type Segment struct {
	Vaddr   uint64
	Data    []byte
	MemSize uint64 // 0 means len(Data)
	Flags   elf.ProgFlag
}

// Symbol is one entry of .symtab.
type Symbol struct {
	Name  string
	Value uint64
	Size  uint64
}

// Rela is one R_X86_64 relocation in .rela.dyn.
type Rela struct {
	Offset uint64
	Type   elf.R_X86_64
	Addend int64
}

// File describes the executable to write.
type File struct {
	Type     elf.Type // default ET_EXEC
	Entry    uint64
	Segments []Segment
	Symbols  []Symbol
	Interp   string   // non-empty adds a PT_INTERP
	Needed   []string // non-empty adds PT_DYNAMIC with DT_NEEDED entries
	Relas    []Rela   // adds .rela.dyn and PT_DYNAMIC with DT_RELA
	NoSymtab bool     // omit .symtab/.strtab (a stripped binary)
}

// SystemDataSym is the ABI symbol every guest exports.
const SystemDataSym = "__dandelion_system_data"

// Minimal returns a valid static executable: one R+X text page at 0x10000
// holding code, and one RW data page at 0x11000 holding the system data.
func Minimal(code []byte) File {
	return File{
		Entry: 0x10000,
		Segments: []Segment{
			{Vaddr: 0x10000, Data: code, Flags: elf.PF_R | elf.PF_X},
			{Vaddr: 0x11000, Data: make([]byte, 72), MemSize: 0x1000, Flags: elf.PF_R | elf.PF_W},
		},
		Symbols: []Symbol{{Name: SystemDataSym, Value: 0x11000, Size: 72}},
	}
}

const (
	ehdrSize = 64
	phdrSize = 56
	shdrSize = 64
)

// Bytes serialises f. Segment data is laid out in file order after the
// program headers; section headers come last.
func (f File) Bytes() []byte {
	le := binary.LittleEndian
	typ := f.Type
	if typ == 0 {
		typ = elf.ET_EXEC
	}
	var phdrs []elf.Prog64
	nph := len(f.Segments)
	if f.Interp != "" {
		nph++
	}
	dynamic := len(f.Needed) > 0 || len(f.Relas) > 0
	if dynamic {
		nph++
	}

	var body bytes.Buffer
	off := func() uint64 { return uint64(ehdrSize + nph*phdrSize + body.Len()) }
	align := func(a int) {
		for (ehdrSize+nph*phdrSize+body.Len())%a != 0 {
			body.WriteByte(0)
		}
	}

	for _, s := range f.Segments {
		// p_offset ≡ p_vaddr (mod page size), as the kernel's loader needs.
		for (ehdrSize+nph*phdrSize+body.Len())%0x1000 != int(s.Vaddr%0x1000) {
			body.WriteByte(0)
		}
		memsz := s.MemSize
		if memsz == 0 {
			memsz = uint64(len(s.Data))
		}
		phdrs = append(phdrs, elf.Prog64{
			Type: uint32(elf.PT_LOAD), Flags: uint32(s.Flags), Off: off(),
			Vaddr: s.Vaddr, Paddr: s.Vaddr, Filesz: uint64(len(s.Data)), Memsz: memsz, Align: 0x1000,
		})
		body.Write(s.Data)
	}
	if f.Interp != "" {
		o := off()
		body.WriteString(f.Interp)
		body.WriteByte(0)
		phdrs = append(phdrs, elf.Prog64{Type: uint32(elf.PT_INTERP), Flags: uint32(elf.PF_R), Off: o, Filesz: uint64(len(f.Interp) + 1), Memsz: uint64(len(f.Interp) + 1), Align: 1})
	}

	// String tables.
	shstr := newStrtab()
	strtab := newStrtab()
	dynstr := newStrtab()

	type section struct {
		name        string
		typ         elf.SectionType
		flags       elf.SectionFlag
		data        []byte
		link, info  uint32
		entsize     uint64
		addr, align uint64
		off         uint64
	}
	var secs []section

	if len(f.Relas) > 0 {
		var b bytes.Buffer
		for _, r := range f.Relas {
			var e [24]byte
			le.PutUint64(e[0:], r.Offset)
			le.PutUint64(e[8:], uint64(r.Type))
			le.PutUint64(e[16:], uint64(r.Addend))
			b.Write(e[:])
		}
		secs = append(secs, section{name: ".rela.dyn", typ: elf.SHT_RELA, flags: elf.SHF_ALLOC, data: b.Bytes(), entsize: 24, align: 8})
	}
	if dynamic {
		var b bytes.Buffer
		put := func(tag elf.DynTag, v uint64) {
			var e [16]byte
			le.PutUint64(e[0:], uint64(tag))
			le.PutUint64(e[8:], v)
			b.Write(e[:])
		}
		for _, n := range f.Needed {
			put(elf.DT_NEEDED, uint64(dynstr.add(n)))
		}
		if len(f.Relas) > 0 {
			put(elf.DT_RELASZ, uint64(24*len(f.Relas)))
			put(elf.DT_RELAENT, 24)
		}
		put(elf.DT_NULL, 0)
		secs = append(secs, section{name: ".dynstr", typ: elf.SHT_STRTAB, flags: elf.SHF_ALLOC, data: dynstr.bytes(), align: 1})
		secs = append(secs, section{name: ".dynamic", typ: elf.SHT_DYNAMIC, flags: elf.SHF_ALLOC | elf.SHF_WRITE, data: b.Bytes(), entsize: 16, align: 8})
	}
	if !f.NoSymtab {
		var b bytes.Buffer
		b.Write(make([]byte, 24)) // null symbol
		for _, s := range f.Symbols {
			var e [24]byte
			le.PutUint32(e[0:], strtab.add(s.Name))
			e[4] = byte(elf.STB_GLOBAL)<<4 | byte(elf.STT_OBJECT)
			le.PutUint16(e[6:], 1) // any defined section: the value is an address
			le.PutUint64(e[8:], s.Value)
			le.PutUint64(e[16:], s.Size)
			b.Write(e[:])
		}
		secs = append(secs, section{name: ".symtab", typ: elf.SHT_SYMTAB, data: b.Bytes(), entsize: 24, align: 8, info: 1})
		secs = append(secs, section{name: ".strtab", typ: elf.SHT_STRTAB, data: strtab.bytes(), align: 1})
	}
	// Link .symtab to .strtab and .dynamic to .dynstr (indices are +1 for the null section).
	for i := range secs {
		switch secs[i].name {
		case ".symtab":
			secs[i].link = uint32(i + 2)
		case ".dynamic":
			secs[i].link = uint32(i)
		}
	}
	for i := range secs {
		shstr.add(secs[i].name)
	}
	shstrIdx := len(secs) + 1
	secs = append(secs, section{name: ".shstrtab", typ: elf.SHT_STRTAB, align: 1})
	shstr.add(".shstrtab")
	secs[len(secs)-1].data = shstr.bytes()

	for i := range secs {
		align(8)
		secs[i].off = off()
		body.Write(secs[i].data)
	}
	if dynamic {
		for i := range secs {
			if secs[i].name != ".dynamic" {
				continue
			}
			phdrs = append(phdrs, elf.Prog64{Type: uint32(elf.PT_DYNAMIC), Flags: uint32(elf.PF_R | elf.PF_W), Off: secs[i].off, Filesz: uint64(len(secs[i].data)), Memsz: uint64(len(secs[i].data)), Align: 8})
		}
	}
	align(8)
	shoff := off()

	var out bytes.Buffer
	hdr := elf.Header64{
		Type: uint16(typ), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT),
		Entry: f.Entry, Phoff: ehdrSize, Shoff: shoff, Ehsize: ehdrSize,
		Phentsize: phdrSize, Phnum: uint16(nph), Shentsize: shdrSize,
		Shnum: uint16(len(secs) + 1), Shstrndx: uint16(shstrIdx),
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	_ = binary.Write(&out, le, hdr)
	for _, p := range phdrs {
		_ = binary.Write(&out, le, p)
	}
	out.Write(body.Bytes())
	_ = binary.Write(&out, le, elf.Section64{}) // null section
	for _, s := range secs {
		_ = binary.Write(&out, le, elf.Section64{
			Name: shstr.index(s.name), Type: uint32(s.typ), Flags: uint64(s.flags),
			Addr: s.addr, Off: s.off, Size: uint64(len(s.data)), Link: s.link, Info: s.info,
			Addralign: s.align, Entsize: s.entsize,
		})
	}
	return out.Bytes()
}

type strtab struct {
	b   []byte
	idx map[string]uint32
}

func newStrtab() *strtab { return &strtab{b: []byte{0}, idx: map[string]uint32{"": 0}} }

func (s *strtab) add(name string) uint32 {
	if i, ok := s.idx[name]; ok {
		return i
	}
	i := uint32(len(s.b))
	s.b = append(append(s.b, name...), 0)
	s.idx[name] = i
	return i
}

func (s *strtab) index(name string) uint32 { return s.idx[name] }
func (s *strtab) bytes() []byte            { return s.b }
