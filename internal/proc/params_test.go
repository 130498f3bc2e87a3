//go:build linux && amd64

package proc

import (
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"testing"

	"golang.org/x/net/bpf"

	"tessera/internal/elfgen"
	"tessera/loader"
)

// An image with a page shared by text and rodata, a data segment with a
// bss tail, a hole, and a segment far above the rest.
func testImage(t *testing.T) *loader.Image {
	t.Helper()
	bin := elfgen.File{
		Entry: 0x400000,
		Segments: []elfgen.Segment{
			{Vaddr: 0x400000, Data: make([]byte, 0x1800), Flags: elf.PF_R | elf.PF_X},
			{Vaddr: 0x401800, Data: make([]byte, 0x900), Flags: elf.PF_R},
			{Vaddr: 0x403000, Data: make([]byte, 0x100), MemSize: 0x1100, Flags: elf.PF_R | elf.PF_W},
			{Vaddr: 0x410000, Data: make([]byte, 0x10), Flags: elf.PF_R | elf.PF_X},
		},
		Symbols: []elfgen.Symbol{{Name: elfgen.SystemDataSym, Value: 0x403000, Size: 72}},
	}.Bytes()
	img, err := loader.Parse(bin)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestRegions(t *testing.T) {
	img := testImage(t)
	const size = 8 << 20
	l, err := loader.PlanLayout(img, size, loader.SetupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Regions(img, l)
	if err != nil {
		t.Fatal(err)
	}
	// Page by page: what the regions map must be what the ABI says.
	prot := map[uint64]uint32{}
	for i, r := range rs {
		if r.Addr%loader.PageSize != 0 || r.Len%loader.PageSize != 0 || r.Len == 0 {
			t.Errorf("region %d %+v is not whole pages", i, r)
		}
		if i > 0 && rs[i-1].Addr+rs[i-1].Len == r.Addr && rs[i-1].Prot == r.Prot {
			t.Errorf("regions %d and %d could be one: %+v %+v", i-1, i, rs[i-1], r)
		}
		for a := r.Addr; a < r.Addr+r.Len; a += loader.PageSize {
			if _, dup := prot[a]; dup {
				t.Fatalf("page %#x mapped twice", a)
			}
			prot[a] = r.Prot
		}
	}
	for a := uint64(0); a < size; a += loader.PageSize {
		got, mapped := prot[a]
		var want uint32
		switch {
		case a < l.ImageLow, a == l.Guard, a < l.ImageEnd && img.PermAt(a) == 0:
			// Below the image, a hole between segments, the stack guard.
			if mapped {
				t.Errorf("page %#x is mapped (prot %d), the ABI leaves it unmapped", a, got)
			}
			continue
		case a < l.ImageEnd:
			want = protOf(img.PermAt(a))
		default:
			want = protRead | protWrite
		}
		if !mapped || got != want {
			t.Errorf("page %#x: prot %d (mapped %v), want %d", a, got, mapped, want)
		}
	}
	// The shared text/rodata page is r-x, the hole unmapped, data rw-.
	if _, hole := prot[0x405000]; prot[0x401000] != protRead|protExec || hole || prot[0x403000] != protRead|protWrite {
		t.Errorf("shared page %d, hole mapped %v, data %d", prot[0x401000], hole, prot[0x403000])
	}
}

func TestRegionsRejectsBadLayout(t *testing.T) {
	img := testImage(t)
	l, err := loader.PlanLayout(img, 8<<20, loader.SetupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bad := *l
	bad.Guard = bad.StackLow // no guard page
	if _, err := Regions(img, &bad); err == nil {
		t.Error("Regions accepted a layout without a guard page")
	}
	bad = *l
	bad.ImageLow = 0x1000
	if _, err := Regions(img, &bad); err == nil {
		t.Error("Regions accepted an image below MinAddr")
	}
}

func TestParamsEncode(t *testing.T) {
	p := Params{
		Flags: FlagHandshake, Size: 1 << 20, Entry: 0x10000, StackTop: 1<<20 - 32,
		CPUSoft: 3, CPUHard: 4, ASLimit: 17 << 20, PPid: 4242,
		Regions: []Region{{0x10000, 0x1000, 5}, {0x11000, 0x2000, 3}},
		Filter:  []bpf.RawInstruction{{Op: 0x20, K: 4}, {Op: 0x15, Jt: 1, Jf: 2, K: 0xc000003e}, {Op: 6, K: 0x7fff0000}},
	}
	arg, err := p.Arg()
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(arg)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != paramsHeader+2*regionSize+3*filterInsn {
		t.Fatalf("%d bytes", len(b))
	}
	le := binary.LittleEndian
	word := func(i int) uint64 { return le.Uint64(b[8*i:]) }
	// The order struct params in stub.c expects.
	want := []uint64{paramsMagic, FlagHandshake, 1 << 20, 0x10000, 1<<20 - 32, 3, 4, 17 << 20, 4242, 2, 3,
		0x10000, 0x1000, 5, 0x11000, 0x2000, 3}
	for i, w := range want {
		if word(i) != w {
			t.Errorf("word %d = %#x, want %#x", i, word(i), w)
		}
	}
	f := b[paramsHeader+2*regionSize+filterInsn:]
	if le.Uint16(f) != 0x15 || f[2] != 1 || f[3] != 2 || le.Uint32(f[4:]) != 0xc000003e {
		t.Errorf("second filter instruction encoded as %x", f[:8])
	}
	p.Filter = make([]bpf.RawInstruction, maxFilter+1)
	if _, err := p.Arg(); err == nil {
		t.Error("a block with too long a filter was accepted")
	}
}
