package loader

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// Guest address-space constants shared by every native backend.
const (
	// PageSize is the granularity of guest memory permissions.
	PageSize = 4096
	// MinAddr is the lowest address a segment may use: the first 64 KiB of
	// every context stay unmapped so null-pointer accesses fault.
	MinAddr = 0x10000
	// MaxContextSize bounds a context and therefore every guest address.
	MaxContextSize = 1 << 36
	// PIEBase is the load bias of a position-independent image (ET_DYN)
	// linked below MinAddr: an image linked at 0 starts at PIEBase.
	PIEBase = 0x400000
	// SystemDataSymbol is the symbol through which host and guest exchange
	// the system data (see docs/ABI.md).
	SystemDataSymbol = "__dandelion_system_data"

	maxSegments = 64

	// RELR packed relocations; debug/elf has no names for them yet.
	dtRelr  = elf.DynTag(36)
	shtRelr = elf.SectionType(19)
)

// Perm is a set of access permissions for guest memory.
type Perm uint8

// Permission bits, as in an ELF program header.
const (
	PermRead Perm = 1 << iota
	PermWrite
	PermExec
)

func (p Perm) String() string {
	b := []byte("---")
	if p&PermRead != 0 {
		b[0] = 'r'
	}
	if p&PermWrite != 0 {
		b[1] = 'w'
	}
	if p&PermExec != 0 {
		b[2] = 'x'
	}
	return string(b)
}

// Segment is one loadable part of an Image.
type Segment struct {
	Addr    uint64 // guest address, equal to the context offset
	MemSize uint64 // bytes occupied in guest memory
	Data    []byte // initial contents; the rest up to MemSize is zero
	Perm    Perm
}

// End returns the first address past the segment.
func (s Segment) End() uint64 { return s.Addr + s.MemSize }

// Image is a parsed, validated static executable. It is immutable once
// returned by Parse and safe to share between goroutines and calls: every
// call copies it into a fresh context.
type Image struct {
	Segments   []Segment // sorted by address, non-overlapping
	Entry      uint64    // first instruction executed
	SystemData uint64    // address of __dandelion_system_data
	Base       uint64    // load bias added to an ET_DYN image's addresses (0 for ET_EXEC)
	Low, End   uint64    // page-aligned bounds of all segments
	Digest     [32]byte  // SHA-256 of the binary: the image's identity
	FileSize   int
}

// SystemDataSize64 is the size of struct dandelion_system_data on x86-64.
const SystemDataSize64 = 72

// Parse validates a static ELF64 x86-64 executable and returns its Image.
// Every rejection is a *FormatError wrapping one of the sentinel errors.
func Parse(bin []byte) (img *Image, err error) {
	// debug/elf is well fuzzed, but the input is untrusted: a parser panic
	// must become an error, never take down the host.
	defer func() {
		if r := recover(); r != nil {
			img, err = nil, formatErr(ErrMalformed, "parser panic: %v", r)
		}
	}()
	if err := checkIdent(bin); err != nil {
		return nil, err
	}
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return nil, formatErr(ErrMalformed, "%v", err)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return nil, formatErr(ErrType, "e_type is %v", f.Type)
	}
	loads, err := loadSegments(f, len(bin))
	if err != nil {
		return nil, err
	}
	img = &Image{Digest: sha256.Sum256(bin), FileSize: len(bin)}
	if f.Type == elf.ET_DYN && loads[0].Vaddr < MinAddr {
		img.Base = PIEBase
	}
	for _, p := range loads {
		addr := p.Vaddr + img.Base
		if addr < p.Vaddr {
			return nil, formatErr(ErrOverflow, "segment at %#x plus load bias %#x", p.Vaddr, img.Base)
		}
		if addr < MinAddr {
			return nil, formatErr(ErrSegmentLow, "segment at %#x is below %#x", addr, MinAddr)
		}
		if p.Memsz > MaxContextSize || addr > MaxContextSize-p.Memsz {
			return nil, formatErr(ErrSegmentRange, "segment [%#x, +%#x) ends beyond %#x", addr, p.Memsz, uint64(MaxContextSize))
		}
		data := make([]byte, p.Filesz)
		copy(data, bin[p.Off:p.Off+p.Filesz])
		img.Segments = append(img.Segments, Segment{Addr: addr, MemSize: p.Memsz, Data: data, Perm: progPerm(p.Flags)})
	}
	slices.SortFunc(img.Segments, func(a, b Segment) int { return cmpU64(a.Addr, b.Addr) })
	for i := 1; i < len(img.Segments); i++ {
		prev, cur := img.Segments[i-1], img.Segments[i]
		if cur.Addr < prev.End() {
			return nil, formatErr(ErrSegmentOverlap, "segment [%#x, %#x) overlaps [%#x, %#x)", cur.Addr, cur.End(), prev.Addr, prev.End())
		}
	}
	img.Low = img.Segments[0].Addr &^ (PageSize - 1)
	img.End = alignUp(img.Segments[len(img.Segments)-1].End(), PageSize)

	if err := img.checkDynamic(f); err != nil {
		return nil, err
	}
	img.Entry = f.Entry + img.Base
	if s := img.segmentAt(img.Entry, 1); s == nil || s.Perm&PermExec == 0 {
		return nil, formatErr(ErrEntry, "entry %#x", img.Entry)
	}
	if err := img.findSystemData(f); err != nil {
		return nil, err
	}
	return img, nil
}

