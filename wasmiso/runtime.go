package wasmiso

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"weak"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"tessera/loader"
	"tessera/wasmiso/internal/instrument"
)

// Interrupt selects how a call is stopped at its deadline.
type Interrupt int

const (
	// InterruptInstrument (the default) rewrites each module at Compile so
	// that loops and calls count down a budget and ask the host, whenever
	// it runs out, whether to stop: about 1% slower on loops, 15-50% on
	// call-heavy code (docs/wasm-backend.md).
	InterruptInstrument Interrupt = iota
	// InterruptCloseOnDone uses wazero's WithCloseOnContextDone, which
	// calls into the runtime at every loop header: 3.6-17x slower
	// (docs/wasm-backend.md), and it cannot stop recursion without loops
	// or a looping start function. Kept for comparison.
	InterruptCloseOnDone
)

// Config configures a Runtime. The zero value is ready to use.
type Config struct {
	// CacheDir keeps compiled machine code on disk, so a restarted process
	// compiles nothing it compiled before. Empty means
	// os.UserCacheDir()/tessera/wazero, or no disk cache when that cannot
	// be used.
	CacheDir string
	// NoDiskCache disables the disk cache; modules are still compiled once
	// per Runtime.
	NoDiskCache bool
	// Interpreter selects wazero's interpreter instead of its compiler
	// (which only exists for amd64 and arm64; elsewhere the interpreter is
	// used anyway).
	Interpreter bool
	// Interrupt selects how deadlines stop a call.
	Interrupt Interrupt
	// KeepDWARF keeps modules' DWARF sections, so that a *TrapError
	// carries the code offset of the trap. wazero resolves DWARF on every
	// trap, which then costs milliseconds (about 3 ms with wasi-libc's
	// DWARF, against 10 us without), and a hostile module's DWARF is
	// hostile too: leave it off for untrusted code.
	KeepDWARF bool
}

// Runtime compiles modules and runs calls. It is safe for concurrent use.
type Runtime struct {
	cfg   Config
	rt    wazero.Runtime
	cache wazero.CompilationCache
	// base is the ModuleConfig every call starts from: anonymous instances
	// (so any number may exist at once), no start functions (Run calls
	// them, so that they are checked like _start), the wall clock at 0,
	// nothing of the host mounted.
	base wazero.ModuleConfig
	// hostFuncs are the functions a guest may import, by module and name.
	hostFuncs map[[2]string]api.FunctionDefinition

	mu sync.Mutex
	// modules finds a module compiled before by its hash, for as long as
	// some caller holds it: entries point to modules weakly, and a module
	// that becomes unreachable is forgotten and its compiled code released
	// (release). So the runtime holds exactly the modules its callers do.
	modules  map[[32]byte]*compileEntry
	inflight map[*call]struct{}
	running  sync.WaitGroup // the calls in inflight
	closed   bool
}

// compileEntry is a module being compiled (until done is closed), then the
// module or the error.
type compileEntry struct {
	done chan struct{}
	m    weak.Pointer[Module]
	err  error
}

// New starts a Runtime: a wazero runtime with the WASI preview 1 and
// "tessera" host modules instantiated once, shared by every call.
func New(cfg Config) (*Runtime, error) {
	ctx := context.Background()
	rc := wazero.NewRuntimeConfig()
	if cfg.Interpreter {
		rc = wazero.NewRuntimeConfigInterpreter()
	}
	rc = rc.WithCloseOnContextDone(cfg.Interrupt == InterruptCloseOnDone)
	r := &Runtime{cfg: cfg, modules: map[[32]byte]*compileEntry{}, inflight: map[*call]struct{}{}}
	if !cfg.NoDiskCache {
		c, err := openCache(cfg.CacheDir)
		if err != nil {
			return nil, err
		}
		if c != nil {
			r.cache = c
			rc = rc.WithCompilationCache(c)
		}
	}
	r.rt = wazero.NewRuntimeWithConfig(ctx, rc)
	if err := instantiateWASI(ctx, r.rt); err != nil {
		r.Close()
		return nil, fmt.Errorf("wasmiso: instantiating WASI: %w", err)
	}
	if err := instantiateKeys(ctx, r.rt); err != nil {
		r.Close()
		return nil, fmt.Errorf("wasmiso: instantiating %s: %w", keysModule, err)
	}
	if _, err := r.rt.NewHostModuleBuilder(instrument.CheckModule).NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(check), nil, nil).
		Export(instrument.CheckName).Instantiate(ctx); err != nil {
		r.Close()
		return nil, fmt.Errorf("wasmiso: instantiating %s: %w", instrument.CheckModule, err)
	}
	r.hostFuncs = map[[2]string]api.FunctionDefinition{}
	for _, mod := range []string{wasi_snapshot_preview1.ModuleName, keysModule} {
		for name, def := range r.rt.Module(mod).ExportedFunctionDefinitions() {
			r.hostFuncs[[2]string{mod, name}] = def
		}
	}
	// No time passes inside a compute function (ABI §6): the wall clock
	// reads 0, the epoch, and sleeping returns at once (wazero's default).
	// The monotonic clock is wazero's deterministic fake, which starts at
	// 0 and advances 1 ms per reading: Go's runtime, for one, refuses a
	// monotonic clock that never moves.
	r.base = wazero.NewModuleConfig().WithName("").WithStartFunctions().
		WithWalltime(func() (int64, int32) { return 0, 0 }, sys.ClockResolution(1))
	return r, nil
}

