package loader

import (
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"unsafe"

	"tessera/internal/elfgen"
)

// FuzzParse feeds arbitrary bytes to the ELF parser. It must never panic,
// and anything it accepts must satisfy the Image invariants the backends
// rely on.
func FuzzParse(f *testing.F) {
	for _, seed := range parseSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, bin []byte) {
		img, err := Parse(bin)
		if err != nil {
			if img != nil {
				t.Fatal("image returned with an error")
			}
			return
		}
		checkImage(t, img)
	})
}

func checkImage(t *testing.T, img *Image) {
	if len(img.Segments) == 0 {
		t.Fatal("no segments")
	}
	for i, s := range img.Segments {
		if s.Addr < MinAddr || s.End() > MaxContextSize || s.End() < s.Addr {
			t.Fatalf("segment %d [%#x, %#x) out of range", i, s.Addr, s.End())
		}
		if uint64(len(s.Data)) > s.MemSize {
			t.Fatalf("segment %d has %d bytes of data for %d of memory", i, len(s.Data), s.MemSize)
		}
		if i > 0 && s.Addr < img.Segments[i-1].End() {
			t.Fatalf("segments %d and %d overlap", i-1, i)
		}
	}
	if img.PermAt(img.Entry)&PermExec == 0 {
		t.Fatalf("entry %#x not executable", img.Entry)
	}
	if img.SystemData%8 != 0 || img.PermAt(img.SystemData)&PermWrite == 0 {
		t.Fatalf("system data at %#x", img.SystemData)
	}
	if img.Low%PageSize != 0 || img.End%PageSize != 0 || img.Low > img.End {
		t.Fatalf("bounds [%#x, %#x)", img.Low, img.End)
	}
}

// FuzzReadOutputs treats arbitrary bytes as guest memory at exit. Reading
// outputs must never panic, and everything returned must lie inside the
// memory and respect the limits.
func FuzzReadOutputs(f *testing.F) {
	for _, s := range outputSeeds(f) {
		f.Add(s.mem, s.sys, s.nout, s.wide)
	}
	f.Fuzz(func(t *testing.T, m []byte, sys uint64, nout uint8, wide bool) {
		a := ABI32
		if wide {
			a = ABI64
		}
		outs := make([]string, nout%8)
		for i := range outs {
			outs[i] = strconv.Itoa(i)
		}
		sets, err := a.ReadOutputs(m, sys, outs)
		if err != nil {
			return
		}
		if len(sets) != len(outs) {
			t.Fatalf("%d sets for %d declared", len(sets), len(outs))
		}
		var n, total uint64
		lo := uintptr(0)
		if len(m) > 0 {
			lo = uintptr(unsafe.Pointer(&m[0]))
		}
		for _, s := range sets {
			for _, it := range s.Items {
				n++
				total += uint64(len(it.Data) + len(it.Ident))
				if len(it.Ident) > MaxIdentLen {
					t.Fatalf("ident of %d bytes", len(it.Ident))
				}
				if len(it.Data) > 0 {
					p := uintptr(unsafe.Pointer(&it.Data[0]))
					if p < lo || p+uintptr(len(it.Data)) > lo+uintptr(len(m)) {
						t.Fatal("item data outside guest memory")
					}
				}
			}
		}
		if n > MaxOutputItems || total > uint64(len(m)) {
			t.Fatalf("%d items, %d bytes from %d bytes of memory", n, total, len(m))
		}
	})
}

type outputSeed struct {
	mem  []byte
	sys  uint64
	nout uint8
	wide bool
}

func outputSeeds(tb testing.TB) []outputSeed {
	var seeds []outputSeed
	for _, a := range []ABI{ABI64, ABI32} {
		m, sys := setup(tb, a, 8192)
		guestExit(tb, a, m, sys, sampleOutputs, 0)
		seeds = append(seeds, outputSeed{m, sys, uint8(len(sampleOutputs)), a == ABI64})
		m2, sys2 := setup(tb, a, 8192)
		seeds = append(seeds, outputSeed{m2, sys2, uint8(len(sampleOutputs)), a == ABI64}) // no outputs written
	}
	return seeds
}

func parseSeeds() [][]byte {
	pie := elfgen.File{
		Type: elf.ET_DYN, Entry: 0x1000,
		Segments: []elfgen.Segment{
			{Vaddr: 0x1000, Data: code, Flags: elf.PF_R | elf.PF_X},
			{Vaddr: 0x2000, Data: make([]byte, 16), MemSize: 0x1000, Flags: elf.PF_R | elf.PF_W},
		},
		Symbols: []elfgen.Symbol{{Name: SystemDataSymbol, Value: 0x2100, Size: 72}},
		Relas:   []elfgen.Rela{{Offset: 0x2008, Type: elf.R_X86_64_RELATIVE, Addend: 0x1000}},
	}
	dyn := minimal()
	dyn.Needed = []string{"libc.so.6"}
	interp := minimal()
	interp.Interp = "/lib/ld.so"
	return [][]byte{minimal().Bytes(), pie.Bytes(), dyn.Bytes(), interp.Bytes()}
}

// TestWriteFuzzCorpus regenerates testdata/fuzz from the seeds above. It
// only runs when TESSERA_WRITE_CORPUS=1.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("TESSERA_WRITE_CORPUS") != "1" {
		t.Skip("set TESSERA_WRITE_CORPUS=1 to rewrite testdata/fuzz")
	}
	write := func(target string, i int, lines ...string) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := "go test fuzz v1\n"
		for _, l := range lines {
			body += l + "\n"
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range parseSeeds() {
		write("FuzzParse", i, "[]byte("+strconv.Quote(string(s))+")")
	}
	for i, s := range outputSeeds(t) {
		write("FuzzReadOutputs", i, "[]byte("+strconv.Quote(string(s.mem))+")",
			fmt.Sprintf("uint64(%d)", s.sys), fmt.Sprintf("byte(%d)", s.nout), fmt.Sprintf("bool(%v)", s.wide))
	}
}