func checkIdent(bin []byte) error {
	if len(bin) < 64 || !bytes.HasPrefix(bin, []byte(elf.ELFMAG)) {
		return formatErr(ErrNotELF, "no ELF magic in the first bytes")
	}
	if c := elf.Class(bin[elf.EI_CLASS]); c != elf.ELFCLASS64 {
		return formatErr(ErrClass, "class is %v", c)
	}
	if d := elf.Data(bin[elf.EI_DATA]); d != elf.ELFDATA2LSB {
		return formatErr(ErrEndian, "data encoding is %v", d)
	}
	if m := elf.Machine(binary.LittleEndian.Uint16(bin[18:])); m != elf.EM_X86_64 {
		return formatErr(ErrMachine, "machine is %v", m)
	}
	if t := elf.Type(binary.LittleEndian.Uint16(bin[16:])); t != elf.ET_EXEC && t != elf.ET_DYN {
		return formatErr(ErrType, "e_type is %v", t)
	}
	return nil
}

// loadSegments returns the non-empty PT_LOAD headers sorted by address,
// after rejecting interpreters and inconsistent sizes.
func loadSegments(f *elf.File, fileSize int) ([]elf.ProgHeader, error) {
	var loads []elf.ProgHeader
	for i, p := range f.Progs {
		switch p.Type {
		case elf.PT_INTERP:
			return nil, formatErr(ErrDynamic, "program header %d is PT_INTERP", i)
		case elf.PT_LOAD:
		default:
			continue
		}
		if p.Filesz > p.Memsz {
			return nil, formatErr(ErrMalformed, "segment %d: p_filesz %#x > p_memsz %#x", i, p.Filesz, p.Memsz)
		}
		if p.Off > uint64(fileSize) || p.Filesz > uint64(fileSize)-p.Off {
			return nil, formatErr(ErrMalformed, "segment %d: file range [%#x, +%#x) beyond the %d-byte file", i, p.Off, p.Filesz, fileSize)
		}
		if p.Vaddr+p.Memsz < p.Vaddr {
			return nil, formatErr(ErrOverflow, "segment %d: p_vaddr %#x + p_memsz %#x", i, p.Vaddr, p.Memsz)
		}
		if p.Memsz == 0 {
			continue
		}
		loads = append(loads, p.ProgHeader)
	}
	if len(loads) == 0 {
		return nil, formatErr(ErrNoSegments, "no PT_LOAD with p_memsz > 0")
	}
	if len(loads) > maxSegments {
		return nil, formatErr(ErrMalformed, "%d loadable segments (at most %d)", len(loads), maxSegments)
	}
	slices.SortFunc(loads, func(a, b elf.ProgHeader) int { return cmpU64(a.Vaddr, b.Vaddr) })
	return loads, nil
}

// checkDynamic rejects shared-library dependencies and relocations that
// need a run-time linker. R_X86_64_RELATIVE entries of an ET_DYN image are
// applied here, once, for its fixed load address; re-applying them in the
// guest (as a self-relocating static PIE does) writes the same values.
func (img *Image) checkDynamic(f *elf.File) error {
	if libs, err := f.DynString(elf.DT_NEEDED); err == nil && len(libs) > 0 {
		return formatErr(ErrDynamic, "needs shared libraries %q", libs)
	}
	for _, tag := range []elf.DynTag{dtRelr, elf.DT_REL, elf.DT_JMPREL} {
		if v, err := f.DynValue(tag); err == nil && len(v) > 0 {
			return formatErr(ErrDynamic, "dynamic section has %v", tag)
		}
	}
	for _, s := range f.Sections {
		if s.Flags&elf.SHF_ALLOC == 0 {
			continue
		}
		switch s.Type {
		case elf.SHT_REL, shtRelr:
			return formatErr(ErrDynamic, "section %s has %v relocations", s.Name, s.Type)
		case elf.SHT_RELA:
			if err := img.applyRela(s); err != nil {
				return err
			}
		}
	}
	return nil
}

