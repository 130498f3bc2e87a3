//go:build linux && amd64

package kvm

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ioctl request numbers: _IOC(dir, 0xAE, nr, size).
const (
	iocNone  = 0
	iocWrite = 1
	iocRead  = 2
)

func ioc(dir, nr, size uintptr) uintptr { return dir<<30 | size<<16 | 0xAE<<8 | nr }

var (
	ioGetAPIVersion     = ioc(iocNone, 0x00, 0)
	ioCreateVM          = ioc(iocNone, 0x01, 0)
	ioCheckExtension    = ioc(iocNone, 0x03, 0)
	ioGetVcpuMmapSize   = ioc(iocNone, 0x04, 0)
	ioGetSupportedCPUID = ioc(iocRead|iocWrite, 0x05, 8)
	ioCreateVCPU        = ioc(iocNone, 0x41, 0)
	ioGetDirtyLog       = ioc(iocWrite, 0x42, 16)
	ioSetUserMemRegion  = ioc(iocWrite, 0x46, unsafe.Sizeof(MemoryRegion{}))
	ioRun               = ioc(iocNone, 0x80, 0)
	ioSetRegs           = ioc(iocWrite, 0x82, unsafe.Sizeof(Regs{}))
	ioSetSregs          = ioc(iocWrite, 0x84, unsafe.Sizeof(Sregs{}))
	ioSetMSRs           = ioc(iocWrite, 0x89, 8)
	ioSetCPUID2         = ioc(iocWrite, 0x90, 8)
	ioSetVcpuEvents     = ioc(iocWrite, 0xa0, unsafe.Sizeof(VcpuEvents{}))
	ioEnableCap         = ioc(iocWrite, 0xa3, 104)
	ioSetXCRs           = ioc(iocWrite, 0xa7, unsafe.Sizeof(XCRs{}))
	ioClearDirtyLog     = ioc(iocRead|iocWrite, 0xc0, 24)
	ioSetTSSAddr        = ioc(iocNone, 0x47, 0)
)

// ErrUnavailable means /dev/kvm cannot be used here.
var ErrUnavailable = errors.New("kvm: /dev/kvm unavailable")

// ioctl issues an ioctl, retrying when a signal interrupts it. KVM_RUN does
// not go through here: its EINTR is meaningful.
func ioctl(fd int, req, arg uintptr) (uintptr, error) {
	for {
		r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, arg)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return r, errno
		}
		return r, nil
	}
}

// System is an open /dev/kvm.
type System struct{ fd int }

// Open opens /dev/kvm and checks the API version.
func Open() (*System, error) {
	fd, err := unix.Open("/dev/kvm", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, &os.PathError{Op: "open", Path: "/dev/kvm", Err: err})
	}
	v, err := ioctl(fd, ioGetAPIVersion, 0)
	if err != nil || v != 12 {
		unix.Close(fd)
		return nil, fmt.Errorf("%w: KVM API version %d (%v), want 12", ErrUnavailable, v, err)
	}
	return &System{fd: fd}, nil
}

// Close closes /dev/kvm; VMs created from it stay valid.
func (s *System) Close() error { return unix.Close(s.fd) }

// CheckExtension returns the value of a capability (0 if unsupported).
func (s *System) CheckExtension(c Cap) int {
	v, err := ioctl(s.fd, ioCheckExtension, uintptr(c))
	if err != nil {
		return 0
	}
	return int(v)
}

// VcpuMmapSize is the size of the kvm_run area of a vCPU.
func (s *System) VcpuMmapSize() (int, error) {
	v, err := ioctl(s.fd, ioGetVcpuMmapSize, 0)
	return int(v), err
}

// SupportedCPUID returns KVM_GET_SUPPORTED_CPUID.
func (s *System) SupportedCPUID() ([]CPUIDEntry, error) {
	for n := 128; n <= 4096; n *= 2 {
		buf := make([]byte, 8+n*int(unsafe.Sizeof(CPUIDEntry{})))
		*(*uint32)(unsafe.Pointer(&buf[0])) = uint32(n)
		_, err := ioctl(s.fd, ioGetSupportedCPUID, uintptr(unsafe.Pointer(&buf[0])))
		if err == unix.E2BIG {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("KVM_GET_SUPPORTED_CPUID: %w", err)
		}
		got := *(*uint32)(unsafe.Pointer(&buf[0]))
		entries := unsafe.Slice((*CPUIDEntry)(unsafe.Pointer(&buf[8])), got)
		return append([]CPUIDEntry(nil), entries...), nil
	}
	return nil, errors.New("KVM_GET_SUPPORTED_CPUID: too many entries")
}

// VM is a KVM virtual machine.
type VM struct{ fd int }

// CreateVM creates an empty VM.
func (s *System) CreateVM() (*VM, error) {
	fd, err := ioctl(s.fd, ioCreateVM, 0)
	if err != nil {
		return nil, fmt.Errorf("KVM_CREATE_VM: %w", err)
	}
	unix.CloseOnExec(int(fd))
	return &VM{fd: int(fd)}, nil
}

