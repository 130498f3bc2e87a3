// Package instrument rewrites a WebAssembly module so that the host can stop
// a call at any time, at a cost of a few percent on tight loops.
//
// Two problems are solved together. The host must be able to stop code
// that never returns (a deadline), and the code must return to Go now and
// then: Go cannot preempt a goroutine running wazero's machine code, so a
// guest that never leaves it would hold its P, block every
// garbage-collector stop-the-world of the process, and keep the timers on
// that P from firing.
//
// The rewrite adds a budget global and a function tick(k) that takes k
// from the budget and, when it runs out, refills it and calls the host
// import CheckModule.CheckName. The host function runs in Go, where the
// goroutine can be preempted; it compares the clock with the call's
// deadline itself (no timer needed) and traps the call (by panicking) if
// it must stop. Charges are inserted where code can run for long:
//
//   - at the head of every loop, a per-activation local counts iterations
//     down and calls tick every LoopPeriod iterations. The slow path ends
//     with a branch back to the loop head instead of falling through, so
//     the loop body keeps a single predecessor and compiles as before: the
//     cost per iteration is a decrement and a predicted branch;
//   - at the entry of every function that calls or loops, the budget is
//     decremented inline (recursion without loops is caught here);
//   - before every bulk memory or table instruction, the budget is
//     decremented by its length (a unit per KiB, or per 128 entries).
//
// So a guest reaches the host at least every Budget charged units
// (iterations, calls and KiB moved).
//
// The import shifts the index of every function the module defines by one;
// calls, ref.func, exports, elements, global initialisers and the name
// section are renumbered. The budget global, the import and tick must be
// out of the module's reach, or it could refill the budget or call tick
// with a negative charge: every function, global, local and type index the
// module names (in code, exports, elements, initialisers, data offsets and
// the start section) is checked against the module's own, and a module
// naming one past them is rejected. A start section is removed and its function
// exported as StartExport, so the host can run it after instantiation,
// under the same checks, rather than inside InstantiateModule.
package instrument

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Names the rewrite adds: the host function it imports, and the export of
// a former start function.
const (
	CheckModule = "tessera:interrupt"
	CheckName   = "check"
	StartExport = "tessera:start"
)

// MaxTableEntries bounds the entries of all of a module's tables together,
// however far table.grow is asked to take them: the rewrite gives every
// table a maximum (its own if lower) so that their maxima add up to at
// most this, and refuses a module whose tables start out larger. wazero
// keeps a table in host memory, 8 bytes an entry, outside the linear
// memory and its limit, and would otherwise accept 2^27 entries per table
// and let table.grow go to 2^32; this bounds it to 2 MiB an instance. C
// and Rust need an entry per function whose address is taken, Go's
// wasip1 port about three per function (6,087 for a small program), so
// this leaves room for large programs. An imported table is the host's to
// bound (wasmiso refuses them).
const MaxTableEntries = 1 << 18

// Tuning: the budget in units between calls to the host, the loop
// iterations between calls to tick, and what entering a function that
// loops costs (it may run up to LoopPeriod-1 iterations never charged).
const (
	Budget       = 1 << 14
	LoopPeriod   = 1 << 10
	loopEntryFee = LoopPeriod / 64
)

// Section ids.
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
)

// order is the position of each known section id in a module; custom
// sections may appear anywhere.
var order = map[byte]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13}

// Import is one entry of the import section.
type Import struct {
	Module, Name string
	Kind         byte // 0 func, 1 table, 2 memory, 3 global
}

// Memory describes the module's linear memory, imported or defined.
type Memory struct {
	Min, Max uint32 // in 64 KiB pages
	HasMax   bool
	Imported bool
}

