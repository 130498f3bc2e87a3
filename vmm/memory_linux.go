//go:build linux && amd64

package vmm

import (
	"math/bits"
	"unsafe"

	"golang.org/x/sys/unix"

	"tessera/internal/kvm"
	"tessera/loader"
)

// relearnEvery is how many calls the set of write-enabled ("sticky") pages
// lives before every page is write-protected again, so the set follows the
// functions being run and memory they no longer use goes back to the OS.
const relearnEvery = 1024

// guestMemory is slot 0: the context memory every call runs in. It is
// anonymous memory under KVM dirty logging, and stays mapped into the VM
// for the engine's lifetime, so the shadow page tables stay warm.
//
// Isolation between calls rests on one invariant: after every call, every
// page that may hold data of that call is zero again. Those pages are
//   - the pages the guest wrote: KVM's dirty log, which with manual
//     protection keeps a page's bit set (and the page writable) until we
//     clear it, so a page once written is zeroed after every call until
//     its bit is cleared and it is write-protected again;
//   - the pages the host wrote: the input area, recorded per call;
//   - the image, which the host wrote: it stays resident between calls of
//     the same image (its read-only pages cannot change), and any of its
//     pages the guest dirtied is zeroed like any other and copied again
//     before the next call.
//
// Pages written on every call (stack top, data, heap start) thus stay
// write-enabled and cost a memset instead of a write-protection fault
// (about 2.5 µs each on PVM hosts) per call.
type guestMemory struct {
	vm     *kvm.VM
	mem    []byte
	bitmap []uint64
	warm   int // most pages kept resident between calls

	resident *loader.Image // the image laid out in mem
	damaged  []uint64      // image pages zeroed since it was laid out
	hostLo   uint64        // input area the host wrote this call
	hostHi   uint64
	calls    int // since the dirty set was last cleared
}

func newGuestMemory(vm *kvm.VM, size uint64, warm int) (*guestMemory, error) {
	mem, err := anonMap(int(size))
	if err != nil {
		return nil, err
	}
	// 4 KiB pages: a huge page costs ~90 µs to fault in and splits under
	// dirty logging anyway.
	_ = unix.Madvise(mem, unix.MADV_NOHUGEPAGE)
	g := &guestMemory{vm: vm, mem: mem, bitmap: make([]uint64, size/pageSize/64), warm: warm}
	if err := vm.SetMemoryRegion(slotData, kvm.MemLogDirtyPages, 0, mem); err != nil {
		unix.Munmap(mem)
		return nil, err
	}
	return g, nil
}

func (g *guestMemory) free() { unix.Munmap(g.mem) }

// place lays img out in memory, copying only what the last call disturbed
// when img is already resident.
func (g *guestMemory) place(img *loader.Image) {
	if g.resident != nil && g.resident.Digest == img.Digest {
		for _, p := range g.damaged {
			for _, s := range img.Segments {
				lo, hi := max(p, s.Addr), min(p+pageSize, s.Addr+uint64(len(s.Data)))
				if lo < hi {
					copy(g.mem[lo:hi], s.Data[lo-s.Addr:hi-s.Addr])
				}
			}
		}
		g.damaged = g.damaged[:0]
		return
	}
	if g.resident != nil {
		g.dropImage()
	}
	for _, s := range img.Segments {
		copy(g.mem[s.Addr:], s.Data)
	}
	g.resident, g.damaged = img, g.damaged[:0]
}

// dropImage removes the resident image: the pages the host copied it into
// are zeroed in place (they are resident anyway and the next image likely
// reuses them); the rest of each segment, its bss, goes back to the OS,
// since it may hold the system data the host wrote there, and zeroing a
// large bss page by page would commit all of it.
func (g *guestMemory) dropImage() {
	for _, s := range g.resident.Segments {
		lo := s.Addr &^ (pageSize - 1)
		file := min(alignPage(s.Addr+uint64(len(s.Data))), alignPage(s.End()))
		clear(g.mem[lo:file])
		if end := alignPage(s.End()); end > file {
			unix.Madvise(g.mem[file:end], unix.MADV_DONTNEED)
		}
	}
	g.resident, g.damaged = nil, g.damaged[:0]
}

