package loader

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"testing"
)

// guestExit plays the guest's part at exit, the way hlibc does it: it lays
// out the output items in the heap, fills output_bufs and the output set
// offsets, and sets exit_code. It returns the address of output_bufs.
func guestExit(t testing.TB, a ABI, m []byte, sys uint64, sets []Set, code int32) uint64 {
	t.Helper()
	g := mem(m)
	rd := func(i int) uint64 { v, ok := a.get(g, sys+uint64(i)*a.word); mustOK(t, ok); return v }
	heap := &bump{next: rd(sdHeapBegin), limit: rd(sdHeapEnd)}
	total := 0
	for _, s := range sets {
		total += len(s.Items)
	}
	bufs, err := heap.alloc(uint64(total)*a.ioBufferSize(), a.word)
	if err != nil {
		t.Fatal(err)
	}
	outSets := rd(sdOutputSets)
	idx := uint64(0)
	for i, s := range sets {
		a.put(g, outSets+uint64(i)*a.setInfoSize()+2*a.word, idx)
		for _, it := range s.Items {
			ip, _ := heap.alloc(uint64(len(it.Ident)), 1)
			copy(m[ip:], it.Ident)
			dp, _ := heap.alloc(uint64(len(it.Data)), 16)
			copy(m[dp:], it.Data)
			at := bufs + idx*a.ioBufferSize()
			for k, v := range []uint64{ip, uint64(len(it.Ident)), dp, uint64(len(it.Data)), it.Key} {
				a.put(g, at+uint64(k)*a.word, v)
			}
			idx++
		}
	}
	a.put(g, outSets+uint64(len(sets))*a.setInfoSize()+2*a.word, idx)
	a.put(g, sys+sdOutputBufs*a.word, bufs)
	putExit(m, sys, code)
	return bufs
}

func putExit(m []byte, sys uint64, code int32) {
	m[sys], m[sys+1], m[sys+2], m[sys+3] = byte(code), byte(code>>8), byte(code>>16), byte(code>>24)
}

func mustOK(t testing.TB, ok bool) {
	t.Helper()
	if !ok {
		t.Fatal("guest-side read out of bounds")
	}
}

// guestReadInputs decodes the input descriptors the way a guest would,
// checking that what the host wrote is self-consistent.
func guestReadInputs(t *testing.T, a ABI, m []byte, sys uint64) []Set {
	t.Helper()
	g := mem(m)
	rd := func(addr uint64) uint64 { v, ok := a.get(g, addr); mustOK(t, ok); return v }
	n := rd(sys + sdInputSetsLen*a.word)
	sets := rd(sys + sdInputSets*a.word)
	bufs := rd(sys + sdInputBufs*a.word)
	var out []Set
	for i := uint64(0); i < n; i++ {
		at := sets + i*a.setInfoSize()
		name, _ := g.span(rd(at), rd(at+a.word))
		first, end := rd(at+2*a.word), rd(at+a.setInfoSize()+2*a.word)
		s := Set{Ident: string(name)}
		for j := first; j < end; j++ {
			b := bufs + j*a.ioBufferSize()
			id, ok := g.span(rd(b), rd(b+a.word))
			mustOK(t, ok)
			data, ok := g.span(rd(b+2*a.word), rd(b+3*a.word))
			mustOK(t, ok)
			if rd(b+2*a.word)%InputAlign != 0 {
				t.Errorf("item %s/%s data at %#x is not %d-aligned", s.Ident, id, rd(b+2*a.word), InputAlign)
			}
			s.Items = append(s.Items, Item{Ident: string(id), Key: rd(b + 4*a.word), Data: data})
		}
		out = append(out, s)
	}
	return out
}

var sampleInputs = []Set{
	{Ident: "stdio", Items: []Item{{Ident: "stdin", Data: []byte("hello\n")}, {Ident: "argv", Data: []byte("prog -v")}}},
	{Ident: "empty"},
	{Ident: "matrices", Items: []Item{{Ident: "a/b/c", Key: 7, Data: bytes.Repeat([]byte{1}, 1000)}, {Ident: "", Key: 1 << 31, Data: nil}}},
}

