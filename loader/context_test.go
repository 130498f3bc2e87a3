package loader

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"unsafe"
)

func mustImage(t testing.TB) *Image {
	t.Helper()
	img, err := Parse(minimal().Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func mapped(addr uintptr) bool {
	maps, _ := os.ReadFile("/proc/self/maps")
	for _, line := range strings.Split(string(maps), "\n") {
		var lo, hi uintptr
		if _, err := fmt.Sscanf(line, "%x-%x", &lo, &hi); err == nil && addr >= lo && addr < hi {
			return true
		}
	}
	return false
}

func TestContextRoundTrip(t *testing.T) {
	img := mustImage(t)
	c, err := NewContext(4 << 20)
	if err != nil {
		t.Fatal(err)
	}
	if c.Fd() < 0 {
		t.Fatal("context has no memfd")
	}
	l, err := c.Setup(img, sampleInputs, names(sampleOutputs), SetupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := Layout{
		Size: 4 << 20, ImageLow: 0x10000, ImageEnd: 0x12000,
		HeapEnd: 4<<20 - MaxDefaultStackSize/2 - PageSize, Guard: 4<<20 - MaxDefaultStackSize/2 - PageSize,
		StackLow: 4<<20 - MaxDefaultStackSize/2, StackTop: 4<<20 - 32, Entry: 0x10000, SystemData: 0x11000,
	}
	want.HeapBegin = l.HeapBegin
	if *l != want {
		t.Fatalf("layout\n got %+v\nwant %+v", *l, want)
	}
	if l.HeapBegin <= l.ImageEnd || l.HeapBegin%PageSize != 0 {
		t.Errorf("heap begins at %#x", l.HeapBegin)
	}
	// The image is in place, and the guest sees its inputs.
	got := make([]byte, len(code))
	if err := c.ReadAt(got, 0x10000); err != nil || string(got) != string(code) {
		t.Fatalf("text: %x, %v", got, err)
	}
	equalSets(t, guestReadInputs(t, ABI64, c.Bytes(), l.SystemData), sampleInputs)
	guestExit(t, ABI64, c.Bytes(), l.SystemData, sampleOutputs, 0)

	outs, err := c.ReadOutputs()
	if err != nil {
		t.Fatal(err)
	}
	equalSets(t, outs.Sets, sampleOutputs)
	if s := outs.Set("stdio"); s == nil || string(s.Items[0].Data) != "hi\n" {
		t.Fatalf("stdio set: %+v", s)
	}
	if code, _ := c.ExitCode(); code != 0 {
		t.Fatalf("exit code %d", code)
	}

	// The outputs keep the memory alive after the sandbox lets go of it.
	addr := uintptr(unsafe.Pointer(&c.Bytes()[0]))
	if err := c.Release(); err != nil {
		t.Fatal(err)
	}
	if !mapped(addr) {
		t.Fatal("context unmapped while outputs still reference it")
	}
	outs.Release()
	outs.Release() // idempotent
	if mapped(addr) {
		t.Fatal("context still mapped after its last reference was released")
	}
}

func TestContextBounds(t *testing.T) {
	c, err := NewContext(PageSize * 4)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	for _, tc := range []struct {
		off uint64
		n   int
	}{{PageSize * 4, 1}, {PageSize*4 - 1, 2}, {^uint64(0), 2}, {0, PageSize*4 + 1}} {
		if err := c.WriteAt(make([]byte, tc.n), tc.off); err == nil {
			t.Errorf("WriteAt(%d bytes at %#x) succeeded", tc.n, tc.off)
		}
		if err := c.ReadAt(make([]byte, tc.n), tc.off); err == nil {
			t.Errorf("ReadAt(%d bytes at %#x) succeeded", tc.n, tc.off)
		}
	}
	if err := c.WriteAt([]byte{1, 2}, PageSize*4-2); err != nil {
		t.Fatal(err)
	}
}

func TestContextTooSmall(t *testing.T) {
	img := mustImage(t)
	tests := []struct {
		name   string
		size   uint64
		stack  uint64
		inputs []Set
	}{
		{"size not page aligned", 1<<20 + 1, 0, nil},
		{"zero size", 0, 0, nil},
		{"larger than the maximum", MaxContextSize + PageSize, 0, nil},
		{"image ends above the stack guard", 0x11000 + MinStackSize, 0, nil},
		{"stack larger than the context", 1 << 20, 2 << 20, nil},
		{"inputs do not fit", 1 << 20, 0, []Set{{Ident: "big", Items: []Item{{Ident: "x", Data: make([]byte, 1<<20)}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewContext(tt.size)
			if err == nil {
				defer c.Release()
				_, err = c.Setup(img, tt.inputs, nil, SetupOptions{StackSize: tt.stack})
			}
			if !errors.Is(err, ErrContextTooSmall) {
				t.Fatalf("got %v, want ErrContextTooSmall", err)
			}
		})
	}
}

func TestContextSetupOnce(t *testing.T) {
	img := mustImage(t)
	c, err := NewContext(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	if _, err := c.Setup(img, nil, nil, SetupOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Setup(img, nil, nil, SetupOptions{}); err == nil {
		t.Fatal("second Setup succeeded")
	}
}

func TestContextOnCallerMemory(t *testing.T) {
	m := make([]byte, 1<<20)
	released := false
	c, err := NewContextOn(m, -1, func() error { released = true; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Setup(mustImage(t), sampleInputs, nil, SetupOptions{}); err != nil {
		t.Fatal(err)
	}
	outs, err := c.ReadOutputs()
	if err != nil {
		t.Fatal(err)
	}
	c.Release()
	if released {
		t.Fatal("released while outputs are held")
	}
	outs.Release()
	if !released {
		t.Fatal("release callback not run")
	}
}

func TestDefaultStackSize(t *testing.T) {
	for _, tc := range []struct{ size, want uint64 }{
		{64 << 10, MinStackSize},
		{1 << 20, 128 << 10},
		{8 << 20, 1 << 20},
		{1 << 30, 1 << 20},
	} {
		if got := DefaultStackSize(tc.size); got != tc.want {
			t.Errorf("DefaultStackSize(%#x) = %#x, want %#x", tc.size, got, tc.want)
		}
	}
}

// TestContextRejectsNullGuardOutputs: a native guest cannot address
// [0, MinAddr), so an output said to live there is forged.
func TestContextRejectsNullGuardOutputs(t *testing.T) {
	for _, field := range []string{"data", "ident"} {
		c, err := NewContext(4 << 20)
		if err != nil {
			t.Fatal(err)
		}
		l, err := c.Setup(mustImage(t), sampleInputs, names(sampleOutputs), SetupOptions{})
		if err != nil {
			t.Fatal(err)
		}
		bufs := guestExit(t, ABI64, c.Bytes(), l.SystemData, sampleOutputs, 0)
		off := uint64(16) // output_bufs[0].data
		if field == "ident" {
			off = 0
		}
		ABI64.put(c.Bytes(), bufs+off, 0x100)
		_, err = c.ReadOutputs()
		var oe *OutputError
		if !errors.As(err, &oe) || oe.Field != "output_bufs[0]."+field {
			t.Errorf("%s in the null guard: got %v", field, err)
		}
		c.Release()
	}
}