// Module is the result of Instrument.
type Module struct {
	Binary   []byte   // the rewritten module
	Imports  []Import // the original module's imports
	Memory   *Memory  // its memory; nil if it has none
	HasStart bool     // a start function is exported as StartExport
	Loops    int      // loop headers instrumented
	Entries  int      // function entries instrumented
	Bulks    int      // bulk memory and table instructions charged by length
	// Tick is the index of the added function, which is no frame worth
	// reporting in a stack trace.
	Tick uint32
	// DWARF is set when the rewrite kept DWARF sections; only then are
	// code offsets (which wazero takes from DWARF) worth mapping back.
	DWARF bool

	runs []run
}

// TickName is how wazero names the added function in stack traces.
func (m *Module) TickName() string { return "$" + strconv.FormatUint(uint64(m.Tick), 10) }

// run is a stretch of original code-section bytes copied unchanged: orig
// and at are offsets from the start of the code section's contents in the
// original and the rewritten module.
type run struct{ orig, at, n int }

// OriginalOffset maps an offset in the rewritten module's code section to
// the original module's, so that trap offsets name the code the user
// compiled. An offset inside rewritten bytes maps to the original bytes
// that follow.
func (m *Module) OriginalOffset(at uint64) (uint64, bool) {
	i := sort.Search(len(m.runs), func(i int) bool { return uint64(m.runs[i].at) > at }) - 1
	if i < 0 {
		return 0, false
	}
	r := m.runs[i]
	if at < uint64(r.at+r.n) {
		return uint64(r.orig) + at - uint64(r.at), true
	}
	if i+1 < len(m.runs) {
		return uint64(m.runs[i+1].orig), true
	}
	return 0, false
}

type section struct {
	id   byte
	data []byte
}

// parsed is what Instrument learns from the sections it reads.
type parsed struct {
	types         [][]byte // each type's encoding, for lookups
	typeParams    []int
	funcTypes     []uint32 // type index of each defined function
	funcImports   uint32
	globalImports uint32
	globals       uint32
	exports       []string
	start         int
	tables        []table
	secs          []section
	code          []byte
}

// Options adjust the rewrite.
type Options struct {
	// KeepDWARF keeps the module's DWARF sections. wazero then reports the
	// code offset (and source line) of a trap, but resolves them on every
	// trap: with wasi-libc's DWARF a trap costs milliseconds instead of
	// microseconds, and a module's DWARF is as untrusted as its code. By
	// default DWARF is dropped.
	KeepDWARF bool
}