// Close destroys the VM once its vCPUs are closed too.
func (vm *VM) Close() error { return unix.Close(vm.fd) }

// SetMemoryRegion maps host memory mem at guest physical address gpa in the
// given slot. An empty mem deletes the slot.
func (vm *VM) SetMemoryRegion(slot, flags uint32, gpa uint64, mem []byte) error {
	r := MemoryRegion{Slot: slot, Flags: flags, GuestPhysAddr: gpa, MemorySize: uint64(len(mem))}
	if len(mem) > 0 {
		r.UserspaceAddr = uint64(uintptr(unsafe.Pointer(&mem[0])))
	}
	if _, err := ioctl(vm.fd, ioSetUserMemRegion, uintptr(unsafe.Pointer(&r))); err != nil {
		return fmt.Errorf("KVM_SET_USER_MEMORY_REGION slot %d at %#x (+%#x): %w", slot, gpa, len(mem), err)
	}
	return nil
}

// EnableCap enables a VM capability.
func (vm *VM) EnableCap(c Cap, args ...uint64) error {
	var ec struct {
		Cap, Flags uint32
		Args       [4]uint64
		_          [64]uint8
	}
	ec.Cap = uint32(c)
	copy(ec.Args[:], args)
	if _, err := ioctl(vm.fd, ioEnableCap, uintptr(unsafe.Pointer(&ec))); err != nil {
		return fmt.Errorf("KVM_ENABLE_CAP %d: %w", c, err)
	}
	return nil
}

// GetDirtyLog fills bitmap (one bit per page of the slot) with the pages
// written since they were last write-protected.
func (vm *VM) GetDirtyLog(slot uint32, bitmap []uint64) error {
	var d struct {
		Slot   uint32
		_      uint32
		Bitmap uintptr
	}
	d.Slot, d.Bitmap = slot, uintptr(unsafe.Pointer(&bitmap[0]))
	if _, err := ioctl(vm.fd, ioGetDirtyLog, uintptr(unsafe.Pointer(&d))); err != nil {
		return fmt.Errorf("KVM_GET_DIRTY_LOG slot %d: %w", slot, err)
	}
	return nil
}

// ClearDirtyLog clears the dirty bits set in bitmap (which covers numPages
// pages from firstPage, a multiple of 64) and write-protects those pages
// again. It needs CapManualDirtyLogProtect2 enabled on the VM.
func (vm *VM) ClearDirtyLog(slot uint32, firstPage uint64, numPages uint32, bitmap []uint64) error {
	var d struct {
		Slot      uint32
		NumPages  uint32
		FirstPage uint64
		Bitmap    uintptr
	}
	d.Slot, d.NumPages, d.FirstPage, d.Bitmap = slot, numPages, firstPage, uintptr(unsafe.Pointer(&bitmap[0]))
	if _, err := ioctl(vm.fd, ioClearDirtyLog, uintptr(unsafe.Pointer(&d))); err != nil {
		return fmt.Errorf("KVM_CLEAR_DIRTY_LOG slot %d: %w", slot, err)
	}
	return nil
}

// SetTSSAddr sets the address of the three pages KVM needs on Intel hosts
// without unrestricted guest support. It must not overlap guest memory.
func (vm *VM) SetTSSAddr(addr uint64) error {
	_, err := ioctl(vm.fd, ioSetTSSAddr, uintptr(addr))
	return err
}

// VCPU is a virtual CPU with its mapped kvm_run area.
type VCPU struct {
	fd  int
	mem []byte
	run *runArea
}

// CreateVCPU creates vCPU id and maps its kvm_run area.
func (vm *VM) CreateVCPU(id, mmapSize int) (*VCPU, error) {
	fd, err := ioctl(vm.fd, ioCreateVCPU, uintptr(id))
	if err != nil {
		return nil, fmt.Errorf("KVM_CREATE_VCPU: %w", err)
	}
	unix.CloseOnExec(int(fd))
	mem, err := unix.Mmap(int(fd), 0, mmapSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(int(fd))
		return nil, fmt.Errorf("mmap kvm_run: %w", err)
	}
	return &VCPU{fd: int(fd), mem: mem, run: (*runArea)(unsafe.Pointer(&mem[0]))}, nil
}

// Close unmaps the run area and closes the vCPU.
func (v *VCPU) Close() error {
	return errors.Join(unix.Munmap(v.mem), unix.Close(v.fd))
}

