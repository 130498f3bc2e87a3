package instrument

import (
	"bytes"
	"context"
	"errors"
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
	// rewritten module they would name the flag and tick.
	patch := func(old, new []byte) []byte {
		if bytes.Count(base, old) != 1 {
			t.Fatalf("pattern % x not unique in % x", old, base)
		}
		return bytes.Replace(append([]byte(nil), base...), old, new, 1)
	}
	cases := map[string][]byte{
		"global-past-end": patch([]byte{0x24, 0x00}, []byte{0x24, 0x01}),
		"call-past-end":   patch([]byte{0x10, 0x00}, []byte{0x10, 0x01}),
		"bad-magic":       append([]byte("\x00wasm"), base[4:]...),
		"truncated":       base[:len(base)-3],
		"unknown-opcode":  patch([]byte{0x10, 0x00}, []byte{0xff, 0x00}),
		"reserved-export": wat2wasm(t, `(module (func (export "tessera:start")))`),
		"reserved-import": wat2wasm(t, `(module (import "tessera:interrupt" "check" (func)))`),
	}
	if _, err := Instrument(base, Options{}); err != nil {
		t.Fatalf("base module rejected: %v", err)
	}
	for name, bin := range cases {
		if _, err := Instrument(bin, Options{}); err == nil {
			t.Errorf("%s: accepted", name)
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

// FuzzInstrument: no input makes Instrument panic, and what it returns is
// well formed as far as its own parser can tell, with one more function
// than the input. (Whether wazero accepts the rewrite of every module it
// accepts is checked on real modules in TestCoverage and the wasmiso
// tests: wazero's own decoder is too slow on some random inputs, such as
// huge declared counts, to fuzz here.)
func FuzzInstrument(f *testing.F) {
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	f.Add(wat2wasm(f, coverage))
	f.Add(wat2wasm(f, `(module (func $s (loop (br 0))) (start $s) (memory 1) (func (export "_start")))`))
	f.Fuzz(func(t *testing.T, bin []byte) {
		m, err := Instrument(bin, Options{})
		if err != nil {
			return
		}
		var again Module
		p, err := again.parse(m.Binary)
		if err != nil {
			t.Fatalf("the rewrite does not parse: %v", err)
		}
		if len(p.funcTypes) == 0 || uint32(len(p.funcTypes)-1)+p.funcImports != m.Tick {
			t.Fatalf("tick is function %d, the rewrite has %d", m.Tick, len(p.funcTypes))
		}
	})
}