// Instrument validates the structure of bin as far as the rewrite needs and
// returns the rewritten module. Full validation is wazero's, on the result.
func Instrument(bin []byte, opts Options) (*Module, error) {
	m := &Module{}
	p, err := m.parse(bin)
	if err != nil {
		return nil, err
	}
	for _, n := range p.exports {
		if n == StartExport {
			return nil, fmt.Errorf("module exports the reserved name %q", n)
		}
	}
	for _, im := range m.Imports {
		if im.Module == CheckModule {
			return nil, fmt.Errorf("module imports from the reserved module %q", CheckModule)
		}
	}
	lim := &limits{
		globals:     p.globalImports + p.globals,
		funcs:       p.funcImports + uint32(len(p.funcTypes)),
		funcImports: p.funcImports,
		typeParams:  p.typeParams,
	}
	if lim.globals >= 1<<30 || lim.funcs >= 1<<30 {
		return nil, errors.New("too many globals or functions")
	}
	budget := lim.globals
	check := p.funcImports // the new import, last of the imports
	m.Tick = lim.funcs + 1 // the new function, last of all

	// Types: the originals, plus (param i32) for tick and () for check if
	// the module has none.
	types := append([][]byte(nil), p.types...)
	typeOf := func(enc []byte) uint32 {
		for i, t := range types {
			if bytes.Equal(t, enc) {
				return uint32(i)
			}
		}
		types = append(types, enc)
		return uint32(len(types) - 1)
	}
	tickType := typeOf([]byte{0x60, 0x01, 0x7f, 0x00})
	checkType := typeOf([]byte{0x60, 0x00, 0x00})

	out := []section{}
	for _, s := range p.secs {
		var err error
		data := s.data
		switch s.id {
		case secType, secFunction, secGlobal, secExport, secCode, secImport:
			continue // rebuilt below
		case secStart:
			m.HasStart = true
			continue
		case secTable:
			data, err = capTables(p.tables)
		case secElement:
			data, err = shiftElements(data, lim)
		case secData:
			err = checkData(data, lim)
		case secCustom:
			if isDWARF(data) && !opts.KeepDWARF {
				continue
			}
			data = shiftNames(data, lim)
			if data == nil {
				continue // a name section we cannot follow: dropped
			}
		}
		if err != nil {
			return nil, fmt.Errorf("section %d: %w", s.id, err)
		}
		out = append(out, section{s.id, data})
	}

	tb := appendU32(nil, uint32(len(types)))
	for _, t := range types {
		tb = append(tb, t...)
	}
	imports, err := m.rebuildImports(p, checkType)
	if err != nil {
		return nil, err
	}
	funcs := appendU32(nil, uint32(len(p.funcTypes))+1)
	for _, t := range p.funcTypes {
		funcs = appendU32(funcs, t)
	}
	funcs = appendU32(funcs, tickType)
	globals, err := shiftGlobals(p, lim)
	if err != nil {
		return nil, fmt.Errorf("global section: %w", err)
	}
	exports, err := shiftExports(p, lim)
	if err != nil {
		return nil, fmt.Errorf("export section: %w", err)
	}
	code, err := m.instrumentCode(p, lim, budget, check)
	if err != nil {
		return nil, fmt.Errorf("code section: %w", err)
	}

	out = place(out, section{secType, tb})
	out = place(out, section{secImport, imports})
	out = place(out, section{secFunction, funcs})
	out = place(out, section{secGlobal, globals})
	out = place(out, section{secExport, exports})
	out = place(out, section{secCode, code})

	b := append([]byte(nil), bin[:8]...)
	for _, s := range out {
		b = append(b, s.id)
		b = appendU32(b, uint32(len(s.data)))
		b = append(b, s.data...)
	}
	m.Binary = b
	if !opts.KeepDWARF {
		m.DWARF, m.runs = false, nil
	}
	return m, nil
}

// Strip returns bin, a module Instrument accepted, uninstrumented but
// with the same treatment of what it carries besides code: DWARF sections
// dropped unless opts.KeepDWARF, function names escaped (Printable). It is
// what a host that stops calls by other means runs.
func Strip(bin []byte, opts Options) []byte {
	b := append([]byte(nil), bin[:8]...)
	r := &reader{b: bin, pos: 8}
	for !r.done() {
		at := r.pos
		id, _ := r.byte()
		size, _ := r.u32()
		data, err := r.bytes(size)
		if err != nil {
			return bin // not a module Instrument accepted
		}
		switch {
		case id != secCustom:
		case isDWARF(data) && !opts.KeepDWARF:
			continue
		default:
			if data = shiftNames(data, keep{}); data == nil {
				continue // a name section that does not parse
			}
			b = appendU32(append(b, id), uint32(len(data)))
			b = append(b, data...)
			continue
		}
		b = append(b, bin[at:r.pos]...)
	}
	return b
}

// isDWARF reports whether a custom section holds DWARF.
func isDWARF(data []byte) bool {
	name, _ := (&reader{b: data}).name()
	return strings.HasPrefix(name, ".debug_")
}

