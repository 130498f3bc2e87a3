package instrument

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

func wat2wasm(t testing.TB, src string, flags ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		t.Skip("wat2wasm not installed (scripts/deps.sh installs wabt)")
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "m.wat"), filepath.Join(dir, "m.wasm")
	if err := os.WriteFile(in, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if msg, err := exec.Command("wat2wasm", append(flags, in, "-o", out)...).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// coverage uses every kind of immediate the decoder must step over, and
// a loop with parameters. run returns a checksum of everything.
const coverage = `(module
  (type $unop (func (param i32) (result i32)))
  (memory 1)
  (table 4 funcref)
  (elem (i32.const 0) $double $inc)
  (elem $passive funcref (ref.func $inc) (ref.null func))
  (elem declare func $double)
  (global $g (mut i64) (i64.const 0))
  (global $fr funcref (ref.func $double))
  (data (i32.const 64) "0123456789abcdef")
  (func $double (type $unop) (i32.mul (local.get 0) (i32.const 2)))
  (func $inc (type $unop) (i32.add (local.get 0) (i32.const 1)))
  (func $sum_to (param $n i32) (result i32) (local $k i32) (local $acc i32)
    (local.get $n) (i32.const 0)
    (loop $l (param i32 i32) (result i32)
      (local.set $acc) (local.set $k)
      (local.set $acc (i32.add (local.get $acc) (local.get $k)))
      (local.set $k (i32.sub (local.get $k) (i32.const 1)))
      (local.get $k) (local.get $acc)
      (br_if $l (i32.ne (local.get $k) (i32.const 0)))
      (local.set $acc) (drop) (local.get $acc)))
  (func $count (param $n i32) (result i32) (local $i i32)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (local.get $i))
  (func $simd (result i64)
    (v128.store (i32.const 128) (i32x4.add (v128.load (i32.const 64)) (v128.const i32x4 1 2 3 4)))
    (i64.add (i64x2.extract_lane 0 (v128.load (i32.const 128)))
      (i64.extend_i32_u (i8x16.extract_lane_u 15
        (i8x16.shuffle 15 14 13 12 11 10 9 8 7 6 5 4 3 2 1 0 (v128.load (i32.const 64)) (v128.load offset=1 align=1 (i32.const 64)))))))
  (func $bulk (result i32)
    (memory.copy (i32.const 256) (i32.const 64) (i32.const 16))
    (memory.fill (i32.const 272) (i32.const 7) (i32.const 4))
    (i32.add (i32.load (i32.const 256)) (i32.load8_u offset=17 (i32.const 256))))
  (func $branches (param $x i32) (result i32)
    (block $a (block $b (block $c (br_table $c $b $a (local.get $x)))
        (return (i32.const 10)))
      (return (i32.const 20)))
    (i32.const 30))
  (func $select_t (param i32) (result f64)
    (select (result f64) (f64.const 1.5) (f64.const 2.5) (local.get 0)))
  (func $convs (result i32)
    (i32.add (i32.trunc_sat_f32_s (f32.const 1e10)) (i32.extend8_s (i32.const 0xff))))
  (func $refs (result i32)
    (i32.add (ref.is_null (ref.null func)) (i32.add (ref.is_null (ref.func $inc)) (table.size 0))))
  (func $indirect (param i32) (result i32)
    (call_indirect (type $unop) (i32.const 20) (local.get 0)))
  (func $tables (result i32)
    ;; slot 2 from a global's ref.func, slot 3 from a passive segment
    (table.set 0 (i32.const 2) (global.get $fr))
    (table.init 0 $passive (i32.const 3) (i32.const 0) (i32.const 1))
    (i32.add (call_indirect (type $unop) (i32.const 5) (i32.const 2))
             (i32.add (call_indirect (type $unop) (i32.const 7) (i32.const 3))
                      (ref.is_null (ref.func $double)))))
  (func (export "run") (result i64)
    (global.set $g (i64.const 0x123456789abc))
    (i64.add (global.get $g)
    (i64.add (i64.extend_i32_u (call $sum_to (i32.const 100)))
    (i64.add (i64.extend_i32_u (call $count (i32.const 1000)))
    (i64.add (call $simd)
    (i64.add (i64.extend_i32_u (call $bulk))
    (i64.add (i64.extend_i32_u (i32.add (call $branches (i32.const 0)) (i32.add (call $branches (i32.const 1)) (call $branches (i32.const 7)))))
    (i64.add (i64.trunc_f64_s (f64.mul (call $select_t (i32.const 0)) (f64.const 2)))
    (i64.add (i64.extend_i32_u (call $convs))
    (i64.add (i64.extend_i32_u (call $refs))
    (i64.add (i64.extend_i32_u (call $tables))
    (i64.add (i64.extend_i32_u (i32.add (call $indirect (i32.const 0)) (call $indirect (i32.const 1))))
             (i64.extend_i32_u (i32.add (memory.size) (memory.grow (i32.const 0))))))))))))))))
  (func (export "_start")))`

// host is the check function a rewritten module imports: it counts its
// calls and, once stop is set, traps the caller by panicking.
type host struct {
	calls int
	stop  bool
}

var errStop = errors.New("stopped by the host")

// instantiate runs bin (rewritten or not) in a fresh runtime that provides
// the check function.
func (h *host) instantiate(t testing.TB, bin []byte) (api.Module, func()) {
	t.Helper()
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	_, err := r.NewHostModuleBuilder(CheckModule).NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(context.Context, api.Module, []uint64) {
			h.calls++
			if h.stop {
				panic(errStop)
			}
		}), nil, nil).Export(CheckName).Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := r.Instantiate(ctx, bin)
	if err != nil {
		t.Fatalf("instantiating: %v", err)
	}
	return mod, func() { r.Close(ctx) }
}

