package instrument

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
  (table 2 funcref)
  (elem (i32.const 0) $double $inc)
  (global $g (mut i64) (i64.const 0))
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
    (i64.add (i64.extend_i32_u (i32.add (call $indirect (i32.const 0)) (call $indirect (i32.const 1))))
             (i64.extend_i32_u (i32.add (memory.size) (memory.grow (i32.const 0)))))))))))))))
  (func (export "_start")))`

func call(t *testing.T, bin []byte, fn string) (uint64, error) {
	t.Helper()
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	mod, err := r.Instantiate(ctx, bin)
	if err != nil {
		t.Fatalf("instantiating: %v", err)
	}
	res, err := mod.ExportedFunction(fn).Call(ctx)
	if err != nil {
		return 0, err
	}
	return res[0], nil
}

// TestCoverage: the rewritten module is valid and computes what the
// original computes.
func TestCoverage(t *testing.T) {
	bin := wat2wasm(t, coverage)
	m, err := Instrument(bin)
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
	// calls or loops gets an entry check: sum_to, count, indirect, run.
	if m.Loops != 2 {
		t.Errorf("loops instrumented = %d, want 2", m.Loops)
	}
	if m.Entries != 4 {
		t.Errorf("entries instrumented = %d, want 4", m.Entries)
	}
}

// TestInterruptFlag: setting the exported flag stops a loop that would
// run forever, and leaves a module that never sets it alone.
func TestInterruptFlag(t *testing.T) {
	for _, src := range []string{
		`(module (func (export "run") (result i64) (loop $l (br $l)) (i64.const 0)))`,
		// Recursion without loops, exponential in its argument.
		`(module
			(func $fib (param i32) (result i64)
				(if (result i64) (i32.lt_u (local.get 0) (i32.const 2))
					(then (i64.extend_i32_u (local.get 0)))
					(else (i64.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
					               (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
			(func (export "run") (result i64) (call $fib (i32.const 90))))`,
	} {
		m, err := Instrument(wat2wasm(t, src))
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		r := wazero.NewRuntime(ctx)
		mod, err := r.Instantiate(ctx, m.Binary)
		if err != nil {
			t.Fatal(err)
		}
		flag := mod.ExportedGlobal(InterruptExport).(api.MutableGlobal)
		flag.Set(1) // before the call: it must trap within one budget
		_, err = mod.ExportedFunction("run").Call(ctx)
		if err == nil || !strings.Contains(err.Error(), "unreachable") {
			t.Errorf("interrupted call returned %v, want an unreachable trap", err)
		}
		r.Close(ctx)
	}
}

// TestStartSection: the start function no longer runs at instantiation but
// is exported for the host to call.
func TestStartSection(t *testing.T) {
	bin := wat2wasm(t, `(module (global $x (mut i32) (i32.const 0))
		(func $init (global.set $x (i32.const 42)))
		(start $init)
		(func (export "get") (result i32) (global.get $x)))`)
	m, err := Instrument(bin)
	if err != nil {
		t.Fatal(err)
	}
	if !m.HasStart {
		t.Fatal("HasStart not set")
	}
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	mod, err := r.Instantiate(ctx, m.Binary)
	if err != nil {
		t.Fatal(err)
	}
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

// TestNoMemory: a module without memory gets one for tick's memory.grow,
// and reports none of its own.
func TestNoMemory(t *testing.T) {
	m, err := Instrument(wat2wasm(t, `(module (func (export "run") (result i64) (loop $l) (i64.const 7)))`))
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
	}
	if _, err := Instrument(base); err != nil {
		t.Fatalf("base module rejected: %v", err)
	}
	for name, bin := range cases {
		if _, err := Instrument(bin); err == nil {
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
	m, err := Instrument(bin)
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
		m, err := Instrument(bin)
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
		if !p.hasMemory {
			t.Fatal("the rewrite has no memory")
		}
	})
}
