package wasmiso

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"tessera/internal/sandbox"
	"tessera/loader"
)

func c(name string, flags ...string) func(testing.TB) []byte {
	return func(t testing.TB) []byte { return cModule(t, name, flags...) }
}

func wat(name, src string) func(testing.TB) []byte {
	return func(t testing.TB) []byte { return watModule(t, name, src) }
}

var stdio = sandbox.Spec{InputSets: []string{"stdio"}, OutputSets: []string{"stdio"}}

// outputCases are calls whose outputs must be exactly right.
var outputCases = []testCase{
	{
		name:   "echo",
		binary: c("echo"),
		spec:   stdio,
		inputs: []loader.Set{set("stdio",
			"argv", `prog 'single quoted' "dq \"x\""  back\ slash ""`,
			"environ", `GREETING="hello world" EMPTY= NOEQUALS =novalue`,
			"stdin", "line1\nline2\n")},
		check: func(t *testing.T, outs *loader.Outputs, err error) {
			noError(t, err)
			want := "argv[0]=<prog>\nargv[1]=<single quoted>\nargv[2]=<dq \"x\">\nargv[3]=<back slash>\nargv[4]=<>\n" +
				"GREETING=hello world\nEMPTY=\nUNSET=(unset)\nline1\nline2\n"
			if got := item(t, outs, "stdio", "stdout"); got != want {
				t.Errorf("stdout:\n%s\nwant:\n%s", got, want)
			}
			if got := item(t, outs, "stdio", "stderr"); got != "echo: 5 args\n" {
				t.Errorf("stderr = %q", got)
			}
			// Both were written, so both exist; their order is that of
			// the first writes.
			if got := idents(outs, "stdio"); len(got) != 2 {
				t.Errorf("stdio items = %q", got)
			}
		},
	},
	{
		name:   "echo-no-stdio-output",
		binary: c("echo"),
		spec:   sandbox.Spec{InputSets: []string{"stdio"}, OutputSets: []string{"other"}},
		inputs: []loader.Set{set("stdio", "stdin", "discarded")},
		check: func(t *testing.T, outs *loader.Outputs, err error) {
			noError(t, err)
			if len(outs.Sets) != 1 || outs.Sets[0].Ident != "other" || len(outs.Sets[0].Items) != 0 {
				t.Errorf("outputs = %s, want one empty set other", describe(outs))
			}
		},
	},
	{
		name:   "fileio",
		binary: c("fileio"),
		spec:   sandbox.Spec{InputSets: []string{"in"}, OutputSets: []string{"stdio", "out"}},
		inputs: []loader.Set{set("in",
			"a.txt", "alpha",
			"dir/b.txt", "bravo!",
			"dir/sub/c.txt", "charlie",
			"dir", "a file where a folder is: not shown",
			"../escape", "not shown",
			"x//y", "x/y data",
			"./dot", "dotted",
			"a.txt", "a duplicate: not shown")},
		check: func(t *testing.T, outs *loader.Outputs, err error) {
			noError(t, err)
			want := strings.Join([]string{
				"a.txt 5 5", "dir/b.txt 6 6", "dir/sub/c.txt 7 7", "x/y 8 8", "dot 6 6",
				"open /in/a.txt: EROFS", "open /in/new.txt: EROFS", "open /toplevel: ok",
				"open /in/missing: ENOENT", "open /out/a.txt: EEXIST",
				"unlink input: EROFS", "rmdir set: EBUSY", "rmdir nonempty: ENOTEMPTY",
				"rename folder: EXDEV", "scratch: ok",
				"rename: ok", "unlink: ok", "late size 3", ""}, "\n")
			if got := item(t, outs, "stdio", "stdout"); got != want {
				t.Errorf("stdout:\n%s\nwant:\n%s", got, want)
			}
			wantOut := []string{"a.txt", "dir/b.txt", "dir/sub/c.txt", "x/y", "dot", "renamed", "late"}
			if got := idents(outs, "out"); !slices.Equal(got, wantOut) {
				t.Fatalf("out items = %q, want %q (creation order)", got, wantOut)
			}
			for id, data := range map[string]string{"a.txt": "ahpla", "dir/b.txt": "!ovarb", "dir/sub/c.txt": "eilrahc",
				"x/y": "atad y/x", "dot": "dettod", "renamed": "renamed contents", "late": "xyz"} {
				if got := item(t, outs, "out", id); got != data {
					t.Errorf("out/%s = %q, want %q", id, got, data)
				}
			}
		},
	},
	{
		name:   "keys",
		binary: c("keys"),
		spec:   sandbox.Spec{InputSets: []string{"in"}, OutputSets: []string{"stdio", "out"}},
		inputs: []loader.Set{{Ident: "in", Items: []loader.Item{
			{Ident: "a", Key: 7, Data: []byte("a")}, {Ident: "b", Key: 42, Data: []byte("b")}}}},
		check: func(t *testing.T, outs *loader.Outputs, err error) {
			noError(t, err)
			want := strings.Join([]string{
				"getkey /in/a = 7", "getkey in/b = 42", "getkey /in/./sub/../a = 7",
				"getkey /in/missing: No such file or directory", "getkey /in: Is a directory",
				"setkey /out/a = 0", "setkey out/b = 0",
				"setkey /in/a = -1 Read-only file system", "setkey /out/none = -1 No such file or directory",
				"setkey /out/a/x = -1 Not a directory", "setkey /out/a = -1 Invalid argument",
				"getkey /out/a = 1007", "raw wild = -21", "raw empty = -28", ""}, "\n")
			if got := item(t, outs, "stdio", "stdout"); got != want {
				t.Errorf("stdout:\n%s\nwant:\n%s", got, want)
			}
			s := outs.Set("out")
			if s == nil || len(s.Items) != 2 || s.Items[0].Key != 1007 || s.Items[1].Key != 1042 {
				t.Errorf("out = %+v, want a with key 1007 and b with key 1042", s)
			}
		},
	},
	{
		name:   "exit-status-with-outputs",
		binary: c("exit3"),
		spec:   sandbox.Spec{OutputSets: []string{"stdio", "out"}},
		check: func(t *testing.T, outs *loader.Outputs, err error) {
			var ee *loader.ExitError
			if !errors.As(err, &ee) || ee.Status != 3 || !errors.Is(err, loader.ErrExitStatus) {
				t.Fatalf("err = %v, want *loader.ExitError with status 3", err)
			}
			if got := item(t, outs, "stdio", "stdout"); got != "partial output\n" {
				t.Errorf("stdout = %q", got)
			}
			if got := item(t, outs, "out", "result"); got != "written before exit" {
				t.Errorf("out/result = %q", got)
			}
		},
	},
	{
		name:   "matmul",
		binary: c("matmul"),
		spec:   stdio,
		inputs: []loader.Set{set("stdio", "argv", "matmul 64")},
		check: func(t *testing.T, outs *loader.Outputs, err error) {
			noError(t, err)
			if got, want := item(t, outs, "stdio", "stdout"), fmt.Sprintf("%d\n", matmulSum(64)); got != want {
				t.Errorf("stdout = %q, want %q", got, want)
			}
		},
	},
	{
		name:   "malloc-until-refused",
		binary: c("alloc"),
		spec:   sandbox.Spec{InputSets: []string{"stdio"}, OutputSets: []string{"stdio"}, ContextSize: 16 << 20},
		inputs: []loader.Set{set("stdio", "argv", "alloc count")},
		check: func(t *testing.T, outs *loader.Outputs, err error) {
			// The guest copes with malloc's NULL and exits 0: no error.
			noError(t, err)
			var n int
			if _, err := fmt.Sscan(item(t, outs, "stdio", "stdout"), &n); err != nil || n < 8 || n >= 16 {
				t.Errorf("got %d MiB blocks (%v) within a 16 MiB limit; want 8..15", n, err)
			}
		},
	},
	{
		name: "memory-grow-refused",
		binary: wat("grow", `(module (memory 1)
			(func (export "_start")
				;; 1000 pages exceed the 2 MiB limit: -1, then 10 pages fit.
				(if (i32.ne (memory.grow (i32.const 1000)) (i32.const -1)) (then unreachable))
				(if (i32.eq (memory.grow (i32.const 10)) (i32.const -1)) (then unreachable))
				(if (i32.ne (memory.size) (i32.const 11)) (then unreachable))))`),
		spec: sandbox.Spec{ContextSize: 2 << 20},
		check: func(t *testing.T, outs *loader.Outputs, err error) {
			noError(t, err)
		},
	},
}