func (img *Image) applyRela(s *elf.Section) error {
	data, err := s.Data()
	if err != nil {
		return formatErr(ErrMalformed, "section %s: %v", s.Name, err)
	}
	if len(data)%24 != 0 {
		return formatErr(ErrMalformed, "section %s: size %d is not a multiple of 24", s.Name, len(data))
	}
	le := binary.LittleEndian
	for i := 0; i < len(data); i += 24 {
		off, info, addend := le.Uint64(data[i:]), le.Uint64(data[i+8:]), le.Uint64(data[i+16:])
		switch typ := elf.R_X86_64(info & 0xffffffff); typ {
		case elf.R_X86_64_NONE:
		case elf.R_X86_64_RELATIVE:
			if img.Base == 0 {
				// Linked at its load address: the stored value is already right.
				continue
			}
			if err := img.patch64(off+img.Base, img.Base+addend); err != nil {
				return formatErr(ErrDynamic, "relocation %d in %s: %v", i/24, s.Name, err)
			}
		default:
			return formatErr(ErrDynamic, "relocation %d in %s has type %v", i/24, s.Name, typ)
		}
	}
	return nil
}

// patch64 writes v at guest address addr of the image's own copy. The
// target must lie in a segment's file-backed bytes: a pointer that needs
// relocating is initialised data, never bss, and growing the copy to reach
// the zero-filled part would let a tiny file make the host allocate a
// segment's whole memory size.
func (img *Image) patch64(addr, v uint64) error {
	seg := img.segmentAt(addr, 8)
	if seg == nil {
		return fmt.Errorf("target %#x is not inside a segment", addr)
	}
	off := addr - seg.Addr
	if off+8 > uint64(len(seg.Data)) {
		return fmt.Errorf("target %#x is in the zero-filled part of the segment at %#x", addr, seg.Addr)
	}
	binary.LittleEndian.PutUint64(seg.Data[off:], v)
	return nil
}

func (img *Image) findSystemData(f *elf.File) error {
	syms, err := f.Symbols()
	if err != nil {
		if errors.Is(err, elf.ErrNoSymbols) {
			return formatErr(ErrNoSystemData, "no symbol table (stripped binary?)")
		}
		return formatErr(ErrMalformed, "symbol table: %v", err)
	}
	for _, s := range syms {
		if s.Name != SystemDataSymbol || s.Section == elf.SHN_UNDEF {
			continue
		}
		addr := s.Value
		if s.Section != elf.SHN_ABS {
			addr += img.Base
		}
		if addr%8 != 0 {
			return formatErr(ErrNoSystemData, "at %#x, not 8-byte aligned", addr)
		}
		if seg := img.segmentAt(addr, SystemDataSize64); seg == nil || seg.Perm&PermWrite == 0 {
			return formatErr(ErrNoSystemData, "[%#x, +%d) is not inside a writable segment", addr, SystemDataSize64)
		}
		img.SystemData = addr
		return nil
	}
	return formatErr(ErrNoSystemData, "symbol not defined")
}

// segmentAt returns the segment holding [addr, addr+n), or nil.
func (img *Image) segmentAt(addr, n uint64) *Segment {
	for i := range img.Segments {
		s := &img.Segments[i]
		if addr >= s.Addr && addr-s.Addr <= s.MemSize && n <= s.MemSize-(addr-s.Addr) {
			return s
		}
	}
	return nil
}

// PermAt returns the permissions of the page holding addr: the union of the
// permissions of every segment that touches the page, or 0 if none does.
func (img *Image) PermAt(addr uint64) Perm {
	page := addr &^ (PageSize - 1)
	var p Perm
	for _, s := range img.Segments {
		if s.Addr < page+PageSize && s.End() > page {
			p |= s.Perm
		}
	}
	return p
}

func progPerm(f elf.ProgFlag) Perm {
	var p Perm
	if f&elf.PF_R != 0 {
		p |= PermRead
	}
	if f&elf.PF_W != 0 {
		p |= PermWrite
	}
	if f&elf.PF_X != 0 {
		p |= PermExec
	}
	return p
}

func alignUp(v, a uint64) uint64 { return (v + a - 1) &^ (a - 1) }

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
