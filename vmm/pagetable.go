package vmm

import (
	"encoding/binary"
	"errors"
	"fmt"

	"tessera/loader"
)

// errArenaFull means the page-table arena has no room for another set of
// page tables; the engine then starts a fresh arena.
var errArenaFull = errors.New("vmm: page-table arena full")

// arena hands out zeroed pages of the system region for page tables. Pages
// are only ever appended, never rewritten: the host writes guest page
// tables behind the shadow MMU's back, which is safe only for pages that no
// vCPU has used as page tables yet.
type arena struct {
	mem  []byte // the whole system region, host view
	next int    // next free page
}

func (a *arena) alloc() (int, []byte, error) {
	if a.next >= sysArenaStart+sysArenaPages {
		return 0, nil, errArenaFull
	}
	p := a.next
	a.next++
	return p, a.mem[p*pageSize : (p+1)*pageSize], nil
}

// span is a run of context pages with one set of page-table flags (0 means
// not present).
type span struct {
	start, end uint64
	flags      uint64
}

// permFlags turns segment permissions into leaf page-table flags. Every
// mapped context page is a user page; only executable segments lack NX.
func permFlags(p loader.Perm) uint64 {
	if p == 0 {
		return 0
	}
	f := uint64(ptePresent | pteUser | pteAccessed | pteDirty)
	if p&loader.PermWrite != 0 {
		f |= pteWrite
	}
	if p&loader.PermExec == 0 {
		f |= pteNX
	}
	return f
}

// contextSpans describes the whole context [0, l.Size) as sorted,
// contiguous spans: nothing below the image, the image page by page with
// its segment permissions, read-write data up to the stack guard, the
// unmapped guard, and the read-write stack.
func contextSpans(img *loader.Image, l *loader.Layout) []span {
	rw := permFlags(loader.PermRead | loader.PermWrite)
	spans := []span{{0, img.Low, 0}}
	add := func(start, end, flags uint64) {
		if start >= end {
			return
		}
		last := &spans[len(spans)-1]
		if last.flags == flags && last.end == start {
			last.end = end
			return
		}
		spans = append(spans, span{start, end, flags})
	}
	for a := img.Low; a < img.End; a += pageSize {
		add(a, a+pageSize, permFlags(img.PermAt(a)))
	}
	add(img.End, l.Guard, rw)
	add(l.Guard, l.StackLow, 0)
	add(l.StackLow, l.Size, rw)
	return spans
}

// buildTables writes page tables for img laid out as l into the arena and
// returns the guest-physical address of the PML4 (the CR3 value).
func buildTables(a *arena, img *loader.Image, l *loader.Layout) (uint64, error) {
	le := binary.LittleEndian
	spans := contextSpans(img, l)
	cr3, pdpt, err := newRoot(a)
	if err != nil {
		return 0, err
	}

	const huge = 2 << 20
	si := 0 // first span that may overlap the current block
	for gib := uint64(0); gib*(1<<30) < l.Size; gib++ {
		pdPage, pd, err := a.alloc()
		if err != nil {
			return 0, err
		}
		le.PutUint64(pdpt[gib*8:], sysAddr(pdPage)|pteTable)
		for j := uint64(0); j < 512; j++ {
			block := gib<<30 | j*huge
			if block >= l.Size {
				break
			}
			for spans[si].end <= block {
				si++
			}
			s := spans[si]
			if s.start <= block && s.end >= block+huge {
				if s.flags != 0 {
					le.PutUint64(pd[j*8:], block|s.flags|pteLarge)
				}
				continue
			}
			ptPage, pt, err := a.alloc()
			if err != nil {
				return 0, err
			}
			le.PutUint64(pd[j*8:], sysAddr(ptPage)|pteTable)
			k := si
			for p := uint64(0); p < 512; p++ {
				addr := block + p*pageSize
				if addr >= l.Size {
					break
				}
				for spans[k].end <= addr {
					k++
				}
				if f := spans[k].flags; f != 0 {
					le.PutUint64(pt[p*8:], addr|f)
				}
			}
		}
	}
	return cr3, nil
}

// newRoot allocates a PML4 and the page-directory-pointer table for the
// first 512 GiB, with the system region mapped. It returns the CR3 value
// and the PDPT for the caller to map the context into.
func newRoot(a *arena) (uint64, []byte, error) {
	pml4Page, pml4, err := a.alloc()
	if err != nil {
		return 0, nil, err
	}
	pdptPage, pdpt, err := a.alloc()
	if err != nil {
		return 0, nil, err
	}
	binary.LittleEndian.PutUint64(pml4[0:], sysAddr(pdptPage)|pteTable)
	binary.LittleEndian.PutUint64(pdpt[(sysBase>>30)*8:], sysAddr(sysPDPage)|pteTable)
	return sysAddr(pml4Page), pdpt, nil
}

// buildSystemTables writes page tables that map only the system region.
func buildSystemTables(a *arena) (uint64, error) {
	cr3, _, err := newRoot(a)
	return cr3, err
}

// walk translates a guest virtual address through the page tables in sys
// (the system region) the way the CPU does, for tests and diagnostics.
// It returns the physical address and the effective leaf flags (NX set if
// any level has it, write and user only if every level allows them).
func walk(sys []byte, cr3, va uint64) (pa, flags uint64, err error) {
	le := binary.LittleEndian
	read := func(table, idx uint64) (uint64, error) {
		off := table - sysBase
		if table < sysBase || off+pageSize > uint64(len(sys)) {
			return 0, fmt.Errorf("table at %#x outside the system region", table)
		}
		return le.Uint64(sys[off+idx*8:]), nil
	}
	const addrMask = 0x000ffffffffff000
	eff := uint64(pteWrite | pteUser)
	var nx uint64
	table := cr3
	for level, shift := 4, uint(39); level >= 1; level, shift = level-1, shift-9 {
		e, err := read(table, (va>>shift)&511)
		if err != nil {
			return 0, 0, err
		}
		if e&ptePresent == 0 {
			return 0, 0, fmt.Errorf("va %#x not present at level %d", va, level)
		}
		eff &= e
		nx |= e & pteNX
		if level == 1 || (level == 2 && e&pteLarge != 0) {
			mask := uint64(1)<<shift - 1
			return e&addrMask&^mask | va&mask, eff | nx | ptePresent, nil
		}
		table = e & addrMask
	}
	panic("unreachable")
}