// TestFSConvention runs hlibc's own file-system checks (guest/src/selftest.c,
// built for wasm32) against the Wasm backend's file system.
func TestFSConvention(t *testing.T) {
	b := newBackend(t, Config{})
	testCase{
		name:   "selftest",
		binary: c("../guest/src/selftest"),
		spec:   sandbox.Spec{InputSets: []string{"in"}, OutputSets: []string{"stdio", "out"}},
		inputs: []loader.Set{{Ident: "in", Items: []loader.Item{
			{Ident: "a", Key: 5, Data: []byte("alpha")}, {Ident: "dir/b", Data: []byte("beta")}}}},
		check: func(t *testing.T, outs *loader.Outputs, err error) {
			if outs != nil && outs.Set("stdio") != nil {
				for _, it := range outs.Set("stdio").Items {
					if it.Ident == "stderr" {
						t.Errorf("stderr:\n%s", it.Data)
					}
				}
			}
			noError(t, err)
			if got := item(t, outs, "stdio", "stdout"); !strings.HasSuffix(got, " checks, 0 failed\n") {
				t.Errorf("stdout = %q", got)
			}
			s := outs.Set("out")
			var got []string
			for _, it := range s.Items {
				got = append(got, fmt.Sprintf("%s=%q#%d", it.Ident, it.Data, it.Key))
			}
			if want := []string{`sub/f="F"#9`, `y="hello world!"#0`, `keep=""#0`}; !slices.Equal(got, want) {
				t.Errorf("out = %q, want %q", got, want)
			}
		},
	}.run(t, b)
}

