package proc

import (
	"sync"

	"tessera/loader"
)

// contexts takes the two expensive ends of a context's life off the call's
// critical path: memfd_create, ftruncate, sealing and mmap happen ahead of
// time in a background goroutine, and munmap and close (which frees the
// touched pages and shoots down TLB entries) happen after the call in
// another. A pooled context is as fresh as a new one: created zeroed,
// never mapped by any process, never handed to a call before.
type contexts struct {
	depth int // contexts kept ready per size

	mu     sync.Mutex
	ready  map[uint64][]*loader.Context
	sizes  []uint64 // sizes in ready, most recently used last
	closed bool

	refill chan uint64          // sizes to top up; closed by close
	dead   chan *loader.Context // contexts to free; closed by close
}

// maxSizes bounds how many context sizes are kept ready at once.
const maxSizes = 4

func newContexts(depth int) *contexts {
	p := &contexts{
		depth:  depth,
		ready:  map[uint64][]*loader.Context{},
		refill: make(chan uint64, 16),
		dead:   make(chan *loader.Context, 256),
	}
	go p.filler()
	go p.reaper()
	return p
}

// get returns a fresh context of size bytes whose release (by the call and
// by its outputs, whichever comes last) is asynchronous.
func (p *contexts) get(size uint64) (*loader.Context, error) {
	held := p.take(size)
	if held == nil {
		var err error
		if held, err = loader.NewContext(size); err != nil {
			return nil, err
		}
	}
	p.mu.Lock()
	if !p.closed {
		select {
		case p.refill <- size:
		default: // the filler is busy; the next call asks again
		}
	}
	p.mu.Unlock()
	// The call's context is a view of the pooled one; when its last
	// reference goes, the pooled one goes to the reaper.
	ctx, err := loader.NewContextOn(held.Bytes(), held.Fd(), func() error {
		p.free(held)
		return nil
	})
	if err != nil {
		held.Release()
		return nil, err
	}
	return ctx, nil
}

func (p *contexts) take(size uint64) *loader.Context {
	p.mu.Lock()
	defer p.mu.Unlock()
	q := p.ready[size]
	if len(q) == 0 {
		return nil
	}
	c := q[len(q)-1]
	p.ready[size] = q[:len(q)-1]
	return c
}

func (p *contexts) free(c *loader.Context) {
	p.mu.Lock()
	queued := false
	if !p.closed {
		select {
		case p.dead <- c:
			queued = true
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
			p.put(size, c)
		}
	}
}

// put adds a ready context, forgetting the least recently used size when
// there are too many.
func (p *contexts) put(size uint64, c *loader.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Release()
		return
	}
	p.ready[size] = append(p.ready[size], c)
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
			c.Release() // rare: a fifth size in use
		}
		delete(p.ready, old)
	}
}

func (p *contexts) reaper() {
	for c := range p.dead {
		c.Release()
	}
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
	close(p.refill)
	close(p.dead) // the reaper frees what was queued, then stops
	p.mu.Unlock()
	for _, c := range all {
		c.Release()
	}
}