// parse reads the sections the rewrite needs.
func (m *Module) parse(bin []byte) (*parsed, error) {
	if len(bin) < 8 || !bytes.Equal(bin[:4], []byte("\x00asm")) {
		return nil, errors.New("not a WebAssembly module (bad magic)")
	}
	if !bytes.Equal(bin[4:8], []byte{1, 0, 0, 0}) {
		return nil, fmt.Errorf("unsupported WebAssembly binary version % x", bin[4:8])
	}
	p := &parsed{start: -1}
	r := &reader{b: bin, pos: 8}
	last := 0
	for !r.done() {
		id, err := r.byte()
		if err != nil {
			return nil, err
		}
		size, err := r.u32()
		if err != nil {
			return nil, fmt.Errorf("section %d: size: %w", id, err)
		}
		data, err := r.bytes(size)
		if err != nil {
			return nil, fmt.Errorf("section %d: %w", id, err)
		}
		if id != secCustom {
			o, ok := order[id]
			if !ok {
				return nil, fmt.Errorf("unknown section id %d", id)
			}
			if o <= last {
				return nil, fmt.Errorf("section %d out of order or repeated", id)
			}
			last = o
		}
		p.secs = append(p.secs, section{id, data})
		if err := m.parseSection(p, id, data); err != nil {
			return nil, fmt.Errorf("section %d: %w", id, err)
		}
	}
	if p.code == nil && len(p.funcTypes) > 0 {
		return nil, errors.New("functions without a code section")
	}
	return p, nil
}

func (m *Module) parseSection(p *parsed, id byte, data []byte) error {
	r := &reader{b: data}
	var err error
	switch id {
	case secCustom:
		m.DWARF = m.DWARF || isDWARF(data)
		return nil
	case secType:
		return p.parseTypes(r)
	case secImport:
		return m.parseImports(p, r)
	case secFunction:
		var n uint32
		if n, err = r.u32(); err != nil {
			return err
		}
		for i := uint32(0); i < n; i++ {
			t, err := r.u32()
			if err != nil {
				return err
			}
			if int(t) >= len(p.types) {
				return fmt.Errorf("function %d: type %d out of range", i, t)
			}
			p.funcTypes = append(p.funcTypes, t)
		}
	case secTable:
		return p.parseTables(r)
	case secMemory:
		var n uint32
		if n, err = r.u32(); err != nil || n == 0 {
			return err
		}
		if n > 1 || m.Memory != nil {
			return errors.New("more than one memory")
		}
		mem := &Memory{}
		if mem.Min, mem.Max, mem.HasMax, err = r.limits(); err != nil {
			return err
		}
		m.Memory = mem
	case secGlobal:
		p.globals, err = r.u32()
		return err // entries are read when renumbered
	case secExport:
		var n uint32
		if n, err = r.u32(); err != nil {
			return err
		}
		for i := uint32(0); i < n; i++ {
			name, err := r.name()
			if err != nil {
				return err
			}
			if _, err := r.byte(); err != nil {
				return err
			}
			if _, err := r.u32(); err != nil {
				return err
			}
			p.exports = append(p.exports, name)
		}
	case secStart:
		var f uint32
		if f, err = r.u32(); err != nil {
			return err
		}
		p.start = int(f)
	case secCode:
		p.code = data
		return nil
	case secDataCount:
		if _, err = r.u32(); err != nil {
			return err
		}
	default:
		return nil
	}
	if !r.done() {
		return errors.New("trailing bytes")
	}
	return nil
}

func (p *parsed) parseTypes(r *reader) error {
	n, err := r.u32()
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		at := r.pos
		form, err := r.byte()
		if err != nil {
			return err
		}
		if form != 0x60 {
			return fmt.Errorf("type %d: form %#x", i, form)
		}
		params, err := r.u32()
		if err != nil {
			return err
		}
		if _, err := r.bytes(params); err != nil { // one byte per value type
			return err
		}
		results, err := r.u32()
		if err != nil {
			return err
		}
		if _, err := r.bytes(results); err != nil {
			return err
		}
		p.types = append(p.types, r.b[at:r.pos])
		p.typeParams = append(p.typeParams, int(params))
	}
	if !r.done() {
		return errors.New("trailing bytes")
	}
	return nil
}

