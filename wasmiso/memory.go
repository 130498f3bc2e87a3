package wasmiso

import (
	"math/bits"
	"sync"

	"github.com/tetratelabs/wazero/experimental"
)

// linearMemory is the linear memory of one call's instance, handed to
// wazero through experimental.MemoryAllocator so that the limit is per call
// (wazero's own limit is per runtime).
//
// Buffers are recycled: a call's memory is zeroed once the call is over
// and kept for a later call, so a cold start costs one clear of the pages
// the last user had, not a fresh allocation for the garbage collector to
// find and sweep. A recycled buffer is all zeros, as a new one is.
//
// Only Run recycles the buffer (release), after the guest has returned:
// wazero calls Free when the instance closes, which may happen on another
// goroutine while the guest still runs (Runtime.Close, or wazero's own
// close on a done context), and a buffer pooled then would be written by
// the guest while another call uses it.
type linearMemory struct {
	buf     []byte
	limit   uint64 // bytes
	refused bool   // a memory.grow was refused for the limit
	taken   bool
}

// Allocate implements experimental.MemoryAllocator.
func (m *linearMemory) Allocate(capBytes, _ uint64) experimental.LinearMemory {
	if m.taken { // one memory per instance; never expected
		return &linearMemory{limit: m.limit}
	}
	m.taken = true
	m.buf = getBuffer(min(capBytes, m.limit))
	return m
}

// Reallocate implements experimental.LinearMemory: the initial size and
// every memory.grow. Beyond the limit it returns nil, which makes
// memory.grow return -1.
func (m *linearMemory) Reallocate(size uint64) []byte {
	if size > m.limit {
		m.refused = true
		return nil
	}
	if size > uint64(cap(m.buf)) {
		// A bigger buffer, at least doubling as append would.
		n := getBuffer(min(max(size, 2*uint64(cap(m.buf))), m.limit))
		copy(n[:len(m.buf)], m.buf)
		putBuffer(m.buf)
		m.buf = n
	}
	m.buf = m.buf[:size]
	return m.buf
}

// Free implements experimental.LinearMemory; wazero calls it when the
// instance closes. It does nothing: that may be on another goroutine while
// the guest still runs, so Run recycles the buffer itself (release) once
// the guest has returned.
func (*linearMemory) Free() {}

// release recycles the buffer; Run calls it once the guest can no longer
// run.
func (m *linearMemory) release() {
	putBuffer(m.buf)
	m.buf = nil
}

// Recycled buffers by capacity class: 64 KiB << i. Above maxPooledClass
// buffers are left to the garbage collector: rare, and not worth hoarding.
const (
	minClassShift  = 16
	maxPooledClass = 8 // 16 MiB
)

var pools [maxPooledClass + 1]sync.Pool

type pooled struct{ b []byte }

// class returns the capacity class that holds n bytes.
func class(n uint64) int {
	if n <= 1<<minClassShift {
		return 0
	}
	return bits.Len64(n-1) - minClassShift
}

// getBuffer returns a zeroed buffer of length 0 and capacity at least n.
func getBuffer(n uint64) []byte {
	c := class(n)
	if c <= maxPooledClass {
		if p, _ := pools[c].Get().(*pooled); p != nil {
			return p.b[:0]
		}
		n = 1 << (c + minClassShift)
	}
	return make([]byte, 0, n)
}

// putBuffer zeroes what was used of b and keeps it if its capacity is a
// class size.
func putBuffer(b []byte) {
	c := class(uint64(cap(b)))
	if b == nil || c > maxPooledClass || cap(b) != 1<<(c+minClassShift) {
		return
	}
	clear(b)
	pools[c].Put(&pooled{b[:0]})
}