// matmulSum is testdata/matmul.c's checksum, computed in Go.
func matmulSum(n int) int64 {
	var sum int64
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			for k := 0; k < n; k++ {
				sum += int64((i+k)%7) * int64((k*j)%5)
			}
		}
	}
	return sum
}

func TestOutputs(t *testing.T) {
	b := newBackend(t, Config{})
	for _, tc := range outputCases {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, b) })
	}
}

// trapCase is a module whose _start calls one function that traps.
type trapCase struct {
	name, body, decls string
	kind              error
}

var trapCases = []trapCase{
	{"unreachable", "unreachable", "", ErrUnreachable},
	{"oob", "(drop (i32.load (i32.const 70000)))", "", ErrOutOfBounds},
	{"stack_overflow", "(call $stack_overflow)", "", ErrStackOverflow},
	{"div_zero", "(drop (i32.div_s (i32.const 1) (i32.const 0)))", "", ErrDivideByZero},
	{"int_overflow", "(drop (i32.div_s (i32.const 0x80000000) (i32.const -1)))", "", ErrIntegerOverflow},
	{"bad_conversion", "(drop (i32.trunc_f32_s (f32.const nan)))", "", ErrInvalidConversion},
	{"table_oob", "(call_indirect (i32.const 5))", "(table 1 funcref)", ErrTableAccess},
	{"call_type", "(call_indirect (type $t) (i32.const 0) (i32.const 0))",
		"(type $t (func (param i32))) (table 1 funcref) (elem (i32.const 0) $nothing) (func $nothing)", ErrIndirectCallType},
}

func TestTraps(t *testing.T) {
	b := newBackend(t, Config{})
	for _, tc := range trapCases {
		src := fmt.Sprintf(`(module (memory 1) %s (func $%s %s) (func (export "_start") (call $%s)))`,
			tc.decls, tc.name, tc.body, tc.name)
		testCase{
			name:   "trap-" + tc.name,
			binary: wat(tc.name, src),
			check: func(t *testing.T, outs *loader.Outputs, err error) {
				var te *TrapError
				if !errors.As(err, &te) || !errors.Is(err, loader.ErrFault) || !errors.Is(err, tc.kind) {
					t.Fatalf("err = %v, want a *TrapError matching ErrFault and %v", err, tc.kind)
				}
				// wazero reports a stack overflow without a stack trace.
				if te.Function != tc.name && !(tc.kind == ErrStackOverflow && te.Function == "") {
					t.Errorf("trap in %q, want %q (stack:\n%s)", te.Function, tc.name, te.Stack)
				}
				if outs != nil {
					t.Errorf("a trap returned outputs %s", describe(outs))
				}
				if errors.Is(err, loader.ErrMemoryLimit) || errors.Is(err, loader.ErrTimeout) {
					t.Errorf("err = %v also matches an unrelated kind", err)
				}
			},
		}.run(t, b)
	}
}

