//go:build linux && amd64

package proc

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"tessera/loader"
)

func TestScrub(t *testing.T) {
	c, err := loader.NewContext(8 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	mem := c.Bytes()
	rng := rand.New(rand.NewPCG(3, 4))
	// Dirty scattered bytes, page 0 (the control page) and the last byte.
	dirty := []int{0, 100, 4095, 4096, len(mem) - 1}
	for range 200 {
		dirty = append(dirty, rng.IntN(len(mem)))
	}
	for _, i := range dirty {
		mem[i] = byte(rng.IntN(255) + 1)
	}
	if !scrub(c) {
		t.Fatal("scrub refused a lightly used context")
	}
	if !bytes.Equal(mem, make([]byte, len(mem))) {
		t.Fatal("memory not zero after scrub")
	}
	// More than maxScrub in use: not worth keeping.
	for i := 0; i < maxScrub+2*loader.PageSize; i += loader.PageSize {
		mem[i] = 1
	}
	if scrub(c) {
		t.Error("scrub kept a context holding more than maxScrub")
	}
}

// A context that comes back from a call is handed out again only zeroed.
func TestContextsRecycle(t *testing.T) {
	p := newContexts(2)
	defer p.close()
	const size = 2 << 20
	// A context is known by its memfd's inode: a new mapping may well land
	// where the last one was unmapped, a new memfd never has an old inode.
	seen := map[uint64]bool{}
	for round := range 20 {
		c, _, err := p.get(size)
		if err != nil {
			t.Fatal(err)
		}
		mem := c.Bytes()
		if !bytes.Equal(mem, make([]byte, size)) {
			t.Fatalf("round %d: context not zero", round)
		}
		var st unix.Stat_t
		if err := unix.Fstat(c.Fd(), &st); err != nil {
			t.Fatal(err)
		}
		seen[st.Ino] = true
		// Write everywhere on even rounds (too much to scrub), a little on
		// odd ones.
		step := loader.PageSize
		if round%2 == 1 {
			step = 64 * loader.PageSize
		}
		for i := 0; i < size; i += step {
			mem[i] = 0xa5
		}
		c.Release()
		if round%2 == 1 { // wait until the reaper has put it back
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
				p.mu.Lock()
				n := len(p.ready[size])
				p.mu.Unlock()
				if n > 0 || time.Now().After(deadline) {
					break
				}
			}
		}
	}
	if len(seen) >= 20 {
		t.Errorf("no context was reused in 20 rounds (%d distinct)", len(seen))
	}
}
