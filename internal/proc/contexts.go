//go:build linux && amd64

package proc

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"tessera/loader"
)

// contexts takes the expensive parts of a context's life off the call's
// critical path. Creating one (memfd_create, ftruncate, sealing, mmap)
// happens ahead of time in a background goroutine. After a call, once its
// process is reaped and its outputs released, another goroutine scrubs the
// context: every page the memfd holds (found with SEEK_DATA/SEEK_HOLE, so
// whatever any process wrote, the control page included) is zeroed through
// the host's mapping, and the context goes back to the ready queue. That
// avoids munmap's TLB shootdowns and close's freeing, and the host's page
// faults when it fills the context next time. A context that holds more
// than maxScrub bytes is freed instead (munmap and close, still in the
// background), so the pool never pins much memory.
//
// A context handed to a call is thus zeroed and mapped by no process but
// the host: either never used, or scrubbed after the last process that
// mapped it is gone.
type contexts struct {
	depth int // contexts kept ready per size

	mu     sync.Mutex
	ready  map[uint64][]*loader.Context
	sizes  []uint64 // sizes in ready, most recently used last
	closed bool

	refill chan uint64          // sizes to top up; closed by close
	dead   chan *loader.Context // contexts to free; closed by close

	// For tests (see settle): refills and contexts to scrub asked for and
	// not done yet, and how many gets were served by a scrubbed context.
	pending  int
	settled  *sync.Cond // on mu: pending went to 0
	recycled map[*loader.Context]bool
	reused   uint64
}

// maxSizes bounds how many context sizes are kept ready at once.
const maxSizes = 4

// maxScrub is the most memory a used context may hold and still be
// scrubbed for reuse.
const maxScrub = 4 << 20

func newContexts(depth int) *contexts {
	p := &contexts{
		depth:  depth,
		ready:  map[uint64][]*loader.Context{},
		refill: make(chan uint64, 16),
		dead:   make(chan *loader.Context, 256),

		recycled: map[*loader.Context]bool{},
	}
	p.settled = sync.NewCond(&p.mu)
	go p.filler()
	go p.reaper()
	return p
}

// get returns a fresh context of size bytes whose release (by the call and
// by its outputs, whichever comes last) is asynchronous, and a function
// that poisons it: a poisoned context is freed when released, never
// scrubbed or handed out again (a process the host lost track of may map
// it).
func (p *contexts) get(size uint64) (*loader.Context, func(), error) {
	held, left := p.take(size)
	if held == nil {
		var err error
		if held, err = loader.NewContext(size); err != nil {
			return nil, nil, err
		}
	}
	if left == 0 {
		p.mu.Lock()
		if !p.closed {
			select {
			case p.refill <- size:
				p.pending++
			default: // the filler is busy; the next call asks again
			}
		}
		p.mu.Unlock()
	}
	// The call's context is a view of the pooled one; when its last
	// reference goes, the pooled one goes to the reaper.
	var poisoned atomic.Bool
	ctx, err := loader.NewContextOn(held.Bytes(), held.Fd(), func() error {
		if poisoned.Load() {
			return held.Release()
		}
		p.free(held)
		return nil
	})
	if err != nil {
		held.Release()
		return nil, nil, err
	}
	return ctx, func() { poisoned.Store(true) }, nil
}

// take pops a ready context of size, and says how many are left.
func (p *contexts) take(size uint64) (*loader.Context, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	q := p.ready[size]
	if len(q) == 0 {
		return nil, 0
	}
	c := q[len(q)-1]
	p.ready[size] = q[:len(q)-1]
	if p.recycled[c] {
		delete(p.recycled, c)
		p.reused++
	}
	return c, len(q) - 1
}

func (p *contexts) free(c *loader.Context) {
	p.mu.Lock()
	queued := false
	if !p.closed {
		select {
		case p.dead <- c:
			queued = true
			p.pending++
		default: // the reaper is behind: pay here rather than pile up
		}
	}
	p.mu.Unlock()
	if !queued {
		c.Release()
	}
}

func (p *contexts) filler() {
	for size := range p.refill {
		for {
			p.mu.Lock()
			n, closed := len(p.ready[size]), p.closed
			p.mu.Unlock()
			if closed || n >= p.depth {
				break
			}
			c, err := loader.NewContext(size)
			if err != nil {
				break // get creates one inline and reports the error
			}
			p.put(size, c, false)
		}
		p.done()
	}
}

// put adds a ready context (a scrubbed one if recycled), unless enough are
// ready; it forgets the least recently used size when there are too many.
func (p *contexts) put(size uint64, c *loader.Context, recycled bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.ready[size]) >= p.depth {
		c.Release()
		return
	}
	p.ready[size] = append(p.ready[size], c)
	if recycled {
		p.recycled[c] = true
	}
	for i, s := range p.sizes {
		if s == size {
			p.sizes = append(p.sizes[:i], p.sizes[i+1:]...)
			break
		}
	}
	p.sizes = append(p.sizes, size)
	if len(p.sizes) > maxSizes {
		old := p.sizes[0]
		p.sizes = p.sizes[1:]
		for _, c := range p.ready[old] {
			delete(p.recycled, c)
			c.Release() // rare: a fifth size in use
		}
		delete(p.ready, old)
	}
}

func (p *contexts) reaper() {
	for c := range p.dead {
		if scrub(c) {
			p.put(c.Size(), c, true)
		} else {
			c.Release()
		}
		p.done()
	}
}

// done ends a piece of background work (a refill, or a context to scrub).
func (p *contexts) done() {
	p.mu.Lock()
	if p.pending--; p.pending == 0 {
		p.settled.Broadcast()
	}
	p.mu.Unlock()
}

// settle waits until the background work asked for so far is done (every
// context released has been scrubbed and put back, or freed; every refill
// made), and returns how many gets were served by a scrubbed context.
// Tests use it to know which context the next call gets.
func (p *contexts) settle() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.pending > 0 {
		p.settled.Wait()
	}
	return p.reused
}

// scrub zeroes every page a used context's memfd holds, unless they add up
// to more than maxScrub bytes; it reports whether the context is clean.
func scrub(c *loader.Context) bool {
	fd, mem := c.Fd(), c.Bytes()
	type extent struct{ lo, hi int64 }
	var data []extent
	var total int64
	for off := int64(0); off < int64(len(mem)); {
		lo, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if err == unix.ENXIO {
			break // no data after off
		}
		if err != nil {
			return false
		}
		hi, err := unix.Seek(fd, lo, unix.SEEK_HOLE)
		if err != nil || hi <= lo || hi > int64(len(mem)) {
			return false
		}
		if total += hi - lo; total > maxScrub {
			return false
		}
		data = append(data, extent{lo, hi})
		off = hi
	}
	for _, e := range data {
		clear(mem[e.lo:e.hi])
	}
	return true
}

// close frees the ready contexts and stops both goroutines; contexts still
// in use are freed synchronously when released.
func (p *contexts) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	var all []*loader.Context
	for _, q := range p.ready {
		all = append(all, q...)
	}
	p.ready = map[uint64][]*loader.Context{}
	p.recycled = map[*loader.Context]bool{}
	close(p.refill)
	close(p.dead) // the reaper frees what was queued, then stops
	p.mu.Unlock()
	for _, c := range all {
		c.Release()
	}
}