// TestTrapOffset checks the code offset of a trap in a module with DWARF,
// kept by Config.KeepDWARF: it must point at a load instruction in the
// original (uninstrumented) module's code section. By default DWARF is
// dropped and there is no offset. Both interrupt modes (the uninstrumented
// one used to crash the host here).
func TestTrapOffset(t *testing.T) {
	bin := cModule(t, "oob", "-g")
	for _, cfg := range []Config{{}, {KeepDWARF: true}, {Interrupt: InterruptCloseOnDone}, {Interrupt: InterruptCloseOnDone, KeepDWARF: true}} {
		keep := cfg.KeepDWARF
		b := newBackend(t, cfg)
		testCase{
			name: "oob", binary: func(testing.TB) []byte { return bin },
			check: func(t *testing.T, outs *loader.Outputs, err error) {
				var te *TrapError
				if !errors.As(err, &te) || !errors.Is(err, ErrOutOfBounds) {
					t.Fatalf("err = %v, want an out-of-bounds trap", err)
				}
				if !strings.Contains(te.Function, "main") {
					t.Errorf("trap in %q, want main (stack:\n%s)", te.Function, te.Stack)
				}
				if te.HasOffset != keep {
					t.Fatalf("HasOffset = %v with KeepDWARF = %v (%v)", te.HasOffset, keep, err)
				}
				if !keep {
					return
				}
				code := codeSection(t, bin)
				if te.Offset >= uint64(len(code)) {
					t.Fatalf("offset %#x outside the code section (%d bytes)", te.Offset, len(code))
				}
				if op := code[te.Offset]; op < 0x28 || op > 0x35 {
					t.Errorf("byte at offset %#x is %#x, not a load instruction", te.Offset, op)
				}
			},
		}.run(t, b)
	}
}

// TestTrapNames: a function name from the module's name section with a
// line break and a terminal escape comes out escaped in the trap's
// Function, Stack and message, in both interrupt modes.
func TestTrapNames(t *testing.T) {
	const placeholder, hostile = "AAAAAAAAAA", "e\n\x1b[31mvil" // the same length
	bin := bytes.Replace(watModule(t, "hostilename", `(module (memory 1)
		(func $AAAAAAAAAA unreachable) (func (export "_start") (call $AAAAAAAAAA)))`),
		[]byte(placeholder), []byte(hostile), 1)
	for _, mode := range []Interrupt{InterruptInstrument, InterruptCloseOnDone} {
		b := newBackend(t, Config{Interrupt: mode})
		testCase{
			name: "hostile-name", binary: func(testing.TB) []byte { return bin },
			check: func(t *testing.T, outs *loader.Outputs, err error) {
				var te *TrapError
				if !errors.As(err, &te) || !errors.Is(err, ErrUnreachable) {
					t.Fatalf("err = %v, want an unreachable trap", err)
				}
				if want := `e\n\x1b[31mvil`; te.Function != want {
					t.Errorf("mode %d: Function = %q, want %q", mode, te.Function, want)
				}
				for _, s := range []string{te.Function, te.Stack, err.Error()} {
					if strings.ContainsAny(s, "\x1b\r") || strings.Count(s, "\n") > strings.Count(te.Stack, "\n") {
						t.Errorf("mode %d: unescaped name in %q", mode, s)
					}
				}
				if strings.Count(te.Stack, "\n") != 1 { // two frames
					t.Errorf("mode %d: stack %q", mode, te.Stack)
				}
			},
		}.run(t, b)
	}
}

// codeSection returns the contents of a module's code section.
func codeSection(t *testing.T, bin []byte) []byte {
	t.Helper()
	for p := 8; p < len(bin); {
		id := bin[p]
		p++
		var size, shift int
		for {
			c := bin[p]
			p++
			size |= int(c&0x7f) << shift
			shift += 7
			if c&0x80 == 0 {
				break
			}
		}
		if id == 10 {
			return bin[p : p+size]
		}
		p += size
	}
	t.Fatal("no code section")
	return nil
}

// The ways a call can run forever: a loop, recursion without any loop, a
// start function that loops.
var foreverCases = []testCase{
	{name: "loop", binary: c("loop")},
	{name: "recursion", binary: wat("recursion", `(module
		(func $fib (param i32) (result i32)
			(if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
				(then (local.get 0))
				(else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
				               (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
		(func (export "_start") (drop (call $fib (i32.const 80)))))`)},
	{name: "start-section", binary: wat("startloop", `(module
		(func $spin (loop (br 0)))
		(start $spin)
		(func (export "_start")))`)},
	// Not endless, but seconds of work in 4,096 iterations, which a loop
	// alone charges as 4,096 units, short of a single check: the fills must
	// be charged by their length.
	{name: "memory-fill", binary: wat("fillloop", `(module (memory 128)
		(func (export "_start") (local $i i32)
			(loop $l
				(memory.fill (i32.const 0) (i32.const 7) (i32.const 8388608))
				(br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 4096))))))`)},
}