var sampleOutputs = []Set{
	{Ident: "out", Items: []Item{{Ident: "result", Key: 3, Data: []byte("42")}, {Ident: "dir/file", Data: []byte{}}}},
	{Ident: "none"},
	{Ident: "stdio", Items: []Item{{Ident: "stdout", Data: []byte("hi\n")}}},
}

func names(sets []Set) []string {
	var n []string
	for _, s := range sets {
		n = append(n, s.Ident)
	}
	return n
}

func equalSets(t *testing.T, got, want []Set) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d sets, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Ident != want[i].Ident || len(got[i].Items) != len(want[i].Items) {
			t.Fatalf("set %d: got %q with %d items, want %q with %d", i, got[i].Ident, len(got[i].Items), want[i].Ident, len(want[i].Items))
		}
		for j, w := range want[i].Items {
			g := got[i].Items[j]
			if g.Ident != w.Ident || g.Key != w.Key || !bytes.Equal(g.Data, w.Data) {
				t.Errorf("set %s item %d: got {%q %d %q}, want {%q %d %q}", w.Ident, j, g.Ident, g.Key, g.Data, w.Ident, w.Key, w.Data)
			}
		}
	}
}

// setup places sampleInputs into a fresh guest memory of the given ABI and
// returns the memory and the system data address.
func setup(t testing.TB, a ABI, size uint64) ([]byte, uint64) {
	m := make([]byte, size)
	sys := uint64(0x100)
	b := &bump{next: 0x200, limit: size / 2}
	if err := a.placeInputs(m, b, sys, sampleInputs, names(sampleOutputs)); err != nil {
		t.Fatal(err)
	}
	a.setHeap(m, sys, alignUp(b.next, 64), size)
	return m, sys
}

func TestABIRoundTrip(t *testing.T) {
	for _, a := range []ABI{ABI64, ABI32} {
		t.Run(fmt.Sprintf("word%d", a.word), func(t *testing.T) {
			m, sys := setup(t, a, 1<<20)
			if code, _ := a.ExitCode(m, sys); code != -1 {
				t.Errorf("initial exit code %d, want -1", code)
			}
			equalSets(t, guestReadInputs(t, a, m, sys), sampleInputs)
			guestExit(t, a, m, sys, sampleOutputs, 5)
			got, err := a.ReadOutputs(m, sys, names(sampleOutputs))
			if err != nil {
				t.Fatal(err)
			}
			equalSets(t, got, sampleOutputs)
			if code, _ := a.ExitCode(m, sys); code != 5 {
				t.Errorf("exit code %d", code)
			}
		})
	}
}

func TestABIKeyTooWideFor32Bit(t *testing.T) {
	m := make([]byte, 1<<16)
	in := []Set{{Ident: "s", Items: []Item{{Ident: "i", Key: math.MaxUint32 + 1}}}}
	err := ABI32.placeInputs(m, &bump{next: 0x1000, limit: 1 << 16}, 0x100, in, nil)
	if !errors.Is(err, ErrOverflow) {
		t.Fatalf("got %v, want ErrOverflow", err)
	}
}

func TestABIInputsTooLarge(t *testing.T) {
	m := make([]byte, 1<<16)
	in := []Set{{Ident: "s", Items: []Item{{Ident: "big", Data: make([]byte, 1<<16)}}}}
	err := ABI64.placeInputs(m, &bump{next: 0x1000, limit: 1 << 16}, 0x100, in, nil)
	if !errors.Is(err, ErrContextTooSmall) {
		t.Fatalf("got %v, want ErrContextTooSmall", err)
	}
}

