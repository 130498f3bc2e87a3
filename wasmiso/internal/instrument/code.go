package instrument

import (
	"fmt"
)

// loopSite is a loop header found in a function body.
type loopSite struct {
	at     int  // offset just after the loop's block type
	params bool // the loop takes parameters (a multi-value block type)
}

// funcRef is a function index in a body (the immediate of call or
// ref.func), which the rewrite renumbers.
type funcRef struct {
	at, end int // the immediate's bytes
	index   uint32
}

// bodyScan is what one pass over a function body finds.
type bodyScan struct {
	groupsAt  int    // offset of the first local group (after their count)
	groups    uint32 // number of local groups
	locals    uint64 // number of locals they declare
	exprStart int    // offset of the first instruction
	loops     []loopSite
	refs      []funcRef
	calls     bool // the body calls a function
}

// limits is what a body's immediates may refer to: the original module's
// globals, functions and types. Code that names an index past them is
// rejected, so a module cannot reach the budget global or the functions
// the rewrite adds.
type limits struct {
	globals, funcs uint32
	typeParams     []int // parameter count of each type
}

// scanBody decodes every instruction of a function body (locals and
// expression), so that nothing is inserted inside an immediate. It accepts
// the instruction set wazero enables by default (WebAssembly 2.0: MVP,
// sign extension, non-trapping conversions, bulk memory, reference types,
// multi-value, SIMD) and rejects anything else.
func scanBody(body []byte, lim *limits) (bodyScan, error) {
	r := &reader{b: body}
	var s bodyScan
	var err error
	if s.groups, err = r.u32(); err != nil {
		return s, err
	}
	s.groupsAt = r.pos
	for i := uint32(0); i < s.groups; i++ {
		n, err := r.u32()
		if err != nil {
			return s, err
		}
		if s.locals += uint64(n); s.locals > maxLocals {
			return s, fmt.Errorf("more than %d locals", maxLocals)
		}
		if _, err := r.byte(); err != nil {
			return s, err
		}
	}
	s.exprStart = r.pos
	depth := 0
	for {
		at := r.pos
		op, err := r.byte()
		if err != nil {
			return s, err
		}
		switch {
		case op == 0x00, op == 0x01, op == 0x05, op == 0x0f, op == 0x1a, op == 0x1b, op == 0xd1,
			op >= 0x45 && op <= 0xc4:
			// no immediates
		case op == 0x02, op == 0x04:
			if _, err := r.blockType(lim); err != nil {
				return s, err
			}
			depth++
		case op == 0x03:
			params, err := r.blockType(lim)
			if err != nil {
				return s, err
			}
			depth++
			s.loops = append(s.loops, loopSite{at: r.pos, params: params > 0})
		case op == 0x0b:
			if depth == 0 {
				if !r.done() {
					return s, fmt.Errorf("code after the function's end at %#x", r.pos)
				}
				return s, nil
			}
			depth--
		case op == 0x0c, op == 0x0d, op >= 0x20 && op <= 0x22, op == 0x25, op == 0x26:
			_, err = r.u32()
		case op == 0x0e:
			var n uint32
			if n, err = r.u32(); err == nil {
				for i := uint32(0); i <= n && err == nil; i++ { // n targets and the default
					_, err = r.u32()
				}
			}
		case op == 0x10, op == 0xd2: // call, ref.func
			s.calls = s.calls || op == 0x10
			start := r.pos
			var f uint32
			if f, err = r.u32(); err == nil && f >= lim.funcs {
				return s, fmt.Errorf("function index %d out of range at %#x", f, at)
			}
			s.refs = append(s.refs, funcRef{start, r.pos, f})
		case op == 0x11:
			s.calls = true
			if _, err = r.u32(); err == nil {
				_, err = r.u32()
			}
		case op == 0x1c:
			var n uint32
			if n, err = r.u32(); err == nil {
				for i := uint32(0); i < n && err == nil; i++ {
					_, err = r.byte()
				}
			}
		case op == 0x23, op == 0x24:
			var g uint32
			if g, err = r.u32(); err == nil && g >= lim.globals {
				return s, fmt.Errorf("global index %d out of range at %#x", g, at)
			}
		case op >= 0x28 && op <= 0x3e:
			err = r.memarg()
		case op == 0x3f, op == 0x40:
			_, err = r.u32()
		case op == 0x41:
			err = r.skipLEB(32)
		case op == 0x42:
			err = r.skipLEB(64)
		case op == 0x43:
			_, err = r.bytes(4)
		case op == 0x44:
			_, err = r.bytes(8)
		case op == 0xd0:
			err = r.skipLEB(33)
		case op == 0xfc:
			err = r.miscOp()
		case op == 0xfd:
			err = r.simdOp()
		default:
			return s, fmt.Errorf("unsupported opcode %#x at %#x", op, at)
		}
		if err != nil {
			return s, fmt.Errorf("opcode %#x at %#x: %w", op, at, err)
		}
	}
}

// maxLocals bounds a function's locals, as wazero does, so the rewrite's
// extra local has an index.
const maxLocals = 50000

// blockType reads a block type and returns how many parameters it takes.
func (r *reader) blockType(lim *limits) (int, error) {
	if r.pos >= len(r.b) {
		return 0, errTruncated
	}
	switch r.b[r.pos] {
	case 0x40, 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
		r.pos++
		return 0, nil
	}
	t, err := r.s33()
	if err != nil {
		return 0, err
	}
	if t < 0 || t >= int64(len(lim.typeParams)) {
		return 0, fmt.Errorf("block type %d out of range", t)
	}
	return lim.typeParams[t], nil
}

func (r *reader) memarg() error {
	align, err := r.u32()
	if err != nil {
		return err
	}
	if align >= 64 { // bit 6 would announce a memory index (multi-memory)
		return fmt.Errorf("alignment %d", align)
	}
	_, err = r.u32()
	return err
}

// miscOp decodes the 0xfc prefix: saturating conversions, bulk memory and
// table instructions.
func (r *reader) miscOp() error {
	sub, err := r.u32()
	if err != nil {
		return err
	}
	var n int // number of u32 immediates
	switch {
	case sub <= 7:
		n = 0
	case sub == 9, sub == 11, sub == 13, sub >= 15 && sub <= 17:
		n = 1
	case sub == 8, sub == 10, sub == 12, sub == 14:
		n = 2
	default:
		return fmt.Errorf("unsupported 0xfc sub-opcode %d", sub)
	}
	for ; n > 0; n-- {
		if _, err := r.u32(); err != nil {
			return err
		}
	}
	return nil
}

// simdOp decodes the 0xfd prefix (fixed-width SIMD). Sub-opcodes without
// immediates are not listed; wazero rejects unassigned ones when it
// validates the rewritten module, and none of those could carry immediates
// that shift the decoding.
func (r *reader) simdOp() error {
	sub, err := r.u32()
	if err != nil {
		return err
	}
	switch {
	case sub <= 0x0b, sub == 0x5c, sub == 0x5d: // loads and stores
		return r.memarg()
	case sub == 0x0c, sub == 0x0d: // v128.const, i8x16.shuffle
		_, err = r.bytes(16)
		return err
	case sub >= 0x15 && sub <= 0x22: // extract_lane, replace_lane
		_, err = r.byte()
		return err
	case sub >= 0x54 && sub <= 0x5b: // load_lane, store_lane
		if err := r.memarg(); err != nil {
			return err
		}
		_, err = r.byte()
		return err
	case sub <= 0xff:
		return nil
	}
	return fmt.Errorf("unsupported 0xfd sub-opcode %d", sub)
}