func TestDeadline(t *testing.T) {
	for _, mode := range []Interrupt{InterruptInstrument, InterruptCloseOnDone} {
		b := newBackend(t, Config{Interrupt: mode})
		for _, tc := range foreverCases {
			// wazero's close-on-done checks only loop headers, so it never
			// stops recursion without loops; and it cannot stop a start
			// section that loops, which runs inside InstantiateModule. Both
			// are reasons InterruptInstrument is the default.
			if mode == InterruptCloseOnDone && tc.name != "loop" {
				continue
			}
			t.Run(fmt.Sprintf("%s/mode%d/timeout", tc.name, mode), func(t *testing.T) {
				tc := tc
				tc.timeout = 50 * time.Millisecond
				tc.check = func(t *testing.T, outs *loader.Outputs, err error) {
					if !errors.Is(err, loader.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) || outs != nil {
						t.Fatalf("err = %v (outputs %v), want loader.ErrTimeout and no outputs", err, outs)
					}
					if errors.Is(err, loader.ErrFault) {
						t.Errorf("a timeout also matches ErrFault: %v", err)
					}
				}
				tc.run(t, b)
			})
			t.Run(fmt.Sprintf("%s/mode%d/cancel", tc.name, mode), func(t *testing.T) {
				tc := tc
				tc.cancel = 50 * time.Millisecond
				tc.check = func(t *testing.T, outs *loader.Outputs, err error) {
					if !errors.Is(err, loader.ErrCanceled) || outs != nil {
						t.Fatalf("err = %v, want loader.ErrCanceled and no outputs", err)
					}
				}
				tc.run(t, b)
			})
		}
	}
}