func alignPage(v uint64) uint64 { return (v + pageSize - 1) &^ (pageSize - 1) }

// hostWrote records the input area the host wrote for this call.
func (g *guestMemory) hostWrote(lo, hi uint64) { g.hostLo, g.hostHi = lo, hi }

// reset zeroes every page the call may have left data in. Small sets are
// zeroed in place and stay resident; large ones go back to the OS.
func (g *guestMemory) reset() error {
	if err := g.vm.GetDirtyLog(slotData, g.bitmap); err != nil {
		// Without the dirty log we cannot tell what the guest wrote.
		// Drop everything: correct, just slow.
		unix.Madvise(g.mem, unix.MADV_DONTNEED)
		g.resident, g.damaged = nil, g.damaged[:0]
		return err
	}
	n := 0
	for _, w := range g.bitmap {
		n += bits.OnesCount64(w)
	}
	hostPages := int((g.hostHi - g.hostLo) / pageSize)
	release := n+hostPages > g.warm || g.calls+1 >= relearnEvery

	var img *loader.Image = g.resident
	for i, w := range g.bitmap {
		for w != 0 {
			b := bits.TrailingZeros64(w)
			// Extend to the run of consecutive dirty pages.
			run := bits.TrailingZeros64(^(w >> b))
			lo := (uint64(i)*64 + uint64(b)) * pageSize
			hi := lo + uint64(run)*pageSize
			g.zero(lo, hi, release)
			if img != nil && lo < img.End && hi > img.Low {
				for p := max(lo, img.Low); p < min(hi, img.End); p += pageSize {
					g.damaged = append(g.damaged, p)
				}
			}
			if b+run >= 64 {
				w = 0
			} else {
				w &^= (1<<run - 1) << b
			}
		}
	}
	if g.hostHi > g.hostLo {
		g.zero(g.hostLo, g.hostHi, release)
	}
	g.hostLo, g.hostHi = 0, 0
	if release && img != nil {
		// The dirty pages just went back to the OS; the image's clean pages
		// (its text and read-only data, which no call writes) would outlive
		// it in memory the next function may read. Hand the whole image
		// back and lay it out anew next time.
		unix.Madvise(g.mem[img.Low:img.End], unix.MADV_DONTNEED)
		g.resident, g.damaged = nil, g.damaged[:0]
	}

	g.calls++
	if release {
		g.calls = 0
		if n > 0 {
			return g.vm.ClearDirtyLog(slotData, 0, uint32(len(g.bitmap)*64), g.bitmap)
		}
	}
	return nil
}

// zero clears [lo, hi): in place, or by handing the pages back to the OS
// (anonymous memory refaults as zero; KVM drops its mappings first).
func (g *guestMemory) zero(lo, hi uint64, release bool) {
	if release {
		unix.Madvise(g.mem[lo:hi], unix.MADV_DONTNEED)
		return
	}
	clear(g.mem[lo:hi])
}

// residentPages counts the pages of guest memory backed by host memory.
func (g *guestMemory) residentPages() int {
	vec := make([]byte, len(g.mem)/pageSize)
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&g.mem[0])), uintptr(len(g.mem)), uintptr(unsafe.Pointer(&vec[0])))
	if errno != 0 {
		return -1
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}

// trim returns every page of guest memory to the OS and write-protects all
// of it again; the next call starts cold.
func (g *guestMemory) trim() error {
	if err := g.vm.GetDirtyLog(slotData, g.bitmap); err != nil {
		return err
	}
	unix.Madvise(g.mem, unix.MADV_DONTNEED)
	g.resident, g.damaged, g.calls = nil, g.damaged[:0], 0
	return g.vm.ClearDirtyLog(slotData, 0, uint32(len(g.bitmap)*64), g.bitmap)
}
