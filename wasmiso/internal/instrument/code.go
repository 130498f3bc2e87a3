package instrument

import (
	"fmt"
)

// loopSite is a loop header found in a function body.
type loopSite struct {
	at     int  // offset just after the loop's block type
	params bool // the loop takes parameters (a multi-value block type)
}

// bulkSite is a bulk memory or table instruction whose cost grows with its
// length operand (the top of the stack when it runs).
type bulkSite struct {
	at    int  // offset of its 0xfc prefix
	shift byte // length >> shift is the units it costs
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
	bulks     []bulkSite
	refs      []funcRef
	calls     bool // the body calls a function
}

// limits is what the original module may refer to: its globals, functions
// and types. Anything that names an index past them, in code or elsewhere
// (exports, elements, initialisers, the start function), is rejected, so a
// module cannot reach the budget global or the functions the rewrite adds.
type limits struct {
	globals, funcs uint32
	funcImports    uint32 // the defined functions start here, and move up by one
	typeParams     []int  // parameter count of each type
}

// fn checks a function index of the original module and returns its index
// in the rewritten one: the check import goes after the module's own
// imports, so every function the module defines moves up by one. An index
// past the module's functions would name tick, so it is an error.
func (l *limits) fn(i uint32) (uint32, error) {
	switch {
	case i >= l.funcs:
		return 0, fmt.Errorf("function index %d out of range (%d functions)", i, l.funcs)
	case i >= l.funcImports:
		return i + 1, nil
	}
	return i, nil
}

// global checks a global index of the original module (the rewrite adds
// the budget global after the module's own, so indices do not move).
func (l *limits) global(i uint32) (uint32, error) {
	if i >= l.globals {
		return 0, fmt.Errorf("global index %d out of range (%d globals)", i, l.globals)
	}
	return i, nil
}

// The kinds of index an instruction's immediate may name.
const (
	refNone = iota
	refFunc
	refGlobal
	refLocal
	refType
)

// instr is one decoded instruction.
type instr struct {
	op          byte
	sub         uint32 // the sub-opcode of the 0xfc and 0xfd prefixes
	ref         int    // the kind of index idx is, refNone if none
	idx         uint32
	idxAt       int // the bytes of idx's encoding
	idxEnd      int
	blockParams int // block, loop, if: the parameters their type takes
}

