package loader

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// Stack sizing: DefaultStackSize(size) = size/8 clamped to
// [MinStackSize, MaxDefaultStackSize], rounded to pages.
const (
	MinStackSize        = 64 << 10
	MaxDefaultStackSize = 1 << 20
	// StackTopReserve is left free above the initial stack pointer, as
	// Dandelion's SDK expects (rsp = top of context - 32).
	StackTopReserve = 32
)

// DefaultStackSize returns the stack size used for a context of the given
// size when the caller does not choose one.
func DefaultStackSize(size uint64) uint64 {
	s := min(max(size/8, MinStackSize), MaxDefaultStackSize)
	return s &^ (PageSize - 1)
}

// Layout is where things are in a context after Setup. Every backend maps
// the same layout: guest address = context offset.
//
//	0 ............. MinAddr           unmapped (null guard)
//	ImageLow ...... ImageEnd          segments of the image
//	ImageEnd ...... HeapBegin         input data, descriptors, identifiers
//	HeapBegin ..... HeapEnd           heap (sbrk)
//	Guard ......... Guard+PageSize    unmapped (stack guard)
//	StackLow ...... Size              stack; StackTop = Size-32
type Layout struct {
	Size               uint64
	ImageLow, ImageEnd uint64
	HeapBegin, HeapEnd uint64
	Guard              uint64
	StackLow           uint64
	StackTop           uint64 // initial stack pointer
	Entry              uint64
	SystemData         uint64
}

// Context is the memory of one call: a zeroed, bounded region of Size bytes
// that the sandbox maps at guest address 0, backed by a memfd so that other
// processes and VMs can map the same pages.
//
// A Context is reference counted. NewContext returns it with one reference;
// Outputs read from it hold another. The memory goes back to the OS when the
// last reference is released.
type Context struct {
	mem     []byte // guest address space [0, size)
	fd      int    // memfd, or -1 for a view over memory owned by someone else
	free    func() error
	refs    atomic.Int32
	layout  *Layout
	outputs []string
	abi     ABI
}

// ErrReleased is returned by operations on a context whose last reference
// has been released.
var ErrReleased = errors.New("context released")

// NewContext creates a zeroed context of size bytes (a multiple of
// PageSize, at most MaxContextSize).
func NewContext(size uint64) (*Context, error) {
	if err := checkSize(size); err != nil {
		return nil, err
	}
	m, fd, free, err := mapMemfd(size)
	if err != nil {
		return nil, fmt.Errorf("loader: creating a %d-byte context: %w", size, err)
	}
	c := &Context{mem: m, fd: fd, free: free, abi: ABI64}
	c.refs.Store(1)
	return c, nil
}

// NewContextOn makes a context over memory the caller owns (for example a
// VM's guest memory) and has zeroed. release, if not nil, runs when the last
// reference is dropped. fd is the memfd behind m, or -1.
func NewContextOn(m []byte, fd int, release func() error) (*Context, error) {
	if err := checkSize(uint64(len(m))); err != nil {
		return nil, err
	}
	c := &Context{mem: m, fd: fd, free: release, abi: ABI64}
	c.refs.Store(1)
	return c, nil
}

func checkSize(size uint64) error {
	if size == 0 || size%PageSize != 0 || size > MaxContextSize {
		return formatErr(ErrContextTooSmall, "size %#x must be a nonzero multiple of %d up to %#x", size, PageSize, uint64(MaxContextSize))
	}
	return nil
}

// Size returns the context's size in bytes.
func (c *Context) Size() uint64 { return uint64(len(c.mem)) }

// Fd returns the memfd backing the context (-1 if none). Sandboxes map it at
// guest address 0; it stays owned by the context.
func (c *Context) Fd() int { return c.fd }

// Bytes returns the context's memory for backends that hand it to hardware
// or another process. Everything read from it that the guest wrote must go
// through bounds-checked accessors such as ReadOutputs.
func (c *Context) Bytes() []byte { return c.mem }

// Layout returns the layout chosen by Setup, or nil before Setup.
func (c *Context) Layout() *Layout { return c.layout }

// WriteAt copies p to guest address off.
func (c *Context) WriteAt(p []byte, off uint64) error {
	b, ok := mem(c.mem).span(off, uint64(len(p)))
	if !ok {
		return fmt.Errorf("loader: write of %d bytes at %#x outside the %#x-byte context", len(p), off, len(c.mem))
	}
	copy(b, p)
	return nil
}

// ReadAt copies len(p) bytes from guest address off into p.
func (c *Context) ReadAt(p []byte, off uint64) error {
	b, ok := mem(c.mem).span(off, uint64(len(p)))
	if !ok {
		return fmt.Errorf("loader: read of %d bytes at %#x outside the %#x-byte context", len(p), off, len(c.mem))
	}
	copy(p, b)
	return nil
}

// SetupOptions tunes Setup. The zero value picks defaults.
type SetupOptions struct {
	StackSize uint64 // 0 means DefaultStackSize(context size)
	// ImageLoaded says the caller has already placed the image's segments
	// in the context (a VMM keeping an image resident between calls), so
	// Setup only places inputs and writes the system data.
	ImageLoaded bool
}

