package loader

import (
	"errors"
	"fmt"
)

// Sentinel errors for binaries the loader rejects. Every error returned by
// Parse wraps exactly one of them, so callers can match the kind with
// errors.Is and still print a message that names the offending field.
var (
	ErrNotELF          = errors.New("not an ELF file")
	ErrClass           = errors.New("not a 64-bit ELF file")
	ErrEndian          = errors.New("not a little-endian ELF file")
	ErrMachine         = errors.New("not an x86-64 ELF file")
	ErrType            = errors.New("not an executable (ET_EXEC or static ET_DYN)")
	ErrMalformed       = errors.New("malformed ELF file")
	ErrDynamic         = errors.New("dynamically linked or needs run-time relocation")
	ErrNoSegments      = errors.New("no loadable segments")
	ErrSegmentOverlap  = errors.New("overlapping segments")
	ErrSegmentRange    = errors.New("segment out of range")
	ErrSegmentLow      = errors.New("segment below the lowest guest address")
	ErrEntry           = errors.New("entry point outside an executable segment")
	ErrNoSystemData    = errors.New("missing or misplaced " + SystemDataSymbol)
	ErrOverflow        = errors.New("size or address overflows")
	ErrContextTooSmall = errors.New("context too small")
)

// Errors for guest-written output structures. The guest controls every byte
// it hands back, so any inconsistency is reported, never trusted.
var (
	ErrOutputDescriptor = errors.New("invalid output descriptor")
)

// Errors for the outcome of running a function; shared by every backend so a
// caller can handle failures the same way whatever isolated the function.
var (
	// ErrExitStatus: the function exited with a nonzero status.
	ErrExitStatus = errors.New("function exited with nonzero status")
	// ErrTimeout: the function ran past its deadline and was stopped.
	ErrTimeout = errors.New("function exceeded its deadline")
	// ErrSyscall: the function tried a system call other than the exit.
	ErrSyscall = errors.New("blocked system call")
	// ErrFault: the function faulted (bad memory access, illegal or
	// privileged instruction, arithmetic error, stack overflow).
	ErrFault = errors.New("function faulted")
	// ErrMemoryLimit: the function asked for more memory than its context.
	ErrMemoryLimit = errors.New("function exceeded its memory limit")
	// ErrCanceled: the caller canceled the call before the function finished.
	ErrCanceled = errors.New("call canceled")
)

// FormatError describes why a binary was rejected. Kind is one of the
// sentinel errors above; Detail says what exactly was wrong.
type FormatError struct {
	Kind   error
	Detail string
}

func (e *FormatError) Error() string {
	if e.Detail == "" {
		return "loader: " + e.Kind.Error()
	}
	return "loader: " + e.Kind.Error() + ": " + e.Detail
}

func (e *FormatError) Unwrap() error { return e.Kind }

func formatErr(kind error, format string, args ...any) error {
	return &FormatError{Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

// OutputError describes a guest-written output structure the host refused to
// read. Field names the structure and field (for example
// "output_bufs[3].data_len"); Value is what the guest wrote there.
type OutputError struct {
	Field  string
	Value  uint64
	Reason string
}

func (e *OutputError) Error() string {
	return fmt.Sprintf("loader: %v: %s = %#x: %s", ErrOutputDescriptor, e.Field, e.Value, e.Reason)
}

func (e *OutputError) Unwrap() error { return ErrOutputDescriptor }

// ExitError reports a function that ran to its exit with a nonzero status.
// Outputs written before the exit are still returned alongside it.
type ExitError struct {
	Status int
}

func (e *ExitError) Error() string { return fmt.Sprintf("function exited with status %d", e.Status) }

func (e *ExitError) Unwrap() error { return ErrExitStatus }
