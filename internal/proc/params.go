//go:build linux && amd64

package proc

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"

	"golang.org/x/net/bpf"

	"tessera/loader"
)

// The parameter block the stub reads from its argument. Its layout is
// mirrored by struct params in stub/stub.c.
const (
	paramsMagic  = 0x3130425554535354 // "TSSTUB01"
	paramsHeader = 11 * 8
	regionSize   = 3 * 8
	filterInsn   = 8

	// maxRegions and maxFilter match the stub's limits.
	maxRegions = 256
	maxFilter  = 512
)

// Flags select what the stub does besides mapping the context.
const (
	// FlagSeccompHandlers installs the SIGSYS and fault handlers that
	// write a Record (seccompiso).
	FlagSeccompHandlers = 1 << iota
	// FlagHandshake makes the stub wait for the host to set the word at
	// HandshakeOffset before it jumps to the function (ptraceiso: the
	// tracer must be attached before the first traced system call).
	FlagHandshake
	// FlagKeepVDSO leaves the vDSO mapped (diagnostics only).
	FlagKeepVDSO
)

// Protections of a region, as mmap's PROT_* bits.
const (
	protRead  = 1
	protWrite = 2
	protExec  = 4
)

// Region is one mapping of the context: guest addresses [Addr, Addr+Len),
// file offset Addr of the memfd, with the given PROT_* bits.
type Region struct {
	Addr, Len uint64
	Prot      uint32
}

// Params is everything the stub needs to know about a call.
type Params struct {
	Flags    uint64
	Size     uint64 // context size
	Entry    uint64
	StackTop uint64
	CPUSoft  uint64 // RLIMIT_CPU in seconds: SIGXCPU
	CPUHard  uint64 // RLIMIT_CPU hard limit: SIGKILL
	ASLimit  uint64 // RLIMIT_AS in bytes
	PPid     uint64 // the host's pid: the process must be its child
	Regions  []Region
	Filter   []bpf.RawInstruction // installed by an exec'd stub; empty for a server's child
}

// The control area is the memfd's pages below loader.MinAddr. The stub is
// built with these offsets (build.go passes them to the compiler), so they
// exist only here.
//
// The control page is page 0 of the context's memfd. Guest addresses start
// at loader.MinAddr, so it is never guest memory: the stub maps it at an
// address of the kernel's choosing, and guest memory stays exactly as the
// function left it. Host and stub share two things there: the record the
// stub's handlers (or its failure path) write, and the handshake word of
// ptrace mode. It is not out of the function's reach: the stub's cfg page
// is readable and its first word is the record's address, so a function
// that finds the stub can read and write the control page. The host
// trusts a record only after a death the function cannot cause (SIGSYS
// through the handler, which rewrites every field of the record first;
// SIGABRT, which only the stub raises before the function runs), and the
// handshake word only matters before the function runs. Page 1 (PidOffset)
// is mapped by no process but the host.
const (
	// RecordOffset is where the record goes in the control page.
	RecordOffset = 0
	// RecordSize is the room reserved for it.
	RecordSize = 256
	// HandshakeOffset is where the 32-bit handshake word goes.
	HandshakeOffset = RecordOffset + RecordSize
	// PidOffset is where a server's child writes its pid (8 bytes) before
	// anything else: page 1 of the memfd, which no process but the host
	// maps, so no function can forge it (server.abandon reads it).
	PidOffset = loader.PageSize
)

// Regions computes the mappings of a laid-out context, as the VMM maps it
// (docs/ABI.md §2): image pages with their segments' permissions (the
// union for a shared page), the input area, heap and stack read-write and
// never executable; nothing below the image, in a hole between segments,
// or on the stack guard page. Adjacent regions with the same permissions
// are merged, so a typical image needs four or five.
func Regions(img *loader.Image, l *loader.Layout) ([]Region, error) {
	if l.ImageLow < loader.MinAddr || l.ImageLow > l.ImageEnd || l.ImageEnd > l.Guard ||
		l.Guard+loader.PageSize != l.StackLow || l.StackLow >= l.Size || l.Size%loader.PageSize != 0 {
		return nil, fmt.Errorf("proc: inconsistent layout %+v", *l)
	}
	var out []Region
	add := func(addr, end uint64, prot uint32) {
		if end <= addr {
			return
		}
		if n := len(out); n > 0 && out[n-1].Prot == prot && out[n-1].Addr+out[n-1].Len == addr {
			out[n-1].Len += end - addr
			return
		}
		out = append(out, Region{Addr: addr, Len: end - addr, Prot: prot})
	}
	const rw = protRead | protWrite
	// The page permissions change only at page-rounded segment bounds.
	cuts := []uint64{l.ImageLow, l.ImageEnd}
	for _, s := range img.Segments {
		cuts = append(cuts, s.Addr&^(loader.PageSize-1), alignUp(s.End(), loader.PageSize))
	}
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	for i := 0; i+1 < len(cuts); i++ {
		lo, hi := cuts[i], cuts[i+1]
		if lo < l.ImageLow || hi > l.ImageEnd {
			continue
		}
		if p := img.PermAt(lo); p != 0 {
			add(lo, hi, protOf(p))
		}
	}
	add(l.ImageEnd, l.Guard, rw)
	add(l.StackLow, l.Size, rw)
	if len(out) > maxRegions {
		return nil, fmt.Errorf("proc: the image needs %d mappings, the stub takes at most %d", len(out), maxRegions)
	}
	return out, nil
}

// protOf maps page permissions to PROT_* bits.
func protOf(p loader.Perm) uint32 {
	var prot uint32
	if p&loader.PermRead != 0 {
		prot |= protRead
	}
	if p&loader.PermWrite != 0 {
		prot |= protWrite
	}
	if p&loader.PermExec != 0 {
		prot |= protExec
	}
	return prot
}

func alignUp(v, a uint64) uint64 { return (v + a - 1) &^ (a - 1) }

// Encode returns the binary parameter block.
func (p *Params) Encode() ([]byte, error) {
	if len(p.Regions) > maxRegions || len(p.Filter) > maxFilter {
		return nil, fmt.Errorf("proc: %d regions and %d filter instructions (limits %d and %d)", len(p.Regions), len(p.Filter), maxRegions, maxFilter)
	}
	b := make([]byte, 0, paramsHeader+len(p.Regions)*regionSize+len(p.Filter)*filterInsn)
	le := binary.LittleEndian
	for _, v := range []uint64{paramsMagic, p.Flags, p.Size, p.Entry, p.StackTop,
		p.CPUSoft, p.CPUHard, p.ASLimit, p.PPid, uint64(len(p.Regions)), uint64(len(p.Filter))} {
		b = le.AppendUint64(b, v)
	}
	for _, r := range p.Regions {
		b = le.AppendUint64(b, r.Addr)
		b = le.AppendUint64(b, r.Len)
		b = le.AppendUint64(b, uint64(r.Prot))
	}
	return appendFilter(b, p.Filter), nil
}

// appendFilter appends a BPF program as the kernel's struct sock_filter
// array (what the stub hands to seccomp).
func appendFilter(b []byte, prog []bpf.RawInstruction) []byte {
	le := binary.LittleEndian
	for _, in := range prog {
		b = le.AppendUint16(b, in.Op)
		b = append(b, in.Jt, in.Jf)
		b = le.AppendUint32(b, in.K)
	}
	return b
}

// Arg returns the parameter block as the exec'd stub's argument.
func (p *Params) Arg() (string, error) {
	b, err := p.Encode()
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