func (m *Module) parseImports(p *parsed, r *reader) error {
	n, err := r.u32()
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		var im Import
		if im.Module, err = r.name(); err != nil {
			return err
		}
		if im.Name, err = r.name(); err != nil {
			return err
		}
		if im.Kind, err = r.byte(); err != nil {
			return err
		}
		switch im.Kind {
		case 0:
			p.funcImports++
			_, err = r.u32()
		case 1:
			if _, err = r.byte(); err == nil {
				_, _, _, err = r.limits()
			}
		case 2:
			mem := &Memory{Imported: true}
			mem.Min, mem.Max, mem.HasMax, err = r.limits()
			m.Memory = mem
		case 3:
			p.globalImports++
			_, err = r.bytes(2)
		default:
			return fmt.Errorf("import %q.%q: unsupported kind %d", im.Module, im.Name, im.Kind)
		}
		if err != nil {
			return fmt.Errorf("import %q.%q: %w", im.Module, im.Name, err)
		}
		m.Imports = append(m.Imports, im)
	}
	if !r.done() {
		return errors.New("trailing bytes")
	}
	return nil
}

// place inserts s where the section order wants it.
func place(secs []section, s section) []section {
	i := 0
	for i < len(secs) && (secs[i].id == secCustom || order[secs[i].id] < order[s.id]) {
		i++
	}
	return append(secs[:i], append([]section{s}, secs[i:]...)...)
}

// Code sequences. tickCall calls tick with the units to charge.
func (m *Module) tickCall(b []byte, units int32) []byte {
	b = appendS32(append(b, 0x41), units) // i32.const units
	return appendU32(append(b, 0x10), m.Tick)
}

// charge inlines "budget -= units; if budget <= 0 { tick(0) }".
func (m *Module) charge(b []byte, budget uint32, units int32) []byte {
	b = appendU32(append(b, 0x23), budget)              // global.get budget
	b = append(appendS32(append(b, 0x41), units), 0x6b) // i32.const units; i32.sub
	b = appendU32(append(b, 0x24), budget)              // global.set budget
	b = appendU32(append(b, 0x23), budget)              // global.get budget
	b = append(b, 0x41, 0x00, 0x4c, 0x04, 0x40)         // i32.const 0; i32.le_s; if
	return append(m.tickCall(b, 0), 0x0b)               // tick(0); end
}

// loopCheck: "if --c == 0 { c = LoopPeriod; tick(LoopPeriod); br loop }".
func (m *Module) loopCheck(b []byte, c uint32) []byte {
	b = appendU32(append(b, 0x20), c)                   // local.get c
	b = appendU32(append(b, 0x41, 0x01, 0x6b, 0x22), c) // i32.const 1; i32.sub; local.tee c
	b = append(b, 0x45, 0x04, 0x40)                     // i32.eqz; if
	b = appendS32(append(b, 0x41), LoopPeriod)          // i32.const LoopPeriod
	b = appendU32(append(b, 0x21), c)                   // local.set c
	b = m.tickCall(b, LoopPeriod)
	return append(b, 0x0c, 0x01, 0x0b) // br 1 (the loop); end
}

// bulkCharge goes before a bulk instruction whose length operand n is on
// top of the stack, and leaves n in place: "if n > 2^shift-1 { budget -=
// n >> shift; if budget <= 0 { tick(0) } }". Shorter ones cost nothing
// beyond the test: a loop of them is charged by its iterations, and
// straight-line code is as long as the module.
func (m *Module) bulkCharge(b []byte, budget, scratch uint32, shift byte) []byte {
	b = appendU32(append(b, 0x22), scratch)           // local.tee scratch
	b = appendS32(append(b, 0x41), int32(1)<<shift-1) // i32.const 2^shift-1
	b = append(b, 0x4b, 0x04, 0x40)                   // i32.gt_u; if
	b = appendU32(append(b, 0x23), budget)            // global.get budget
	b = appendU32(append(b, 0x20), scratch)           // local.get scratch
	b = appendS32(append(b, 0x41), int32(shift))      // i32.const shift
	b = append(b, 0x76, 0x6b)                         // i32.shr_u; i32.sub
	b = appendU32(append(b, 0x24), budget)            // global.set budget
	b = appendU32(append(b, 0x23), budget)            // global.get budget
	b = append(b, 0x41, 0x00, 0x4c, 0x04, 0x40)       // i32.const 0; i32.le_s; if
	b = append(m.tickCall(b, 0), 0x0b, 0x0b)          // tick(0); end; end
	return appendU32(append(b, 0x20), scratch)        // local.get scratch
}