func call(t *testing.T, bin []byte, fn string) (uint64, error) {
	t.Helper()
	mod, done := (&host{}).instantiate(t, bin)
	defer done()
	res, err := mod.ExportedFunction(fn).Call(context.Background())
	if err != nil {
		return 0, err
	}
	return res[0], nil
}

// TestCoverage: the rewritten module is valid and computes what the
// original computes.
func TestCoverage(t *testing.T) {
	bin := wat2wasm(t, coverage)
	m, err := Instrument(bin, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := call(t, bin, "run")
	if err != nil {
		t.Fatal(err)
	}
	got, err := call(t, m.Binary, "run")
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("instrumented run() = %#x, original %#x", got, want)
	}
	// sum_to's loop has parameters, count's not. Every function that
	// calls or loops gets an entry check: sum_to, count, indirect,
	// tables, run.
	if m.Loops != 2 {
		t.Errorf("loops instrumented = %d, want 2", m.Loops)
	}
	if m.Entries != 5 {
		t.Errorf("entries instrumented = %d, want 5", m.Entries)
	}
	// memory.copy and memory.fill in bulk, table.init in tables.
	if m.Bulks != 3 {
		t.Errorf("bulk instructions charged = %d, want 3", m.Bulks)
	}
}

// TestCheck: the host is called once per Budget units of work, in loops
// and in recursion without loops, and a check that traps stops code that
// would run forever.
func TestCheck(t *testing.T) {
	for _, c := range []struct {
		name, src string
		arg       uint64
		units     int // charged units when arg is the argument
	}{
		// n iterations of a loop: n units.
		{"loop", `(module (func (export "run") (param i64) (result i64) (local $i i64)
			(loop $l (br_if $l (i64.lt_u (local.tee $i (i64.add (local.get $i) (i64.const 1))) (local.get 0))))
			(local.get $i)))`, 1 << 20, 1 << 20},
		// fib(25) makes 242785 calls, each charged 1 unit on entry.
		{"recursion", `(module
			(func $fib (param i64) (result i64)
				(if (result i64) (i64.lt_u (local.get 0) (i64.const 2))
					(then (local.get 0))
					(else (i64.add (call $fib (i64.sub (local.get 0) (i64.const 1)))
					               (call $fib (i64.sub (local.get 0) (i64.const 2)))))))
			(func (export "run") (param i64) (result i64) (call $fib (local.get 0))))`, 25, 242785 + 1},
		// n iterations that each fill 64 KiB: 64 units for the fill (one a
		// KiB), one for the iteration.
		{"memory-fill", `(module (memory 1) (func (export "run") (param i64) (result i64) (local $i i64)
			(loop $l (memory.fill (i32.const 0) (i32.const 7) (i32.const 65536))
				(br_if $l (i64.lt_u (local.tee $i (i64.add (local.get $i) (i64.const 1))) (local.get 0))))
			(local.get $i)))`, 4096, 4096 * 65},
		// n iterations that each fill 1024 table entries: 8 units (one per
		// 128 entries) and one for the iteration.
		{"table-fill", `(module (table 1024 funcref) (func (export "run") (param i64) (result i64) (local $i i64)
			(loop $l (table.fill 0 (i32.const 0) (ref.null func) (i32.const 1024))
				(br_if $l (i64.lt_u (local.tee $i (i64.add (local.get $i) (i64.const 1))) (local.get 0))))
			(local.get $i)))`, 8192, 8192 * 9},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := Instrument(wat2wasm(t, c.src), Options{})
			if err != nil {
				t.Fatal(err)
			}
			h := &host{}
			mod, done := h.instantiate(t, m.Binary)
			defer done()
			if _, err := mod.ExportedFunction("run").Call(context.Background(), c.arg); err != nil {
				t.Fatal(err)
			}
			// Loop iterations are charged LoopPeriod at a time, so up to
			// one period's worth may be uncharged.
			lo, hi := (c.units-LoopPeriod)/Budget, c.units/Budget
			if h.calls < lo || h.calls > hi {
				t.Errorf("host checked %d times for %d units, want %d..%d", h.calls, c.units, lo, hi)
			}
			// Forever, and stopped by the host.
			h.stop = true
			_, err = mod.ExportedFunction("run").Call(context.Background(), 1<<62)
			if !errors.Is(err, errStop) {
				t.Errorf("stopped call returned %v", err)
			}
		})
	}
}