// instr decodes one instruction. It accepts the instruction set wazero
// enables by default (WebAssembly 2.0: MVP, sign extension, non-trapping
// conversions, bulk memory, reference types, multi-value, SIMD) and
// rejects anything else.
func (r *reader) instr(lim *limits) (instr, error) {
	var in instr
	at := r.pos
	op, err := r.byte()
	if err != nil {
		return in, err
	}
	in.op = op
	index := func(kind int) {
		in.ref, in.idxAt = kind, r.pos
		in.idx, err = r.u32()
		in.idxEnd = r.pos
	}
	switch {
	case op == 0x00, op == 0x01, op == 0x05, op == 0x0b, op == 0x0f, op == 0x1a, op == 0x1b, op == 0xd1,
		op >= 0x45 && op <= 0xc4:
		// no immediates
	case op == 0x02, op == 0x03, op == 0x04:
		in.blockParams, err = r.blockType(lim)
	case op == 0x0c, op == 0x0d, op == 0x25, op == 0x26:
		_, err = r.u32() // label, table
	case op >= 0x20 && op <= 0x22:
		index(refLocal)
	case op == 0x0e:
		var n uint32
		if n, err = r.u32(); err == nil {
			for i := uint32(0); i <= n && err == nil; i++ { // n targets and the default
				_, err = r.u32()
			}
		}
	case op == 0x10, op == 0xd2: // call, ref.func
		index(refFunc)
	case op == 0x11: // call_indirect type table
		if index(refType); err == nil {
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
		index(refGlobal)
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
		in.sub, err = r.miscOp()
	case op == 0xfd:
		in.sub, err = r.simdOp()
	default:
		return in, fmt.Errorf("unsupported opcode %#x at %#x", op, at)
	}
	if err != nil {
		return in, fmt.Errorf("opcode %#x at %#x: %w", op, at, err)
	}
	return in, nil
}

// bulkShift is, for the 0xfc instructions that take a length operand
// (always their last, so on top of the stack), how far the length is
// shifted right to give the units it costs: one per KiB of memory, or per
// 128 table entries (a KiB of references in wazero). Without this a loop
// of 16 MiB memory.fill ran 5 to 9 s past a 100 ms deadline: a loop
// iteration is one unit whatever it does.
func bulkShift(sub uint32) (shift byte, ok bool) {
	switch sub {
	case 8, 10, 11: // memory.init, memory.copy, memory.fill
		return 10, true
	case 12, 14, 15, 17: // table.init, table.copy, table.grow, table.fill
		return 7, true
	}
	return 0, false
}

// scanBody decodes every instruction of a function body (locals and
// expression), so that nothing is inserted inside an immediate, and checks
// every index it names against lim and the function's params and locals.
func scanBody(body []byte, lim *limits, params int) (bodyScan, error) {
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
	// The locals the rewrite adds come after these: the function's own
	// code must not name them.
	locals := uint64(params) + s.locals
	depth := 0
	for {
		at := r.pos
		in, err := r.instr(lim)
		if err != nil {
			return s, err
		}
		switch in.op {
		case 0x02, 0x04:
			depth++
		case 0x03:
			depth++
			s.loops = append(s.loops, loopSite{at: r.pos, params: in.blockParams > 0})
		case 0x0b:
			if depth == 0 {
				if !r.done() {
					return s, fmt.Errorf("code after the function's end at %#x", r.pos)
				}
				return s, nil
			}
			depth--
		case 0x10, 0x11:
			s.calls = true
		case 0xfc:
			if shift, ok := bulkShift(in.sub); ok {
				s.bulks = append(s.bulks, bulkSite{at: at, shift: shift})
			}
		}
		switch in.ref {
		case refFunc:
			if _, err := lim.fn(in.idx); err != nil {
				return s, fmt.Errorf("at %#x: %w", at, err)
			}
			s.refs = append(s.refs, funcRef{in.idxAt, in.idxEnd, in.idx})
		case refGlobal:
			if _, err := lim.global(in.idx); err != nil {
				return s, fmt.Errorf("at %#x: %w", at, err)
			}
		case refLocal:
			if uint64(in.idx) >= locals {
				return s, fmt.Errorf("local index %d out of range (%d locals) at %#x", in.idx, locals, at)
			}
		case refType:
			if in.idx >= uint32(len(lim.typeParams)) {
				return s, fmt.Errorf("type index %d out of range at %#x", in.idx, at)
			}
		}
	}
}

// maxLocals bounds a function's locals, as wazero does, so the rewrite's
// extra locals have an index.
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
func (r *reader) miscOp() (uint32, error) {
	sub, err := r.u32()
	if err != nil {
		return 0, err
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
		return 0, fmt.Errorf("unsupported 0xfc sub-opcode %d", sub)
	}
	for ; n > 0; n-- {
		if _, err := r.u32(); err != nil {
			return 0, err
		}
	}
	return sub, nil
}

// simdOp decodes the 0xfd prefix (fixed-width SIMD). Sub-opcodes without
// immediates are not listed; wazero rejects unassigned ones when it
// validates the rewritten module, and none of those could carry immediates
// that shift the decoding.
func (r *reader) simdOp() (uint32, error) {
	sub, err := r.u32()
	if err != nil {
		return 0, err
	}
	switch {
	case sub <= 0x0b, sub == 0x5c, sub == 0x5d: // loads and stores
		err = r.memarg()
	case sub == 0x0c, sub == 0x0d: // v128.const, i8x16.shuffle
		_, err = r.bytes(16)
	case sub >= 0x15 && sub <= 0x22: // extract_lane, replace_lane
		_, err = r.byte()
	case sub >= 0x54 && sub <= 0x5b: // load_lane, store_lane
		if err = r.memarg(); err == nil {
			_, err = r.byte()
		}
	case sub > 0xff:
		err = fmt.Errorf("unsupported 0xfd sub-opcode %d", sub)
	}
	return sub, err
}