// TestABIHostileOutputs forges every field a guest controls and checks the
// host rejects the descriptor with an OutputError naming the field.
func TestABIHostileOutputs(t *testing.T) {
	const size = 1 << 20
	for _, a := range []ABI{ABI64, ABI32} {
		w := a.word
		huge := uint64(math.MaxUint64)
		if w == 4 {
			huge = math.MaxUint32
		}
		tests := []struct {
			name  string
			field string
			forge func(m mem, sys, bufs uint64)
		}{
			{"set count changed", "output_sets_len", func(m mem, sys, _ uint64) { a.put(m, sys+sdOutputSetsLen*w, 1000) }},
			{"sets outside memory", "output_sets", func(m mem, sys, _ uint64) { a.put(m, sys+sdOutputSets*w, size+8) }},
			{"sets pointer wraps", "output_sets", func(m mem, sys, _ uint64) { a.put(m, sys+sdOutputSets*w, huge-8) }},
			{"sets straddle the end", "output_sets", func(m mem, sys, _ uint64) { a.put(m, sys+sdOutputSets*w, size-a.setInfoSize()) }},
			{"first offset nonzero", "output_sets[0].offset", func(m mem, sys, _ uint64) {
				sets, _ := a.get(m, sys+sdOutputSets*w)
				a.put(m, sets+2*w, 1)
			}},
			{"offsets decrease", "output_sets[2].offset", func(m mem, sys, _ uint64) {
				sets, _ := a.get(m, sys+sdOutputSets*w)
				a.put(m, sets+2*a.setInfoSize()+2*w, 1)
			}},
			{"count beyond the item limit", "output_sets[3].offset", func(m mem, sys, _ uint64) {
				sets, _ := a.get(m, sys+sdOutputSets*w)
				a.put(m, sets+3*a.setInfoSize()+2*w, huge)
			}},
			{"count larger than memory", "output_bufs", func(m mem, sys, _ uint64) {
				sets, _ := a.get(m, sys+sdOutputSets*w)
				a.put(m, sets+3*a.setInfoSize()+2*w, MaxOutputItems)
			}},
			{"buffers outside memory", "output_bufs", func(m mem, sys, _ uint64) { a.put(m, sys+sdOutputBufs*w, huge) }},
			{"ident pointer outside", "output_bufs[0].ident", func(m mem, _, bufs uint64) { a.put(m, bufs, size) }},
			{"ident length wraps", "output_bufs[1].ident_len", func(m mem, _, bufs uint64) { a.put(m, bufs+a.ioBufferSize()+w, huge) }},
			{"ident too long", "output_bufs[0].ident_len", func(m mem, _, bufs uint64) { a.put(m, bufs+w, MaxIdentLen+1) }},
			{"data pointer outside", "output_bufs[2].data", func(m mem, _, bufs uint64) { a.put(m, bufs+2*a.ioBufferSize()+2*w, size+0x1000) }},
			{"data range wraps", "output_bufs[0].data", func(m mem, _, bufs uint64) {
				a.put(m, bufs+2*w, huge-0xf)
				a.put(m, bufs+3*w, 0x20)
			}},
			{"data length beyond memory", "output_bufs[0].data", func(m mem, _, bufs uint64) { a.put(m, bufs+3*w, size+1) }},
			{"aliased items amplify", "output_bufs[1].data_len", func(m mem, _, bufs uint64) {
				for i := uint64(0); i < 3; i++ {
					a.put(m, bufs+i*a.ioBufferSize()+2*w, 0)
					a.put(m, bufs+i*a.ioBufferSize()+3*w, size/2)
				}
			}},
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("word%d/%s", w, tt.name), func(t *testing.T) {
				m, sys := setup(t, a, size)
				bufs := guestExit(t, a, m, sys, sampleOutputs, 0)
				tt.forge(m, sys, bufs)
				sets, err := a.ReadOutputs(m, sys, names(sampleOutputs))
				var oe *OutputError
				if !errors.As(err, &oe) || !errors.Is(err, ErrOutputDescriptor) {
					t.Fatalf("got sets %v, error %v; want an OutputError", sets, err)
				}
				if oe.Field != tt.field {
					t.Errorf("error names field %q, want %q (%v)", oe.Field, tt.field, err)
				}
			})
		}
	}
}

func TestABISystemDataOutsideMemory(t *testing.T) {
	m := make([]byte, 4096)
	if _, err := ABI64.ReadOutputs(m, 4090, nil); !errors.Is(err, ErrOutputDescriptor) {
		t.Fatalf("got %v", err)
	}
	if _, ok := ABI64.ExitCode(m, 4094); ok {
		t.Fatal("ExitCode read past the end")
	}
}

func TestABINoOutputs(t *testing.T) {
	m, sys := setup(t, ABI64, 1<<20)
	// A guest that exits without describing outputs leaves offsets at 0 and
	// output_bufs at 0: that is three empty sets, not an error.
	sets, err := ABI64.ReadOutputs(m, sys, names(sampleOutputs))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sets {
		if len(s.Items) != 0 {
			t.Fatalf("set %s has %d items", s.Ident, len(s.Items))
		}
	}
}