// openCache opens the disk cache in dir, or in the default directory if
// dir is empty. A default directory that cannot be used (no home, a
// read-only one) only means no disk cache; a configured one is an error.
func openCache(dir string) (wazero.CompilationCache, error) {
	if dir != "" {
		c, err := wazero.NewCompilationCacheWithDir(dir)
		if err != nil {
			return nil, fmt.Errorf("wasmiso: opening compilation cache %s: %w", dir, err)
		}
		return c, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return nil, nil
	}
	c, err := wazero.NewCompilationCacheWithDir(filepath.Join(base, "tessera", "wazero"))
	if err != nil {
		return nil, nil
	}
	return c, nil
}

// Close stops every call in flight (they fail with ErrClosed and
// loader.ErrCanceled), waits for them to return and releases the compiled
// code. The disk cache stays. With InterruptCloseOnDone a call that
// recurses without loops cannot be stopped, and Close waits for it.
func (r *Runtime) Close() error {
	r.mu.Lock()
	r.closed = true
	for c := range r.inflight {
		c.interrupt(ErrClosed)
	}
	r.mu.Unlock()
	// The compiled code must outlive every call executing it.
	r.running.Wait()
	err := r.rt.Close(context.Background())
	if r.cache != nil {
		err = errors.Join(err, r.cache.Close(context.Background()))
	}
	return err
}

// Module is a compiled module, ready to run any number of times,
// concurrently.
type Module struct {
	hash     [32]byte
	cm       wazero.CompiledModule
	im       *instrument.Module // nil with InterruptCloseOnDone
	minPages uint32
	wasi     bool // imports WASI: give it a file system, stdio, args
	start    bool // has a start function, exported as instrument.StartExport
}

// Hash is the SHA-256 of the module's binary as given to Compile.
func (m *Module) Hash() [32]byte { return m.hash }

// MinMemory is the linear memory the module needs before it runs, in bytes.
func (m *Module) MinMemory() uint64 { return uint64(m.minPages) * pageSize }

const pageSize = 64 << 10

// Compile validates and compiles a module once; compiling the same bytes
// again returns the same *Module while the first is reachable. The module
// must export a function _start with no parameters and results (a WASI
// command) and may import only WASI preview 1 functions and the "tessera"
// key functions.
//
// The caller owns the *Module: once nothing refers to it any more, the
// runtime forgets it and releases its compiled code, so a long-lived
// Runtime does not keep every module it ever compiled (the disk cache
// still has it). Close releases all of them.
func (r *Runtime) Compile(wasm []byte) (*Module, error) {
	h := sha256.Sum256(wasm)
	for {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return nil, ErrClosed
		}
		e := r.modules[h]
		if e == nil {
			e = &compileEntry{done: make(chan struct{})}
			r.modules[h] = e
			r.mu.Unlock()
			m, err := r.compile(h, wasm)
			r.mu.Lock()
			if err != nil {
				// Forget failures, so that an error caused by the moment
				// (a closed runtime) is not cached; the next attempt
				// compiles afresh.
				delete(r.modules, h)
				e.err = err
			} else {
				e.m = weak.Make(m)
				runtime.AddCleanup(m, r.release, released{h, e, m.cm})
			}
			r.mu.Unlock()
			close(e.done)
			return m, err
		}
		r.mu.Unlock()
		<-e.done
		if e.err != nil {
			return nil, e.err
		}
		if m := e.m.Value(); m != nil {
			return m, nil
		}
		// Unreachable, its cleanup yet to run: compile anew.
		r.mu.Lock()
		if r.modules[h] == e {
			delete(r.modules, h)
		}
		r.mu.Unlock()
	}
}