// tickBody is the added function's body:
//
//	budget -= k; if budget > 0 { return }
//	check()             ;; the host: a preemption point; traps if the call must stop
//	budget = Budget
func tickBody(budget, check uint32) []byte {
	b := []byte{0x00} // no locals
	b = appendU32(append(b, 0x23), budget)
	b = append(b, 0x20, 0x00, 0x6b) // local.get 0; i32.sub
	b = appendU32(append(b, 0x24), budget)
	b = appendU32(append(b, 0x23), budget)
	b = append(b, 0x41, 0x00, 0x4a, 0x04, 0x40, 0x0f, 0x0b) // i32.const 0; i32.gt_s; if return end
	b = appendU32(append(b, 0x10), check)                   // call check
	b = appendS32(append(b, 0x41), Budget)                  // i32.const Budget
	b = appendU32(append(b, 0x24), budget)                  // global.set budget
	return append(b, 0x0b)
}

// instrumentCode rewrites every function body (renumbering functions and
// inserting charges) and appends tick's.
func (m *Module) instrumentCode(p *parsed, lim *limits, budget, check uint32) ([]byte, error) {
	r := &reader{b: p.code}
	n := uint32(0)
	if p.code != nil {
		var err error
		if n, err = r.u32(); err != nil {
			return nil, err
		}
	}
	if n != uint32(len(p.funcTypes)) {
		return nil, fmt.Errorf("%d bodies for %d functions", n, len(p.funcTypes))
	}
	out := appendU32(make([]byte, 0, len(p.code)+len(p.code)/8+64), n+1)
	var body []byte // the rewritten body being built
	for i := uint32(0); i < n; i++ {
		size, err := r.u32()
		if err != nil {
			return nil, fmt.Errorf("function %d: %w", i, err)
		}
		start := r.pos // offset of the body in the code section
		orig, err := r.bytes(size)
		if err != nil {
			return nil, fmt.Errorf("function %d: %w", i, err)
		}
		params := lim.typeParams[p.funcTypes[i]]
		s, err := scanBody(orig, lim, params)
		if err != nil {
			return nil, fmt.Errorf("function %d: %w", i, err)
		}
		// The new body: copied runs of orig between edits. Runs are
		// recorded relative to the body and shifted once the size prefix
		// is known.
		body = body[:0]
		var runs []run
		prev := 0
		copyTo := func(to int) {
			if to > prev {
				runs = append(runs, run{start + prev, len(body), to - prev})
				body = append(body, orig[prev:to]...)
			}
			prev = to
		}
		var edits []edit
		for _, ref := range s.refs {
			if idx, _ := lim.fn(ref.index); idx != ref.index { // in range: scanBody checked
				edits = append(edits, edit{at: ref.at, end: ref.end, bytes: appendU32(nil, idx)})
			}
		}
		// The locals the rewrite adds, after the function's own: the loop
		// counter, and the length of a bulk instruction being charged.
		next := uint32(params) + uint32(s.locals)
		var counter, scratch, added uint32
		if len(s.loops) > 0 {
			counter, next, added = next, next+1, added+1
		}
		if len(s.bulks) > 0 {
			scratch, added = next, added+1
		}
		var entry []byte // what goes between the old local groups and the first instruction
		if added > 0 {
			// One more group, (local i32 ...); the group count is replaced.
			entry = appendU32(entry, added)
			entry = append(entry, 0x7f)
			edits = append(edits, edit{at: 0, end: s.groupsAt, bytes: appendU32(nil, s.groups+1)})
		}
		if len(s.loops) > 0 || s.calls {
			fee := int32(1)
			if len(s.loops) > 0 {
				entry = appendS32(append(entry, 0x41), LoopPeriod) // i32.const LoopPeriod
				entry = appendU32(append(entry, 0x21), counter)    // local.set counter
				fee = loopEntryFee
			}
			entry = m.charge(entry, budget, fee)
			m.Entries++
		}
		if len(entry) > 0 {
			edits = append(edits, edit{at: s.exprStart, end: s.exprStart, bytes: entry})
		}
		for _, l := range s.loops {
			var seq []byte
			if l.params {
				// A branch back to the head would need the loop's
				// parameters; charge the budget instead (slower).
				seq = m.charge(nil, budget, 1)
			} else {
				seq = m.loopCheck(nil, counter)
			}
			edits = append(edits, edit{at: l.at, end: l.at, bytes: seq})
		}
		m.Loops += len(s.loops)
		for _, bk := range s.bulks {
			edits = append(edits, edit{at: bk.at, end: bk.at, bytes: m.bulkCharge(nil, budget, scratch, bk.shift)})
		}
		m.Bulks += len(s.bulks)
		sort.SliceStable(edits, func(a, b int) bool { return edits[a].at < edits[b].at })
		for _, e := range edits {
			copyTo(e.at)
			body = append(body, e.bytes...)
			prev = e.end
		}
		copyTo(len(orig))
		out = appendU32(out, uint32(len(body)))
		for _, rn := range runs {
			m.runs = append(m.runs, run{rn.orig, len(out) + rn.at, rn.n})
		}
		out = append(out, body...)
	}
	if !r.done() {
		return nil, errors.New("trailing bytes")
	}
	tick := tickBody(budget, check)
	out = append(appendU32(out, uint32(len(tick))), tick...)
	if !m.DWARF {
		m.runs = nil // only DWARF-carrying modules report code offsets
	}
	return out, nil
}

