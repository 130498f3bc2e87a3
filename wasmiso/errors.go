package wasmiso

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"tessera/loader"
	"tessera/wasmiso/internal/instrument"
)

// Trap kinds. A *TrapError matches loader.ErrFault and exactly one of these
// (or none, for a trap wazero adds later) with errors.Is.
var (
	ErrUnreachable       = errors.New("unreachable executed")
	ErrOutOfBounds       = errors.New("out of bounds memory access")
	ErrStackOverflow     = errors.New("call stack exhausted")
	ErrDivideByZero      = errors.New("integer divide by zero")
	ErrIntegerOverflow   = errors.New("integer overflow")
	ErrInvalidConversion = errors.New("invalid conversion to integer")
	ErrTableAccess       = errors.New("invalid table access")
	ErrIndirectCallType  = errors.New("indirect call type mismatch")
)

// trapKinds maps wazero's trap messages (internal/wasmruntime) to ours.
var trapKinds = map[string]error{
	"unreachable":                   ErrUnreachable,
	"out of bounds memory access":   ErrOutOfBounds,
	"stack overflow":                ErrStackOverflow,
	"integer divide by zero":        ErrDivideByZero,
	"integer overflow":              ErrIntegerOverflow,
	"invalid conversion to integer": ErrInvalidConversion,
	"invalid table access":          ErrTableAccess,
	"indirect call type mismatch":   ErrIndirectCallType,
}

// ErrClosed is returned by calls on a closed Runtime.
var ErrClosed = errors.New("wasmiso: runtime closed")

// ErrImport is wrapped by Compile errors for imports wasmiso does not
// provide.
var ErrImport = errors.New("unsupported import")

// TrapError reports a function that trapped. It matches loader.ErrFault and
// the trap's kind (ErrOutOfBounds, ...).
type TrapError struct {
	Trap     string // wazero's description, e.g. "out of bounds memory access"
	Function string // the innermost frame: a name from the name section, $index, or "" if unknown
	// Offset is the trapping instruction's offset in the code section of
	// the module as compiled (not as instrumented). wazero only knows it
	// from DWARF, so only with Config.KeepDWARF and a module that has
	// DWARF; HasOffset says whether it is known.
	Offset    uint64
	HasOffset bool
	Stack     string // the whole stack trace, innermost frame first
	kind      error
}

func (e *TrapError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "wasmiso: function faulted: %s", e.Trap)
	if e.Function != "" {
		fmt.Fprintf(&b, " in %s", e.Function)
	}
	if e.HasOffset {
		fmt.Fprintf(&b, " at code offset %#x", e.Offset)
	}
	return b.String()
}

// Unwrap makes errors.Is match loader.ErrFault and the trap kind.
func (e *TrapError) Unwrap() []error {
	if e.kind == nil {
		return []error{loader.ErrFault}
	}
	return []error{loader.ErrFault, e.kind}
}

// MemoryLimitError reports a call that failed after the memory limit
// refused it memory: a memory.grow returned -1 (the guest's malloc failed)
// or an output file could not grow. Err is how the call then ended: a
// *TrapError or a *loader.ExitError (which comes with the outputs).
type MemoryLimitError struct {
	Limit uint64 // bytes
	Err   error
}

func (e *MemoryLimitError) Error() string {
	return fmt.Sprintf("wasmiso: %v (%d bytes), then: %v", loader.ErrMemoryLimit, e.Limit, e.Err)
}

// Unwrap makes errors.Is match loader.ErrMemoryLimit and whatever Err
// matches.
func (e *MemoryLimitError) Unwrap() []error { return []error{loader.ErrMemoryLimit, e.Err} }

// frameRE matches a frame line of wazero's stack trace: the module name
// (empty for wasmiso's anonymous instances, a host module's otherwise), a
// dot, the function name, then its signature. The name may itself contain
// dots and parentheses (Go and C++ symbols), so the signature is matched
// from the end.
var frameRE = regexp.MustCompile(`^([^.]*)\.(.+)\(([a-z0-9,]*)\)( [a-z0-9]+| \([a-z0-9,]*\))?$`)

// sourceRE matches a source line that wazero adds below a frame when the
// module has DWARF: the instruction's code offset, then file:line.
var sourceRE = regexp.MustCompile(`^0x([0-9a-f]+):`)

// newTrapError turns a wazero error from a call into a *TrapError. trap is
// the wrapped wasmruntime error's text.
func newTrapError(err error, trap string, im *instrument.Module) *TrapError {
	e := &TrapError{Trap: trap, kind: trapKinds[trap]}
	msg := err.Error()
	_, stack, ok := strings.Cut(msg, "wasm stack trace:\n")
	if !ok {
		return e
	}
	// The trace holds what the module chose: function names (escaped
	// already by the rewrite) and, from DWARF, source file names.
	lines := strings.Split(stack, "\n")
	for i, l := range lines {
		tabs := len(l) - len(strings.TrimLeft(l, "\t"))
		lines[i] = l[:tabs] + instrument.Printable(l[tabs:])
	}
	e.Stack = strings.Join(lines, "\n")
	for i, l := range lines {
		l = strings.TrimPrefix(l, "\t")
		if strings.HasPrefix(l, "\t") { // a source line of an earlier frame
			continue
		}
		name := l
		if m := frameRE.FindStringSubmatch(l); m != nil {
			if m[1] != "" {
				continue // a host function: report the guest's frame
			}
			name = m[2]
		}
		if im != nil && name == im.TickName() {
			continue // the instrumentation's own function: report its caller
		}
		e.Function = name
		// The frame's own source lines follow it, one more tab in.
		for _, s := range lines[i+1:] {
			s, more := strings.CutPrefix(s, "\t\t")
			if !more {
				break
			}
			if m := sourceRE.FindStringSubmatch(s); m != nil {
				if at, err := strconv.ParseUint(m[1], 16, 64); err == nil {
					if im == nil { // not instrumented: the offset is the module's own
						e.Offset, e.HasOffset = at, true
					} else {
						e.Offset, e.HasOffset = im.OriginalOffset(at)
					}
				}
				break
			}
		}
		break
	}
	return e
}