// TestStartSection: the start function no longer runs at instantiation but
// is exported for the host to call.
func TestStartSection(t *testing.T) {
	bin := wat2wasm(t, `(module (global $x (mut i32) (i32.const 0))
		(func $init (global.set $x (i32.const 42)))
		(start $init)
		(func (export "get") (result i32) (global.get $x)))`)
	m, err := Instrument(bin, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !m.HasStart {
		t.Fatal("HasStart not set")
	}
	ctx := context.Background()
	mod, done := (&host{}).instantiate(t, m.Binary)
	defer done()
	get := mod.ExportedFunction("get")
	if v, _ := get.Call(ctx); v[0] != 0 {
		t.Errorf("start ran at instantiation: x = %d", v[0])
	}
	if _, err := mod.ExportedFunction(StartExport).Call(ctx); err != nil {
		t.Fatal(err)
	}
	if v, _ := get.Call(ctx); v[0] != 42 {
		t.Errorf("after the exported start x = %d, want 42", v[0])
	}
}

// TestNoMemory: a module without memory needs none after the rewrite.
func TestNoMemory(t *testing.T) {
	m, err := Instrument(wat2wasm(t, `(module (func (export "run") (result i64) (loop $l) (i64.const 7)))`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Memory != nil {
		t.Errorf("Memory = %+v, want nil", m.Memory)
	}
	if v, err := call(t, m.Binary, "run"); err != nil || v != 7 {
		t.Fatalf("run = %d, %v", v, err)
	}
}

// TestRejects: modules that would reach what the rewrite adds, or that
// the decoder cannot follow, are refused.
func TestRejects(t *testing.T) {
	base := wat2wasm(t, `(module (global $a (mut i32) (i32.const 0)) (func $f (global.set $a (i32.const 1)) (call $f)))`)
	// Point global.set and call one index past the module's own: in the
	// rewritten module they would name the budget global and tick.
	patch := func(old, new []byte) []byte {
		if bytes.Count(base, old) != 1 {
			t.Fatalf("pattern % x not unique in % x", old, base)
		}
		return bytes.Replace(append([]byte(nil), base...), old, new, 1)
	}
	// Modules wat2wasm would refuse to assemble checked: each names, outside
	// a function body, the index one past the module's own functions or
	// globals, where the rewrite puts tick or the budget. (The first is the
	// reviewer's: tick in a table, then call_indirect tick(-1e9) to refill
	// the budget for ever.)
	unchecked := func(src string) []byte { return wat2wasm(t, src, "--no-check") }
	cases := map[string][]byte{
		"global-past-end": patch([]byte{0x24, 0x00}, []byte{0x24, 0x01}),
		"call-past-end":   patch([]byte{0x10, 0x00}, []byte{0x10, 0x01}),
		"bad-magic":       append([]byte("\x00wasm"), base[4:]...),
		"truncated":       base[:len(base)-3],
		"unknown-opcode":  patch([]byte{0x10, 0x00}, []byte{0xff, 0x00}),
		"reserved-export": wat2wasm(t, `(module (func (export "tessera:start")))`),
		"reserved-import": wat2wasm(t, `(module (import "tessera:interrupt" "check" (func)))`),
		"elem-tick": unchecked(`(module (type $t (func (param i32))) (table 1 funcref)
			(elem (i32.const 0) func 1)
			(func (export "run") (loop (call_indirect (type $t) (i32.const -1000000000) (i32.const 0)) (br 0))))`),
		"elem-expr-tick":   unchecked(`(module (table 1 funcref) (elem (i32.const 0) funcref (ref.func 1)) (func))`),
		"elem-offset":      unchecked(`(module (table 1 funcref) (elem (global.get 0) func 0) (func))`),
		"global-init-func": unchecked(`(module (global funcref (ref.func 1)) (func))`),
		"global-init-get":  unchecked(`(module (global i32 (global.get 1)) (func))`),
		"export-func":      unchecked(`(module (func) (export "tick" (func 1)))`),
		"export-global":    unchecked(`(module (global (mut i32) (i32.const 0)) (export "budget" (global 1)) (func))`),
		"start":            unchecked(`(module (func) (start 1))`),
		"data-offset":      unchecked(`(module (memory 1) (data (global.get 0) "x") (func))`),
		"ref-func":         unchecked(`(module (func (drop (ref.func 1))))`),
		// The loop counter the rewrite adds is the local after the
		// function's own: setting it would keep the loop from ever
		// charging.
		"local-past-end": unchecked(`(module (func (param i32) (local i64) (loop (local.set 2 (i32.const 2)) (br 0))))`),
		"type-past-end":  unchecked(`(module (table 1 funcref) (func (call_indirect (type 1) (i32.const 0))))`),
	}
	if _, err := Instrument(base, Options{}); err != nil {
		t.Fatalf("base module rejected: %v", err)
	}
	for name, bin := range cases {
		if _, err := Instrument(bin, Options{}); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

// TestTables: every table gets a maximum, so that table.grow fails (-1)
// past MaxTableEntries for all tables together, or past the table's own
// maximum if lower; tables that start out larger are refused.
func TestTables(t *testing.T) {
	m, err := Instrument(wat2wasm(t, `(module (table $a 1 funcref) (table $b 2 10 externref)
		(func (export "grow_a") (param i32) (result i32) (table.grow $a (ref.null func) (local.get 0)))
		(func (export "grow_b") (param i32) (result i32) (table.grow $b (ref.null extern) (local.get 0))))`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	mod, done := (&host{}).instantiate(t, m.Binary)
	defer done()
	grow := func(name string, n uint32) int32 {
		res, err := mod.ExportedFunction(name).Call(context.Background(), uint64(n))
		if err != nil {
			t.Fatal(err)
		}
		return int32(res[0])
	}
	// The room above the two minimums (3 entries), shared equally.
	share := uint32(MaxTableEntries-3) / 2
	for _, c := range []struct {
		table string
		n     uint32
		want  int32
	}{
		{"grow_a", 50_000_000, -1}, // the reviewer's 382 MiB
		{"grow_a", 1 << 31, -1},
		{"grow_a", share + 1, -1},
		{"grow_a", share, 1},
		{"grow_a", 1, -1},
		{"grow_b", 9, -1}, // its own maximum, 10, is lower
		{"grow_b", 8, 2},
	} {
		if got := grow(c.table, c.n); got != c.want {
			t.Errorf("%s(%d) = %d, want %d", c.table, c.n, got, c.want)
		}
	}
	for name, src := range map[string]string{
		"one-huge":   `(module (table 134217728 funcref))`,
		"two-large":  fmt.Sprintf(`(module (table %d funcref) (table %d funcref))`, MaxTableEntries/2+1, MaxTableEntries/2),
		"at-the-cap": fmt.Sprintf(`(module (table %d funcref) (table 0 0 funcref))`, MaxTableEntries),
	} {
		_, err := Instrument(wat2wasm(t, src), Options{})
		if (err == nil) != (name == "at-the-cap") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

// TestOffsets: with DWARF present, every byte of original code maps back
// to itself from wherever the rewrite put it.
func TestOffsets(t *testing.T) {
	bin := wat2wasm(t, coverage)
	// A custom section named like DWARF is enough to keep the map.
	bin = append(bin, 0x00, 0x0c, 0x0b)
	bin = append(bin, ".debug_info"...)
	m, err := Instrument(bin, Options{KeepDWARF: true})
	if err != nil {
		t.Fatal(err)
	}
	orig, rewritten := codeSection(t, bin), codeSection(t, m.Binary)
	checked := 0
	for _, r := range m.runs {
		for i := 0; i < r.n; i++ {
			at := uint64(r.at + i)
			o, ok := m.OriginalOffset(at)
			if !ok || o != uint64(r.orig+i) || rewritten[at] != orig[o] {
				t.Fatalf("offset %#x maps to %#x (%v), want %#x", at, o, ok, r.orig+i)
			}
			checked++
		}
	}
	if checked < len(orig)/2 {
		t.Errorf("only %d of %d code bytes are mapped", checked, len(orig))
	}
}

func codeSection(t *testing.T, bin []byte) []byte {
	r := &reader{b: bin, pos: 8}
	for !r.done() {
		id, _ := r.byte()
		n, _ := r.u32()
		data, err := r.bytes(n)
		if err != nil {
			t.Fatal(err)
		}
		if id == secCode {
			return data
		}
	}
	t.Fatal("no code section")
	return nil
}

// FuzzInstrument: no input makes Instrument panic, and what it returns
// keeps the rewrite's additions out of the module's reach (confined): the
// check import, tick and the budget global are named only by the code the
// rewrite inserted. (Whether wazero accepts the rewrite of every module it
// accepts is checked on real modules in TestCoverage and the wasmiso
// tests: wazero's own decoder is too slow on some random inputs, such as
// huge declared counts, to fuzz here.)
func FuzzInstrument(f *testing.F) {
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	f.Add(wat2wasm(f, coverage))
	f.Add(wat2wasm(f, `(module (func $s (loop (br 0))) (start $s) (memory 1) (func (export "_start")))`))
	f.Add(wat2wasm(f, `(module (import "m" "f" (func $imp (param i32))) (import "m" "g" (global $ig i32))
		(type $t (func (param i32))) (table 2 funcref) (memory 1)
		(global $g (mut i32) (global.get $ig)) (global $r funcref (ref.func $f))
		(elem (global.get $ig) func $f $imp) (data (global.get $ig) "x")
		(func $f (param i32) (local i64) (loop (call_indirect (type $t) (local.get 0) (i32.const 1)) (br_if 0 (local.get 0))))
		(func $init (call $f (i32.const 0)))
		(export "f" (func $f)) (export "g" (global $g)) (start $init))`, "--debug-names"))
	f.Fuzz(func(t *testing.T, bin []byte) {
		m, err := Instrument(bin, Options{})
		if err != nil {
			return
		}
		checkConfined(t, bin, m)
	})
}

// confined is a renumberer for the rewritten module: it changes nothing,
// and fails on what the rewrite added.
type confined struct{ check, tick, budget uint32 }

func (c confined) fn(i uint32) (uint32, error) {
	if i == c.check || i == c.tick {
		return 0, fmt.Errorf("names function %d (check %d, tick %d)", i, c.check, c.tick)
	}
	return i, nil
}

func (c confined) global(i uint32) (uint32, error) {
	if i == c.budget {
		return 0, fmt.Errorf("names the budget global %d", i)
	}
	return i, nil
}

// checkConfined checks that the rewrite m of bin parses, and that only the
// code the rewrite inserted names its additions: exports, elements, global
// initialisers and data offsets do not; tick is the last function and
// alone calls check; every other body is the original's, renumbered, with
// only the rewrite's own sequences inserted, and the original's code
// names neither tick, check, the budget, nor the locals the rewrite adds.
func checkConfined(t *testing.T, bin []byte, m *Module) {
	t.Helper()
	var orig, again Module
	po, err := orig.parse(bin)
	if err != nil {
		t.Fatalf("the input parses no more: %v", err)
	}
	p, err := again.parse(m.Binary)
	if err != nil {
		t.Fatalf("the rewrite does not parse: %v", err)
	}
	// The check import is the last function import, and the only import
	// of its module.
	var c confined
	funcs, found := uint32(0), false
	for _, im := range again.Imports {
		if im.Module == CheckModule {
			if found || im.Kind != 0 || im.Name != CheckName {
				t.Fatalf("import %+v from the reserved module", im)
			}
			c.check, found = funcs, true
		}
		if im.Kind == 0 {
			funcs++
		}
	}
	if !found || c.check != p.funcImports-1 {
		t.Fatalf("check import at %d of %d imported functions (found %v)", c.check, p.funcImports, found)
	}
	if len(p.funcTypes) == 0 || uint32(len(p.funcTypes)-1)+p.funcImports != m.Tick {
		t.Fatalf("tick is function %d, the rewrite has %d", m.Tick, len(p.funcTypes))
	}
	if p.globals == 0 {
		t.Fatal("no budget global")
	}
	c.tick, c.budget = m.Tick, p.globalImports+p.globals-1
	if _, err := shiftGlobals(p, c); err != nil {
		t.Errorf("globals: %v", err)
	}
	if _, err := shiftExports(p, c); err != nil {
		t.Errorf("exports: %v", err)
	}
	for _, s := range p.secs {
		switch s.id {
		case secStart:
			t.Error("the rewrite has a start section")
		case secElement:
			if _, err := shiftElements(s.data, c); err != nil {
				t.Errorf("elements: %v", err)
			}
		case secData:
			if err := checkData(s.data, c); err != nil {
				t.Errorf("data: %v", err)
			}
		}
	}

	// The bodies, aligned with the original's.
	limOrig := &limits{globals: ^uint32(0), funcs: ^uint32(0), funcImports: po.funcImports, typeParams: po.typeParams}
	limNew := &limits{globals: ^uint32(0), funcs: ^uint32(0), typeParams: p.typeParams}
	ro, rn := &reader{b: po.code}, &reader{b: p.code}
	no, _ := ro.u32()
	nn, err := rn.u32()
	if err != nil || nn != no+1 {
		t.Fatalf("%d bodies for %d original ones (%v)", nn, no, err)
	}
	for i := uint32(0); i < nn; i++ {
		size, _ := rn.u32()
		body, err := rn.bytes(size)
		if err != nil {
			t.Fatalf("body %d: %v", i, err)
		}
		if i == no {
			if want := tickBody(c.budget, c.check); !bytes.Equal(body, want) {
				t.Fatalf("tick's body % x, want % x", body, want)
			}
			break
		}
		size, _ = ro.u32()
		obody, _ := ro.bytes(size)
		params := po.typeParams[po.funcTypes[i]]
		if err := aligned(obody, body, params, c, limOrig, limNew); err != nil {
			t.Fatalf("function %d: %v\noriginal  % x\nrewritten % x", i, err, obody, body)
		}
	}
}

// aligned checks that the rewritten body holds the original's
// instructions, in order, with function indices renumbered, and between
// them nothing but the sequences the rewrite inserts; and that the
// original's instructions name none of the rewrite's additions.
func aligned(orig, body []byte, params int, c confined, limOrig, limNew *limits) error {
	so, err := scanBody(orig, limOrig, params)
	if err != nil {
		return fmt.Errorf("original: %v", err)
	}
	sn, err := scanBody(body, limNew, params)
	if err != nil {
		return fmt.Errorf("rewritten: %v", err)
	}
	ro, rn := &reader{b: orig, pos: so.exprStart}, &reader{b: body, pos: sn.exprStart}
	// What the rewrite may insert: the entry (with or without the loop
	// counter's initialisation), a loop's check, a charge, a bulk
	// instruction's charge (its local follows the counter, if any).
	locals := uint32(params) + uint32(so.locals)
	tm := &Module{Tick: c.tick}
	init := appendU32(append(appendS32([]byte{0x41}, LoopPeriod), 0x21), locals) // i32.const; local.set
	inserts := [][]byte{
		tm.charge(append([]byte(nil), init...), c.budget, loopEntryFee),
		tm.charge(nil, c.budget, 1),
		tm.loopCheck(nil, locals),
	}
	for _, scratch := range []uint32{locals, locals + 1} {
		for _, shift := range []byte{7, 10} {
			inserts = append(inserts, tm.bulkCharge(nil, c.budget, scratch, shift))
		}
	}
	for !rn.done() {
		at := rn.pos
		inserted := false
		for _, seq := range inserts {
			if bytes.HasPrefix(body[at:], seq) {
				for rn.pos < at+len(seq) {
					if _, err := rn.instr(limNew); err != nil {
						return err
					}
				}
				if rn.pos != at+len(seq) {
					return fmt.Errorf("inserted sequence at %#x ends inside an instruction", at)
				}
				inserted = true
				break
			}
		}
		if inserted {
			continue
		}
		in, err := rn.instr(limNew)
		if err != nil {
			return fmt.Errorf("at %#x: %v", at, err)
		}
		switch {
		case in.ref == refFunc && (in.idx == c.tick || in.idx == c.check):
			return fmt.Errorf("at %#x: the module's code names function %d", at, in.idx)
		case in.ref == refGlobal && in.idx == c.budget:
			return fmt.Errorf("at %#x: the module's code names the budget", at)
		case in.ref == refLocal && in.idx >= locals:
			return fmt.Errorf("at %#x: the module's code names local %d of the rewrite's", at, in.idx)
		}
		if ro.done() {
			return fmt.Errorf("at %#x: more instructions than the original", at)
		}
		oat := ro.pos
		oin, err := ro.instr(limOrig)
		if err != nil {
			return err
		}
		want := orig[oat:ro.pos]
		if oin.ref == refFunc {
			idx, _ := limOrig.fn(oin.idx)
			want = append(appendU32(append([]byte(nil), orig[oat:oin.idxAt]...), idx), orig[oin.idxEnd:ro.pos]...)
		}
		if !bytes.Equal(body[at:rn.pos], want) {
			return fmt.Errorf("at %#x: % x, the original has % x", at, body[at:rn.pos], want)
		}
	}
	if !ro.done() {
		return fmt.Errorf("original instructions missing from %#x", ro.pos)
	}
	return nil
}