// Setup loads img into the context, places the input sets and their
// descriptors after the image, declares the output sets, and writes the
// system data. It must be called once, on a zeroed context.
func (c *Context) Setup(img *Image, inputs []Set, outputs []string, opt SetupOptions) (*Layout, error) {
	if c.layout != nil {
		return nil, errors.New("loader: context already set up")
	}
	if c.refs.Load() <= 0 {
		return nil, ErrReleased
	}
	l, err := PlanLayout(img, c.Size(), opt)
	if err != nil {
		return nil, err
	}
	if !opt.ImageLoaded {
		for _, s := range img.Segments {
			copy(c.mem[s.Addr:s.End()], s.Data)
		}
	}
	b := &bump{next: l.ImageEnd, limit: l.HeapEnd}
	if err := c.abi.placeInputs(c.mem, b, img.SystemData, inputs, outputs); err != nil {
		return nil, err
	}
	l.HeapBegin = alignUp(b.next, PageSize)
	if l.HeapBegin > l.HeapEnd {
		l.HeapBegin = l.HeapEnd
	}
	c.abi.setHeap(c.mem, img.SystemData, l.HeapBegin, l.HeapEnd)
	c.layout = l
	c.outputs = append([]string(nil), outputs...)
	return l, nil
}

// PlanLayout computes the layout of img in a context of the given size
// without touching memory: the stack at the top with a guard page below
// it, the image at its link address, and the heap limit. HeapBegin is left
// at ImageEnd; Setup moves it past the inputs.
func PlanLayout(img *Image, size uint64, opt SetupOptions) (*Layout, error) {
	if err := checkSize(size); err != nil {
		return nil, err
	}
	stack := opt.StackSize
	if stack == 0 {
		stack = DefaultStackSize(size)
	}
	stack = alignUp(stack, PageSize)
	if stack < PageSize || stack > size {
		return nil, formatErr(ErrContextTooSmall, "stack of %#x bytes in a %#x-byte context", stack, size)
	}
	l := &Layout{
		Size:       size,
		ImageLow:   img.Low,
		ImageEnd:   img.End,
		StackLow:   size - stack,
		StackTop:   size - StackTopReserve,
		Entry:      img.Entry,
		SystemData: img.SystemData,
	}
	if l.StackLow < PageSize || l.StackLow-PageSize < img.End {
		return nil, formatErr(ErrContextTooSmall, "image ends at %#x, but the stack guard of a %#x-byte context with a %#x-byte stack starts at %#x", img.End, size, stack, l.StackLow-min(l.StackLow, PageSize))
	}
	l.Guard = l.StackLow - PageSize
	l.HeapEnd = l.Guard
	l.HeapBegin = img.End
	return l, nil
}

// ExitCode returns the exit_code field of the system data.
func (c *Context) ExitCode() (int32, error) {
	if c.layout == nil {
		return 0, errors.New("loader: context not set up")
	}
	v, _ := c.abi.ExitCode(c.mem, c.layout.SystemData)
	return v, nil
}

// Outputs are the output sets of a call. Item data may point into the
// context the call ran in; Release lets that memory go.
type Outputs struct {
	Sets    []Set
	release func()
}

// NewOutputs wraps sets that do not reference any context (for example
// data copied out of a VM's memory).
func NewOutputs(sets []Set) *Outputs { return &Outputs{Sets: sets} }

// Release drops the outputs' hold on their context. Item data must not be
// used afterwards. Release is idempotent.
func (o *Outputs) Release() {
	if o != nil && o.release != nil {
		o.release()
		o.release = nil
	}
}

// Set returns the output set with the given identifier, or nil.
func (o *Outputs) Set(ident string) *Set {
	for i := range o.Sets {
		if o.Sets[i].Ident == ident {
			return &o.Sets[i]
		}
	}
	return nil
}

// ReadOutputs reads and validates the output descriptors the guest wrote at
// exit. The returned Outputs reference the context's memory and hold a
// reference to it until released.
func (c *Context) ReadOutputs() (*Outputs, error) {
	if c.layout == nil {
		return nil, errors.New("loader: context not set up")
	}
	sets, err := c.abi.readOutputs(c.mem, c.layout.SystemData, c.outputs, MinAddr)
	if err != nil {
		return nil, err
	}
	c.Retain()
	var once atomic.Bool
	return &Outputs{Sets: sets, release: func() {
		if once.CompareAndSwap(false, true) {
			c.Release()
		}
	}}, nil
}

// Retain adds a reference.
func (c *Context) Retain() { c.refs.Add(1) }

// Release drops a reference; the last one returns the memory to the OS.
func (c *Context) Release() error {
	switch n := c.refs.Add(-1); {
	case n > 0:
		return nil
	case n < 0:
		panic("loader: context released more often than retained")
	}
	free := c.free
	c.mem, c.free = nil, nil
	if free != nil {
		return free()
	}
	return nil
}