// TestExpiredContext: a context that is done before the call starts stops
// it before anything runs.
func TestExpiredContext(t *testing.T) {
	r := newRuntime(t, Config{})
	m, err := r.Compile(cModule(t, "noop"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Run(ctx, m, Call{}); !errors.Is(err, loader.ErrCanceled) {
		t.Fatalf("err = %v, want ErrCanceled", err)
	}
}

func TestMemoryLimitTrap(t *testing.T) {
	b := newBackend(t, Config{})
	testCase{
		name:   "malloc-abort",
		binary: c("alloc"),
		spec:   sandbox.Spec{InputSets: []string{"stdio"}, ContextSize: 8 << 20},
		inputs: []loader.Set{set("stdio", "argv", "alloc abort")},
		check: func(t *testing.T, outs *loader.Outputs, err error) {
			var me *MemoryLimitError
			if !errors.As(err, &me) || !errors.Is(err, loader.ErrMemoryLimit) || !errors.Is(err, loader.ErrFault) || !errors.Is(err, ErrUnreachable) {
				t.Fatalf("err = %v, want a MemoryLimitError around an unreachable trap", err)
			}
			if me.Limit != 8<<20 {
				t.Errorf("limit = %d, want %d", me.Limit, 8<<20)
			}
		},
	}.run(t, b)
	// A module that needs more memory at start than the context allows is
	// refused when it is loaded.
	_, err := b.Load(sandbox.Spec{Name: "big", Binary: watModule(t, "big", `(module (memory 100) (func (export "_start")))`), ContextSize: 1 << 20})
	if !errors.Is(err, loader.ErrMemoryLimit) {
		t.Fatalf("Load = %v, want ErrMemoryLimit", err)
	}
}

func TestGoWasip1(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and compiles a Go program (seconds)")
	}
	b := newBackend(t, Config{})
	testCase{
		name:   "goguest",
		binary: goModule,
		spec:   sandbox.Spec{InputSets: []string{"stdio", "in"}, OutputSets: []string{"stdio", "out"}},
		inputs: []loader.Set{
			set("stdio", "argv", "goguest 4", "stdin", "from stdin"),
			set("in", "x.txt", "hello", "sub/y.txt", "World"),
		},
		check: func(t *testing.T, outs *loader.Outputs, err error) {
			var ee *loader.ExitError
			if !errors.As(err, &ee) || ee.Status != 4 {
				t.Fatalf("err = %v, want exit status 4 (%s)", err, describe(outs))
			}
			if got, want := item(t, outs, "stdio", "stdout"), "sub/y.txt 5\nx.txt 5\n"; got != want {
				t.Errorf("stdout = %q, want %q", got, want)
			}
			if got := item(t, outs, "stdio", "stderr"); got != "from stdin" {
				t.Errorf("stderr = %q", got)
			}
			if got := idents(outs, "out"); !slices.Equal(got, []string{"sub/y.txt", "x.txt"}) {
				t.Errorf("out = %q", got)
			}
			if item(t, outs, "out", "x.txt") != "HELLO" || item(t, outs, "out", "sub/y.txt") != "WORLD" {
				t.Errorf("outputs not upper-cased: %s", describe(outs))
			}
		},
	}.run(t, b)
}

// TestFreshInstance: nothing of one call is visible to the next, neither
// linear memory nor files.
func TestFreshInstance(t *testing.T) {
	b := newBackend(t, Config{})
	for i := 0; i < 3; i++ {
		testCase{
			name: "fresh", binary: c("fresh"),
			spec: sandbox.Spec{OutputSets: []string{"stdio", "out"}},
			check: func(t *testing.T, outs *loader.Outputs, err error) {
				noError(t, err)
				if got := item(t, outs, "stdio", "stdout"); got != "calls=1 mark=absent\n" {
					t.Errorf("call %d saw %q", i, got)
				}
			},
		}.run(t, b)
	}
}

func TestConcurrentCalls(t *testing.T) {
	b := newBackend(t, Config{})
	fn, err := b.Load(sandbox.Spec{Name: "echo", Binary: cModule(t, "echo"), InputSets: []string{"stdio"}, OutputSets: []string{"stdio"}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				in := fmt.Sprintf("goroutine %d call %d", g, i)
				outs, err := fn.Run(context.Background(), []loader.Set{set("stdio", "argv", "echo", "stdin", in)})
				if err != nil {
					errs <- err
					return
				}
				if got := string(outs.Set("stdio").Items[0].Data); !strings.HasSuffix(got, "\n"+in) {
					errs <- fmt.Errorf("call %q got stdout %q", in, got)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestCloseStopsCalls: Close interrupts a call in flight, in both
// interrupt modes.
func TestCloseStopsCalls(t *testing.T) {
	for _, mode := range []Interrupt{InterruptInstrument, InterruptCloseOnDone} {
		t.Run(fmt.Sprint("mode", mode), func(t *testing.T) { testCloseStopsCalls(t, mode) })
	}
}

func testCloseStopsCalls(t *testing.T, mode Interrupt) {
	r, err := New(Config{CacheDir: cacheDir, Interrupt: mode})
	if err != nil {
		t.Fatal(err)
	}
	m, err := r.Compile(cModule(t, "loop"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		_, err := r.Run(context.Background(), m, Call{})
		done <- err
	}()
	// Wait until the call is tracked: from then on Close must stop it.
	for tracked := false; !tracked; {
		select {
		case err := <-done:
			t.Fatalf("the call ended before Close: %v", err)
		case <-time.After(time.Millisecond):
		}
		r.mu.Lock()
		tracked = len(r.inflight) > 0
		r.mu.Unlock()
	}
	r.Close()
	if err := <-done; !errors.Is(err, loader.ErrCanceled) || !errors.Is(err, ErrClosed) {
		t.Fatalf("err = %v, want ErrCanceled and ErrClosed", err)
	}
	if _, err := r.Run(context.Background(), m, Call{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run after Close = %v, want ErrClosed", err)
	}
}

// TestCloseKeepsMemoryUntilDone: with InterruptCloseOnDone, Runtime.Close
// stops a guest that keeps writing its memory. That memory must not be
// recycled until the guest has returned: a call of another runtime,
// given a buffer of the same size, must see only zeros. (Closing the
// instance from Close's goroutine used to clear the buffer and pool it
// while the guest still wrote to it.)
func TestCloseKeepsMemoryUntilDone(t *testing.T) {
	const pages = 128 // 8 MiB: a buffer of its own size class
	writer := watModule(t, "scribble", fmt.Sprintf(`(module (memory %d)
		(func (export "_start") (loop (memory.fill (i32.const 0) (i32.const 0xa5) (i32.const %d)) (br 0))))`, pages, pages*pageSize))
	reader := watModule(t, "allzero", fmt.Sprintf(`(module (memory %d)
		(func (export "_start") (local $i i32)
			(loop $l
				(if (i64.ne (i64.load (local.get $i)) (i64.const 0)) (then unreachable))
				(br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 8))) (i32.const %d))))))`, pages, pages*pageSize))
	clean := newRuntime(t, Config{})
	rm, err := clean.Compile(reader)
	if err != nil {
		t.Fatal(err)
	}
	call := Call{MemoryLimit: pages * pageSize}
	for i := 0; i < 20; i++ {
		r, err := New(Config{CacheDir: cacheDir, Interrupt: InterruptCloseOnDone})
		if err != nil {
			t.Fatal(err)
		}
		m, err := r.Compile(writer)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error)
		go func() {
			_, err := r.Run(context.Background(), m, call)
			done <- err
		}()
		for tracked := false; !tracked; time.Sleep(time.Millisecond) {
			r.mu.Lock()
			tracked = len(r.inflight) > 0
			r.mu.Unlock()
		}
		time.Sleep(2 * time.Millisecond) // into the loop
		r.Close()
		if err := <-done; !errors.Is(err, ErrClosed) {
			t.Fatalf("round %d: the writer returned %v, want ErrClosed", i, err)
		}
		for j := 0; j < 2; j++ {
			if _, err := clean.Run(context.Background(), rm, call); err != nil {
				t.Fatalf("round %d: a fresh call saw another's writes in its memory: %v", i, err)
			}
		}
	}
}

func TestCompileRejects(t *testing.T) {
	r := newRuntime(t, Config{})
	cases := []struct {
		name string
		bin  func(testing.TB) []byte
		want string
	}{
		{"not-wasm", func(testing.TB) []byte { return []byte("\x7fELF nope") }, "not a WebAssembly module"},
		{"no-start", wat("nostart", `(module (func (export "main")))`), "_start"},
		{"foreign-import", wat("envimport", `(module (import "env" "f" (func)) (func (export "_start")))`), "env.f"},
		{"memory-import", wat("memimport", `(module (import "env" "mem" (memory 1)) (func (export "_start")))`), "imports its memory"},
		{"table-import", wat("tableimport", `(module (import "env" "t" (table 1 funcref)) (func (export "_start")))`), "imports a table"},
		{"global-import", wat("globalimport", `(module (import "env" "g" (global i32)) (func (export "_start")))`), "imports a global"},
		{"bad-signature", wat("badsig", `(module (import "tessera" "getkey" (func (param i32) (result i32))) (func (export "_start")))`), "wrong signature"},
		{"reserved-export", wat("reserved", `(module (func (export "tessera:start")) (func (export "_start")))`), "reserved"},
		{"reserved-import", wat("reservedimp", `(module (import "tessera:interrupt" "check" (func)) (func (export "_start")))`), "reserved"},
		{"truncated", func(t testing.TB) []byte { b := cModule(t, "noop"); return b[:len(b)/2] }, ""},
		// Function 1 does not exist; in the rewrite it would be the
		// instrumentation's tick, called with a negative charge to refill
		// the budget for ever.
		{"tick-in-table", func(t testing.TB) []byte {
			return watModule(t, "ticktable", `(module (type $t (func (param i32))) (table 1 funcref)
				(elem (i32.const 0) func 1)
				(func (export "_start") (loop (call_indirect (type $t) (i32.const -1000000000) (i32.const 0)) (br 0))))`, "--no-check")
		}, "function index 1 out of range"},
		// 2 GiB of host memory per call, whatever the memory limit.
		{"huge-tables", wat("hugetables", `(module (table 134217728 funcref) (table 134217728 funcref) (func (export "_start")))`), "tables of more than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.Compile(tc.bin(t))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Compile = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestCompileOnce(t *testing.T) {
	r := newRuntime(t, Config{})
	bin := cModule(t, "noop")
	m1, err := r.Compile(bin)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := r.Compile(append([]byte(nil), bin...))
	if err != nil {
		t.Fatal(err)
	}
	if m1 != m2 {
		t.Error("compiling the same bytes twice gave two modules")
	}
}

// TestCompileReleases: the runtime keeps a compiled module only while a
// caller holds it; once unreachable it is forgotten (and its compiled code
// released), and compiling the bytes again gives a working module.
func TestCompileReleases(t *testing.T) {
	r := newRuntime(t, Config{})
	held, err := r.Compile(cModule(t, "noop"))
	if err != nil {
		t.Fatal(err)
	}
	dropped := watModule(t, "dropped", minimal)
	if _, err := r.Compile(dropped); err != nil {
		t.Fatal(err)
	}
	entries := func() int {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.modules)
	}
	// Cleanups run on their own goroutine after a collection: try a few.
	for i := 0; entries() > 1 && i < 100; i++ {
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	r.mu.Lock()
	_, heldKept := r.modules[held.Hash()]
	r.mu.Unlock()
	if entries() != 1 || !heldKept {
		t.Fatalf("%d modules kept (the held one: %v), want only the held one", entries(), heldKept)
	}
	for _, bin := range [][]byte{dropped, cModule(t, "noop")} {
		m, err := r.Compile(bin)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Run(context.Background(), m, Call{}); err != nil {
			t.Fatal(err)
		}
	}
	if again, _ := r.Compile(cModule(t, "noop")); again != held {
		t.Error("a module still held was compiled again")
	}
}

// TestUndeclaredInput: an input set the function does not declare is an
// error, as on every backend.
func TestUndeclaredInput(t *testing.T) {
	b := newBackend(t, Config{})
	fn, err := b.Load(sandbox.Spec{Binary: cModule(t, "noop"), InputSets: []string{"in"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fn.Run(context.Background(), []loader.Set{set("undeclared", "a", "b")}); err == nil {
		t.Error("Run accepted an undeclared input set")
	}
}

// TestDeadlineUnderGC: more guests spinning than there are Ps, while the
// garbage collector keeps stopping the world. Go cannot preempt machine
// code, so this only ends if the instrumented guests return to Go on their
// own (to check the deadline); otherwise the stop-the-world waits for
// them forever and the test hangs until go test kills it.
func TestDeadlineUnderGC(t *testing.T) {
	r := newRuntime(t, Config{})
	m, err := r.Compile(cModule(t, "loop"))
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				runtime.GC()
			}
		}
	}()
	defer close(stop)
	var wg sync.WaitGroup
	for i := 0; i < runtime.GOMAXPROCS(0)+2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			if _, err := r.Run(ctx, m, Call{}); !errors.Is(err, loader.ErrTimeout) {
				t.Errorf("err = %v, want ErrTimeout", err)
			}
		}()
	}
	wg.Wait()
}

// TestMemoryFlat: 10,000 calls leave the Go heap and the process's
// resident memory where they found them, give or take a generous margin
// (each call allocates some 200 KiB, so a leak of even a few percent would
// show as hundreds of MiB).
func TestMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 calls")
	}
	r := newRuntime(t, Config{})
	m, err := r.Compile(cModule(t, "echo"))
	if err != nil {
		t.Fatal(err)
	}
	call := Call{Inputs: []loader.Set{set("stdio", "argv", "echo a b", "stdin", strings.Repeat("x", 1000))}, Outputs: []string{"stdio"}}
	run := func(n int) {
		for i := 0; i < n; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			outs, err := r.Run(ctx, m, call)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			if got := outs.Sets[0].Items[0].Data; len(got) < 1000 {
				t.Fatalf("call %d: stdout %d bytes", i, len(got))
			}
			outs.Release()
		}
	}
	run(500) // warm up pools and caches
	heap0, rss0 := memUse(t)
	run(10000)
	heap1, rss1 := memUse(t)
	t.Logf("heap %d -> %d KiB, rss %d -> %d KiB", heap0>>10, heap1>>10, rss0>>10, rss1>>10)
	if heap1 > heap0+32<<20 {
		t.Errorf("Go heap grew by %d KiB over 10,000 calls", (heap1-heap0)>>10)
	}
	if rss1 > rss0+128<<20 {
		t.Errorf("resident memory grew by %d KiB over 10,000 calls", (rss1-rss0)>>10)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.inflight) != 0 {
		t.Errorf("%d calls still tracked", len(r.inflight))
	}
}

// memUse returns the live Go heap after a collection and the resident set
// size (from /proc/self/statm; 0 where there is none).
func memUse(t *testing.T) (heap, rss uint64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		var size, res uint64
		if _, err := fmt.Sscan(string(b), &size, &res); err == nil {
			rss = res * uint64(os.Getpagesize())
		}
	}
	return ms.HeapAlloc, rss
}

// TestCacheDir: compiled code lands in the configured directory and a new
// runtime uses it; an unusable default directory means no disk cache, an
// unusable configured one is an error.
func TestCacheDir(t *testing.T) {
	dir := t.TempDir()
	bin := cModule(t, "noop")
	for i := 0; i < 2; i++ {
		r, err := New(Config{CacheDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		m, err := r.Compile(bin)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Run(context.Background(), m, Call{}); err != nil {
			t.Fatal(err)
		}
		r.Close()
		n := 0
		filepath.WalkDir(dir, func(_ string, d fs.DirEntry, _ error) error {
			if d != nil && !d.IsDir() {
				n++
			}
			return nil
		})
		if n == 0 {
			t.Fatalf("round %d: nothing cached in %s", i, dir)
		}
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{CacheDir: filepath.Join(file, "sub")}); err == nil {
		t.Error("a configured cache directory that cannot exist was accepted")
	}
	t.Setenv("XDG_CACHE_HOME", filepath.Join(file, "sub"))
	r, err := New(Config{})
	if err != nil {
		t.Fatalf("an unusable default cache directory: %v", err)
	}
	if r.cache != nil {
		t.Error("a disk cache in an unusable default directory")
	}
	r.Close()
}