// Run enters the guest until the next exit. It returns unix.EINTR when a
// signal (or immediate_exit) interrupted it.
func (v *VCPU) Run() error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(v.fd), ioRun, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func (v *VCPU) ioctlPtr(req uintptr, p unsafe.Pointer, what string) error {
	if _, err := ioctl(v.fd, req, uintptr(p)); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// SetRegs, SetSregs, SetXCRs and SetEvents load vCPU state; the engine
// uses them only to recover after a failure (calls go through sync_regs).
func (v *VCPU) SetRegs(r *Regs) error {
	return v.ioctlPtr(ioSetRegs, unsafe.Pointer(r), "KVM_SET_REGS")
}
func (v *VCPU) SetSregs(s *Sregs) error {
	return v.ioctlPtr(ioSetSregs, unsafe.Pointer(s), "KVM_SET_SREGS")
}
func (v *VCPU) SetXCRs(x *XCRs) error {
	return v.ioctlPtr(ioSetXCRs, unsafe.Pointer(x), "KVM_SET_XCRS")
}
func (v *VCPU) SetEvents(e *VcpuEvents) error {
	return v.ioctlPtr(ioSetVcpuEvents, unsafe.Pointer(e), "KVM_SET_VCPU_EVENTS")
}

// SetCPUID sets the CPUID the guest sees.
func (v *VCPU) SetCPUID(entries []CPUIDEntry) error {
	buf := make([]byte, 8+len(entries)*int(unsafe.Sizeof(CPUIDEntry{})))
	*(*uint32)(unsafe.Pointer(&buf[0])) = uint32(len(entries))
	copy(unsafe.Slice((*CPUIDEntry)(unsafe.Pointer(&buf[8])), len(entries)), entries)
	return v.ioctlPtr(ioSetCPUID2, unsafe.Pointer(&buf[0]), "KVM_SET_CPUID2")
}

// SetMSRs writes model-specific registers.
func (v *VCPU) SetMSRs(msrs []MSR) error {
	buf := make([]byte, 8+len(msrs)*int(unsafe.Sizeof(MSR{})))
	*(*uint32)(unsafe.Pointer(&buf[0])) = uint32(len(msrs))
	copy(unsafe.Slice((*MSR)(unsafe.Pointer(&buf[8])), len(msrs)), msrs)
	n, err := ioctl(v.fd, ioSetMSRs, uintptr(unsafe.Pointer(&buf[0])))
	if err != nil {
		return fmt.Errorf("KVM_SET_MSRS: %w", err)
	}
	if int(n) != len(msrs) {
		return fmt.Errorf("KVM_SET_MSRS: only %d of %d set (MSR %#x refused)", n, len(msrs), msrs[n].Index)
	}
	return nil
}

// runArea is struct kvm_run, up to the sync_regs it carries.
type runArea struct {
	RequestInterruptWindow uint8
	ImmediateExit          uint8
	_                      [6]uint8
	ExitReason             uint32
	ReadyForInjection      uint8
	IFFlag                 uint8
	Flags                  uint16
	CR8                    uint64
	APICBase               uint64
	Exit                   [256]byte
	ValidRegs              uint64
	DirtyRegs              uint64
	Sync                   SyncRegs
}

// ExitReason of the last KVM_RUN.
func (v *VCPU) ExitReason() ExitReason { return ExitReason(v.run.ExitReason) }

// SetImmediateExit makes the next (or current, once kicked) KVM_RUN return
// EINTR without entering the guest. Safe from any thread.
func (v *VCPU) SetImmediateExit(on bool) {
	var b uint32
	if on {
		b = 1
	}
	// immediate_exit is a byte; store it with a 32-bit atomic over the
	// aligned word holding it so concurrent kicks are well defined. The
	// other bytes of that word are KVM inputs we never set.
	p := (*uint32)(unsafe.Pointer(&v.run.RequestInterruptWindow))
	atomic.StoreUint32(p, b<<8)
}

// IO returns the exit information of an ExitIO.
func (v *VCPU) IO() *IOExit { return (*IOExit)(unsafe.Pointer(&v.run.Exit[0])) }

// MMIO returns the exit information of an ExitMMIO.
func (v *VCPU) MMIO() *MMIOExit { return (*MMIOExit)(unsafe.Pointer(&v.run.Exit[0])) }

// FailEntry returns the exit information of an ExitFailEntry.
func (v *VCPU) FailEntry() *FailEntryExit { return (*FailEntryExit)(unsafe.Pointer(&v.run.Exit[0])) }

// Internal returns the exit information of an ExitInternalError.
func (v *VCPU) Internal() *InternalExit { return (*InternalExit)(unsafe.Pointer(&v.run.Exit[0])) }

// Sync returns the registers shared through kvm_run. After a KVM_RUN they
// hold the guest's state for every set in ValidRegs; before one, the sets
// marked with MarkDirty are loaded into the vCPU.
func (v *VCPU) Sync() *SyncRegs { return &v.run.Sync }

// SetValidRegs chooses which register sets KVM copies out on every exit.
func (v *VCPU) SetValidRegs(sets uint64) { v.run.ValidRegs = sets }

// MarkDirty makes the next KVM_RUN load these register sets from Sync.
func (v *VCPU) MarkDirty(sets uint64) { v.run.DirtyRegs = sets }