// edit replaces body[at:end] by bytes (an insertion when at == end).
type edit struct {
	at, end int
	bytes   []byte
}

// table is one entry of the table section.
type table struct {
	ref      byte // reference type: 0x70 funcref, 0x6f externref
	min, max uint32
	hasMax   bool
}

func (p *parsed) parseTables(r *reader) error {
	n, err := r.u32()
	if err != nil {
		return err
	}
	total := uint64(0)
	for i := uint32(0); i < n; i++ {
		var t table
		if t.ref, err = r.byte(); err != nil {
			return err
		}
		if t.ref != 0x70 && t.ref != 0x6f { // 0x40 would start an initialiser, past 2.0
			return fmt.Errorf("table %d: type %#x", i, t.ref)
		}
		var flag byte
		if flag, err = r.byte(); err != nil {
			return err
		}
		if flag > 1 {
			return fmt.Errorf("table %d: limits flag %#x", i, flag)
		}
		if t.min, err = r.u32(); err != nil {
			return err
		}
		if flag == 1 {
			if t.max, err = r.u32(); err != nil {
				return err
			}
			t.hasMax = true
		}
		if total += uint64(t.min); total > MaxTableEntries {
			return fmt.Errorf("tables of more than %d entries", MaxTableEntries)
		}
		p.tables = append(p.tables, t)
	}
	if !r.done() {
		return errors.New("trailing bytes")
	}
	return nil
}

// capTables rebuilds the table section with a maximum on every table: the
// room MaxTableEntries leaves above the tables' minimums is shared out
// equally, so that however they grow, together they stay within it.
func capTables(tables []table) ([]byte, error) {
	room := uint64(MaxTableEntries)
	for _, t := range tables {
		room -= uint64(t.min) // parseTables checked the sum
	}
	share := room / uint64(max(len(tables), 1))
	b := appendU32(nil, uint32(len(tables)))
	for _, t := range tables {
		limit := uint64(t.min) + share
		if t.hasMax {
			if t.max < t.min {
				return nil, fmt.Errorf("table maximum %d below its minimum %d", t.max, t.min)
			}
			limit = min(limit, uint64(t.max))
		}
		b = appendU32(appendU32(append(b, t.ref, 0x01), t.min), uint32(limit))
	}
	return b, nil
}