// released is what release needs of a module no longer reachable.
type released struct {
	hash  [32]byte
	entry *compileEntry
	cm    wazero.CompiledModule
}

// release forgets a module that has become unreachable and releases its
// compiled code (no call can be running it: Run holds the module).
func (r *Runtime) release(x released) {
	r.mu.Lock()
	if r.modules[x.hash] == x.entry {
		delete(r.modules, x.hash)
	}
	closed := r.closed // then Close releases everything
	r.mu.Unlock()
	if !closed {
		x.cm.Close(context.Background())
	}
}

func (r *Runtime) compile(h [32]byte, wasm []byte) (*Module, error) {
	m := &Module{hash: h}
	bin := wasm
	// Instrumenting also validates the structure the rest relies on (the
	// imports, the memory), so it runs in both interrupt modes.
	im, err := instrument.Instrument(wasm, instrument.Options{KeepDWARF: r.cfg.KeepDWARF})
	if err != nil {
		return nil, fmt.Errorf("wasmiso: %w", err)
	}
	if r.cfg.Interrupt == InterruptInstrument {
		m.im, bin, m.start = im, im.Binary, im.HasStart
	} else {
		bin = instrument.Strip(wasm, instrument.Options{KeepDWARF: r.cfg.KeepDWARF})
	}
	if im.Memory != nil {
		m.minPages = im.Memory.Min
	}
	cm, err := r.rt.CompileModule(context.Background(), bin)
	if err != nil {
		return nil, fmt.Errorf("wasmiso: compiling: %w", err)
	}
	if err := r.checkImports(cm, im.Imports); err != nil {
		cm.Close(context.Background())
		return nil, err
	}
	for _, im := range cm.ImportedFunctions() {
		mod, _, _ := im.Import()
		m.wasi = m.wasi || mod == wasi_snapshot_preview1.ModuleName
	}
	start, ok := cm.ExportedFunctions()["_start"]
	if !ok || len(start.ParamTypes()) != 0 || len(start.ResultTypes()) != 0 {
		cm.Close(context.Background())
		return nil, errors.New("wasmiso: the module does not export a function _start() (not a WASI command)")
	}
	m.cm = cm
	return m, nil
}

// checkImports rejects imports no instance could satisfy, so that a bad
// module fails at Compile rather than at every call: anything but the
// functions wasmiso provides (WASI and the key functions) with their
// signatures. Memories, tables and globals are never provided.
func (r *Runtime) checkImports(cm wazero.CompiledModule, imports []instrument.Import) error {
	for _, im := range imports {
		switch im.Kind {
		case 1:
			return fmt.Errorf("wasmiso: %w: the module imports a table (%s.%s)", ErrImport, im.Module, im.Name)
		case 2:
			return fmt.Errorf("wasmiso: %w: the module imports its memory (%s.%s)", ErrImport, im.Module, im.Name)
		case 3:
			return fmt.Errorf("wasmiso: %w: the module imports a global (%s.%s)", ErrImport, im.Module, im.Name)
		}
	}
	for _, def := range cm.ImportedFunctions() {
		mod, name, _ := def.Import()
		if mod == instrument.CheckModule {
			continue // the instrumentation's own (Instrument refuses it in a module)
		}
		host, ok := r.hostFuncs[[2]string{mod, name}]
		if !ok {
			return fmt.Errorf("wasmiso: %w: function %s.%s (only %s and %s.getkey/setkey are provided)",
				ErrImport, mod, name, wasi_snapshot_preview1.ModuleName, keysModule)
		}
		if !slices.Equal(def.ParamTypes(), host.ParamTypes()) || !slices.Equal(def.ResultTypes(), host.ResultTypes()) {
			return fmt.Errorf("wasmiso: %w: function %s.%s has the wrong signature", ErrImport, mod, name)
		}
	}
	return nil
}

// pagesFor is the memory limit in pages for a context of size bytes:
// rounded up, so a function gets at least its registered size; at most the
// 4 GiB of wasm32.
func pagesFor(size uint64) uint32 {
	if size == 0 {
		size = loader.DefaultContextSize
	}
	p := (size + pageSize - 1) / pageSize
	return uint32(min(p, 65536))
}
